package messaging

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
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
//
// Each attempt is bounded by the request timeout ([WithRequestTimeout],
// default 30 s), so that no call hangs on a connection that stopped
// answering. A send whose answer was lost after its request was written
// fails with a [*DeliveryUnknownError]. Call Close when done with the
// client to release its connections.
//
// A Client must not be copied after first use. Formatting or logging it
// shows its endpoint, never its credentials.
type Client struct {
	cfg     clientConfig // as built; its credentials are the initial ones
	base    string       // endpoint without a trailing slash
	backoff backoff.Backoff
	sleep   func(context.Context, time.Duration) error // backoff.Sleep; tests replace it
	now     func() time.Time
	maxBody int64         // cap on a successful answer: maxResponseBody; tests lower it
	timeout time.Duration // bound of one attempt, 0 for none
	closed  atomic.Bool

	mu     sync.RWMutex
	token  string
	apiKey string

	obs clientObs // Stats (observe.go)
}

// NewClient returns a Client configured by opts. Unset options default to
// the environment (MESSAGING_ENDPOINT, MESSAGING_SERVICE_TOKEN,
// MESSAGING_API_KEY), then to http://localhost:5005 with no credentials, no
// logging, an HTTP client of the SDK's own (see [WithHTTPClient]),
// [DefaultRetryPolicy] and [DefaultRequestTimeout]. An invalid option is an
// error matching ErrInvalidArgument.
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
		timeout: cfg.timeout(),
		token:   cfg.common.token,
		apiKey:  cfg.common.apiKey,
	}
}

// commonConfig returns the shared settings with the current credentials,
// for a socket made from this client.
func (c *Client) commonConfig() commonConfig {
	cc := c.cfg.common
	cc.token, cc.apiKey = c.credentials()
	cc.ownTransport = nil // the client's: only its Close releases it
	return cc
}

// Close releases the connections the client keeps open for reuse and makes
// later calls fail with ErrClosed; a call in progress finishes, and its
// connection is released when it does. Only the transport the SDK made for
// itself is closed: a client given with WithHTTPClient stays open, as do
// the connections of a Socket made with Client.NewSocket. Close is
// idempotent and always returns nil.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	c.closed.Store(true)
	c.releaseIdle()
	return nil
}

// releaseIdle closes the idle connections of the SDK's own transport.
func (c *Client) releaseIdle() {
	if t := c.cfg.common.ownTransport; t != nil {
		t.CloseIdleConnections()
	}
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
// a repeat could create a second conversation. When its request was written
// but no answer came (the context ended, the request timed out, the
// connection failed), the error is a [*DeliveryUnknownError] without a
// MessageID: the conversation may exist, and the service has no client id
// by which to recognise a repeat, so look for it (ListConversations) before
// creating it again. Any other error means nothing was created.
func (c *Client) CreateConversation(ctx context.Context, params CreateConversationParams, opts ...RequestOption) (*Conversation, error) {
	if err := params.validate(); err != nil {
		return nil, c.fail(err)
	}
	return call[Conversation](ctx, c, request{method: http.MethodPost, path: "/api/conversations", body: params, lossUnknown: true}, opts)
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
// when set, replaces the stored metadata whole. Params with nothing to
// update are refused before any I/O. The result has no participants.
func (c *Client) UpdateConversation(ctx context.Context, conversationID string, params UpdateConversationParams, opts ...RequestOption) (*Conversation, error) {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return nil, c.fail(err)
	}
	if err := params.validate(); err != nil {
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
//
// When the request may have reached the service but no answer came back
// (the context ended, the last attempt timed out or its connection failed
// after the request was written), the error is a [*DeliveryUnknownError]
// matching ErrDeliveryUnknown, whose MessageID is the id the message was
// sent with (the one the SDK made, if params.ID was empty): the message may
// or may not be stored, and sending again with params.ID set to it stores
// it at most once. Any other error means nothing was stored.
func (c *Client) SendMessage(ctx context.Context, params SendMessageParams, opts ...RequestOption) (*Message, error) {
	if err := params.validateREST(); err != nil {
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
	id := params.ID
	params.ConversationID = "" // in the path, not the body
	m, err := call[Message](ctx, c, request{method: http.MethodPost, path: path, body: params, retry: true, lossUnknown: true, messageID: id}, opts)
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
// attempt would store and broadcast another event. For the same reason,
// when its request was written but no answer came, the error is a
// [*DeliveryUnknownError] without a MessageID (a control event carries no
// client id): the event may have been stored and broadcast, and sending it
// again may do so twice. Any other error means nothing was stored.
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
	m, err := call[Message](ctx, c, request{method: http.MethodPost, path: conversationPath(conversationID, "control"), body: params, lossUnknown: true}, opts)
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
