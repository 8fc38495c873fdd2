package socketio

// Emits and acks of the Client: waiting for the connection, Emit,
// EmitWithAck(Timeout), and the pending-ack bookkeeping.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// waitConnected returns the transport once the namespace is connected on
// one other than dead (a transport that has ended, which the manager may not
// have noticed yet; nil for none). A value from expire (nil: never) ends the
// wait with an *ackTimeoutError.
func (c *Client) waitConnected(ctx context.Context, dead *engineio.Conn, expire <-chan time.Time) (*engineio.Conn, error) {
	for {
		c.mu.Lock()
		st, err, conn, ch := c.state, c.stateErr, c.conn, c.changed
		c.mu.Unlock()
		switch st {
		case stateConnected:
			if conn != dead {
				return conn, nil
			}
		case stateClosed:
			return nil, ErrClosed
		case stateStopped:
			if err == nil {
				return nil, ErrStopped
			}
			return nil, fmt.Errorf("%w: %w", ErrStopped, err)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-expire:
			return nil, &ackTimeoutError{}
		}
	}
}

func checkEvent(event string) error {
	if isReserved(event) {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	return nil
}

// Emit sends an event without asking for an ack. It returns once the packet
// was handed to the network. Before the namespace is connected, and while
// reconnecting, it waits (bounded by ctx) and sends after the CONNECT reply;
// a packet the transport ended before writing is sent on the next
// connection. After Close, or when the client stopped, it fails at once. An
// error matching ErrNotSent means the packet never left (see ErrNotSent).
func (c *Client) Emit(ctx context.Context, event string, args ...any) error {
	if err := checkEvent(event); err != nil {
		return err
	}
	p, err := EventPacket(clientNamespace, nil, event, args...)
	if err != nil {
		return err
	}
	msgs, err := p.Encode()
	if err != nil {
		return err
	}
	var dead *engineio.Conn
	for {
		conn, err := c.waitConnected(ctx, dead, nil)
		if err != nil {
			return notSent(ctx, err)
		}
		err = conn.Send(ctx, msgs...)
		if err == nil || !errors.Is(err, ErrNotSent) {
			return err // sent, or may have been
		}
		if ctx.Err() != nil {
			return notSent(ctx, err)
		}
		dead = conn // ended before the packet was written: wait for the next
	}
}

// EmitWithAck sends an event asking for an ack and returns the ack's
// arguments. It waits like Emit before sending, then for the ack, bounded by
// ctx. An error matching ErrNotSent means the packet never left (see
// ErrNotSent); any other means the server may have processed it: if the
// connection drops after the packet was sent, the error is a
// *DisconnectError (matching ErrDisconnected); if ctx ends, ctx's error.
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	return c.emitWithAck(ctx, 0, event, args)
}

// EmitWithAckTimeout is EmitWithAck bounded by timeout as well as by ctx,
// as if it were given a ctx with that timeout but without making one (a
// pooled timer does it). The timeout covers the whole call: waiting for the
// connection, the send and the ack. When it passes first, the error is
// what EmitWithAck would return for a ctx reaching its deadline at that
// point, but matching ErrAckTimeout (and context.DeadlineExceeded) instead
// of ctx's error: it still matches ErrNotSent when the packet never left,
// and wraps the error that was seen when the timeout was noticed, if any.
// When ctx ends first, the error is ctx's, as for EmitWithAck. A timeout of
// zero or less means none.
func (c *Client) EmitWithAckTimeout(ctx context.Context, timeout time.Duration, event string, args ...any) ([]json.RawMessage, error) {
	return c.emitWithAck(ctx, timeout, event, args)
}

// ackTimers are stopped timers for EmitWithAckTimeout, so that a call does
// not allocate one (a timer and its channel).
var ackTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

func (c *Client) emitWithAck(ctx context.Context, timeout time.Duration, event string, args []any) ([]json.RawMessage, error) {
	if err := checkEvent(event); err != nil {
		return nil, err
	}
	proto, err := EventPacket(clientNamespace, nil, event, args...)
	if err != nil {
		return nil, err
	}
	// The timeout: expire fires once it passed; timedOut marks an error
	// seen after it passed (the timer may not have been the one to end the
	// call) as a context with that deadline would have been reported.
	var expire <-chan time.Time
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
		t := ackTimers.Get().(*time.Timer)
		t.Reset(timeout)
		defer func() {
			if !t.Stop() {
				// Fired: with pre-Go 1.23 timer semantics (GODEBUG
				// asynctimerchan=1) its value may still be buffered.
				select {
				case <-t.C:
				default:
				}
			}
			ackTimers.Put(t)
		}()
		expire = t.C
	}
	timedOut := func(err error) error {
		if timeout <= 0 || ctx.Err() != nil || time.Now().Before(deadline) {
			return err
		}
		if errors.Is(err, ErrAckTimeout) {
			return err
		}
		return &ackTimeoutError{err: err}
	}
	data, att := proto.Data, proto.Attachments
	var dead *engineio.Conn
	for {
		conn, err := c.waitConnected(ctx, dead, expire)
		if err != nil {
			return nil, notSent(ctx, timedOut(err))
		}
		c.mu.Lock()
		if c.conn != conn || c.state != stateConnected {
			c.mu.Unlock()
			continue
		}
		id, ch := c.acks.add()
		c.mu.Unlock()

		p := &Packet{Type: PacketEvent, Namespace: clientNamespace, ID: &id, Data: data, Attachments: att}
		msgs, err := p.Encode()
		if err == nil {
			err = conn.SendUntil(ctx, expire, msgs...)
		}
		if err != nil {
			c.dropAck(id)
			if !errors.Is(err, ErrNotSent) {
				return nil, timedOut(err) // may have been sent
			}
			if ctx.Err() != nil {
				return nil, notSent(ctx, err)
			}
			if err := timedOut(err); errors.Is(err, ErrAckTimeout) {
				return nil, notSent(ctx, err)
			}
			dead = conn // ended before the packet was written: wait for the next
			continue
		}
		// Sent: from here on the server may process it.
		select {
		case res := <-ch:
			if res.err != nil {
				return res.args, timedOut(res.err)
			}
			return res.args, nil
		case <-ctx.Done():
			c.dropAck(id)
			return nil, ctx.Err()
		case <-expire:
			c.dropAck(id)
			return nil, &ackTimeoutError{}
		}
	}
}

func (c *Client) dropAck(id uint64) {
	c.mu.Lock()
	c.acks.drop(id)
	c.mu.Unlock()
}

// failAcks completes every pending ack with err. Caller holds c.mu.
func (c *Client) failAcks(err error) {
	c.acks.failAll(err)
}
