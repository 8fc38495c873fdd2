package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/symbia-labs/messaging-go/internal/engineio"
	"github.com/symbia-labs/messaging-go/internal/socketio"
)

// The request path of the Socket: request is the one place acks are timed
// out and sends are sent again; the calls built on it (SendMessage,
// EditMessage, DeleteMessage, SendControl); and the fire-and-forget calls
// (typing, presence) built on emit.

// ---- calls with acks ----

// resend says whether a call may be sent again after its acknowledgement
// was lost.
type resend bool

const (
	resendSafe resend = true  // idempotent on the server: same result
	resendNone resend = false // each processing has an effect
)

// request sends event with arg and returns its acknowledgement, waiting
// for the socket to be ready first. See SendMessage for the retry rules.
func (s *Socket) request(ctx context.Context, event string, mode resend, arg any) (ackBody, error) {
	if ctx == nil {
		return ackBody{}, invalid("ctx", "is nil")
	}
	// Encoded once: every attempt sends the same bytes.
	raw, err := json.Marshal(arg)
	if err != nil {
		return ackBody{}, invalid("params", "cannot be encoded as JSON: %v", err)
	}
	payload := socketio.RawJSON(raw) // json.Marshal output: valid and compact, appended as is
	maybeSent := false
	s.obs.sends.Add(1)
	for {
		gctx, err := s.waitReady(ctx)
		if err != nil {
			if maybeSent {
				return ackBody{}, deliveryUnknown(event, err)
			}
			return ackBody{}, fmt.Errorf("messaging: %s: %w", event, err)
		}
		args, err := s.sio.EmitWithAckTimeout(ctx, s.cfg.ackTimeout, event, payload)
		ackTimedOut := errors.Is(err, socketio.ErrAckTimeout) && ctx.Err() == nil
		s.countAck(err, ackTimedOut)
		if err == nil {
			body, err := decodeAck(event, args)
			var ae *AckError
			if err != nil && !errors.As(err, &ae) {
				// The server answered, but we cannot read what it did.
				return ackBody{}, fmt.Errorf("%w: %w", ErrDeliveryUnknown, err)
			}
			return body, err
		}
		if errors.Is(err, engineio.ErrPayloadTooLarge) {
			return ackBody{}, fmt.Errorf("messaging: %s: %w: %w", event, ErrInvalidArgument, err)
		}
		// socketio says when the packet provably never left (no byte of it
		// reached the network); any other error (a lost connection, a
		// partly written packet, a timeout after the write) may hide a
		// processed one.
		notSent := errors.Is(err, socketio.ErrNotSent)
		maybeSent = maybeSent || !notSent
		switch {
		case ctx.Err() != nil:
			if maybeSent {
				return ackBody{}, deliveryUnknown(event, ctx.Err())
			}
			return ackBody{}, fmt.Errorf("messaging: %s: %w", event, ctx.Err())
		case errors.Is(err, socketio.ErrClosed) || s.State() == StateClosed:
			if maybeSent {
				return ackBody{}, deliveryUnknown(event, ErrClosed)
			}
			return ackBody{}, fmt.Errorf("messaging: %s: %w", event, ErrClosed)
		case notSent:
			continue // safe for any call; waitReady says why, or waits for the connection
		case mode == resendNone:
			if ackTimedOut {
				err = fmt.Errorf("no acknowledgement within %v", s.cfg.ackTimeout)
			}
			return ackBody{}, deliveryUnknown(event, err)
		}
		s.log.LogAttrs(ctx, slog.LevelDebug, "messaging: sending again",
			slog.String("event", event), slog.Bool("ack_timeout", ackTimedOut), slog.String("error", err.Error()))
		if !ackTimedOut && !errors.Is(err, socketio.ErrDisconnected) {
			// A failed write: the connection is about to be declared lost.
			// Give it a moment rather than spinning on it.
			t := time.NewTimer(retryPause)
			select {
			case <-gctx.Done():
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// retryPause is how long a call waits after a failed write before trying
// again on what may still look like a live connection.
const retryPause = 50 * time.Millisecond

func deliveryUnknown(event string, cause error) error {
	return &DeliveryUnknownError{Op: event, Err: cause}
}

// reported passes err (if any) to the error handler and returns it.
func (s *Socket) reported(err error) error {
	if err != nil && s.cfg.common.errorHandler != nil {
		s.cfg.common.errorHandler(err)
	}
	return err
}

// SendMessage sends a message and returns it as stored. The parameters
// are checked by the REST rules (the service's socket path checks less).
// Without params.ID the socket makes a random UUID, once: the service
// stores an id once, so the send is safe to repeat, and it is repeated
// with the same id when its acknowledgement is lost (the connection
// dropped, or no answer within the ack timeout). While the socket is
// reconnecting, the call waits for the connection, bounded by ctx.
//
// The call ends in exactly one of: the stored message; an *AckError (the
// server refused; nothing stored); or an error when ctx ends or the socket
// is closed or gives up. In that last case, if the message may have
// reached the server, the error matches ErrDeliveryUnknown (besides the
// context's error, ErrClosed or ErrNotConnected): it may or may not be
// stored, and sending it again with the same params.ID is safe. An error
// that does not match ErrDeliveryUnknown means nothing was stored.
func (s *Socket) SendMessage(ctx context.Context, params SendMessageParams) (*Message, error) {
	if err := params.validate(); err != nil {
		return nil, s.reported(err)
	}
	if params.ID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, s.reported(fmt.Errorf("messaging: making a message id: %w", err))
		}
		params.ID = id.String()
	}
	ctx, sent := s.observeSend(ctx, SendInfo{Transport: TransportSocket, Event: EventMessageSend, ConversationID: params.ConversationID, MessageID: params.ID})
	params.TraceID = s.traceIDOr(ctx, params.TraceID)
	body, err := s.request(ctx, EventMessageSend, resendSafe, params)
	sent.done(err)
	if err != nil {
		return nil, s.reported(withMessageID(err, params.ID))
	}
	m, err := body.message(EventMessageSend)
	return m, s.reported(withMessageID(err, params.ID))
}

// EditMessage replaces the content of a message the caller sent and
// returns it as stored. An edit is repeated like a send when its
// acknowledgement is lost (editing twice to the same content is harmless,
// but receivers then see OnMessageUpdate twice). Errors as for
// SendMessage; refusals: "Message not found" (ErrNotFound), "Not authorized
// to edit this message" (ErrForbidden).
func (s *Socket) EditMessage(ctx context.Context, messageID, content string) (*Message, error) {
	if err := requireUUID("messageID", messageID); err != nil {
		return nil, s.reported(err)
	}
	if err := validateSocketContent("content", content); err != nil {
		return nil, s.reported(err)
	}
	arg := struct {
		MessageID string `json:"messageId"`
		Content   string `json:"content"`
	}{messageID, content}
	ctx, sent := s.observeSend(ctx, SendInfo{Transport: TransportSocket, Event: EventMessageEdit, MessageID: messageID})
	body, err := s.request(ctx, EventMessageEdit, resendSafe, arg)
	sent.done(err)
	if err != nil {
		return nil, s.reported(err)
	}
	m, err := body.message(EventMessageEdit)
	return m, s.reported(err)
}

// DeleteMessage deletes a message the caller sent. It is repeated like a
// send when its acknowledgement is lost; if the repeat is answered
// "Message not found", the earlier attempt is taken to have deleted it and
// DeleteMessage returns nil: only the sender may delete a message, so the
// message is gone by the caller's own hand either way (or never existed).
// Other refusals: "Message not found" on a first attempt (ErrNotFound),
// "Not authorized to delete this message" (ErrForbidden).
func (s *Socket) DeleteMessage(ctx context.Context, messageID string) error {
	if err := requireUUID("messageID", messageID); err != nil {
		return s.reported(err)
	}
	if ctx == nil {
		return s.reported(invalid("ctx", "is nil"))
	}
	maybe := false // an earlier attempt may have deleted it
	for {
		_, err := s.request(ctx, EventMessageDelete, resendNone, messageID)
		var ae *AckError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ae):
			if maybe && errors.Is(err, ErrNotFound) {
				return nil
			}
			return s.reported(err)
		case errors.Is(err, ErrDeliveryUnknown) && !errors.Is(err, ErrMalformed) &&
			ctx.Err() == nil && s.State() != StateClosed:
			maybe = true
			continue
		}
		if maybe && !errors.Is(err, ErrDeliveryUnknown) {
			err = deliveryUnknown(EventMessageDelete, err)
		}
		return s.reported(err)
	}
}

// SendControl sends a stream control event to a conversation and returns
// the message row the service stores for it. Short names ("pause") are
// sent in full ("stream.pause"). Sending needs the messaging.interrupt
// capability (messaging.route for route and handoff).
//
// Unlike a message, a control event is stored again each time it is
// processed, so SendControl never repeats a send that may have reached the
// server: when the acknowledgement is lost (the connection dropped, or no
// answer within the ack timeout) it returns an error matching
// ErrDeliveryUnknown. A send that provably never left (the connection
// ended before any byte of it was written) is sent again once the socket
// has reconnected. While the socket is reconnecting, it waits for the
// connection, bounded by ctx, before sending. An error that does not match
// ErrDeliveryUnknown means nothing was stored.
func (s *Socket) SendControl(ctx context.Context, conversationID string, params ControlParams) (*Message, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, s.reported(err)
	}
	name, err := params.validate()
	if err != nil {
		return nil, s.reported(err)
	}
	params.Event = string(name)
	ctx, sent := s.observeSend(ctx, SendInfo{Transport: TransportSocket, Event: EventControlSend, ConversationID: conversationID, Control: params.Event})
	params.TraceID = s.traceIDOr(ctx, params.TraceID)
	arg := struct {
		ConversationID string `json:"conversationId"`
		ControlParams
	}{conversationID, params}
	body, err := s.request(ctx, EventControlSend, resendNone, arg)
	sent.done(err)
	if err != nil {
		return nil, s.reported(err)
	}
	m, err := body.control(EventControlSend)
	return m, s.reported(err)
}

// ---- fire-and-forget calls ----

// emit sends an event without an ack on the current connection. It does
// not wait for a reconnection: it returns ErrNotConnected if the socket is
// not connected or the connection ends before the packet went out.
func (s *Socket) emit(ctx context.Context, event string, arg any) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	s.mu.Lock()
	st, gctx := s.state, s.connCtx
	s.mu.Unlock()
	switch st {
	case StateClosed:
		return fmt.Errorf("messaging: %s: %w", event, ErrClosed)
	case StateConnected:
	default:
		return fmt.Errorf("messaging: %s: %w (socket %s)", event, ErrNotConnected, st)
	}
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(gctx, cancel)
	defer stop()
	err := s.sio.Emit(ectx, event, arg)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("messaging: %s: %w", event, ctx.Err())
	case errors.Is(err, socketio.ErrClosed) || s.State() == StateClosed:
		return fmt.Errorf("messaging: %s: %w", event, ErrClosed)
	case gctx.Err() != nil || errors.Is(err, socketio.ErrStopped):
		return fmt.Errorf("messaging: %s: %w (connection lost)", event, ErrNotConnected)
	}
	return fmt.Errorf("messaging: %s: %w", event, err)
}

// StartTyping tells the conversation's other members that the caller is
// typing (the caller does not receive its own typing events). Typing is
// momentary, so it is not sent later: while the socket is not connected it
// returns ErrNotConnected.
func (s *Socket) StartTyping(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.reported(err)
	}
	return s.reported(s.emit(ctx, EventTypingStart, conversationID))
}

// StopTyping tells the conversation's other members that the caller stopped
// typing. Like StartTyping, it returns ErrNotConnected while disconnected.
func (s *Socket) StopTyping(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.reported(err)
	}
	return s.reported(s.emit(ctx, EventTypingStop, conversationID))
}

// UpdatePresence sets the caller's presence status (online, away, busy or
// offline; anything else is refused, though the service would take it).
// The service tells every other connected socket. The status is announced
// again after every reconnection (the service announces "offline" when a
// connection drops); set while disconnected, it is announced at the next
// connection.
func (s *Socket) UpdatePresence(ctx context.Context, status PresenceStatus) error {
	if !status.Valid() {
		return s.reported(invalid("status", "must be online, away, busy or offline, got %q", status))
	}
	if ctx == nil {
		return s.reported(invalid("ctx", "is nil"))
	}
	s.mu.Lock()
	st := s.state
	if st != StateClosed {
		s.presence = status
	}
	s.mu.Unlock()
	switch st {
	case StateClosed:
		return s.reported(fmt.Errorf("messaging: %s: %w", EventPresenceUpdate, ErrClosed))
	case StateConnected:
		err := s.emit(ctx, EventPresenceUpdate, status)
		if errors.Is(err, ErrNotConnected) {
			return nil // announced after reconnecting
		}
		return s.reported(err)
	}
	return nil
}

// AnnouncePresence tells a conversation's members (the caller included)
// that the caller is online there (participant:online). It returns
// ErrNotConnected while disconnected.
func (s *Socket) AnnouncePresence(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.reported(err)
	}
	return s.reported(s.emit(ctx, EventAnnouncePresence, conversationID))
}
