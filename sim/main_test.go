package sim

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: Backtest.Run and
// Sweep.Run start one per run and must join them all.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
