package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/state/postgres"
)

// startElector runs a real elector on the cluster's lease in st as holder
// (a term of ttl, renewed every renew on the wall clock), as a server on
// PostgreSQL does: one step at once, then its loop until the test ends.
func startElector(t *testing.T, st *postgres.Store, holder string, ttl, renew time.Duration) *postgres.Elector {
	t.Helper()
	l, err := st.Lease("spillway/"+cluster, holder, ttl)
	if err != nil {
		t.Fatal(err)
	}
	el := postgres.NewElector(l, renew, clock.RealClock{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	el.Step(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { el.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return el
}
