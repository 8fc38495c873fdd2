package messaging

// The REST request path: one call (call, do), its attempts with their
// timeout and retries (send, attempt), headers and credentials
// (setHeaders), and how failures are classified (contextError,
// unwrapURLError, requestTimeoutError). The methods of the API that use it
// are in client.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// maxResponseBody caps how much of a successful answer is read: a server
// (or anything posing as one) cannot make the client hold more. A history
// page of 50 messages at the service's 12 MB body limit would not fit, but
// no real page comes near it. Each Client carries its own copy (maxBody),
// which tests lower.
const maxResponseBody int64 = 64 << 20

// request describes one REST call.
type request struct {
	method string
	path   string // escaped, below the endpoint, without query
	query  url.Values
	body   any  // sent as JSON when not nil
	retry  bool // safe to repeat
	out    any  // a 2xx body is decoded into it when not nil
	// lossUnknown: a failure after the request may have been processed is
	// a *DeliveryUnknownError (the calls that store something new).
	lossUnknown bool
	messageID   string // the client id it stores, for that error
}

// call makes r and decodes its answer into a new T.
func call[T any](ctx context.Context, c *Client, r request, opts []RequestOption) (*T, error) {
	out := new(T)
	r.out = out
	if err := c.do(ctx, r, opts); err != nil {
		return nil, err
	}
	return out, nil
}

// do makes r with the given options and reports a failure to the error
// handler.
func (c *Client) do(ctx context.Context, r request, opts []RequestOption) error {
	rc, err := newRequestConfig(opts)
	if err != nil {
		return c.fail(err)
	}
	return c.fail(c.send(ctx, r, &rc))
}

// fail reports err (if any) to the error handler and returns it.
func (c *Client) fail(err error) error {
	c.countFailure(err)
	if err != nil && c != nil && c.cfg.common.errorHandler != nil {
		c.cfg.common.errorHandler(err)
	}
	return err
}

var errNoClient = errors.New("messaging: Client not initialised: use NewClient")

// send makes r, repeating it as the retry policy allows.
func (c *Client) send(ctx context.Context, r request, rc *requestConfig) error {
	if c == nil || c.base == "" {
		return errNoClient
	}
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	var body []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return fmt.Errorf("messaging: %s %s: encoding the request: %w", r.method, r.path, err)
		}
		if len(b) > MaxRESTBodySize {
			return invalid("params", "encode to %d bytes, more than the service's REST body limit of %d (see MaxRESTBodySize)", len(b), MaxRESTBodySize)
		}
		body = b
	}
	maxRetries := 0
	if r.retry {
		maxRetries = c.cfg.retry.MaxRetries
		if rc.maxRetries >= 0 {
			maxRetries = rc.maxRetries
		}
	}
	unknown := false // some attempt may have been processed, unanswered
	lost := func(err, cause error) error {
		if !unknown || !r.lossUnknown {
			return err
		}
		if cause == nil {
			cause = err
		}
		return &DeliveryUnknownError{Op: r.method + " " + r.path, MessageID: r.messageID, Err: cause, noClientID: r.messageID == ""}
	}
	for attempt := 0; ; attempt++ {
		if c.closed.Load() {
			return lost(fmt.Errorf("messaging: %s %s: %w", r.method, r.path, ErrClosed), ErrClosed)
		}
		res := c.attempt(ctx, r, rc, body, attempt)
		if c.closed.Load() {
			c.releaseIdle() // the connection this attempt returned to the pool
		}
		unknown = unknown || res.maybeProcessed
		if res.err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return lost(contextError(ctx, r), ctx.Err())
		}
		if !res.retryable || attempt >= maxRetries {
			return lost(res.err, res.cause)
		}
		delay := c.backoff.Duration(attempt)
		if res.hasRetryAfter {
			if res.retryAfter > c.cfg.retry.MaxRetryAfter {
				return lost(res.err, res.cause) // the APIError carries RetryAfter
			}
			delay = res.retryAfter
		}
		c.cfg.common.logger.LogAttrs(ctx, slog.LevelInfo, "messaging: retrying",
			slog.String("method", r.method), slog.String("path", r.path),
			slog.Int("attempt", attempt+1), slog.Duration("delay", delay),
			slog.String("error", res.err.Error()))
		if err := c.sleep(ctx, delay); err != nil {
			return lost(contextError(ctx, r), ctx.Err())
		}
	}
}

// attemptResult is the outcome of one attempt.
type attemptResult struct {
	err           error
	cause         error // err without the method and path; err when nil
	retryable     bool
	retryAfter    time.Duration
	hasRetryAfter bool
	// maybeProcessed: the whole request was handed to the connection and
	// no answer saying what became of it was read, or a gateway answered
	// that its upstream failed or timed out (502, 504). A request not
	// written whole cannot have been processed: the service reads the
	// whole JSON body before acting on it.
	maybeProcessed bool
}

// requestTimeoutError is an attempt that outlived the request timeout.
type requestTimeoutError struct{ d time.Duration }

func (e requestTimeoutError) Error() string {
	return fmt.Sprintf("no answer within the request timeout of %v", e.d)
}

// Is makes it match context.DeadlineExceeded, as net/http's own timeouts do.
func (e requestTimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Timeout reports true, as for net.Error.
func (e requestTimeoutError) Timeout() bool { return true }

// attempt sends r once.
func (c *Client) attempt(ctx context.Context, r request, rc *requestConfig, body []byte, attempt int) attemptResult {
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	actx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	// Whether the request was handed whole to a connection: before that,
	// the service cannot have acted on it. Only sends need to know.
	var wrote atomic.Bool
	if r.lossUnknown {
		actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
			WroteRequest: func(i httptrace.WroteRequestInfo) {
				if i.Err == nil {
					wrote.Store(true)
				}
			},
		})
	}
	// why names a failure: the attempt's own timeout rather than the
	// transport's "context deadline exceeded" when that is what ended it.
	why := func(err error) error {
		if ctx.Err() == nil && actx.Err() != nil {
			return requestTimeoutError{c.timeout}
		}
		return err
	}
	req, err := http.NewRequestWithContext(actx, r.method, target, rd)
	if err != nil {
		return attemptResult{err: fmt.Errorf("messaging: %s %s: %w", r.method, r.path, unwrapURLError(err))}
	}
	c.setHeaders(req.Header, rc, body != nil)
	observed := c.observeRequest(ctx, req, r, attempt)

	start := time.Now()
	resp, err := c.cfg.common.httpClient.Do(req)
	observed.done(resp, unwrapURLError(err))
	logAttempt := func(status int, err error) {
		attrs := []slog.Attr{
			slog.String("method", r.method), slog.String("path", r.path),
			slog.Int("attempt", attempt+1), slog.Duration("duration", time.Since(start)),
		}
		if status != 0 {
			attrs = append(attrs, slog.Int("status", status))
		}
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		c.cfg.common.logger.LogAttrs(ctx, slog.LevelDebug, "messaging: request", attrs...)
	}
	if err != nil {
		cause := why(unwrapURLError(err))
		err = fmt.Errorf("messaging: %s %s: %w", r.method, r.path, cause)
		logAttempt(0, err)
		return attemptResult{err: err, cause: cause, retryable: true, maybeProcessed: wrote.Load()}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		logAttempt(resp.StatusCode, nil)
		e := newAPIError(resp, r.method, r.path)
		ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		e.RetryAfter = ra
		gateway := resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout
		return attemptResult{err: e, cause: e, retryable: retryableStatus(resp.StatusCode), retryAfter: ra, hasRetryAfter: ok,
			maybeProcessed: gateway}
	}
	// From here on the service has acted on the request: a failure is an
	// answer lost, not a request refused.
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		// The connection failed mid-answer: as retryable as a failed dial.
		cause := why(err)
		err = fmt.Errorf("messaging: %s %s: reading the answer: %w", r.method, r.path, cause)
		logAttempt(resp.StatusCode, err)
		return attemptResult{err: err, cause: cause, retryable: true, maybeProcessed: true}
	}
	if int64(len(data)) > c.maxBody {
		err = fmt.Errorf("messaging: %s %s: the answer exceeds %d bytes (ask for smaller pages)", r.method, r.path, c.maxBody)
		logAttempt(resp.StatusCode, err)
		return attemptResult{err: err, cause: err, maybeProcessed: true}
	}
	logAttempt(resp.StatusCode, nil)
	if r.out == nil {
		return attemptResult{}
	}
	if err := json.Unmarshal(data, r.out); err != nil {
		err = fmt.Errorf("messaging: %s %s: decoding the answer (%d %s): %w",
			r.method, r.path, resp.StatusCode, http.StatusText(resp.StatusCode), err)
		return attemptResult{err: err, cause: err, maybeProcessed: true}
	}
	return attemptResult{}
}

// setHeaders writes the headers of one attempt.
func (c *Client) setHeaders(h http.Header, rc *requestConfig, hasBody bool) {
	h.Set("Accept", "application/json")
	if ua := c.cfg.common.userAgent; ua != "" {
		h.Set("User-Agent", ua)
	}
	for k, v := range rc.header {
		h[k] = append([]string(nil), v...)
	}
	if hasBody {
		h.Set("Content-Type", "application/json")
	}
	token, apiKey := c.credentials()
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	if apiKey != "" {
		h.Set("X-API-Key", apiKey)
	}
	if rc.asUser != "" {
		h.Set("X-As-User-Id", rc.asUser)
	}
	if rc.orgID != "" {
		h.Set("X-Org-Id", rc.orgID)
	}
}

// contextError is the error of a call whose context ended.
func contextError(ctx context.Context, r request) error {
	return fmt.Errorf("messaging: %s %s: %w", r.method, r.path, ctx.Err())
}

// unwrapURLError drops net/http's *url.Error, whose text holds the full URL,
// keeping the cause; errors name the method and path instead.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
