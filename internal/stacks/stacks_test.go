package stacks

import (
	"bytes"
	"testing"
)

func TestAllHoldsEveryGoroutine(t *testing.T) {
	stop := make(chan struct{})
	started := make(chan struct{})
	go func() { close(started); parkedForStacksTest(stop) }()
	<-started
	defer close(stop)
	for i := 0; i < 1000; i++ {
		all := All()
		if bytes.Contains(all, []byte("parkedForStacksTest")) {
			if !bytes.Contains(all, []byte("TestAllHoldsEveryGoroutine")) {
				t.Fatal("the caller's own stack is missing")
			}
			return
		}
	}
	t.Fatal("the parked goroutine's stack is missing")
}

//go:noinline
func parkedForStacksTest(stop chan struct{}) { <-stop }
