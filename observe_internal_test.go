package messaging

import (
	"context"
	"testing"
)

// Without an observer, the hook points on the send and delivery paths cost
// no allocation.
func TestObserveHooksAllocateNothingWithoutObserver(t *testing.T) {
	s, err := NewSocket(WithEndpoint("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	m := &Message{ID: "m"}
	info := SendInfo{Transport: TransportSocket, Event: EventMessageEdit, MessageID: "m"}
	allocs := testing.AllocsPerRun(100, func() {
		octx, sent := s.observeSend(ctx, info)
		_ = s.traceIDOr(octx, "")
		s.obs.sends.Add(1)
		s.countAck(nil, false)
		sent.done(nil)
		s.observeDeliver(m).done()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per send and delivery without an observer", allocs)
	}
}
