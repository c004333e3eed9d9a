package terraform_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A burst whose backend state is locked by another Terraform run (an
// operator's apply) fails every run on it until the lock is released:
// each tick's launch, its clean-up and each Reconcile logged the same
// warning again, three lines a tick for as long as the lock was held. It
// is logged once a lock; each run's error still says how to release it;
// nothing is launched while the lock is held, and once it is released the
// launch's retry makes its instances once.
func TestStateLockHeldByAnotherRunIsWarnedOnce(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	st := &stateServer{states: map[string][]byte{}, locks: map[string][]byte{}}
	srv := httptest.NewServer(st)
	t.Cleanup(srv.Close)
	work := t.TempDir()
	addr := srv.URL + "/state/{burst}"
	var logs bytes.Buffer
	p := newProvider(t, terraform.Config{
		Module: "testdata/httpstate", Zones: zones, WorkDir: work,
		Variables:     map[string]any{"hold": filepath.Join(work, "no-hold"), "started": filepath.Join(work, "started")},
		BackendConfig: map[string]string{"address": addr, "lock_address": addr, "unlock_address": addr},
	}, terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	first, err := p.Launch(ctx, launchRequest("locked", "locked-1", 1))
	if err != nil {
		t.Fatal(err)
	}
	// An operator's run takes the burst's state lock and keeps it.
	const lockID = "6f1d2c3b-0000-4000-8000-000000000001"
	st.mu.Lock()
	for name := range st.states {
		st.locks[name] = []byte(`{"ID":"` + lockID + `","Operation":"OperationTypeApply","Who":"ops@laptop","Version":"1.11.4","Created":"2026-12-01T10:00:00Z"}`)
	}
	st.mu.Unlock()

	for range 2 {
		insts, err := p.Launch(ctx, launchRequest("locked", "locked-2", 1))
		var re *terraform.RunError
		if err == nil || !errors.As(err, &re) || !strings.Contains(err.Error(), "terraform force-unlock -force "+lockID) {
			t.Fatalf("Launch into a burst whose state is locked = %v, %v; want a *RunError saying how to release the lock", idsOf(insts), err)
		}
		if !providers.IsTransient(err) {
			t.Errorf("Launch: %v is not transient (the next tick tries again)", err)
		}
		if err := p.Reconcile(ctx); err == nil {
			t.Errorf("Reconcile of the locked burst succeeded")
		}
	}
	if n := strings.Count(logs.String(), "level=WARN msg=\"the burst's state is locked"); n != 1 {
		t.Errorf("the held lock was warned of %d times, want once:\n%s", n, logs.String())
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || !slices.Equal(idsOf(listed), idsOf(first)) {
		t.Errorf("List while the lock is held = %v (%v), want only the first launch's %v", idsOf(listed), err, idsOf(first))
	}

	st.mu.Lock()
	clear(st.locks)
	st.mu.Unlock()
	second, err := p.Launch(ctx, launchRequest("locked", "locked-2", 1))
	if err != nil {
		t.Fatalf("Launch once the lock is released: %v", err)
	}
	listed, err = p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if want := idsOf(append(first, second...)); err != nil || len(second) != 1 || !slices.Equal(idsOf(listed), want) {
		t.Errorf("List after the retry = %v (%v), want %v: one more instance", idsOf(listed), err, want)
	}
}
