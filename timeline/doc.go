// Package timeline keeps a live, ordered view of one conversation of the
// Symbia Messaging Service, with optimistic local changes.
//
// A [Timeline] is built on a [messaging.Socket] (live events and changes)
// and a [messaging.Client] (history over REST):
//
//	tl, err := timeline.New(ctx, socket, client, conversationID)
//	if err != nil {
//		return err
//	}
//	defer tl.Close()
//	off := tl.OnChange(func(c timeline.Change) { render(tl.Messages()) })
//	defer off()
//	_, err = tl.Send(ctx, messaging.SendMessageParams{Content: "hello"})
//
// # The view
//
// [Timeline.Messages] returns a consistent snapshot: every message of the
// window, deduplicated by id, each with its [State] (confirmed, pending or
// failed). Messages the server stored are ordered by (created_at,
// sequence, id): identity is the id, and the sequence number only a hint,
// since the service may repeat it. Messages sent from this timeline and
// not yet stored come last, in the order they were sent. Control records
// (content type "event") are not part of the view.
//
// Activity records (an agent's tool calls, tasks and status, see
// messaging.IsActivity) are entries like any message, placed where they
// were created and kept current by their edits: a view renders an entry
// whose message is one with messaging.DecodeActivity ("searching flights…
// 75 %") rather than as its JSON.
//
// The window is the most recent messages when the timeline was made (see
// [WithHistoryLimit]) and every message created since. It stays live from
// the socket's message:new, message:updated and message:deleted events.
// When sequence numbers skip ahead, the messages since the last one before
// the gap are fetched (the socket's own backfill usually got them first).
// After every (re)connection of the socket, and when its handler queue
// overflowed, the timeline fetches the whole window again and reconciles
// it, since the service does not replay the edits and deletions a client
// missed. [Timeline.Sync] does the same on demand.
//
// # Optimistic changes
//
// [Timeline.Send], [Timeline.Edit] and [Timeline.Delete] change the view
// at once (the entry becomes [Pending]), then ask the server over the
// socket and wait for its acknowledgement. A send carries a client-made
// message id, so the server's echo is matched to the pending entry. The
// acknowledgement confirms the change. A refusal (a *messaging.AckError,
// such as "Not authorized to edit this message"), a timeout (see
// [WithChangeTimeout]) or the end of the caller's context rolls the entry
// back: to exactly what it was before the change, unless the server
// changed it meanwhile, in which case to the server's version. The call
// returns the error, and the change feed reports the rollback with the
// same error ([CauseRolledBack]).
//
// A change whose delivery is unknown (the call ended with an error
// matching messaging.ErrDeliveryUnknown: the request went out, its answer
// was lost) is neither confirmed nor rolled back blindly: it stays pending
// until the server's echo confirms it, or else a reconciliation with the
// history made at least a second later decides (a request can still be
// queued at the server when the call gives up), and the feed then reports
// either [CauseConfirmed] or [CauseRolledBack].
//
// Changes to one message run one after the other, in the order they were
// made; changes to different messages run concurrently.
//
// A failed send leaves the view by default: the view rolls back to what it
// was. With [WithKeepFailedSends] it stays as a [Failed] entry that
// [Timeline.Retry] sends again (with the same id, so at most one message
// is stored) and [Timeline.Discard] removes. Failed edits and deletions
// always roll back.
//
// # Conflicts
//
// Only a message's sender may edit it, so a conflict needs the same
// principal writing from elsewhere (another device, another process). When
// a server update of one's own message arrives while a local edit of it is
// pending (made, and not yet both acknowledged and echoed back) and its
// content differs from every pending local content, a [Resolver] decides
// what the message should finally say: [ServerWins] (the default),
// [ClientWins], [LastWriterWins], [Manual], or a function of the caller's.
// The timeline then makes the server agree, editing the message again once
// the local edits have settled if the server ended elsewhere; the feed
// flags the changes of such edits with Change.Resolution. A deferred
// conflict is listed by [Timeline.Conflicts] until [Timeline.Resolve].
// Conflicts are detected from live updates; a reconciliation with the
// history takes the server's version as it is.
//
// # Concurrency
//
// Every method is safe for concurrent use. Change handlers run one at a
// time, in the order of the changes, on a goroutine of the timeline, never
// while it holds its lock, so they may call any method of the timeline. A
// slow handler delays later changes, never the socket. The resolver runs on
// the socket's handler goroutine and must return quickly. Close ends every
// goroutine the timeline started.
package timeline
