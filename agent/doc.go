// Package agent serves an AI agent's turns on the Symbia Messaging
// Service, as net/http serves requests: a [Server] receives the questions
// people ask the agent and calls a [Handler] once per question, with a
// [Turn] that holds the question, its conversation, a messaging.Run that
// obeys the conversation's control events, and a [Reply] streamed as the
// handler writes it.
//
//	srv, err := agent.New(client, agent.HandlerFunc(func(ctx context.Context, t *agent.Turn) error {
//		history, err := t.History(ctx, 20)
//		if err != nil {
//			return err
//		}
//		return model.Stream(ctx, prompt(history), t.Reply()) // ctx ends on cancel, preempt, handoff
//	}))
//	if err != nil { … }
//	go srv.Serve(ctx)
//	…
//	srv.Shutdown(shutdownCtx)
//
// # Threading of turns
//
// The server's socket calls its handlers one at a time on the socket's
// handler goroutine; the server only registers each question there, in
// the order the questions arrived, and runs each turn on a goroutine of
// its own. So a turn never blocks the socket's handlers, and its run hears
// stream.pause, stream.resume, stream.cancel, stream.preempt and
// stream.handoff while the handler works: the handler's context (the run's
// Context) ends on a cancel, a preemption, a handoff, a shutdown past its
// grace, or when Serve's context ends; writes to the reply block while the
// run is paused.
//
// Per conversation, turns follow a [Policy]: by default (Preempt) a new
// question preempts the running turn, which ends with a stream.preempt
// naming the new question, and the new turn starts once it has ended;
// Queue runs them one after the other; Parallel side by side. Across
// conversations, at most WithMaxTurns handlers run at once; the others
// wait. A handler that panics is recovered: its turn ends with a
// *PanicError, reported through WithOnTurnEnd and the logger.
//
// A turn goes through these steps, on its goroutine: claim the question
// (create the reply message, see Server for replicas); wait for the
// conversation's earlier turns (Queue, Preempt) and for a slot; call the
// handler; close the reply; end the run. A turn that ends before its
// handler runs (claimed by another replica, preempted or cancelled while
// waiting, shut down) is reported with its cause.
//
// [Server] documents what makes a turn, questions backfilled after a
// disconnection, the discovery of conversations the agent is added to,
// and how replicas answer each question once.
package agent
