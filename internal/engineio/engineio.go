// Package engineio implements Engine.IO protocol 4 over the WebSocket
// transport only (no long-polling), on github.com/coder/websocket.
//
// It has a client side (Dial, Conn) and a server side (Server, ServerConn).
// Both move ordered messages (text or binary) and run the v4 heartbeat: the
// server sends ping "2" every pingInterval, the client answers pong "3". The
// client never sends a ping of its own.
//
// # Threading
//
// The two sides share the frame code (frame.go: the write queue, framing,
// reading and classifying frames, termination and the bounded close
// handshake) and differ in their goroutines.
//
// A client connection (conn_client.go) has no goroutine of its own: Read
// reads the next frame from the network on the consumer's goroutine and
// handles pings (re-arming the dead-link timer, asking the writer for a
// pong), close packets and errors inline, so the consumer must keep calling
// Read. The dead-link timer ends the connection (and so aborts a pending
// Read) when pings stop, reading or not. Outgoing groups are written by
// whichever sender finds the write queue idle (a pong or a Queue call on a
// short-lived goroutine).
//
// A server connection (conn_server.go) runs a reader on the HTTP handler's
// goroutine, which records pongs and appends message packets to an
// unbounded in-memory queue that Read takes from (a slow consumer delays
// only itself, never the heartbeat), and a writer goroutine, which writes
// the queue in order and runs the heartbeat.
//
// The goroutines end when the connection ends; Done is closed after they
// have. A graceful Close waits about a second for each of its steps
// (draining the queue, the peer's close frame), then cuts the network
// connection: a peer that stopped answering (a black hole) cannot hold it.
package engineio

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Engine.IO packet types, as the first byte of a text frame.
const (
	packetOpen    = '0'
	packetClose   = '1'
	packetPing    = '2'
	packetPong    = '3'
	packetMessage = '4'
	packetUpgrade = '5'
	packetNoop    = '6'
)

// Close reasons, with the names the reference client uses.
const (
	// ReasonTransportClose: the peer closed the WebSocket, sent a close
	// packet, or the network connection went away.
	ReasonTransportClose = "transport close"
	// ReasonTransportError: a protocol violation, a write failure, or a peer
	// too slow to keep up with its write queue.
	ReasonTransportError = "transport error"
	// ReasonPingTimeout: the heartbeat stopped (client: no ping within
	// pingInterval+pingTimeout; server: no pong within pingTimeout).
	ReasonPingTimeout = "ping timeout"
	// ReasonForcedClose: this side called Close (or Drop).
	ReasonForcedClose = "forced close"
)

// Defaults of the reference server.
const (
	DefaultPingInterval = 25 * time.Second
	DefaultPingTimeout  = 20 * time.Second
	DefaultMaxPayload   = 1_000_000
	// DefaultPath is the Socket.IO endpoint path.
	DefaultPath = "/socket.io/"
)

// Heartbeat figures a client accepts from an open packet. A larger
// pingInterval or pingTimeout is clamped to these, so that a server
// announcing an absurd heartbeat cannot leave a dead connection unnoticed
// for longer than MaxPingInterval+MaxPingTimeout (2 minutes); the reference
// server's defaults are 25 s and 20 s.
const (
	MaxPingInterval = time.Minute
	MaxPingTimeout  = time.Minute
)

// ErrClosed is matched (errors.Is) by every error that reports a connection
// that has ended, including *CloseError.
var ErrClosed = errors.New("engineio: connection closed")

// ErrNotSent is matched by errors from Send when no byte of the messages was
// handed to the network: the connection had ended (or was ending) before the
// writer reached them, their write failed before any byte left, or Send's
// ctx ended while they were queued (the error then matches ctx's error too).
// Such messages may safely be sent again: the peer cannot have seen them.
//
// A write that fails after some bytes may have left returns an error that
// matches ErrClosed but not ErrNotSent: the peer may have received the
// messages. Only a client counts the bytes it writes; a server's Send only
// queues.
var ErrNotSent = errors.New("engineio: message not sent")

// ErrPayloadTooLarge is returned by Send for a message larger than the peer's
// maxPayload: the peer would close the connection on receiving it.
var ErrPayloadTooLarge = errors.New("engineio: message exceeds the peer's maxPayload")

// ErrWriteQueueFull is the cause recorded when a server connection is dropped
// because its peer could not keep up with its outgoing messages.
var ErrWriteQueueFull = errors.New("engineio: write queue full, peer too slow")

// CloseError describes why a connection ended. It matches ErrClosed.
type CloseError struct {
	// Reason is one of the Reason* constants.
	Reason string
	// Err is the underlying cause, if any (nil for a clean close).
	Err error
}

// Error implements error.
func (e *CloseError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("engineio: connection closed (%s): %v", e.Reason, e.Err)
	}
	return fmt.Sprintf("engineio: connection closed (%s)", e.Reason)
}

// Unwrap returns the cause.
func (e *CloseError) Unwrap() error { return e.Err }

// Is reports whether target is ErrClosed.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }

// Message is one Engine.IO message packet: text (without the "4" type
// prefix) or binary (a binary WebSocket frame).
type Message struct {
	// Binary is true for a binary frame.
	Binary bool
	// Data is the payload. For text it is UTF-8.
	Data []byte
}

// TextMessage returns a text message.
func TextMessage(s string) Message { return Message{Data: []byte(s)} }

// BinaryMessage returns a binary message.
func BinaryMessage(b []byte) Message { return Message{Binary: true, Data: b} }

// wireSize is the size of the message on the wire, as the peer's maxPayload
// counts it (the "4" prefix included for text).
func (m Message) wireSize() int64 {
	if m.Binary {
		return int64(len(m.Data))
	}
	return int64(len(m.Data)) + 1
}

// Handshake is the content of the open packet.
type Handshake struct {
	// SID is the Engine.IO session id.
	SID string
	// Upgrades lists the transports the session may upgrade to (empty for a
	// WebSocket session).
	Upgrades []string
	// PingInterval is how often the server pings.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong.
	PingTimeout time.Duration
	// MaxPayload is the largest message the server accepts, in bytes.
	MaxPayload int64
}

type handshakeJSON struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int64    `json:"maxPayload"`
}

// MarshalJSON encodes the handshake as the open packet body (durations in
// milliseconds).
func (h Handshake) MarshalJSON() ([]byte, error) {
	up := h.Upgrades
	if up == nil {
		up = []string{}
	}
	return json.Marshal(handshakeJSON{
		SID:          h.SID,
		Upgrades:     up,
		PingInterval: h.PingInterval.Milliseconds(),
		PingTimeout:  h.PingTimeout.Milliseconds(),
		MaxPayload:   h.MaxPayload,
	})
}

// UnmarshalJSON decodes an open packet body.
func (h *Handshake) UnmarshalJSON(b []byte) error {
	var j handshakeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.SID == "" {
		return errors.New("engineio: open packet without sid")
	}
	if j.PingInterval <= 0 || j.PingTimeout <= 0 {
		return errors.New("engineio: open packet without a positive pingInterval/pingTimeout")
	}
	const maxMillis = int64(time.Duration(1<<61) / time.Millisecond)
	if j.PingInterval > maxMillis || j.PingTimeout > maxMillis {
		return errors.New("engineio: open packet heartbeat out of range")
	}
	*h = Handshake{
		SID:          j.SID,
		Upgrades:     j.Upgrades,
		PingInterval: time.Duration(j.PingInterval) * time.Millisecond,
		PingTimeout:  time.Duration(j.PingTimeout) * time.Millisecond,
		MaxPayload:   j.MaxPayload,
	}
	return nil
}

// ParseOpen parses an open packet as it arrives in a text frame
// ("0{...}").
func ParseOpen(frame []byte) (Handshake, error) {
	var h Handshake
	if len(frame) == 0 || frame[0] != packetOpen {
		return h, fmt.Errorf("engineio: expected an open packet, got %q", truncate(frame))
	}
	if err := json.Unmarshal(frame[1:], &h); err != nil {
		return h, fmt.Errorf("engineio: bad open packet: %w", err)
	}
	return h, nil
}

func truncate(b []byte) string {
	const n = 64
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
