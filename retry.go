package messaging

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/symbia-labs/messaging-go/internal/backoff"
)

// RetryPolicy says how a Client repeats calls that failed in a way worth
// repeating: a network error (connection refused or reset, a timeout) or an
// answer of 408, 429, 502, 503 or 504.
//
// Only calls that are safe to repeat are retried: reads, updates, deletes,
// participant changes, joins and leaves, and SendMessage, which always
// carries a message id so the service stores it once. CreateConversation and
// SendControl are never retried: a repeat could create a second conversation
// or a second control event. A repeated delete, leave or participant removal
// whose first attempt took effect unseen (the answer was lost) reports what
// the service says the second time, typically ErrNotFound or ErrForbidden.
//
// Delays grow exponentially from MinDelay to MaxDelay with ±25 % jitter. A
// Retry-After header replaces the computed delay; one asking for more than
// MaxRetryAfter ends the call at once with an *APIError whose RetryAfter
// holds the wait. The wait always ends early when the call's context ends.
type RetryPolicy struct {
	// MaxRetries is how many times a call is repeated after its first
	// attempt. Zero disables retries.
	MaxRetries int
	// MinDelay is the delay before the first retry, before jitter. Zero
	// means 500 ms.
	MinDelay time.Duration
	// MaxDelay caps every computed delay. Zero means 8 s.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for. Zero
	// means 60 s.
	MaxRetryAfter time.Duration
}

// Defaults of RetryPolicy.
const (
	defaultMaxRetries    = 2
	defaultMinDelay      = 500 * time.Millisecond
	defaultMaxDelay      = 8 * time.Second
	defaultMaxRetryAfter = 60 * time.Second
	retryJitter          = 0.25
)

// DefaultRetryPolicy returns the policy a Client uses unless WithRetry says
// otherwise: 2 retries, 500 ms doubling up to 8 s, Retry-After up to 60 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxRetries:    defaultMaxRetries,
		MinDelay:      defaultMinDelay,
		MaxDelay:      defaultMaxDelay,
		MaxRetryAfter: defaultMaxRetryAfter,
	}
}

// normalize checks p and fills its zero durations with the defaults.
func (p RetryPolicy) normalize() (RetryPolicy, error) {
	switch {
	case p.MaxRetries < 0:
		return p, invalid("RetryPolicy.MaxRetries", "must not be negative, got %d", p.MaxRetries)
	case p.MinDelay < 0:
		return p, invalid("RetryPolicy.MinDelay", "must not be negative, got %v", p.MinDelay)
	case p.MaxDelay < 0:
		return p, invalid("RetryPolicy.MaxDelay", "must not be negative, got %v", p.MaxDelay)
	case p.MaxRetryAfter < 0:
		return p, invalid("RetryPolicy.MaxRetryAfter", "must not be negative, got %v", p.MaxRetryAfter)
	}
	if p.MinDelay == 0 {
		p.MinDelay = defaultMinDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = defaultMaxDelay
	}
	if p.MaxDelay < p.MinDelay {
		p.MaxDelay = p.MinDelay
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = defaultMaxRetryAfter
	}
	return p, nil
}

func (p RetryPolicy) backoff() backoff.Backoff {
	return backoff.Backoff{Min: p.MinDelay, Max: p.MaxDelay, Factor: 2, Jitter: retryJitter}
}

// retryableStatus reports whether an answer with this status is worth
// repeating: the request timed out, was rate limited, or a gateway failed.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
// It reports false when the header is absent or unreadable. A date in the
// past means no wait.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		const maxSecs = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
