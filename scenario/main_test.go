package scenario_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every socket, server and transport a scenario opens is closed by its
// cleanups: nothing may outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
