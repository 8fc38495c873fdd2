package messaging

import (
	"testing"
)

// BenchmarkDispatchOneAtATime queues one event and waits for its handler,
// so that the queue is empty whenever the next one arrives: the case where
// a dispatcher that runs only while there is work would start every time.
func BenchmarkDispatchOneAtATime(b *testing.B) {
	s, err := NewSocket(WithEndpoint("http://127.0.0.1:1"))
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{})
	s.OnError(func(error) { got <- struct{}{} })
	s.mu.Lock()
	s.start()
	s.mu.Unlock()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.queue.pushControl(item{kind: itemError, err: errBackfillStuck})
		<-got
	}
	b.StopTimer()
	_ = s.Close()
}
