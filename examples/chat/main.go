// Command chat is a terminal chat in a conversation of the Symbia Messaging
// Service: each line typed becomes a message, and the messages, typing,
// presence and control events of the others are shown as they happen, as
// is what agents are doing (their tool calls, tasks and status, from
// activity records: "agent: searching flights… 75 %").
//
// With no endpoint (no -endpoint, no MESSAGING_ENDPOINT), or with -serve, it
// starts an in-process test service (package messagingtest) with three demo
// users, alice, bob and carol, and a conversation they share; it prints the
// command that lets a second terminal join, and chats as alice:
//
//	go run ./examples/chat -serve 127.0.0.1:5005
//	go run ./examples/chat -endpoint http://127.0.0.1:5005 -token bob-token -conversation <id>
//
// Against a real service, give the endpoint, a token and, to enter an
// existing conversation, its id (group conversations are joined if need be);
// without -conversation, a new group conversation is created and its id
// printed for the others:
//
//	go run ./examples/chat -endpoint https://messaging.example -token $TOKEN -conversation <id>
//
// Commands: /presence online|away|busy|offline, /history [n], /quit, /help.
//
// On a terminal, the chat reads keys (it puts the terminal in cbreak mode
// with stty, and restores it on exit) and edits the line itself, so that
// what arrives while a line is typed is printed above it and the prompt and
// the typed text are drawn again; elsewhere it reads lines. It sends
// typing:start and typing:stop around each line it sends, and shows the
// typing events of the others (a streaming agent types for as long as its
// reply grows).
//
// The service tells each user only their own name (GET /api/auth/me), so
// the chat sends its user's name in each message's metadata and shows the
// others by the names found in the latest messages (the demo users' names
// are known from the start); someone who has not written lately shows as
// the start of their id, an agent with a readable id by that id.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// The demo users of the in-process service.
var demoUsers = []struct{ name, id, token string }{
	{"alice", "a11ce000-0000-4000-8000-000000000001", "alice-token"},
	{"bob", "b0b00000-0000-4000-8000-000000000002", "bob-token"},
	{"carol", "ca201000-0000-4000-8000-000000000003", "carol-token"},
}

// config is the command line.
type config struct {
	endpoint     string
	endpointSet  bool // -endpoint was given
	token        string
	conversation string
	serve        string
	history      int
	keys         bool // stdin is a terminal in cbreak mode
}

func main() {
	var cfg config
	flag.StringVar(&cfg.endpoint, "endpoint", os.Getenv(messaging.EnvEndpoint),
		"service URL (default $"+messaging.EnvEndpoint+"); without one, an in-process test service is started")
	flag.StringVar(&cfg.token, "token", os.Getenv(messaging.EnvToken),
		"bearer token (default $"+messaging.EnvToken+"); with the test service, a demo user's token (default alice-token)")
	flag.StringVar(&cfg.conversation, "conversation", "",
		"conversation id; empty creates a new group conversation (with the test service: the demo conversation)")
	flag.StringVar(&cfg.serve, "serve", "",
		"start an in-process test service with demo users listening on this address, e.g. 127.0.0.1:5005")
	flag.IntVar(&cfg.history, "history", 10, "how many earlier messages to show on arrival")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { cfg.endpointSet = cfg.endpointSet || f.Name == "endpoint" })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// On a terminal, read keys rather than lines, so that what arrives
	// while a line is typed does not split it.
	restore := func() {}
	if r, ok := cbreak(); ok {
		cfg.keys, restore = true, r
	}
	defer restore()
	if err := run(ctx, cfg, os.Stdin, os.Stdout); err != nil {
		stop()
		restore()
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

// run sets up the service (in-process, or the one named) and the
// conversation, then chats.
func run(ctx context.Context, cfg config, in io.Reader, out io.Writer) error {
	if cfg.serve != "" && cfg.endpointSet {
		return fmt.Errorf("-serve and -endpoint exclude each other: -serve starts its own service")
	}
	if cfg.serve != "" || cfg.endpoint == "" {
		addr := cfg.serve
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		srv, convID, err := startDemo(ctx, addr)
		if err != nil {
			return err
		}
		defer srv.Close()
		cfg.endpoint = srv.URL()
		if !isDemoToken(cfg.token) {
			cfg.token = demoUsers[0].token
		}
		if cfg.conversation == "" {
			cfg.conversation = convID
		}
		fmt.Fprintf(out, "Started an in-process test service at %s (in memory; it stops when this chat ends).\n", cfg.endpoint)
		fmt.Fprintf(out, "Demo users: alice (token alice-token), bob (bob-token), carol (carol-token), in conversation %s.\n", convID)
		fmt.Fprintf(out, "In another terminal, chat as bob:\n\n")
		fmt.Fprintf(out, "  go run ./examples/chat -endpoint %s -token bob-token -conversation %s\n\n", cfg.endpoint, convID)
	}

	client, err := messaging.NewClient(messaging.WithEndpoint(cfg.endpoint), messaging.WithToken(cfg.token))
	if err != nil {
		return err
	}
	if cfg.conversation == "" {
		conv, err := client.CreateConversation(ctx, messaging.CreateConversationParams{
			Type: messaging.ConversationGroup, Name: "chat",
		})
		if err != nil {
			return fmt.Errorf("create a conversation: %w", err)
		}
		cfg.conversation = conv.ID
		fmt.Fprintf(out, "Created group conversation %s; others join with -conversation %s\n", conv.ID, conv.ID)
	}
	opt := options{history: cfg.history, keys: cfg.keys}
	if isDemoToken(cfg.token) {
		opt.names = demoNames()
	}
	return chat(ctx, client, cfg.conversation, in, out, opt)
}

// demoNames are the demo users' names. The service tells each user only
// their own name (GET /api/auth/me); a chat learns the others' from their
// messages, and, with the demo service, knows them from the start.
func demoNames() map[string]string {
	names := make(map[string]string, len(demoUsers))
	for _, u := range demoUsers {
		names[u.id] = u.name
	}
	return names
}

func isDemoToken(token string) bool {
	for _, u := range demoUsers {
		if u.token == token {
			return true
		}
	}
	return false
}

// startDemo starts an in-process test service on addr with the demo users
// and a group conversation of all three, owned by alice.
func startDemo(ctx context.Context, addr string) (*messagingtest.Server, string, error) {
	srv := messagingtest.NewUnstartedServer(messagingtest.WithAddr(addr))
	if err := start(srv); err != nil {
		return nil, "", fmt.Errorf("start a test service on %s: %v", addr, err)
	}
	for _, u := range demoUsers {
		srv.AddUser(u.token, messagingtest.Principal{ID: u.id, Name: u.name,
			Entitlements: []string{"cap:messaging.interrupt"}})
	}
	owner, err := messaging.NewClient(messaging.WithEndpoint(srv.URL()), messaging.WithToken(demoUsers[0].token))
	if err != nil {
		srv.Close()
		return nil, "", err
	}
	params := messaging.CreateConversationParams{Type: messaging.ConversationGroup, Name: "demo chat"}
	for _, u := range demoUsers[1:] {
		params.ParticipantIDs = append(params.ParticipantIDs, u.id)
	}
	conv, err := owner.CreateConversation(ctx, params)
	if err != nil {
		srv.Close()
		return nil, "", err
	}
	return srv, conv.ID, nil
}

// start starts srv, turning the panic of a port already in use into an
// error.
func start(srv *messagingtest.Server) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	srv.Start()
	return nil
}
