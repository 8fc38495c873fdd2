// Command agent is an AI agent on the Symbia Messaging Service, built with
// the SDK's agent tools. Each question it receives starts a messaging.Run;
// the reply is streamed with Run.Stream (a message created by the first
// words and grown by edits, the agent shown typing meanwhile); and the
// conversation's control events steer the run: stream.pause holds the
// reply, stream.resume releases it, stream.preempt and stream.cancel stop
// it (the message keeps what was sent), stream.handoff passes the
// conversation to another agent.
//
// With no MESSAGING_ENDPOINT set, it starts an in-process test service
// (package messagingtest) and plays a demo from the other side: alice asks
// questions, watches the replies grow with messaging.ChunkAssembler and
// the agent typing with messaging.TypingTracker, pauses and resumes a
// reply, preempts one with a new question, and hands one off:
//
//	go run ./examples/agent
//
// Against a real service, give the agent's token; it then answers, until
// interrupted, every message people send in the conversations it is in
// (with a canned stand-in for a model):
//
//	MESSAGING_ENDPOINT=https://messaging.example \
//	MESSAGING_SERVICE_TOKEN=<the agent's token> \
//	go run ./examples/agent
//
// Add MESSAGING_PEER_TOKEN=<a user's token> to play the demo against the
// real service instead; that user needs the capabilities
// cap:messaging.interrupt and cap:messaging.route.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/agent"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// envPeerToken names the environment variable holding the demo user's
// token when the demo runs against a real service.
const envPeerToken = "MESSAGING_PEER_TOKEN"

// The principals of the in-process service.
const (
	aliceID    = "a11ce000-0000-4000-8000-000000000001"
	agentID    = "a6e70000-0000-4000-8000-000000000002"
	agentName  = "agent:travel"
	aliceToken = "alice-demo-token"
	agentToken = "agent-demo-token"
)

type config struct {
	endpoint  string
	token     string        // the agent's
	peerToken string        // the demo user's; empty with a real service: serve only
	wait      time.Duration // for each step of the demo
	delay     time.Duration // between two words of the model
}

func main() {
	var cfg config
	flag.StringVar(&cfg.endpoint, "endpoint", os.Getenv(messaging.EnvEndpoint),
		"service URL; empty starts an in-process test service and plays the demo (default $"+messaging.EnvEndpoint+")")
	flag.StringVar(&cfg.token, "token", os.Getenv(messaging.EnvToken),
		"the agent's token, for a real service (default $"+messaging.EnvToken+")")
	flag.StringVar(&cfg.peerToken, "peer-token", os.Getenv(envPeerToken),
		"a user's token, to play the demo against a real service (default $"+envPeerToken+")")
	flag.DurationVar(&cfg.wait, "wait", 10*time.Second, "how long the demo waits for each step")
	flag.DurationVar(&cfg.delay, "delay", 40*time.Millisecond, "time between two words of the model")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

// printer writes the transcript; the agent and the demo write from
// different goroutines.
type printer struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func (p *printer) say(who, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%6.3fs %-5s %s\n", time.Since(p.start).Seconds(), who, fmt.Sprintf(format, args...))
}

// run starts the agent, then plays the demo or serves until ctx ends.
func run(ctx context.Context, cfg config, out io.Writer) error {
	p := &printer{out: out, start: time.Now()}
	if cfg.delay <= 0 {
		cfg.delay = 40 * time.Millisecond
	}
	if cfg.endpoint == "" {
		srv := messagingtest.NewServer()
		defer srv.Close()
		srv.AddUser(aliceToken, messagingtest.Principal{ID: aliceID, Name: "alice",
			Entitlements: []string{"cap:messaging.interrupt", "cap:messaging.route"}})
		// The agent preempts its own replies: cap:messaging.interrupt.
		srv.AddUser(agentToken, messagingtest.Principal{ID: agentID, Type: messaging.UserTypeAgent, AgentID: agentName,
			Entitlements: []string{"cap:messaging.interrupt"}})
		cfg.endpoint, cfg.token, cfg.peerToken = srv.URL(), agentToken, aliceToken
		p.say("", "No %s set: started an in-process test service at %s.", messaging.EnvEndpoint, cfg.endpoint)
	} else if cfg.token == "" {
		return fmt.Errorf("a real service (%s) needs the agent's token in %s or -token", cfg.endpoint, messaging.EnvToken)
	}

	client, err := messaging.NewClient(messaging.WithEndpoint(cfg.endpoint), messaging.WithToken(cfg.token))
	if err != nil {
		return err
	}
	me, err := client.Me(ctx)
	if err != nil {
		return fmt.Errorf("the agent's token was refused (check -token or %s): %w", messaging.EnvToken, err)
	}
	srv, err := newAgent(client, cannedModel(cfg.delay), func(format string, args ...any) {
		p.say("agent", format, args...)
	})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	grace := time.Duration(0) // when interrupted, stop at once
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	p.say("agent", "%s is listening", me.User.ID)

	if cfg.peerToken == "" {
		p.say("agent", "answering until interrupted (no %s: no demo)", envPeerToken)
		<-ctx.Done()
		return nil
	}
	start := time.Now()
	if err := demo(ctx, cfg, p, me.User.ID); err != nil {
		return err
	}
	// The demo saw the last reply end; let the agent see it too.
	grace = cfg.wait
	p.say("", "Done in %v.", time.Since(start).Round(time.Millisecond))
	return nil
}

// demo plays alice's side: three questions, a pause, a preemption and a
// handoff.
func demo(ctx context.Context, cfg config, p *printer, agentUser string) error {
	alice, err := messaging.NewClient(messaging.WithEndpoint(cfg.endpoint), messaging.WithToken(cfg.peerToken))
	if err != nil {
		return err
	}
	conv, err := alice.CreateConversation(ctx, messaging.CreateConversationParams{
		Type: messaging.ConversationGroup, Name: "Trip planning",
		Participants: []messaging.NewParticipant{{UserID: agentUser, UserType: messaging.UserTypeAgent}},
	})
	if err != nil {
		return fmt.Errorf("alice could not create a conversation: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = alice.DeleteConversation(cctx, conv.ID)
	}()
	// The agent was connected before the conversation existed: it finds
	// it at its next listing, and answers what was asked meanwhile.

	s, err := alice.NewSocket()
	if err != nil {
		return err
	}
	defer s.Close()
	chunks := make(chan messaging.Chunk, 1000)
	asm := messaging.NewChunkAssembler(func(c messaging.Chunk) {
		if c.SenderID == agentUser {
			chunks <- c
		}
	})
	defer asm.Attach(s)()
	// What alice sees of the agent's tool calls (activity records).
	s.OnActivity(func(e messaging.ActivityEvent) {
		r := e.Record
		switch e.Type {
		case messaging.ToolCallStart:
			p.say("alice", "sees the agent start %s", r.Name)
		case messaging.ToolCallProgress:
			p.say("alice", "sees %s: %s %.0f %%", r.Name, r.Message, 100*r.Progress)
		case messaging.ToolCallComplete:
			p.say("alice", "sees %s done: %s", r.Name, r.Result)
		}
	})
	typing := messaging.NewTypingTracker(s)
	defer typing.Close()
	quiet := make(chan struct{}, 100)
	typing.OnChange(func(_ string, who []messaging.TypingEvent) {
		if len(who) > 0 {
			p.say("alice", "sees the agent typing…")
		} else {
			p.say("alice", "sees nobody typing")
			quiet <- struct{}{}
		}
	})
	if err := s.Connect(ctx); err != nil {
		return fmt.Errorf("alice could not connect: %w", err)
	}

	ask := func(q string) (*messaging.Message, error) {
		p.say("alice", "asks %q", q)
		return s.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: q})
	}
	control := func(ev string, params messaging.ControlParams) error {
		params.Event = ev
		_, err := s.SendControl(ctx, conv.ID, params)
		return err
	}
	// next prints the agent's chunks until one of run (any run if empty),
	// and returns it.
	next := func(run string) (messaging.Chunk, error) {
		timeout := time.NewTimer(cfg.wait)
		defer timeout.Stop()
		for {
			select {
			case c := <-chunks:
				id := c.RunID[:8]
				switch {
				case c.Complete && c.StoppedBy != "":
					p.say("alice", "← run %s complete after %s: %q", id, c.StoppedBy, c.Content)
				case c.Complete:
					p.say("alice", "← run %s complete: %q", id, c.Content)
				default:
					p.say("alice", "← run %s chunk %d %q", id, c.Seq, c.Text)
				}
				if run == "" || c.RunID == run {
					return c, nil
				}
			case <-timeout.C:
				return messaging.Chunk{}, errors.New("the agent's reply did not come in time")
			case <-ctx.Done():
				return messaging.Chunk{}, ctx.Err()
			}
		}
	}
	untilComplete := func(run string) (messaging.Chunk, error) {
		for {
			c, err := next(run)
			if err != nil || c.Complete {
				return c, err
			}
		}
	}

	// 1. Pause and resume a reply.
	if _, err := ask("Plan a weekend in Paris"); err != nil {
		return err
	}
	var c messaging.Chunk
	for range 3 {
		if c, err = next(""); err != nil {
			return err
		}
	}
	p.say("alice", "pauses run %s", c.RunID[:8])
	if err := control("pause", messaging.ControlParams{RunID: c.RunID, Reason: "reading"}); err != nil {
		return err
	}
	held := time.After(400 * time.Millisecond)
	n := 0
wait:
	for {
		select {
		case <-chunks:
			n++ // sent before the agent learnt of the pause
		case <-held:
			break wait
		}
	}
	p.say("alice", "%d chunks arrived in the 400 ms after the pause", n)
	p.say("alice", "resumes run %s", c.RunID[:8])
	if err := control("resume", messaging.ControlParams{RunID: c.RunID}); err != nil {
		return err
	}
	if _, err := untilComplete(c.RunID); err != nil {
		return err
	}

	// 2. A new question preempts the reply under way: the agent sends
	// stream.preempt naming the new question.
	if _, err := ask("What's the weather like there?"); err != nil {
		return err
	}
	c = messaging.Chunk{}
	for c.RunID == "" || c.Content == agent.DefaultPlaceholder || c.Complete {
		if c, err = next(""); err != nil { // past the placeholder, into the words
			return err
		}
	}
	first := c.RunID
	if _, err := ask("Wait, is the Louvre open on Mondays?"); err != nil {
		return err
	}
	if _, err := untilComplete(first); err != nil {
		return err
	}
	for { // the answer to the new question, in its own run
		if c, err = next(""); err != nil {
			return err
		}
		// Complete, and whole: the canned answers end with a full stop
		// (a receiver may take a reply for complete when the agent stops
		// typing between two turns).
		if c.RunID != first && c.Complete && strings.HasSuffix(c.Content, ".") {
			break
		}
	}

	// 3. Hand a reply off to another agent.
	if _, err := ask("I need a refund for my booking"); err != nil {
		return err
	}
	if c, err = next(""); err != nil {
		return err
	}
	target := &messaging.ControlTarget{PrincipalID: "agent:billing", PrincipalType: messaging.UserTypeAgent}
	p.say("alice", "hands run %s off to agent:billing", c.RunID[:8])
	if err := control("handoff", messaging.ControlParams{RunID: c.RunID, Target: target, Reason: "billing question"}); err != nil {
		return err
	}
	if _, err = untilComplete(c.RunID); err != nil {
		return err
	}
	// The agent stops typing once its run has seen the handoff.
	for len(typing.Typing(conv.ID)) > 0 {
		select {
		case <-quiet:
		case <-time.After(cfg.wait):
			return errors.New("the agent kept typing after the handoff")
		}
	}
	return nil
}
