// Command quickstart shows the Go SDK for the Symbia Messaging Service end to
// end, as the JS client's Quick Start and "Combined Pattern" do: two users,
// alice and bob, share a group conversation; both listen on a real-time
// socket; messages go out over REST and over the socket; typing, presence
// and stream control events reach the other side; the history is read back
// page by page. It prints a transcript and exits 0, or exits 1 with the
// reason on the first failure.
//
// With no MESSAGING_ENDPOINT set, it starts an in-process test service
// (package messagingtest) with the two demo users, so that
//
//	go run ./examples/quickstart
//
// works from a fresh clone with nothing else running. To use a real service,
// name it and give two tokens, one per user:
//
//	MESSAGING_ENDPOINT=https://messaging.example \
//	MESSAGING_SERVICE_TOKEN=<alice's token> \
//	MESSAGING_PEER_TOKEN=<bob's token> \
//	go run ./examples/quickstart
//
// alice's token needs the capability cap:messaging.interrupt to send the
// control events. The flags -endpoint, -token and -peer-token override the
// environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// envPeerToken names the environment variable holding bob's token when the
// quickstart runs against a real service.
const envPeerToken = "MESSAGING_PEER_TOKEN"

// The demo users of the in-process service.
const (
	aliceID    = "a11ce000-0000-4000-8000-000000000001"
	bobID      = "b0b00000-0000-4000-8000-000000000002"
	aliceToken = "alice-demo-token"
	bobToken   = "bob-demo-token"
)

// config is what the quickstart needs to run: where the service is, and one
// token per user. An empty endpoint means the in-process service.
type config struct {
	endpoint  string
	token     string        // alice
	peerToken string        // bob
	wait      time.Duration // for each event to reach the other side
}

func main() {
	var cfg config
	flag.StringVar(&cfg.endpoint, "endpoint", os.Getenv(messaging.EnvEndpoint),
		"service URL; empty starts an in-process test service (default $"+messaging.EnvEndpoint+")")
	flag.StringVar(&cfg.token, "token", os.Getenv(messaging.EnvToken),
		"alice's token, for a real service (default $"+messaging.EnvToken+")")
	flag.StringVar(&cfg.peerToken, "peer-token", os.Getenv(envPeerToken),
		"bob's token, for a real service (default $"+envPeerToken+")")
	flag.DurationVar(&cfg.wait, "wait", 10*time.Second,
		"how long to wait for each event to reach the other side")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		stop()
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run plays the whole scenario and writes the transcript to out.
func run(ctx context.Context, cfg config, out io.Writer) error {
	start := time.Now()
	p := printer{out: out}

	if cfg.endpoint == "" {
		srv := messagingtest.NewServer()
		defer srv.Close()
		srv.AddUser(aliceToken, messagingtest.Principal{ID: aliceID, Name: "alice",
			Entitlements: []string{"cap:messaging.interrupt"}})
		srv.AddUser(bobToken, messagingtest.Principal{ID: bobID, Name: "bob"})
		cfg.endpoint, cfg.token, cfg.peerToken = srv.URL(), aliceToken, bobToken
		p.say("No %s set: started an in-process test service at %s", messaging.EnvEndpoint, cfg.endpoint)
		p.say("with the demo users alice and bob. To use a real service, set %s,", messaging.EnvEndpoint)
		p.say("%s (alice's token) and %s (bob's token).", messaging.EnvToken, envPeerToken)
	} else {
		if cfg.token == "" || cfg.peerToken == "" {
			return fmt.Errorf("a real service (%s) needs two tokens: alice's in %s or -token, bob's in %s or -peer-token",
				cfg.endpoint, messaging.EnvToken, envPeerToken)
		}
		p.say("Using the service at %s.", cfg.endpoint)
	}

	// 1. REST clients, one per user. Explicit options win over the
	// environment.
	p.step("REST: one client per user")
	alice, err := newUser(ctx, "alice", cfg.endpoint, cfg.token, "-token or "+messaging.EnvToken)
	if err != nil {
		return err
	}
	bob, err := newUser(ctx, "bob", cfg.endpoint, cfg.peerToken, "-peer-token or "+envPeerToken)
	if err != nil {
		return err
	}
	if alice.id == bob.id {
		return errors.New("both tokens name the same principal " + alice.id + ": give bob a token of another user")
	}
	names := map[string]string{alice.id: "alice", bob.id: "bob"}
	p.note("alice is %s", alice.id)
	p.note("bob   is %s", bob.id)

	// 2. A group conversation with both of them.
	p.step("REST: alice creates a group conversation and adds bob")
	conv, err := alice.client.CreateConversation(ctx, messaging.CreateConversationParams{
		Type:        messaging.ConversationGroup,
		Name:        "Quickstart",
		Description: "made by examples/quickstart",
	})
	if err != nil {
		return fmt.Errorf("alice could not create a conversation: %w", err)
	}
	defer func() {
		// Leave no litter on a real service, whatever happened.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = alice.client.DeleteConversation(cctx, conv.ID)
	}()
	if _, err := alice.client.AddParticipant(ctx, conv.ID, bob.id, messaging.UserTypeUser); err != nil {
		return fmt.Errorf("alice could not add bob: %w", err)
	}
	got, err := bob.client.GetConversation(ctx, conv.ID)
	if err != nil {
		return fmt.Errorf("bob cannot read the conversation: %w", err)
	}
	p.note("conversation %q, id %s", got.Name, got.ID)
	for _, part := range got.Participants {
		p.note("  participant %-5s %s", names[part.UserID], part.Role)
	}

	// 3. Sockets. Handlers are registered before connecting, as the seed's
	// checklist says; they only queue what they see, and the script below
	// waits for each event in turn, so the transcript has one order.
	p.step("Socket: both connect and join the conversation")
	aliceIn, bobIn := newInbox("alice", names), newInbox("bob", names)
	if alice.socket, err = alice.client.NewSocket(); err != nil {
		return err
	}
	defer alice.socket.Close()
	if bob.socket, err = bob.client.NewSocket(); err != nil {
		return err
	}
	defer bob.socket.Close()
	aliceIn.listen(alice.socket)
	bobIn.listen(bob.socket)
	for _, u := range []*user{alice, bob} {
		if err := u.socket.Connect(ctx); err != nil {
			return fmt.Errorf("%s's socket could not connect: %w", u.name, err)
		}
		if err := u.socket.JoinConversation(ctx, conv.ID); err != nil {
			return fmt.Errorf("%s's socket could not join: %w", u.name, err)
		}
		p.did(u.name, "socket connected, joined the conversation")
	}
	if err := p.expect(ctx, cfg.wait, aliceIn, "participant:online", bob.id); err != nil {
		return err
	}

	// 4. Messages: REST one way, socket the other, typing around the reply.
	p.step("Messages: alice sends over REST, bob answers over the socket")
	hello := "Hi Bob! This one went over REST."
	if _, err := alice.client.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: hello}); err != nil {
		return fmt.Errorf("alice could not send over REST: %w", err)
	}
	p.did("alice", "REST   message:send %q", hello)
	if err := p.expect(ctx, cfg.wait, bobIn, "message:new", alice.id); err != nil {
		return err
	}

	if err := bob.socket.StartTyping(ctx, conv.ID); err != nil {
		return fmt.Errorf("bob could not start typing: %w", err)
	}
	p.did("bob", "socket typing:start")
	if err := p.expect(ctx, cfg.wait, aliceIn, "typing:started", bob.id); err != nil {
		return err
	}
	reply := "Hi Alice! This one went over the socket."
	if _, err := bob.socket.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: reply}); err != nil {
		return fmt.Errorf("bob could not send over the socket: %w", err)
	}
	p.did("bob", "socket message:send %q", reply)
	if err := p.expect(ctx, cfg.wait, aliceIn, "message:new", bob.id); err != nil {
		return err
	}
	if err := bob.socket.StopTyping(ctx, conv.ID); err != nil {
		return fmt.Errorf("bob could not stop typing: %w", err)
	}
	p.did("bob", "socket typing:stop")
	if err := p.expect(ctx, cfg.wait, aliceIn, "typing:stopped", bob.id); err != nil {
		return err
	}

	// 5. Presence.
	p.step("Presence: bob is busy")
	if err := bob.socket.UpdatePresence(ctx, messaging.PresenceBusy); err != nil {
		return fmt.Errorf("bob could not update his presence: %w", err)
	}
	p.did("bob", "socket presence:update busy")
	if err := p.expect(ctx, cfg.wait, aliceIn, "presence:changed", bob.id); err != nil {
		return err
	}

	// 6. History, read back with paging.
	p.step("History: read back page by page")
	for _, text := range []string{"one", "two", "three"} {
		if _, err := alice.client.SendMessage(ctx, messaging.SendMessageParams{ConversationID: conv.ID, Content: text}); err != nil {
			return fmt.Errorf("alice could not send %q: %w", text, err)
		}
	}
	p.did("alice", "REST   sent %q, %q and %q", "one", "two", "three")
	for range 3 {
		if err := p.expect(ctx, cfg.wait, bobIn, "message:new", alice.id); err != nil {
			return err
		}
	}
	page, err := bob.client.GetMessages(ctx, conv.ID, messaging.GetMessagesParams{Limit: 2})
	if err != nil {
		return fmt.Errorf("bob could not read the history: %w", err)
	}
	p.note("GetMessages(limit 2): one page, the oldest first")
	for _, m := range page {
		p.note("  #%d %-5s %q", m.Sequence, names[m.SenderID], m.Content)
	}
	p.note("Messages(page size 2): every page, the newest first")
	n := 0
	for m, err := range bob.client.Messages(ctx, conv.ID, messaging.WithPageSize(2)) {
		if err != nil {
			return fmt.Errorf("bob could not walk the history: %w", err)
		}
		p.note("  #%d %-5s %q", m.Sequence, names[m.SenderID], m.Content)
		n++
	}
	if n != 5 {
		return fmt.Errorf("the history holds %d messages, want 5", n)
	}

	// 7. Stream control events: REST, then socket.
	p.step("Control: alice pauses and resumes bob's stream")
	target := &messaging.ControlTarget{PrincipalID: bob.id, PrincipalType: messaging.UserTypeUser}
	if _, err := alice.client.SendControl(ctx, conv.ID, messaging.ControlParams{
		Event: "pause", Target: target, Reason: "quickstart says wait",
	}); err != nil {
		if errors.Is(err, messaging.ErrForbidden) {
			return fmt.Errorf("alice may not send control events (her token needs cap:messaging.interrupt): %w", err)
		}
		return fmt.Errorf("alice could not send a control event over REST: %w", err)
	}
	p.did("alice", "REST   control pause (sent as stream.pause)")
	if err := p.expect(ctx, cfg.wait, bobIn, "control", ""); err != nil {
		return err
	}
	if _, err := alice.socket.SendControl(ctx, conv.ID, messaging.ControlParams{Event: "resume", Target: target}); err != nil {
		return fmt.Errorf("alice could not send a control event over the socket: %w", err)
	}
	p.did("alice", "socket control resume (sent as stream.resume)")
	if err := p.expect(ctx, cfg.wait, bobIn, "control", ""); err != nil {
		return err
	}

	// 8. Goodbye: closing a socket tells the others.
	p.step("Goodbye")
	if err := bob.socket.Close(); err != nil {
		return err
	}
	p.did("bob", "socket closed")
	if err := p.expect(ctx, cfg.wait, aliceIn, "presence:changed", bob.id); err != nil {
		return err
	}
	if err := alice.client.DeleteConversation(ctx, conv.ID); err != nil {
		return fmt.Errorf("alice could not delete the conversation: %w", err)
	}
	p.did("alice", "REST   deleted the conversation")
	for _, in := range []*inbox{aliceIn, bobIn} {
		if err := in.failure(); err != nil {
			return err
		}
	}

	p.say("")
	p.say("Done in %v: messages, typing, presence and control events went both ways.", time.Since(start).Round(time.Millisecond))
	return nil
}

// user is one of the two people of the scenario.
type user struct {
	name   string
	id     string
	client *messaging.Client
	socket *messaging.Socket
}

// newUser makes a REST client for a token and asks the service who it is,
// which also checks the token.
func newUser(ctx context.Context, name, endpoint, token, where string) (*user, error) {
	c, err := messaging.NewClient(messaging.WithEndpoint(endpoint), messaging.WithToken(token))
	if err != nil {
		return nil, fmt.Errorf("%s's client: %w", name, err)
	}
	me, err := c.Me(ctx)
	if errors.Is(err, messaging.ErrUnauthorized) {
		return nil, fmt.Errorf("%s's token was refused by %s (check %s): %w", name, endpoint, where, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s could not reach %s: %w", name, endpoint, err)
	}
	return &user{name: name, id: me.User.ID, client: c}, nil
}

// printer writes the transcript.
type printer struct {
	out   io.Writer
	steps int
}

func (p *printer) say(format string, args ...any) {
	fmt.Fprintf(p.out, format+"\n", args...)
}

func (p *printer) step(title string) {
	p.steps++
	fmt.Fprintf(p.out, "\n%d. %s\n", p.steps, title)
}

// note prints a line of a step.
func (p *printer) note(format string, args ...any) {
	fmt.Fprintf(p.out, "   "+format+"\n", args...)
}

// did records something a user did.
func (p *printer) did(who, format string, args ...any) {
	fmt.Fprintf(p.out, "   %-5s → %s\n", who, fmt.Sprintf(format, args...))
}

// expect waits until in has received an event of the kind from the given
// principal (any sender if from is empty) and prints it.
func (p *printer) expect(ctx context.Context, wait time.Duration, in *inbox, kind, from string) error {
	e, err := in.wait(ctx, wait, kind, from)
	if err != nil {
		return err
	}
	fmt.Fprintf(p.out, "   %-5s ← %s\n", in.name, e.text)
	return nil
}
