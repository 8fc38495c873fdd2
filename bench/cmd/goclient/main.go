// Command goclient runs one benchmark workload with the Go SDK's Socket and
// prints the result as one JSON line. Run by bench/cmd/runbench.
package main

import (
	"github.com/symbia-labs/messaging-go/bench/internal/load"
	"github.com/symbia-labs/messaging-go/bench/internal/sdk"
)

func main() { load.Main("go", sdk.Driver{}) }
