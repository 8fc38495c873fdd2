// Package stacks is test support: the stacks of every goroutine, for tests
// that count the goroutines a connection or a Socket keeps.
package stacks

import "runtime"

// All returns the stack traces of all goroutines, as runtime.Stack formats
// them (one block per goroutine, blocks separated by a blank line), growing
// its buffer until the whole dump fits.
func All() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}
