//go:build !linux

package load

import "time"

// CPUTime is unknown off Linux: the harness measures on Linux only.
func CPUTime() time.Duration { return 0 }

// RSS is unknown off Linux.
func RSS() uint64 { return 0 }
