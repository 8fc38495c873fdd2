package goid

import "testing"

func TestGet(t *testing.T) {
	me := Get()
	if me == 0 {
		t.Fatal("Get returned 0")
	}
	if again := Get(); again != me {
		t.Fatalf("Get changed on the same goroutine: %d, then %d", me, again)
	}
	other := make(chan uint64)
	go func() { other <- Get() }()
	if id := <-other; id == 0 || id == me {
		t.Fatalf("another goroutine got %d (this one %d)", id, me)
	}
}
