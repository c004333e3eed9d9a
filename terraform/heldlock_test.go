package terraform_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	cfg, st := httpState(t)
	var logs bytes.Buffer
	p := newProvider(t, cfg, terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
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

// leaderTerm is a leader lease's side as a server sees it: the term it
// acts in, if any.
type leaderTerm struct {
	epoch int64
	ok    bool
}

func (l leaderTerm) Term() (int64, time.Time, bool) {
	return l.epoch, time.Now().Add(time.Hour), l.ok
}

// A leader killed mid-apply leaves its backend lock held (an http
// backend's lock outlives the process, and the host). The next leader,
// on another host sharing the work dir, could not tell the run over, and
// every run on the burst failed until a person ran terraform
// force-unlock. A run recorded under a leader term that has ended (this
// server acts under a later epoch, which the lease gives only once the
// earlier term is over) is over: its lock is released and the launch
// goes on. Any other lock is left, warned of once.
func TestStateLockOfAnEndedLeaderTermIsReleased(t *testing.T) {
	t.Parallel()
	const lockID = "9b2e4d10-0000-4000-8000-00000000dead"
	started := time.Now().Add(-time.Hour).UTC()
	// What the killed leader's run recorded: another host, its user@host
	// (the lock's Who), its term.
	runOf := func(epoch int64) map[string]any {
		r := map[string]any{"pid": 4242, "host": "leader-a", "op": "apply", "started": started, "who": "spillway@leader-a", "mark": "spillway-run-dead"}
		if epoch != 0 {
			r["epoch"] = epoch
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		leader terraform.Leader
		run    map[string]any // nil: no run recorded
		// released: the lock is broken and the launch succeeds.
		released bool
	}{
		{"a run of an ended term", leaderTerm{epoch: 2, ok: true}, runOf(1), true},
		{"a run of this term", leaderTerm{epoch: 2, ok: true}, runOf(2), false},
		{"a run recorded with no term", leaderTerm{epoch: 2, ok: true}, runOf(0), false},
		{"a server not leading now", leaderTerm{}, runOf(1), false},
		{"a server without a leader lease", nil, runOf(1), false},
		{"a lock no run of Spillway's holds", leaderTerm{epoch: 2, ok: true}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			cfg, st := httpState(t)
			work := cfg.WorkDir
			first, err := newProvider(t, cfg, terraform.WithLeader(leaderTerm{epoch: 1, ok: true})).Launch(ctx, launchRequest("failover", "failover-1", 1))
			if err != nil {
				t.Fatalf("the first leader's Launch: %v", err)
			}
			key := burstDirs(t, work)[0]
			dir := filepath.Join(work, "bursts", key)
			// What the first leader's apply left when it was killed.
			st.mu.Lock()
			st.locks["/state/"+key] = []byte(`{"ID":"` + lockID + `","Operation":"OperationTypeApply","Who":"spillway@leader-a"}`)
			st.mu.Unlock()
			if tc.run != nil {
				data, err := json.Marshal(tc.run)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, ".spillway", "run.json"), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			opts := []terraform.Option{terraform.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}
			if tc.leader != nil {
				opts = append(opts, terraform.WithLeader(tc.leader))
			}
			next := newProvider(t, cfg, opts...)
			insts, err := next.Launch(ctx, launchRequest("failover", "failover-2", 1))
			unlocks, _ := filepath.Glob(filepath.Join(dir, ".spillway", "runs", "*-force-unlock.log"))
			if !tc.released {
				if err == nil || !strings.Contains(err.Error(), "`terraform force-unlock -force "+lockID+"`") {
					t.Fatalf("Launch on a state locked by a run not known over = %v, %v; want it refused, saying how to release the lock", idsOf(insts), err)
				}
				if err := next.Reconcile(ctx); err == nil {
					t.Errorf("Reconcile of the locked burst succeeded")
				}
				if _, err := next.Launch(ctx, launchRequest("failover", "failover-2", 1)); err == nil {
					t.Errorf("the launch's retry succeeded while the lock is held")
				}
				if len(unlocks) != 0 {
					t.Errorf("the lock of a run not known over was broken")
				}
				if n := strings.Count(logs.String(), "level=WARN msg=\"the burst's state is locked"); n != 1 {
					t.Errorf("the held lock was warned of %d times, want once:\n%s", n, logs.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("Launch after the leader of an ended term died: %v", err)
			}
			if len(unlocks) != 1 {
				t.Errorf("force-unlock ran %d times, want once", len(unlocks))
			}
			if locks, _ := st.held(); locks != 0 {
				t.Errorf("%d state locks held after the launch", locks)
			}
			for _, want := range []string{"a run on this burst was made in a leader term that has ended", "releasing the state lock of a dead run", "terraform.dead_host=leader-a terraform.dead_epoch=1"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("the logs do not say %q:\n%s", want, logs.String())
				}
			}
			if err := next.Terminate(ctx, append(idsOf(first), idsOf(insts)...)); err != nil {
				t.Fatalf("Terminate: %v", err)
			}
			if listed, err := next.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
				t.Errorf("List after Terminate = %v, %v; want nothing", idsOf(listed), err)
			}
		})
	}
}
