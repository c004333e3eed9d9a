package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// spendUnreadable is a state whose spend ledger cannot be read while
// locked is set, as a database another process holds locked.
type spendUnreadable struct {
	state.Store
	locked *atomic.Bool
}

func (s spendUnreadable) Spend(ctx context.Context, pool string, start time.Time) (float64, error) {
	if s.locked.Load() {
		return 0, errors.New("database is locked (5) (SQLITE_BUSY)")
	}
	return s.Store.Spend(ctx, pool, start)
}

// TestStateNotReadableIsShown: a tick that cannot read the state goes on
// from what it last read, and does not fail; the pool's detail
// (last_plan.notes) and the /readyz body (pools.NAME.error) say the state
// is not readable, and which read failed.
func TestStateNotReadableIsShown(t *testing.T) {
	var locked atomic.Bool
	stateFailureShown(t, spendUnreadable{tempState(t), &locked},
		[]func(){func() { locked.Store(false) }, func() { locked.Store(true) }},
		"state not readable: reading the spend of pool train: database is locked (5) (SQLITE_BUSY)")
}
