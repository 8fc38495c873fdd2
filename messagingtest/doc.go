// Package messagingtest provides an in-memory Symbia Messaging Service for
// tests, in the manner of net/http/httptest: a real HTTP server on a
// loopback port that speaks the service's REST API and its Socket.IO events
// with the same answers, status codes, error texts, orderings and
// broadcasts as the real service.
//
//	srv := messagingtest.NewServer()
//	defer srv.Close()
//	srv.AddUser("alice-token", messagingtest.Principal{ID: aliceID})
//	// point the code under test at srv.URL() with token "alice-token"
//
// # Credentials
//
// Only credentials registered with [Server.AddUser] (tokens: Bearer header,
// socket auth token, token or symbia_session cookie) and
// [Server.AddAPIKey] (X-API-Key header, socket auth apiKey) are accepted;
// anything else is refused as the service refuses it: 401
// {"error":"Authentication required"} on REST, a CONNECT_ERROR with message
// "Authentication required" on the socket. X-As-User-Id is honoured for
// agents and super admins only.
//
// # Faithful in its faults
//
// The server reproduces what production does, including where that is
// surprising, so that tests see what users will see:
//
//   - an unknown conversation UUID is answered 403 "Not a participant in
//     this conversation" (membership is checked first); only a path id that
//     is not a UUID gets 404, before authentication;
//   - a non-UUID runId, message id, replyTo or preemptedBy, a replyTo naming
//     no message, an unparsable before/after, a userType other than
//     user/agent, and a control event under a name Socket.IO reserves
//     ("connect", "disconnect", …; the record is stored all the same) are
//     answered 500 with the route's "Failed to …" text;
//   - sending a message id again returns the stored message (201, updated_at
//     set) and broadcasts message:new again; an id from another
//     conversation returns that conversation's message;
//   - the socket accepts empty content and content type "event", answers
//     failures with a bare "Failed to send message", and, through a one
//     minute participant cache, lets a participant removed over REST keep
//     sending (see [WithParticipantCacheTTL]);
//   - joining a group resets the caller's role to member, even the owner's;
//   - a body without a JSON Content-Type is no body at all: routes that read
//     one answer 500; malformed JSON is 400 {"message": …}; an unknown route
//     is Express's HTML 404 page.
//
// Sequence numbers are unique per conversation, as on the service backed by
// Postgres (the in-memory database of the service can repeat them).
//
// # Faults and counters
//
// [Server.DropConnections] drops every socket at once,
// [Server.DropConnectionsOf] the sockets of one principal,
// [Server.PauseHeartbeats] stops the heartbeat, [Server.FailNext] fails the
// next REST requests with a status (and Retry-After), [Server.SetLatency]
// slows requests and socket events, and [Server.Stop] with [Server.Start]
// restarts the service on the same port with its state. [Server.Stats]
// counts live connections, stored messages and broadcasts.
//
// # Where it differs from the service
//
// A test server must be deterministic where the service merely races, and
// it leaves out what tests cannot observe:
//
//   - the service joins a new socket to its rooms, and registers its event
//     handlers, after an asynchronous query that follows its CONNECT reply;
//     this server does the room work before the reply, so a broadcast made
//     once the client sees the connection always reaches it, and the
//     socket's first events are never lost (participant:online still goes
//     out just after the reply);
//   - sequence numbers never repeat, and deleting a conversation whose
//     messages reply to each other works, as with Postgres (the service's
//     in-memory database repeats sequences under concurrency and answers
//     500 there); limit=-1 lists nothing, as that database does;
//   - metadata objects come back with their keys sorted, as observed;
//   - malformed JSON is answered with V8's message for a truncated body
//     ("Unexpected end of JSON input") and an approximation of it otherwise;
//     before/after accept ISO 8601 and HTTP dates, and every other form
//     (which V8 may parse) is answered 500;
//   - the socket speaks WebSocket only, not HTTP long-polling;
//   - there are no webhooks, relay events, CORS, documentation routes,
//     login proxy or X-Service-Auth, and /health is never 503: the server
//     is ready when NewServer or Start returns.
//
// All methods of [Server] are safe for concurrent use; [Server.Close] ends
// every goroutine the server started.
package messagingtest
