package timeline

import (
	"fmt"
	"time"
)

// Defaults of the options.
const (
	// DefaultHistoryLimit is how many recent messages New loads.
	DefaultHistoryLimit = 200
	// DefaultChangeTimeout bounds each local change's wait for the server.
	DefaultChangeTimeout = 30 * time.Second
)

// Option configures a Timeline.
type Option func(*config) error

type config struct {
	limit      int
	resolver   Resolver
	keepFailed bool
	timeout    time.Duration
	retryMin   time.Duration
	retryMax   time.Duration
}

func defaultConfig() config {
	return config{
		limit:    DefaultHistoryLimit,
		resolver: ServerWins,
		timeout:  DefaultChangeTimeout,
		retryMin: 250 * time.Millisecond,
		retryMax: 10 * time.Second,
	}
}

// WithHistoryLimit sets how many of the most recent messages New loads
// (default 200). The view then holds every message created since the
// oldest of them, and grows with new ones.
func WithHistoryLimit(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("timeline: WithHistoryLimit: must be at least 1, got %d", n)
		}
		c.limit = n
		return nil
	}
}

// WithResolver sets how conflicts are decided (default ServerWins). See
// ServerWins, ClientWins, LastWriterWins and Manual.
func WithResolver(r Resolver) Option {
	return func(c *config) error {
		if r == nil {
			return fmt.Errorf("timeline: WithResolver: nil resolver")
		}
		c.resolver = r
		return nil
	}
}

// WithKeepFailedSends keeps a send that failed in the view, as a Failed
// entry, for Retry or Discard, instead of removing it (the default).
func WithKeepFailedSends(keep bool) Option {
	return func(c *config) error {
		c.keepFailed = keep
		return nil
	}
}

// WithChangeTimeout bounds how long a local change waits for the server
// (default 30 s), on top of the caller's context: past it, the change is
// rolled back, or, if it may have reached the server, left pending until
// the next reconciliation with the history.
func WithChangeTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("timeline: WithChangeTimeout: must be positive, got %v", d)
		}
		c.timeout = d
		return nil
	}
}
