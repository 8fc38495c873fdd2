package messaging

import "time"

// DefaultBackfillTimeout bounds each history request a Socket makes on its
// own behalf; see WithBackfillTimeout.
const DefaultBackfillTimeout = 10 * time.Second

// deliveryOptions are the socket options of the delivery. Their zero
// value means the defaults.
type deliveryOptions struct {
	backfillTimeout time.Duration
}

func (o deliveryOptions) timeout() time.Duration {
	if o.backfillTimeout <= 0 {
		return DefaultBackfillTimeout
	}
	return o.backfillTimeout
}

// WithBackfillTimeout bounds each history request the socket makes on its
// own behalf (default 10 s): every page of a backfill, and the read of a
// conversation's newest message by JoinConversation (which also ends with
// the call's context). The bound holds whatever HTTP client the socket
// uses, so that a connection that stops answering without closing cannot
// stall a conversation. A backfill request that fails or times out is
// reported through OnError as a *BackfillError and tried again after a
// backoff delay; meanwhile the conversation's newer live messages are
// delivered (see "Delivery" in the package documentation).
func WithBackfillTimeout(d time.Duration) SocketOption {
	return socketOption(func(c *socketConfig) error {
		if d <= 0 {
			return invalid("WithBackfillTimeout", "must be positive, got %v", d)
		}
		c.delivery.backfillTimeout = d
		return nil
	})
}
