package main

// The service role: messagingtest and the people who ask the questions,
// each waiting for the whole reply before the next.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	messaging "github.com/symbia-labs/messaging-go"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
	"github.com/symbia-labs/messaging-go/messagingtest"
)

// peopleResult is what the service role prints when the people are done.
type peopleResult struct {
	Turns int     `json:"turns"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	// Broadcasts and Requests are the service's per measured turn (the
	// agent's edits, typing and run events; its REST calls).
	Broadcasts float64 `json:"broadcasts_per_turn"`
	Requests   float64 `json:"requests_per_turn"`
}

// serve runs the service and the people: it prints "READY <url>", waits
// for the agent's socket, runs warmup+n turns over the conversations,
// prints "DONE <peopleResult>" and returns once in is closed.
func serve(ctx context.Context, c config, in io.Reader, out io.Writer) error {
	svc := messagingtest.NewServer()
	defer svc.Close()
	svc.AddUser(agentToken, messagingtest.Principal{ID: agentID, Name: "bench agent", Type: messaging.UserTypeAgent})
	people := make([]*person, c.conversations)
	for i := range people {
		tok := personToken + strconv.Itoa(i)
		svc.AddUser(tok, messagingtest.Principal{ID: fmt.Sprintf("b0000000-0000-4000-8000-%012d", i+1), Name: "person " + strconv.Itoa(i)})
		p, err := newPerson(ctx, svc.URL(), tok)
		if err != nil {
			return err
		}
		defer p.close()
		people[i] = p
	}
	if _, err := fmt.Fprintf(out, "READY %s\n", svc.URL()); err != nil {
		return err
	}
	// The agent's socket makes one more live connection.
	if err := waitUntil(ctx, func() bool { return svc.Stats().LiveConnections > len(people) }); err != nil {
		return fmt.Errorf("the agent did not connect: %w", err)
	}

	total := c.warmup + c.n
	var next atomic.Int64
	var st0 messagingtest.Stats
	var measuring sync.Once
	var mu sync.Mutex
	var lat []time.Duration
	errs := make(chan error, len(people))
	var wg sync.WaitGroup
	for _, p := range people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1)
				if k > int64(total) {
					errs <- nil
					return
				}
				d, err := p.ask(ctx, fmt.Sprintf("question %d: what is the answer?", k))
				if err != nil {
					errs <- fmt.Errorf("question %d: %w", k, err)
					return
				}
				if k > int64(c.warmup) {
					measuring.Do(func() { st0 = svc.Stats() })
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for range people {
		if err := <-errs; err != nil {
			return err
		}
	}
	slices.Sort(lat)
	st := svc.Stats()
	res := peopleResult{Turns: len(lat), P50: micros(load.Percentile(lat, 0.50)), P99: micros(load.Percentile(lat, 0.99)),
		Broadcasts: float64(st.EventsBroadcast-st0.EventsBroadcast) / float64(len(lat)),
		Requests:   float64(st.Requests-st0.Requests) / float64(len(lat))}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(out, "DONE %s\n", b); err != nil {
		return err
	}
	// Keep serving until the agent is done with us.
	_, _ = io.Copy(io.Discard, in)
	return nil
}

// person asks in a conversation of its own with the agent, one question
// at a time.
type person struct {
	sock    *messaging.Socket
	conv    string
	replies chan messaging.Chunk
	detach  func()
}

func newPerson(ctx context.Context, url, token string) (*person, error) {
	cl, err := messaging.NewClient(messaging.WithEndpoint(url), messaging.WithToken(token))
	if err != nil {
		return nil, err
	}
	conv, err := cl.CreateConversation(ctx, messaging.CreateConversationParams{
		Type:         messaging.ConversationPrivate,
		Participants: []messaging.NewParticipant{{UserID: agentID, UserType: messaging.UserTypeAgent}},
	})
	if err != nil {
		return nil, fmt.Errorf("create conversation: %w", err)
	}
	s, err := cl.NewSocket()
	if err != nil {
		return nil, err
	}
	p := &person{sock: s, conv: conv.ID, replies: make(chan messaging.Chunk, 64)}
	asm := messaging.NewChunkAssembler(func(ch messaging.Chunk) {
		if ch.SenderID == agentID && ch.Complete {
			select {
			case p.replies <- ch:
			default: // the asker is not waiting for this one
			}
		}
	})
	p.detach = asm.Attach(s)
	if err := s.Connect(ctx); err != nil {
		p.close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return p, nil
}

// ask sends a question and waits until a reply of Tokens tokens is
// complete; it returns the time between the two.
func (p *person) ask(ctx context.Context, q string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := p.sock.SendMessage(ctx, messaging.SendMessageParams{ConversationID: p.conv, Content: q}); err != nil {
		return 0, err
	}
	for {
		select {
		case ch := <-p.replies:
			// A placeholder completed early would have fewer words: the
			// complete reply is the one with every token.
			if len(strings.Fields(ch.Content)) == Tokens {
				return time.Since(start), nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("no complete reply: %w", ctx.Err())
		}
	}
}

func (p *person) close() {
	p.detach()
	_ = p.sock.Close()
}

// ---- the agent role ----

// reply is the handler's answer: Tokens tokens, written one by one.
var reply = func() []string {
	out := make([]string, Tokens)
	for i := range out {
		out[i] = fmt.Sprintf("token%d ", i+1)
	}
	return out
}()
