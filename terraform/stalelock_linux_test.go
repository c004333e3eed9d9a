package terraform_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// A burst's backend lock left by a run that is not running: Spillway
// breaks it when the run's record shows the run over, though a live
// process has its PID now (after a reboot, or the PID reused), and
// otherwise refuses with what the operator must do, naming the lock.
func TestStaleBackendLockOnRestart(t *testing.T) {
	t.Parallel()
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	// A live process of this host stands for whatever has the dead run's
	// PID now.
	other := exec.Command("cat")
	stdin, err := other.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); other.Wait() })
	const lockID = "3f1c2a9e-0000-4000-8000-dead00000001"
	started := time.Now().Add(-time.Hour).UTC()
	for _, tc := range []struct {
		name string
		// run is the run record left in the burst, nil for none.
		run map[string]any
		// refused: a substring of the launch's error; "" when the lock is
		// broken and the launch succeeds.
		refused string
	}{
		{"a run of an earlier boot", map[string]any{"pid": other.Process.Pid, "host": host, "op": "apply", "started": started, "boot": "00000000-0000-0000-0000-000000000000", "start": 1}, ""},
		{"a run whose PID another process has now", map[string]any{"pid": other.Process.Pid, "host": host, "op": "apply", "started": started, "boot": string(bytes.TrimSpace(boot)), "start": 1}, ""},
		{"a run still going on", map[string]any{"pid": other.Process.Pid, "host": host, "op": "apply", "started": started}, "`terraform force-unlock -force " + lockID + "`"},
		{"a lock no run of Spillway's holds", nil, "`terraform force-unlock -force " + lockID + "`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, st := httpState(t)
			work := cfg.WorkDir
			p := newProvider(t, cfg)
			ctx := testCtx(t)
			first, err := p.Launch(ctx, launchRequest("stale", "stale-1", 1))
			if err != nil {
				t.Fatalf("first Launch: %v", err)
			}
			key := burstDirs(t, work)[0]
			dir := filepath.Join(work, "bursts", key)
			// What a run that died mid-apply leaves: the backend's lock
			// and, when Spillway ran it, its run record.
			st.mu.Lock()
			st.locks["/state/"+key] = []byte(`{"ID":"` + lockID + `","Operation":"OperationTypeApply","Who":"spillway@` + host + `"}`)
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
			insts, err := p.Launch(ctx, launchRequest("stale", "stale-2", 1))
			unlocks, _ := filepath.Glob(filepath.Join(dir, ".spillway", "runs", "*-force-unlock.log"))
			if tc.refused != "" {
				if err == nil {
					t.Fatalf("Launch on a state locked by a live run = %v; want it refused", idsOf(insts))
				}
				for _, want := range []string{tc.refused, dir, "locked"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Launch's error does not say %q: %v", want, err)
					}
				}
				if len(unlocks) != 0 {
					t.Errorf("the lock of a run not known dead was broken")
				}
				return
			}
			if err != nil {
				t.Fatalf("Launch after the run died: %v", err)
			}
			if len(unlocks) != 1 {
				t.Errorf("force-unlock ran %d times, want once", len(unlocks))
			}
			if locks, _ := st.held(); locks != 0 {
				t.Errorf("%d state locks held after the launch", locks)
			}
			if err := p.Terminate(ctx, append(idsOf(first), idsOf(insts)...)); err != nil {
				t.Fatalf("Terminate: %v", err)
			}
			if listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"}); err != nil || len(listed) != 0 {
				t.Errorf("List after Terminate = %v, %v; want nothing", idsOf(listed), err)
			}
		})
	}
}

// A server killed mid-apply on the local backend takes its Terraform with
// it, which leaves .terraform.tfstate.lock.info behind; the lock itself
// is the kernel's, released with the process: on restart the next launch
// of the same token is neither refused nor made to wait, and breaks no
// lock.
func TestServerKilledMidApplyLeavesNoLocalLockHeld(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	hold, started := filepath.Join(work, "hold"), filepath.Join(work, "started")
	cfg := terraform.Config{Module: "testdata/localstate", Zones: zones, WorkDir: work, Variables: map[string]any{"hold": hold, "started": started}}
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hold) }) // lets the orphaned provisioner go
	crasher, exited, stderr := startCrasher(t, cfg, "CRASH_BURST=local", "CRASH_TOKEN=local-1", "CRASH_COUNT=1")
	ctx := testCtx(t)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the crasher exited before its apply started (%v): %s", err, stderr.String())
		case <-ctx.Done():
			crasher.Process.Kill()
			<-exited
			t.Fatalf("the crasher's apply never started: %s", stderr.String())
		case <-tick.C:
		}
	}
	crasher.Process.Kill()
	<-exited
	if err := os.Remove(hold); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "bursts", burstDirs(t, work)[0])
	if _, err := os.Stat(filepath.Join(dir, ".terraform.tfstate.lock.info")); err != nil {
		t.Fatalf("the killed apply left no lock info (%v): the case is not met", err)
	}

	p := newProvider(t, cfg)
	insts, err := p.Launch(ctx, launchRequest("local", "local-1", 1))
	if err != nil {
		t.Fatalf("Launch after the crash: %v", err)
	}
	if len(insts) != 1 {
		t.Fatalf("Launch after the crash returned %d instances, want 1", len(insts))
	}
	if unlocks, _ := filepath.Glob(filepath.Join(dir, ".spillway", "runs", "*-force-unlock.log")); len(unlocks) != 0 {
		t.Errorf("force-unlock ran %d times on the local backend", len(unlocks))
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
}
