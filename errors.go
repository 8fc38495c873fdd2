package messaging

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Sentinel errors, for errors.Is. An *APIError, *AckError or
// *ValidationError matches the sentinel that describes it.
var (
	// ErrInvalidArgument: the SDK refused the input before any I/O, or the
	// service answered 400.
	ErrInvalidArgument = errors.New("messaging: invalid argument")
	// ErrUnauthorized: no valid credential (401, or a refused socket CONNECT).
	ErrUnauthorized = errors.New("messaging: unauthorized")
	// ErrForbidden: the caller may not do this (403 or a refused ack). The
	// service also answers 403 for an unknown conversation id, because it
	// checks membership first.
	ErrForbidden = errors.New("messaging: forbidden")
	// ErrNotParticipant: the caller is not a participant of the conversation.
	// Errors matching it also match ErrForbidden.
	ErrNotParticipant = errors.New("messaging: not a participant")
	// ErrNotFound: the service answered 404, or an ack said "not found".
	ErrNotFound = errors.New("messaging: not found")
	// ErrRateLimited: the service answered 429.
	ErrRateLimited = errors.New("messaging: rate limited")
	// ErrClosed: the socket or client was closed.
	ErrClosed = errors.New("messaging: closed")
	// ErrSlowConsumer: the socket's handler queue overflowed. Messages it
	// could not queue are recovered from history; other events are dropped.
	ErrSlowConsumer = errors.New("messaging: slow consumer, events dropped")
	// ErrDeliveryUnknown: a send went out but its acknowledgement was lost
	// (the connection dropped, then the caller's context ended). The message
	// may or may not be stored; resending with the same id is safe. On REST
	// (and on the socket's SendMessage) the error is a *DeliveryUnknownError
	// that carries the id.
	ErrDeliveryUnknown = errors.New("messaging: delivery unknown")
	// ErrNotConnected: a socket call needed the connection while the socket
	// was neither connected nor trying to connect (before Connect, or after
	// it gave up: refused credentials, an exhausted reconnection budget, or
	// reconnection turned off), or a fire-and-forget call found the socket
	// reconnecting.
	ErrNotConnected = errors.New("messaging: socket not connected")
	// ErrReconnectFailed: the socket gave up reconnecting after the number
	// of attempts set by WithReconnectionAttempts.
	ErrReconnectFailed = errors.New("messaging: reconnection attempts exhausted")
	// ErrMalformed: the server sent an event or an acknowledgement the SDK
	// could not read (wrong JSON types, missing fields).
	ErrMalformed = errors.New("messaging: malformed data from the server")
)

// DeliveryUnknownError is a call that stores something new (a message, a
// control event, a conversation) whose request may have reached the service
// but whose answer was lost: the context ended, the request timed out or
// the connection failed after the request was written, or a gateway
// answered 502 or 504. What was sent may or may not be stored. It matches
// ErrDeliveryUnknown, and its cause (errors.Is(err, context.Canceled),
// errors.As(err, &apiErr), ...) through Unwrap.
//
// For a message, MessageID is the id it was sent with, the one the SDK made
// when params.ID was empty: send again with params.ID set to it and the
// service stores the message at most once (it answers a repeated id with
// the stored message). SendControl and CreateConversation carry no client
// id, so MessageID is empty: the service would store a repeat again, so
// check the conversation's history (or its list) before sending again.
type DeliveryUnknownError struct {
	// Op names the call: "POST /api/conversations/<id>/messages" on REST,
	// the event (e.g. "message:send") on the socket. It may be empty when
	// Err already names it.
	Op string
	// MessageID is the message's id; empty when the call has none.
	MessageID string
	// Err is the cause: the context's error, the network error, the
	// request timeout, or the gateway's *APIError.
	Err error

	// noClientID: the call stores something without a client id
	// (SendControl, CreateConversation), which the text says.
	noClientID bool
}

// Error implements error.
func (e *DeliveryUnknownError) Error() string {
	var b strings.Builder
	if e.Op == "" && e.Err != nil && errors.Is(e.Err, ErrDeliveryUnknown) {
		// A socket error that says it all already: add the id.
		b.WriteString(e.Err.Error())
		e.writeID(&b)
		return b.String()
	}
	b.WriteString("messaging: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	b.WriteString("delivery unknown")
	e.writeID(&b)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *DeliveryUnknownError) writeID(b *strings.Builder) {
	if e.MessageID != "" {
		b.WriteString(" (message id ")
		b.WriteString(e.MessageID)
		b.WriteString(": sending again with this id stores it at most once)")
	} else if e.noClientID {
		b.WriteString(" (no client id: sending again may store it twice)")
	}
}

// Is reports whether target is ErrDeliveryUnknown.
func (e *DeliveryUnknownError) Is(target error) bool { return target == ErrDeliveryUnknown }

// Unwrap returns the cause.
func (e *DeliveryUnknownError) Unwrap() error { return e.Err }

// withMessageID gives an error matching ErrDeliveryUnknown the id of the
// message that was sent, as a *DeliveryUnknownError; other errors are
// returned as they are. The socket's SendMessage passes its errors through
// it, so that both paths let the caller recover the id.
func withMessageID(err error, id string) error {
	if err == nil || id == "" || !errors.Is(err, ErrDeliveryUnknown) {
		return err
	}
	var du *DeliveryUnknownError
	if errors.As(err, &du) {
		if du.MessageID == id {
			return err
		}
		if du == err {
			c := *du
			c.MessageID = id
			return &c
		}
	}
	return &DeliveryUnknownError{MessageID: id, Err: err}
}

// ConnectError is a socket connection the server refused (a CONNECT_ERROR),
// typically for want of valid credentials. The socket does not retry after
// it: fix the credentials (SetToken) and call Connect again.
type ConnectError struct {
	// Message is the server's text, e.g. "Authentication required".
	Message string
}

// Error implements error.
func (e *ConnectError) Error() string {
	return "messaging: connection refused: " + e.Message
}

// Is maps "Authentication required" to ErrUnauthorized.
func (e *ConnectError) Is(target error) bool {
	return target == ErrUnauthorized && e.Message == "Authentication required"
}

// maxErrorBody caps how much of an error response body is read and kept.
const maxErrorBody = 64 << 10

// APIError is a REST call the service answered with a status other than 2xx.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Method and Path name the request (Path holds no query and no secrets).
	Method string
	Path   string
	// Message is the service's text, from its "error" or "message" field, or
	// the start of a non-JSON body.
	Message string
	// Body is the response body, capped at 64 KiB.
	Body []byte
	// RetryAfter is the wait the service asked for with Retry-After, if any.
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Message == "" {
		return fmt.Sprintf("messaging: %s %s: %s", e.Method, e.Path, status)
	}
	return fmt.Sprintf("messaging: %s %s: %s: %s", e.Method, e.Path, status, e.Message)
}

// Is maps the status to the package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrInvalidArgument:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotParticipant:
		return e.StatusCode == http.StatusForbidden && strings.HasPrefix(e.Message, "Not a participant")
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// AckError is a socket call the service acknowledged with success:false.
type AckError struct {
	// Event is the event that was refused, e.g. "message:send".
	Event string
	// Message is the service's text, e.g. "Not a participant".
	Message string
}

// Error implements error.
func (e *AckError) Error() string {
	return fmt.Sprintf("messaging: %s refused: %s", e.Event, e.Message)
}

// Is maps the service's texts to the package's sentinel errors.
func (e *AckError) Is(target error) bool {
	m := e.Message
	switch target {
	case ErrNotParticipant:
		return strings.HasPrefix(m, "Not a participant")
	case ErrForbidden:
		return strings.HasPrefix(m, "Not a participant") || strings.HasPrefix(m, "Not authorized") ||
			strings.Contains(m, "capability required")
	case ErrNotFound:
		return strings.HasSuffix(m, "not found")
	case ErrUnauthorized:
		return m == "Authentication required"
	}
	return false
}

// ValidationError is input the SDK refused before any I/O. It matches
// ErrInvalidArgument.
type ValidationError struct {
	// Field names the offending field, e.g. "conversationID" or "params.RunID".
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *ValidationError) Error() string {
	return fmt.Sprintf("messaging: invalid %s: %s", e.Field, e.Reason)
}

// Is reports whether target is ErrInvalidArgument.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidArgument }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// newAPIError reads at most maxErrorBody bytes of an error answer; the rest
// is never read.
func newAPIError(resp *http.Response, method, path string) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &APIError{
		StatusCode: resp.StatusCode,
		Method:     method,
		Path:       path,
		Message:    errorText(body),
		Body:       body,
	}
}

// maxErrorText caps the text taken from a body that is not the service's
// JSON error.
const maxErrorText = 200

// errorText finds the service's words in an error body: the "error" or
// "message" field of a JSON object, else the text of the body (for an HTML
// page, the text of its <pre> element if it has one, else all its text).
func errorText(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		for _, raw := range [...]json.RawMessage{v.Error, v.Message} {
			if s := jsonText(raw); s != "" {
				return s
			}
		}
	}
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	if strings.Contains(s, "<") {
		s = htmlText(s)
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// jsonText is a JSON string, or the "message" string of a JSON object.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.Message
	}
	return ""
}

var (
	htmlPre  = regexp.MustCompile(`(?is)<pre[^>]*>(.*?)</pre>`)
	htmlSkip = regexp.MustCompile(`(?is)<(script|style|head)[^>]*>.*?</(script|style|head)>`)
	htmlTag  = regexp.MustCompile(`(?s)<[^>]*>`)
)

// htmlText is the readable text of an HTML page, such as Express's "Cannot
// GET /path" 404 page.
func htmlText(s string) string {
	if m := htmlPre.FindStringSubmatch(s); m != nil {
		s = m[1]
	} else {
		s = htmlSkip.ReplaceAllString(s, " ")
	}
	return html.UnescapeString(htmlTag.ReplaceAllString(s, " "))
}
