package socketio

// One transport session of the Client's manager: dial, namespace CONNECT,
// the read loop (pings, acks, events) and the end of the connection.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/symbia-labs/messaging-go/internal/engineio"
)

// dialOptions are the transport's options. The manager reads the transport
// itself (engineio's Read reads the network on the caller's goroutine): one
// goroutine per connection, and an ack goes from the network to its
// waiting caller without a hand-off.
func (c *Client) dialOptions(ctx context.Context) engineio.DialOptions {
	h := c.opts.Header
	if c.opts.HeaderFunc != nil {
		h = h.Clone()
		if h == nil {
			h = http.Header{}
		}
		maps.Copy(h, c.opts.HeaderFunc(ctx))
	}
	return engineio.DialOptions{
		Path:       c.opts.Path,
		Header:     h,
		HTTPClient: c.opts.HTTPClient,
		MaxPayload: c.opts.MaxPayload,
	}
}

func (c *Client) connectPacket(ctx context.Context) ([]engineio.Message, error) {
	p := &Packet{Type: PacketConnect, Namespace: clientNamespace}
	if c.opts.Auth != nil {
		auth, err := c.opts.Auth(ctx)
		if err != nil {
			return nil, fmt.Errorf("socketio: auth callback: %w", err)
		}
		if auth != nil {
			data, err := marshal(auth)
			if err != nil {
				return nil, fmt.Errorf("socketio: auth: %w", err)
			}
			if firstByte(data) != '{' {
				return nil, errors.New("socketio: auth must encode to a JSON object")
			}
			p.Data = data
		}
	}
	return p.Encode()
}

// session runs one transport from dial to its end.
func (c *Client) session(r *run) (outcome, error) {
	dctx, cancel := context.WithTimeout(r.ctx, c.opts.ConnectTimeout)
	defer cancel()
	failed := func(err error) (outcome, error) {
		if r.ctx.Err() != nil {
			return outStop, err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", ErrConnectTimeout, err)
		}
		c.connectError(r, err)
		return outFailed, err
	}
	conn, err := engineio.Dial(dctx, c.url, c.dialOptions(dctx))
	if err != nil {
		return failed(err)
	}
	defer conn.Close()
	// The manager reads the transport directly, so nothing but the end of
	// the transport interrupts its read: when the run ends (Close, or
	// Connect's ctx), close the transport, gracefully, telling the server
	// first if the namespace is connected on it. The manager then sees the
	// read fail with r.ctx ended, and waits here for the closer before the
	// session returns.
	closerDone := make(chan struct{})
	stopCloser := context.AfterFunc(r.ctx, func() {
		defer close(closerDone)
		c.mu.Lock()
		joined := c.conn == conn
		c.mu.Unlock()
		if joined {
			c.queueDisconnect(conn)
		}
		_ = conn.Close()
	})
	defer func() {
		if !stopCloser() {
			<-closerDone
		}
	}()
	msgs, err := c.connectPacket(dctx)
	if err != nil {
		return failed(err)
	}
	if err := conn.Send(dctx, msgs...); err != nil {
		return failed(err)
	}

	var dec Decoder
	connected := false
	var early []*Packet
	// Until the CONNECT reply, reads are bounded by the attempt's timeout
	// (a direct read whose ctx ends drops the transport, which fails the
	// attempt anyway). Then by nothing: a ctx that can end costs a
	// registration per read, and the closer above ends them when needed.
	readCtx := context.Context(dctx)
	for {
		m, err := conn.Read(readCtx)
		if err != nil {
			if r.ctx.Err() != nil { // Close, or Connect's ctx ended
				if connected {
					c.closeConnected(r, conn)
				}
				return outStop, err
			}
			if !connected {
				if ce := conn.Err(); ce != nil {
					err = ce
				}
				return failed(err)
			}
			reason := conn.Reason()
			if reason == engineio.ReasonForcedClose {
				reason = ReasonTransportError
			}
			return c.lost(r, reason, conn.Err())
		}
		p, err := dec.Decode(m)
		if err != nil {
			c.log.Debug("socketio: parse error", "err", err)
			_ = conn.Close()
			if !connected {
				return failed(err)
			}
			return c.lost(r, ReasonParseError, err)
		}
		if p == nil || p.nsp() != clientNamespace {
			continue
		}
		switch p.Type {
		case PacketConnect:
			if connected {
				continue
			}
			var reply struct {
				SID string `json:"sid"`
			}
			_ = json.Unmarshal(p.Data, &reply)
			if reply.SID == "" {
				err := errors.New("socketio: CONNECT reply without sid (not a Socket.IO v3+ server?)")
				if c.stop(r, err) {
					c.connectError(r, err)
				}
				return outStop, err
			}
			c.mu.Lock()
			if c.cur != r || c.state == stateClosed {
				c.mu.Unlock()
				return outStop, ErrClosed
			}
			r.initial = false
			c.conn, c.sid = conn, reply.SID
			c.setState(stateConnected, nil)
			c.mu.Unlock()
			connected = true
			readCtx = context.Background()
			cancel() // the attempt's timeout is over: let its timer and context go
			c.log.Debug("socketio: connected", "sid", reply.SID)
			for _, e := range early {
				c.dispatch(e)
			}
			early = nil
			c.hook("OnConnect", func() {
				if c.opts.OnConnect != nil {
					c.opts.OnConnect()
				}
			})
		case PacketConnectError:
			cerr := parseConnectError(p.Data)
			wasConnected := connected
			if c.stop(r, cerr) {
				c.connectError(r, cerr)
				if wasConnected {
					c.disconnected(r, ReasonServerDisconnect, cerr)
				}
			}
			return outStop, cerr
		case PacketDisconnect:
			derr := &DisconnectError{Reason: ReasonServerDisconnect}
			if c.stop(r, derr) {
				if connected {
					c.disconnected(r, ReasonServerDisconnect, nil)
				} else {
					c.connectError(r, derr)
				}
			}
			return outStop, derr
		case PacketEvent, PacketBinaryEvent:
			if !connected {
				early = append(early, p)
				continue
			}
			c.dispatch(p)
		case PacketAck, PacketBinaryAck:
			deliverAck(&c.mu, &c.acks, p)
		}
	}
}

// lost handles the end of an established connection.
func (c *Client) lost(r *run, reason string, err error) (outcome, error) {
	derr := &DisconnectError{Reason: reason, Err: err}
	reconnect := false
	c.mu.Lock()
	if c.cur == r && c.state == stateConnected {
		c.conn = nil
		c.failAcks(derr)
		if c.opts.Reconnection {
			c.setState(stateConnecting, nil)
			reconnect = true
		} else {
			c.setState(stateStopped, derr)
		}
	}
	c.mu.Unlock()
	c.log.Debug("socketio: disconnected", "reason", reason, "err", err)
	if reconnect {
		r.delay, r.scheduled = c.schedule(r, 1), true
	}
	c.disconnected(r, reason, err)
	return outLost, derr
}

func (c *Client) disconnected(r *run, reason string, err error) {
	c.hook("OnDisconnect", func() {
		if c.opts.OnDisconnect != nil {
			c.opts.OnDisconnect(reason, err)
		}
	})
}

// closeConnected ends an established connection after Close: tells the
// server, fails pending acks and reports "io client disconnect".
func (c *Client) closeConnected(r *run, conn *engineio.Conn) {
	c.queueDisconnect(conn) // unless the closer has already closed conn
	_ = conn.Close()
	c.mu.Lock()
	c.conn = nil
	c.failAcks(&DisconnectError{Reason: ReasonClientDisconnect, Err: ErrClosed})
	c.mu.Unlock()
	c.disconnected(r, ReasonClientDisconnect, nil)
}

// queueDisconnect queues a DISCONNECT packet for the namespace on conn.
func (c *Client) queueDisconnect(conn *engineio.Conn) {
	if p, err := (&Packet{Type: PacketDisconnect, Namespace: clientNamespace}).Encode(); err == nil {
		_ = conn.Queue(p...)
	}
}

// dispatch hands an event to OnEvent. The service never asks the client for
// an ack, and an ack asked for goes unanswered.
func (c *Client) dispatch(p *Packet) {
	name, args, err := p.Event()
	if err != nil {
		return // validated by the decoder
	}
	if c.opts.OnEvent != nil {
		c.hook("OnEvent", func() { c.opts.OnEvent(name, args) })
	}
}
