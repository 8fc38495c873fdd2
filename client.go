package messaging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/symbia-labs/messaging-go/internal/backoff"
)

// Client is a REST client of the Messaging Service. Make one with
// [NewClient]; it is safe for concurrent use, and SetToken and SetAPIKey may
// be called while requests are in flight (each attempt reads the current
// credentials).
//
// Every method checks its input before any I/O and returns an error matching
// [ErrInvalidArgument] that names the offending field. An answer other than
// 2xx is an [*APIError]. When the context ends, the error wraps the
// context's error. Each failed call is also reported once to the handler of
// [WithErrorHandler], validation failures and cancellations included.
type Client struct {
	cfg     clientConfig // as built; its credentials are the initial ones
	base    string       // endpoint without a trailing slash
	backoff backoff.Backoff
	sleep   func(context.Context, time.Duration) error // backoff.Sleep; tests replace it
	now     func() time.Time
	maxBody int64 // cap on a successful answer: maxResponseBody; tests lower it

	mu     sync.RWMutex
	token  string
	apiKey string

	obs clientObs // Stats (observe.go)
}

// NewClient returns a Client configured by opts. Unset options default to
// the environment (MESSAGING_ENDPOINT, MESSAGING_SERVICE_TOKEN,
// MESSAGING_API_KEY), then to http://localhost:5005 with no credentials, no
// logging, http.DefaultClient and [DefaultRetryPolicy]. An invalid option
// is an error matching ErrInvalidArgument.
func NewClient(opts ...ClientOption) (*Client, error) {
	cfg, err := newClientConfig(opts)
	if err != nil {
		return nil, err
	}
	return newClientFromConfig(cfg), nil
}

// newClientConfig applies opts over the defaults.
func newClientConfig(opts []ClientOption) (clientConfig, error) {
	common, envErr := defaultCommon()
	cfg := clientConfig{common: common, retry: DefaultRetryPolicy()}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyClient(&cfg); err != nil {
			return cfg, err
		}
	}
	if cfg.common.endpoint == nil {
		// MESSAGING_ENDPOINT was unusable and no WithEndpoint replaced it.
		return cfg, fmt.Errorf("messaging: %s: %w", EnvEndpoint, envErr)
	}
	return cfg, nil
}

// newClientFromConfig builds a Client from a complete configuration. The
// socket uses it to make the client it backfills history with.
func newClientFromConfig(cfg clientConfig) *Client {
	return &Client{
		cfg:     cfg,
		base:    strings.TrimSuffix(cfg.common.endpoint.String(), "/"),
		backoff: cfg.retry.backoff(),
		sleep:   backoff.Sleep,
		now:     time.Now,
		maxBody: maxResponseBody,
		token:   cfg.common.token,
		apiKey:  cfg.common.apiKey,
	}
}

// commonConfig returns the shared settings with the current credentials,
// for a socket made from this client.
func (c *Client) commonConfig() commonConfig {
	cc := c.cfg.common
	cc.token, cc.apiKey = c.credentials()
	return cc
}

// SetToken replaces the bearer token used by later requests (and by retries
// of requests in flight). An empty token sends none.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// SetAPIKey replaces the API key used by later requests (and by retries of
// requests in flight). An empty key sends none.
func (c *Client) SetAPIKey(key string) {
	c.mu.Lock()
	c.apiKey = key
	c.mu.Unlock()
}

func (c *Client) credentials() (token, apiKey string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token, c.apiKey
}

// CreateConversation creates a conversation; the caller becomes its owner.
// The result lists the participants. Participants given as bare ids
// (ParticipantIDs, the JS client's form) are sent as {userId, userType:
// "user"} objects, the form the service reads. This call is never retried:
// a repeat could create a second conversation.
func (c *Client) CreateConversation(ctx context.Context, params CreateConversationParams, opts ...RequestOption) (*Conversation, error) {
	if err := params.validate(); err != nil {
		return nil, c.fail(err)
	}
	return call[Conversation](ctx, c, request{method: http.MethodPost, path: "/api/conversations", body: params}, opts)
}

// GetConversation returns a conversation with its participants. The service
// answers 403 (ErrForbidden, ErrNotParticipant) both when the caller is not a
// participant and when no conversation has this id, because it checks
// membership first; a 404 matches ErrNotFound.
func (c *Client) GetConversation(ctx context.Context, conversationID string, opts ...RequestOption) (*Conversation, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, c.fail(err)
	}
	return call[Conversation](ctx, c, request{method: http.MethodGet, path: conversationPath(conversationID), retry: true}, opts)
}

// ListConversations returns the caller's conversations, most recently
// updated first, without their participants. With [WithOrgID] it lists that
// organisation's conversations and those without an organisation (the JS
// client's listConversations(orgId)).
func (c *Client) ListConversations(ctx context.Context, opts ...RequestOption) ([]Conversation, error) {
	// The organisation travels in the X-Org-Id header only, as on every
	// other call: the service reads it here just like ?orgId=, and one
	// source cannot disagree with itself.
	out, err := call[[]Conversation](ctx, c, request{method: http.MethodGet, path: "/api/conversations", retry: true}, opts)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// UpdateConversation changes a conversation's name, description or
// metadata (owner or admin only). Empty fields are left unchanged; metadata,
// when set, replaces the stored metadata whole. The result has no
// participants.
func (c *Client) UpdateConversation(ctx context.Context, conversationID string, params UpdateConversationParams, opts ...RequestOption) (*Conversation, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, c.fail(err)
	}
	return call[Conversation](ctx, c, request{method: http.MethodPatch, path: conversationPath(conversationID), body: params, retry: true}, opts)
}

// DeleteConversation deletes a conversation (owner only).
func (c *Client) DeleteConversation(ctx context.Context, conversationID string, opts ...RequestOption) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return c.fail(err)
	}
	return c.do(ctx, request{method: http.MethodDelete, path: conversationPath(conversationID), retry: true}, opts)
}

// AddParticipant adds a user or agent to a conversation as a member (owner
// or admin only); an empty userType means UserTypeUser. Adding an existing
// participant resets its role to member. userID is any principal id, e.g.
// "assistant:helper"; it is not required to be a UUID.
func (c *Client) AddParticipant(ctx context.Context, conversationID, userID string, userType UserType, opts ...RequestOption) (*Participant, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, c.fail(err)
	}
	if err := requireID("userID", userID); err != nil {
		return nil, c.fail(err)
	}
	if userType == "" {
		userType = UserTypeUser
	}
	if !userType.Valid() {
		return nil, c.fail(invalid("userType", "must be user or agent, got %q", userType))
	}
	body := NewParticipant{UserID: userID, UserType: userType}
	return call[Participant](ctx, c, request{method: http.MethodPost, path: conversationPath(conversationID, "participants"), body: body, retry: true}, opts)
}

// RemoveParticipant removes a participant (owner or admin only; the owner
// cannot be removed). The service looks participants up by UUID here, so
// userID must be one.
func (c *Client) RemoveParticipant(ctx context.Context, conversationID, userID string, opts ...RequestOption) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return c.fail(err)
	}
	if err := requireUUID("userID", userID); err != nil {
		return c.fail(err)
	}
	return c.do(ctx, request{method: http.MethodDelete, path: conversationPath(conversationID, "participants", userID), retry: true}, opts)
}

// JoinConversation adds the caller to a group conversation as a member.
// Private conversations cannot be joined. An owner who joins is demoted to
// member by the service.
func (c *Client) JoinConversation(ctx context.Context, conversationID string, opts ...RequestOption) (*Participant, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, c.fail(err)
	}
	return call[Participant](ctx, c, request{method: http.MethodPost, path: conversationPath(conversationID, "join"), retry: true}, opts)
}

// LeaveConversation removes the caller from a conversation. The owner
// cannot leave.
func (c *Client) LeaveConversation(ctx context.Context, conversationID string, opts ...RequestOption) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return c.fail(err)
	}
	return c.do(ctx, request{method: http.MethodPost, path: conversationPath(conversationID, "leave"), retry: true}, opts)
}

// SendMessage posts a message to params.ConversationID and returns it as
// stored. Without params.ID the client makes a random UUID once and sends it
// on every attempt: the service stores a message id once and answers a
// repeat with the stored message, so the call is retried safely. To resend
// after SendMessage gave up, set params.ID yourself and reuse it.
func (c *Client) SendMessage(ctx context.Context, params SendMessageParams, opts ...RequestOption) (*Message, error) {
	if err := params.validate(); err != nil {
		return nil, c.fail(err)
	}
	if params.ID == "" {
		id, err := uuid.NewRandom()
		if err != nil {
			return nil, c.fail(fmt.Errorf("messaging: making a message id: %w", err))
		}
		params.ID = id.String()
	}
	ctx, sent := c.observeSend(ctx, SendInfo{Transport: TransportREST, Event: EventMessageSend, ConversationID: params.ConversationID, MessageID: params.ID})
	params.TraceID = c.traceIDOr(ctx, params.TraceID)
	path := conversationPath(params.ConversationID, "messages")
	params.ConversationID = "" // in the path, not the body
	m, err := call[Message](ctx, c, request{method: http.MethodPost, path: path, body: params, retry: true}, opts)
	sent.done(err)
	return m, err
}

// GetMessages returns one page of a conversation's history. The order
// depends on the mode: with Before, the newest messages created before it,
// newest first; with After, the oldest created after it, oldest first; with
// neither, the oldest Limit messages, oldest first. Before is rounded up and
// After down to whole milliseconds, the service's precision. To walk the
// whole history use [Client.Messages].
func (c *Client) GetMessages(ctx context.Context, conversationID string, params GetMessagesParams, opts ...RequestOption) ([]Message, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, c.fail(err)
	}
	if err := params.validate(); err != nil {
		return nil, c.fail(err)
	}
	out, err := call[[]Message](ctx, c, params.request(conversationID), opts)
	if err != nil {
		return nil, err
	}
	return *out, nil
}

// request is the GET that fetches the page p selects.
func (p GetMessagesParams) request(conversationID string) request {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", fmt.Sprint(p.Limit))
	}
	if !p.Before.IsZero() {
		q.Set("before", formatTime(ceilMillisecond(p.Before)))
	}
	if !p.After.IsZero() {
		q.Set("after", formatTime(p.After))
	}
	return request{method: http.MethodGet, path: conversationPath(conversationID, "messages"), query: q, retry: true}
}

// SendControl sends a stream control event to a conversation and returns
// the message row the service stores for it (content_type "event"). Short
// event names ("pause") are sent in full ("stream.pause"), the names
// listeners subscribe to. Sending needs the messaging.interrupt capability
// (messaging.route for route and handoff). The call is never retried: each
// attempt would store and broadcast another event.
func (c *Client) SendControl(ctx context.Context, conversationID string, params ControlParams, opts ...RequestOption) (*Message, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, c.fail(err)
	}
	name, err := params.validate()
	if err != nil {
		return nil, c.fail(err)
	}
	params.Event = string(name)
	ctx, sent := c.observeSend(ctx, SendInfo{Transport: TransportREST, Event: EventControlSend, ConversationID: conversationID, Control: params.Event})
	params.TraceID = c.traceIDOr(ctx, params.TraceID)
	m, err := call[Message](ctx, c, request{method: http.MethodPost, path: conversationPath(conversationID, "control"), body: params}, opts)
	sent.done(err)
	return m, err
}

// Me returns the authenticated principal and its organisations.
func (c *Client) Me(ctx context.Context, opts ...RequestOption) (*Me, error) {
	return call[Me](ctx, c, request{method: http.MethodGet, path: "/api/auth/me", retry: true}, opts)
}

// Health asks the service whether it is up (GET /api/health).
func (c *Client) Health(ctx context.Context, opts ...RequestOption) (*Health, error) {
	return call[Health](ctx, c, request{method: http.MethodGet, path: "/api/health", retry: true}, opts)
}

// conversationPath is /api/conversations/<id>[/<segment>...], each part
// escaped.
func conversationPath(id string, segments ...string) string {
	var b strings.Builder
	b.WriteString("/api/conversations/")
	b.WriteString(url.PathEscape(id))
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// wireTime is how times travel in queries: RFC 3339, UTC, milliseconds.
const wireTime = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(wireTime) }

// ceilMillisecond rounds t up to a whole millisecond, so that "created
// strictly before t" keeps its meaning at the service's precision.
func ceilMillisecond(t time.Time) time.Time {
	r := t.Truncate(time.Millisecond)
	if r.Before(t) {
		r = r.Add(time.Millisecond)
	}
	return r
}

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
		body = b
	}
	maxRetries := 0
	if r.retry {
		maxRetries = c.cfg.retry.MaxRetries
		if rc.maxRetries >= 0 {
			maxRetries = rc.maxRetries
		}
	}
	for attempt := 0; ; attempt++ {
		res := c.attempt(ctx, r, rc, body, attempt)
		if res.err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return contextError(ctx, r)
		}
		if !res.retryable || attempt >= maxRetries {
			return res.err
		}
		delay := c.backoff.Duration(attempt)
		if res.hasRetryAfter {
			if res.retryAfter > c.cfg.retry.MaxRetryAfter {
				return res.err // the APIError carries RetryAfter
			}
			delay = res.retryAfter
		}
		c.cfg.common.logger.LogAttrs(ctx, slog.LevelInfo, "messaging: retrying",
			slog.String("method", r.method), slog.String("path", r.path),
			slog.Int("attempt", attempt+1), slog.Duration("delay", delay),
			slog.String("error", res.err.Error()))
		if err := c.sleep(ctx, delay); err != nil {
			return contextError(ctx, r)
		}
	}
}

// attemptResult is the outcome of one attempt.
type attemptResult struct {
	err           error
	retryable     bool
	retryAfter    time.Duration
	hasRetryAfter bool
}

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
	req, err := http.NewRequestWithContext(ctx, r.method, target, rd)
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
		err = fmt.Errorf("messaging: %s %s: %w", r.method, r.path, unwrapURLError(err))
		logAttempt(0, err)
		return attemptResult{err: err, retryable: true}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		logAttempt(resp.StatusCode, nil)
		e := newAPIError(resp, r.method, r.path)
		ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		e.RetryAfter = ra
		return attemptResult{err: e, retryable: retryableStatus(resp.StatusCode), retryAfter: ra, hasRetryAfter: ok}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		// The connection failed mid-answer: as retryable as a failed dial.
		err = fmt.Errorf("messaging: %s %s: reading the answer: %w", r.method, r.path, err)
		logAttempt(resp.StatusCode, err)
		return attemptResult{err: err, retryable: true}
	}
	if int64(len(data)) > c.maxBody {
		err = fmt.Errorf("messaging: %s %s: the answer exceeds %d bytes (ask for smaller pages)", r.method, r.path, c.maxBody)
		logAttempt(resp.StatusCode, err)
		return attemptResult{err: err}
	}
	logAttempt(resp.StatusCode, nil)
	if r.out == nil {
		return attemptResult{}
	}
	if err := json.Unmarshal(data, r.out); err != nil {
		return attemptResult{err: fmt.Errorf("messaging: %s %s: decoding the answer (%d %s): %w",
			r.method, r.path, resp.StatusCode, http.StatusText(resp.StatusCode), err)}
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
