// Command rawfloor runs one benchmark workload with the floor under the
// floor: the floor's frames written and read by hand on a bare net.Conn,
// with no WebSocket library (see bench/internal/rawfloor). It prints the
// result as one JSON line. Run by bench/cmd/runbench.
package main

import (
	"github.com/symbia-labs/messaging-go/bench/internal/load"
	"github.com/symbia-labs/messaging-go/bench/internal/rawfloor"
)

func main() { load.Main("rawfloor", rawfloor.Driver{}) }
