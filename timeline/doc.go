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
// loaded window, deduplicated by id, each with its [State] (confirmed,
// pending or failed). Messages the server stored are ordered by
// (created_at, sequence, id): the sequence number is only a hint, since
// the service may repeat it. Messages sent from this timeline and not yet
// stored come last, in the order they were sent. The view stays live from
// the socket's message:new, message:updated and message:deleted events;
// the socket fills gaps in new messages from the history itself, and after
// every reconnection the timeline fetches the window again and reconciles
// it, since the service does not replay edits and deletions made while a
// client was away. [Timeline.Sync] does the same on demand.
//
// # Optimistic changes
//
// [Timeline.Send], [Timeline.Edit] and [Timeline.Delete] change the view
// at once (the entry becomes [Pending]), then ask the server over the
// socket and wait for its acknowledgement. A send carries a client-made
// message id, so the server's echo is matched to the pending entry. The
// acknowledgement confirms the change. A refusal (a *messaging.AckError,
// such as "Not authorized to edit this message"), a timeout or the end of
// the caller's context rolls the entry back: to exactly what it was before
// the change, unless the server changed it meanwhile, in which case to the
// server's version. The call returns the error, and the change feed
// reports the rollback with the same error ([CauseRolledBack]).
//
// A change whose delivery is unknown (the call ended with an error
// matching messaging.ErrDeliveryUnknown: the request went out, its answer
// was lost) is neither confirmed nor rolled back blindly: it stays pending
// until the next reconciliation with the history decides, and the feed
// then reports either [CauseConfirmed] or [CauseRolledBack].
//
// Changes to one message run one after the other, in the order they were
// made; changes to different messages run concurrently.
//
// A failed send leaves the view by default. With [WithKeepFailedSends] it
// stays as a [Failed] entry that [Timeline.Retry] sends again (with the
// same id, so at most one message is stored) and [Timeline.Discard]
// removes.
//
// # Conflicts
//
// Only a message's sender may edit it, so a conflict needs the same
// principal writing from elsewhere (another device, another process). When
// a server update of a message arrives while a local edit of it is pending
// (made, and not yet both acknowledged and echoed back) and its content
// differs from every pending local content, a [Resolver] decides what the
// message should finally say: [ServerWins] (the default), [ClientWins],
// [LastWriterWins], [Manual], or a function of the caller's. The timeline
// then makes the server agree, editing the message again once the local
// edits have settled when the server ended elsewhere. A deferred conflict
// is listed by [Timeline.Conflicts] until [Timeline.Resolve].
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
