// Package messaging is the Go SDK for the Symbia Messaging Service, the
// real-time bus on which people and AI agents hold conversations. It is the
// Go counterpart of the npm package @symbia/messaging-client.
//
// The package has two halves that share one set of typed models:
//
//   - [Client], a REST client over net/http for conversations,
//     participants, messages and control events;
//   - Socket, a real-time client over Socket.IO for live events.
//
// Both are built with functional options; see [WithEndpoint], [WithToken]
// and [WithAPIKey]. Every call that does I/O takes a context.Context first
// and returns a value and an error. Errors match the sentinels of this
// package with errors.Is, e.g. [ErrNotFound], [ErrForbidden] and
// [ErrInvalidArgument].
package messaging

// Version is the SDK's version, sent in the default User-Agent.
const Version = "0.1.0"
