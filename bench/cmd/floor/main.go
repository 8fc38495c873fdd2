// Command floor runs one benchmark workload with the floor client: bare
// coder/websocket and pre-encoded Socket.IO frames (see bench/internal/floor).
// It prints the result as one JSON line. Run by bench/cmd/runbench.
package main

import (
	"github.com/symbia-labs/messaging-go/bench/internal/floor"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
)

func main() { load.Main("floor", floor.Driver{}) }
