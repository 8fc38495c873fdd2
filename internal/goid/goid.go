// Package goid reads the id of the calling goroutine.
//
// It exists for one purpose only: to detect a re-entrant call, a hook or
// handler that calls back into the component running it, so that the
// component can avoid waiting for its own goroutine (a deadlock). It must
// not be used for anything beyond that: no goroutine-local state, no
// logic that depends on which goroutine runs.
package goid

import (
	"bytes"
	"runtime"
	"strconv"
)

// Get returns the id of the calling goroutine, as runtime.Stack prints it
// ("goroutine 42 [running]:"), or 0 if it cannot be read. Ids are never 0
// and never reused while the goroutine lives. It is slow (the runtime
// formats a stack trace header, microseconds): call it where a re-entrant
// call is possible, not on every operation.
func Get() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		id, _ := strconv.ParseUint(string(b[:i]), 10, 64)
		return id
	}
	return 0
}
