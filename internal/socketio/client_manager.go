package socketio

// The Client's connection manager: one goroutine per run that dials,
// retries with backoff and reports state changes through the hooks. One
// transport session of a run is in client_session.go.

import (
	"errors"
	"time"

	"github.com/symbia-labs/messaging-go/internal/backoff"
)

// outcome of one transport session.
type outcome int

const (
	outStop   outcome = iota // the run must end
	outFailed                // the attempt failed before connecting
	outLost                  // an established connection was lost
)

// manage is the manager goroutine of one run.
func (c *Client) manage(r *run) {
	defer c.runs.Done()
	defer close(r.done)
	defer r.cancel()
	if r.prev != nil {
		<-r.prev // hooks of the previous run are over
	}
	attempt := 0
	failures := 0 // attempts failed in a row since the last connection (or Connect)
	var lastErr error
	for r.ctx.Err() == nil {
		if attempt > 0 {
			if max := c.opts.ReconnectionAttempts; max > 0 && attempt > max {
				err := &ReconnectFailedError{Attempts: failures, Err: lastErr}
				if c.stop(r, err) {
					c.hook("OnReconnectFailed", func() { callErr(c.opts.OnReconnectFailed, err) })
				}
				return
			}
			d := r.delay
			if !r.scheduled {
				d = c.schedule(r, attempt)
			}
			r.scheduled = false
			c.log.Debug("socketio: reconnecting", "attempt", attempt, "delay", d)
			if backoff.Sleep(r.ctx, d) != nil {
				return
			}
			c.hook("OnReconnectAttempt", func() { callInt(c.opts.OnReconnectAttempt, attempt) })
		}
		out, err := c.session(r)
		switch out {
		case outStop:
			return
		case outFailed:
			lastErr = err
			attempt++
			failures++
		case outLost:
			lastErr = err
			attempt = 1
			failures = 0
		}
		if !c.opts.Reconnection {
			c.stop(r, lastErr)
			return
		}
	}
}

// schedule picks the delay before reconnection attempt n and reports it.
func (c *Client) schedule(r *run, n int) time.Duration {
	d := c.bo.Duration(n - 1)
	if f := c.opts.OnReconnectScheduled; f != nil {
		c.hook("OnReconnectScheduled", func() { f(n, d) })
	}
	return d
}

func callInt(f func(int), n int) {
	if f != nil {
		f(n)
	}
}

func callErr(f func(error), err error) {
	if f != nil {
		f(err)
	}
}

// stop ends the run with the client stopped (unless it was closed or the
// run is stale). It reports whether the state changed.
func (c *Client) stop(r *run, err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != r || c.state == stateClosed {
		return false
	}
	c.conn = nil
	ackErr := err
	if !errors.Is(err, ErrDisconnected) {
		ackErr = &DisconnectError{Reason: ReasonTransportClose, Err: err}
	}
	c.failAcks(ackErr)
	c.setState(stateStopped, err)
	return true
}

func (c *Client) connectError(r *run, err error) {
	c.log.Debug("socketio: connect error", "err", err)
	c.hook("OnConnectError", func() { callErr(c.opts.OnConnectError, err) })
}
