package emitter

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestList_Order(t *testing.T) {
	var l List[int]
	var got []string
	l.On(func(v int) { got = append(got, "a") })
	offB := l.On(func(v int) { got = append(got, "b") })
	l.On(func(v int) { got = append(got, "c") })
	l.Emit(1, nil)
	offB()
	offB() // idempotent
	l.Emit(2, nil)
	want := []string{"a", "b", "c", "a", "c"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if l.Empty() {
		t.Error("Empty with two subscribers")
	}
}

// TestList_OffDuringEmit: a subscriber unsubscribed by an earlier one in
// the same emission is not called; one subscribed meanwhile is called
// from the next emission on.
func TestList_OffDuringEmit(t *testing.T) {
	var l List[int]
	var offB func()
	calls := map[string]int{}
	l.On(func(int) {
		calls["a"]++
		offB()
		l.On(func(int) { calls["late"]++ })
	})
	offB = l.On(func(int) { calls["b"]++ })
	l.Emit(1, nil)
	if calls["b"] != 0 || calls["late"] != 0 {
		t.Fatalf("calls %v after the first emission", calls)
	}
	l.Emit(2, nil)
	if calls["a"] != 2 || calls["late"] != 1 {
		t.Fatalf("calls %v after the second emission", calls)
	}
}

func TestList_PanicRecovered(t *testing.T) {
	var l List[int]
	var panics []any
	next := false
	l.On(func(int) { panic("boom") })
	l.On(func(int) { next = true })
	l.Emit(1, func(r any) { panics = append(panics, r) })
	if !next {
		t.Error("the subscriber after a panicking one was not called")
	}
	if len(panics) != 1 || panics[0] != "boom" {
		t.Errorf("recovered %v, want [boom]", panics)
	}
	next = false
	l.Emit(2, nil) // no recovered function: swallowed
	if !next {
		t.Error("a panic with no recovered function stopped the emission")
	}
}

func TestList_EmitDoesNotAllocate(t *testing.T) {
	var l List[*int]
	n := 0
	l.On(func(*int) { n++ })
	v, reported := 1, 0
	allocs := testing.AllocsPerRun(100, func() {
		l.Emit(&v, func(any) { reported++ })
	})
	if allocs != 0 {
		t.Errorf("Emit allocates %v times per call", allocs)
	}
}

// TestList_EnqueueDrain_Stress: many goroutines enqueue and drain as
// Enqueue tells them; every value is delivered once, one at a time, in
// each producer's order, also with subscribers that enqueue themselves.
func TestList_EnqueueDrain_Stress(t *testing.T) {
	const producers, each = 8, 3000
	var (
		l       List[[2]int]
		active  atomic.Int32
		overlap atomic.Bool
		last    [producers + 1]int
		count   int
		inner   int // values the subscriber enqueued
		bad     bool
	)
	for i := range last {
		last[i] = -1
	}
	l.On(func(v [2]int) {
		if active.Add(1) != 1 {
			overlap.Store(true)
		}
		defer active.Add(-1)
		if v[1] != last[v[0]]+1 {
			bad = true
		}
		last[v[0]] = v[1]
		count++
		if v[0] < producers && v[1]%100 == 0 {
			// A subscriber enqueueing: delivered by the running drain.
			inner++
			if l.Enqueue([2]int{producers, inner - 1}) {
				t.Error("Enqueue from a subscriber asked for a second drain")
			}
		}
	})
	var wg sync.WaitGroup
	var mu sync.Mutex // orders each producer's enqueues, as a caller's lock does
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				mu.Lock()
				drain := l.Enqueue([2]int{p, i})
				mu.Unlock()
				if drain {
					l.Drain(nil)
				}
			}
		}()
	}
	wg.Wait()
	if overlap.Load() {
		t.Error("two deliveries ran at once")
	}
	if bad {
		t.Error("values delivered out of order or twice")
	}
	if want := producers*each + producers*each/100; count != want {
		t.Errorf("delivered %d values, want %d", count, want)
	}
}

func TestList_EnqueueWithoutSubscribersDrops(t *testing.T) {
	var l List[int]
	if l.Enqueue(1) {
		t.Fatal("Enqueue with nobody subscribed asked for a drain")
	}
	got := 0
	l.On(func(v int) { got += v })
	if !l.Enqueue(2) {
		t.Fatal("Enqueue did not ask for a drain")
	}
	l.Drain(nil)
	if got != 2 {
		t.Fatalf("got %d, want 2 (the value queued before subscribing is dropped)", got)
	}
}

// TestList_OffAllDuringEmit: subscribers after the one calling OffAll are
// not called.
func TestList_OffAllDuringEmit(t *testing.T) {
	var l List[int]
	calls := 0
	l.On(func(int) { calls++; l.OffAll() })
	l.On(func(int) { calls++ })
	l.Emit(1, nil)
	l.Emit(2, nil)
	if calls != 1 || !l.Empty() {
		t.Fatalf("%d calls, empty %v; want 1 call and an empty list", calls, l.Empty())
	}
}
