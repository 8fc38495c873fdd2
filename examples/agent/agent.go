package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
)

// Model produces a reply to prompt token by token, calling emit for each.
// It must stop when ctx ends (the run was cancelled, preempted or handed
// off) and when emit fails.
type Model func(ctx context.Context, prompt string, emit func(token string) error) error

// Agent answers the messages of people in its conversations with a
// streamed reply, one messaging.Run per question, so that the
// conversation's control events steer each reply: pause and resume hold
// and release it, preempt and cancel stop it, handoff and route pass the
// conversation on.
type Agent struct {
	socket *messaging.Socket
	me     []string // ids that name the agent: principal id, agent id
	model  Model
	log    func(format string, args ...any)

	ctx    context.Context // the agent's lifetime
	cancel context.CancelFunc
	wg     sync.WaitGroup
	off    func()
}

// NewAgent returns an agent answering on socket, which must be connected
// as the agent's principal (me: its principal id, then any other id that
// names it, such as its agent id).
func NewAgent(socket *messaging.Socket, me []string, model Model, log func(string, ...any)) *Agent {
	ctx, cancel := context.WithCancel(context.Background())
	return &Agent{socket: socket, me: me, model: model, log: log, ctx: ctx, cancel: cancel}
}

// Serve starts answering. Stop ends it.
func (a *Agent) Serve() {
	a.off = a.socket.OnMessage(func(m *messaging.Message) {
		// Handlers run on the socket's dispatcher goroutine: answer on
		// another, and never answer agents (nor ourselves) or records of
		// control events.
		if m.SenderType != messaging.SenderUser || m.IsControl() {
			return
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.answer(m)
		}()
	})
}

// Stop stops answering. Replies under way get up to grace to end on their
// own (to finish, or to see the control event that ends them), then are
// cancelled; Stop returns once they have ended.
func (a *Agent) Stop(grace time.Duration) {
	if a.off != nil {
		a.off()
	}
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	a.cancel()
	<-done
}

// answer streams a reply to m as one run.
func (a *Agent) answer(m *messaging.Message) {
	// WithRunPrincipal: control events may address the agent by its ids
	// instead of the run's id; naming them saves a request.
	run, err := a.socket.Run(a.ctx, m.ConversationID, "", messaging.WithRunPrincipal(a.me...))
	if err != nil {
		a.log("cannot start a run: %v", err)
		return
	}
	defer run.End()
	id := run.ID()[:8]
	off := run.OnStateChange(func(c messaging.RunStateChange) {
		switch {
		case c.Current == messaging.RunPaused:
			a.log("run %s paused", id)
		case c.Previous == messaging.RunPaused && c.Current == messaging.RunRunning:
			a.log("run %s resumed", id)
		case c.Previous == c.Current:
			a.log("run %s priority is now %s", id, c.Priority)
		}
	})
	defer off()
	a.log("run %s answers %q", id, m.Content)

	// The reply: created by the first token, grown by edits at most every
	// 100 ms, typing shown meanwhile. Writes block while the run is paused
	// and fail once it is stopped.
	stream, err := run.Stream(a.ctx, messaging.StreamParams{ReplyTo: m.ID})
	if err != nil {
		a.log("run %s: %v", id, err)
		return
	}
	// The model gets the run's context: a cancel or a preemption stops it.
	modelErr := a.model(run.Context(), m.Content, func(token string) error {
		_, err := stream.WriteString(token)
		return err
	})
	err = stream.Close()
	var stopped *messaging.RunStoppedError
	switch {
	case errors.Is(err, messaging.ErrRunPreempted):
		errors.As(err, &stopped)
		a.log("run %s preempted (%s), the reply keeps %q", id, stopped.Reason, stream.Content())
	case errors.As(err, &stopped) && errors.Is(err, messaging.ErrRunHandedOff):
		a.log("run %s handed off to %s, the reply keeps %q", id, stopped.Target.PrincipalID, stream.Content())
	case errors.Is(err, messaging.ErrRunCancelled):
		a.log("run %s cancelled", id)
	case a.ctx.Err() != nil:
		a.log("run %s stopped: the agent is shutting down; the reply keeps %q", id, stream.Content())
	case err != nil:
		a.log("run %s failed: %v", id, err)
	case modelErr != nil:
		a.log("run %s: the model failed: %v", id, modelErr)
	default:
		a.log("run %s done: %q", id, stream.Content())
	}
}

// cannedModel is a stand-in for a language model: it answers a few
// questions word by word, a word every delay.
func cannedModel(delay time.Duration) Model {
	answers := []struct{ about, text string }{
		{"paris", "Day one: the Louvre in the morning, a walk along the Seine, dinner in the Marais. " +
			"Day two: Montmartre at sunrise, the Musée d'Orsay, and a picnic on the Champ de Mars."},
		{"weather", "Paris in spring is mild: expect 10 to 18 degrees, some showers, " +
			"and long light evenings, so pack a light raincoat and comfortable shoes."},
		{"louvre", "The Louvre is closed on Tuesdays, not Mondays: on Monday it opens at nine."},
		{"refund", "I can see your booking. Refunds depend on the fare rules of your ticket, so let me check them."},
	}
	return func(ctx context.Context, prompt string, emit func(string) error) error {
		text := "I am not sure I understood. Could you say it differently?"
		for _, a := range answers {
			if strings.Contains(strings.ToLower(prompt), a.about) {
				text = a.text
				break
			}
		}
		t := time.NewTimer(delay)
		defer t.Stop()
		for _, word := range strings.SplitAfter(text, " ") {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-t.C:
				t.Reset(delay)
			}
			if err := emit(word); err != nil {
				return err
			}
		}
		return nil
	}
}
