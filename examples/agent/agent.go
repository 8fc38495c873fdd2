package main

import (
	"context"
	"errors"
	"strings"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
)

// Model produces a reply to prompt token by token, calling emit for each.
// It must stop when ctx ends (the run was cancelled, preempted or handed
// off) and when emit fails.
type Model func(ctx context.Context, prompt string, emit func(token string) error) error

// newAgent returns the agent: an agent.Server that answers each question
// people ask in a turn of its own, on its own goroutine, streaming the
// model's words into the reply. The conversation's control events steer
// each turn: pause and resume hold and release the reply, cancel stops it,
// a new question preempts it, handoff and route pass the conversation on.
func newAgent(client *messaging.Client, model Model, log func(format string, args ...any)) (*agent.Server, error) {
	answer := agent.HandlerFunc(func(ctx context.Context, t *agent.Turn) error {
		// A tool call people can watch (an activity record): looking the
		// question up before answering, with its progress.
		if err := lookUp(ctx, t); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx) // why the run ended: its end closes the record
			}
			return err
		}
		// ctx is the turn's run's: a cancel or a preemption stops the model.
		return model(ctx, t.Question.Content, func(token string) error {
			_, err := t.Reply().WriteString(token)
			return err
		})
	})
	// A middleware that logs what happens to each run.
	logRuns := func(next agent.Handler) agent.Handler {
		return agent.HandlerFunc(func(ctx context.Context, t *agent.Turn) error {
			id := t.Run().ID()[:8]
			off := t.Run().OnStateChange(func(c messaging.RunStateChange) {
				switch {
				case c.Current == messaging.RunPaused:
					log("run %s paused", id)
				case c.Previous == messaging.RunPaused && c.Current == messaging.RunRunning:
					log("run %s resumed", id)
				case c.Previous == c.Current:
					log("run %s priority is now %s", id, c.Priority)
				}
			})
			defer off()
			log("run %s answers %q", id, t.Question.Content)
			return next.ServeTurn(ctx, t)
		})
	}
	ended := func(t *agent.Turn, err error) {
		var stopped *messaging.RunStoppedError
		if t.Run() == nil || (t.Reply() == nil && !errors.As(err, &stopped)) { // ended before its run or reply
			log("question %q: %v", t.Question.Content, err)
			return
		}
		id, content := t.Run().ID()[:8], ""
		if t.Reply() != nil {
			content = t.Reply().Content()
		}
		switch {
		case errors.Is(err, messaging.ErrRunPreempted) && errors.As(err, &stopped):
			log("run %s preempted (%s), the reply keeps %q", id, stopped.Reason, content)
		case errors.Is(err, messaging.ErrRunHandedOff) && errors.As(err, &stopped):
			log("run %s handed off to %s, the reply keeps %q", id, stopped.Target.PrincipalID, content)
		case errors.Is(err, messaging.ErrRunCancelled):
			log("run %s cancelled", id)
		case errors.Is(err, agent.ErrServerClosed):
			log("run %s stopped: the agent is shutting down; the reply keeps %q", id, content)
		case err != nil:
			log("run %s failed: %v", id, err)
		default:
			log("run %s done: %q", id, content)
		}
	}
	return agent.New(client, answer,
		agent.WithMiddleware(logRuns),
		agent.WithOnTurnEnd(ended),
		// Conversations created with the agent are found within 200 ms.
		agent.WithDiscoveryInterval(200*time.Millisecond))
}

// lookUp is a tool call people can watch (an activity record): a
// stand-in search of the travel guides, with its progress.
func lookUp(ctx context.Context, t *agent.Turn) error {
	call, err := t.Run().StartToolCall(ctx, messaging.ToolCallParams{
		Name: "guide_search", Parameters: map[string]string{"query": t.Question.Content}, ReplyTo: t.Question.ID,
	})
	if err != nil {
		return err
	}
	if err := call.Progress(ctx, 0.5, "Searching the travel guides..."); err != nil {
		return err
	}
	select { // the search takes a moment
	case <-time.After(150 * time.Millisecond):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return call.Complete(ctx, map[string]int{"guides": 2})
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
