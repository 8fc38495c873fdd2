package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// Disconnect reasons, with the names the reference client uses.
const (
	// ReasonServerDisconnect: the server sent a DISCONNECT packet
	// (socket.disconnect() on the server). No automatic reconnection.
	ReasonServerDisconnect = "io server disconnect"
	// ReasonClientDisconnect: Close was called. No automatic reconnection.
	ReasonClientDisconnect = "io client disconnect"
	// ReasonPingTimeout: the server stopped pinging.
	ReasonPingTimeout = "ping timeout"
	// ReasonTransportClose: the connection was closed (network loss, server
	// restart).
	ReasonTransportClose = "transport close"
	// ReasonTransportError: the connection failed.
	ReasonTransportError = "transport error"
	// ReasonParseError: the server sent a packet that could not be decoded;
	// the client closed the connection.
	ReasonParseError = "parse error"
)

var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("socketio: client closed")
	// ErrDisconnected is matched by the error that completes a pending ack
	// when the connection drops (see *DisconnectError).
	ErrDisconnected = errors.New("socketio: disconnected")
	// ErrNotSent is matched, besides the error saying why (ctx's error,
	// ErrClosed, ErrStopped), by an error of Emit or
	// EmitWithAck when the packet provably never left: no byte of it was
	// handed to the network, so the server cannot have seen it and sending
	// it again cannot duplicate it. An error that does not match it, apart
	// from argument errors (ErrReservedEvent, encoding errors), means the
	// packet may have reached the server. It is engineio.ErrNotSent.
	ErrNotSent = engineio.ErrNotSent
	// ErrStopped is returned by Emit and EmitWithAck when the client is not
	// trying to connect: the server disconnected it, refused its
	// credentials, reconnection gave up or was off, or a Connect call
	// failed. Call Connect to start again.
	ErrStopped = errors.New("socketio: not connected and not reconnecting")
	// ErrReconnectFailed is matched by the error reported after
	// ReconnectionAttempts attempts failed (a *ReconnectFailedError).
	ErrReconnectFailed = errors.New("socketio: reconnection attempts exhausted")
	// ErrConnectTimeout is reported when the transport or the namespace
	// CONNECT reply did not arrive within ConnectTimeout.
	ErrConnectTimeout = errors.New("socketio: connect timeout")
	// ErrReservedEvent is returned when emitting a reserved event name.
	ErrReservedEvent = errors.New("socketio: reserved event name")
	// ErrAckTimeout is matched by the error of EmitWithAckTimeout when its
	// timeout passed first. That error also matches
	// context.DeadlineExceeded, as the error of a ctx with that timeout
	// would.
	ErrAckTimeout = errors.New("socketio: no ack within the timeout")
)

// ConnectError is a CONNECT_ERROR from the server: the namespace refused the
// connection (typically an authentication middleware). The client does not
// reconnect automatically after it.
type ConnectError struct {
	// Message is the server's error message.
	Message string
	// Data is the server's optional extra data (err.data), nil if absent.
	Data json.RawMessage
}

// Error implements error.
func (e *ConnectError) Error() string {
	if len(e.Data) > 0 {
		return fmt.Sprintf("socketio: connection refused: %s (data: %s)", e.Message, e.Data)
	}
	return "socketio: connection refused: " + e.Message
}

// MaxConnectErrorText caps what a client keeps of a server's CONNECT_ERROR:
// a longer message is cut to this many bytes (at a character boundary, with
// "…" appended), and extra data longer than this is dropped (Data is nil),
// so that a server cannot make an error of megabytes.
const MaxConnectErrorText = 1024

// parseConnectError reads a CONNECT_ERROR payload: {"message","data"} or a
// bare string (legacy), within MaxConnectErrorText.
func parseConnectError(data json.RawMessage) *ConnectError {
	var s string
	if firstByte(data) == '"' && json.Unmarshal(data, &s) == nil {
		if s == "" {
			s = "connection refused"
		}
		return &ConnectError{Message: capText(s)}
	}
	var obj struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(data, &obj)
	if obj.Message == "" {
		obj.Message = "connection refused"
	}
	if len(obj.Data) > MaxConnectErrorText {
		obj.Data = nil
	}
	return &ConnectError{Message: capText(obj.Message), Data: obj.Data}
}

// capText cuts s to MaxConnectErrorText bytes at a character boundary.
func capText(s string) string {
	if len(s) <= MaxConnectErrorText {
		return s
	}
	n := MaxConnectErrorText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.Clone(s[:n]) + "…"
}

// ReconnectFailedError is the error of a client that gave up connecting
// after ReconnectionAttempts attempts failed in a row. It matches
// ErrReconnectFailed and unwraps to the last attempt's error, so that
// errors.Is and errors.As find its cause (a *net.OpError, the Auth
// callback's error, ...).
type ReconnectFailedError struct {
	// Attempts is the number of connection attempts that failed in a row:
	// the first one and the retries after it for Connect, the
	// reconnection attempts after a lost connection.
	Attempts int
	// Err is the error of the last attempt.
	Err error
}

// Error implements error.
func (e *ReconnectFailedError) Error() string {
	return fmt.Sprintf("socketio: reconnection attempts exhausted after %d attempts: %v", e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *ReconnectFailedError) Unwrap() error { return e.Err }

// Is reports whether target is ErrReconnectFailed.
func (e *ReconnectFailedError) Is(target error) bool { return target == ErrReconnectFailed }

// DisconnectError describes a lost connection. It matches ErrDisconnected.
//
// When it completes a pending EmitWithAck, the packet had been handed to the
// network and the server may have processed it. A connection lost before the
// packet left is not reported this way: EmitWithAck sends the packet on the
// next connection, or fails with an error matching ErrNotSent.
type DisconnectError struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Err is the underlying transport error, if any.
	Err error
}

// Error implements error.
func (e *DisconnectError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("socketio: disconnected (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("socketio: disconnected (%s)", e.Reason)
}

// Unwrap returns the transport error.
func (e *DisconnectError) Unwrap() error { return e.Err }

// Is reports whether target is ErrDisconnected.
func (e *DisconnectError) Is(target error) bool { return target == ErrDisconnected }

// ackTimeoutError is the error of EmitWithAckTimeout when its timeout
// passed; err is what the call had seen then, if anything.
type ackTimeoutError struct{ err error }

func (e *ackTimeoutError) Error() string {
	if e.err == nil {
		return ErrAckTimeout.Error()
	}
	return ErrAckTimeout.Error() + ": " + e.err.Error()
}

func (e *ackTimeoutError) Unwrap() error { return e.err }

func (e *ackTimeoutError) Is(target error) bool {
	return target == ErrAckTimeout || target == context.DeadlineExceeded
}

// Timeout reports true, as context.DeadlineExceeded does.
func (e *ackTimeoutError) Timeout() bool { return true }

// notSentError marks an error of Emit or EmitWithAck reported before the
// packet left: it matches err and ErrNotSent, with err's message.
type notSentError struct{ err error }

func (e *notSentError) Error() string   { return e.err.Error() }
func (e *notSentError) Unwrap() []error { return []error{e.err, ErrNotSent} }

// notSent marks err as reported before the packet left. If ctx has ended,
// the result matches ctx's error too.
func notSent(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	if errors.Is(err, ErrNotSent) {
		return err
	}
	return &notSentError{err}
}
