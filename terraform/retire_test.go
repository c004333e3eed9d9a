package terraform_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/terraform"
)

// testClock is a clock a test moves by hand; safe for concurrent use.
type testClock struct{ now atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.now.Store(time.Now().UnixNano())
	return c
}

func (c *testClock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *testClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

// demandRequest is a launch with no spillway:burst tag: it gets a burst
// of its own, named by its client token.
func demandRequest(token string) providers.LaunchRequest {
	req := launchRequest("", token, 1)
	delete(req.Tags, providers.TagBurst)
	return req
}

func burstDirs(t *testing.T, work string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(work, "bursts"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}

// endedLogIDs are the instance ids ended.log's lines name, sorted.
func endedLogIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var ended struct {
			Launches map[string]struct {
				IDs []string `json:"ids"`
			} `json:"launches"`
		}
		if err := json.Unmarshal(line, &ended); err != nil {
			t.Fatalf("ended.log line %q: %v", line, err)
		}
		for _, l := range ended.Launches {
			ids = append(ids, l.IDs...)
		}
	}
	return sorted(ids)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func childModuleCopy(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "module")
	if err := os.CopyFS(dst, os.DirFS("testdata/childmodule")); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Demand launches each get a burst directory; once every instance of one
// has ended it is kept while the scheduler may still resume a launch with
// its client token (a resume finds it and launches nothing again), and
// retired by Reconcile after that: its directory goes, a line in
// ended.log stays, List stops reading it. A burst with a live instance
// stays. A module snapshot no burst uses any more goes too.
func TestEndedBurstsAreRetiredAfterTheResumeWindow(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work, live, module := t.TempDir(), t.TempDir(), childModuleCopy(t)
	clock := newTestClock()
	cfg := terraform.Config{Module: module, Region: region, Zones: zones, WorkDir: work, Variables: map[string]any{"live": live}}
	p := newProvider(t, cfg, terraform.WithClock(clock.Now))

	const ended = 4
	var endedIDs []string
	for i := range ended {
		insts, err := p.Launch(ctx, demandRequest(fmt.Sprintf("demand-%d", i)))
		if err != nil {
			t.Fatalf("Launch %d: %v", i, err)
		}
		endedIDs = append(endedIDs, idsOf(insts)...)
		if err := p.Terminate(ctx, idsOf(insts)); err != nil {
			t.Fatalf("Terminate %d: %v", i, err)
		}
	}
	kept, err := p.Launch(ctx, demandRequest("demand-live"))
	if err != nil {
		t.Fatalf("Launch of the live burst: %v", err)
	}
	if n := len(burstDirs(t, work)); n != ended+1 {
		t.Fatalf("%d burst directories, want %d", n, ended+1)
	}

	// At the bound: a resume may still come, and finds its burst.
	clock.Advance(terraform.RetireAfter)
	if err := p.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile at the bound: %v", err)
	}
	if n := len(burstDirs(t, work)); n != ended+1 {
		t.Fatalf("at the bound %d burst directories are left, want all %d", n, ended+1)
	}
	again, err := p.Launch(ctx, demandRequest("demand-0"))
	if err != nil || len(again) != 1 || again[0].ID != endedIDs[0] || again[0].State != providers.StateTerminated {
		t.Fatalf("resumed launch of an ended burst = %v, %v; want its instance %s, terminated, and no error", again, err, endedIDs[0])
	}
	if left := liveFiles(t, live); len(left) != 1 {
		t.Fatalf("after the resume the module's instances are %v, want the live burst's only: the resume launched again", left)
	}

	clock.Advance(time.Second)
	if err := p.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile past the bound: %v", err)
	}
	dirs := burstDirs(t, work)
	if len(dirs) != 1 {
		t.Fatalf("past the bound the burst directories are %v, want the live burst's only", dirs)
	}
	if n := countLines(t, filepath.Join(work, "ended.log")); n != ended {
		t.Errorf("ended.log has %d lines, want one per retired burst (%d)", n, ended)
	}
	// Operators grep ended.log for a billed instance's id.
	if got := endedLogIDs(t, filepath.Join(work, "ended.log")); !slices.Equal(got, sorted(endedIDs)) {
		t.Errorf("ended.log names instances %v, want the ended bursts' %v", got, sorted(endedIDs))
	}
	if trash, _ := os.ReadDir(filepath.Join(work, "trash")); len(trash) != 0 {
		t.Errorf("the trash holds %d entries after the retirement", len(trash))
	}
	listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || !slices.Equal(idsOf(listed), idsOf(kept)) {
		t.Fatalf("List = %v, %v; want the live burst's %v", idsOf(listed), err, idsOf(kept))
	}
	oldSnapshots, err := os.ReadDir(filepath.Join(work, "modules"))
	if err != nil {
		t.Fatal(err)
	}

	// A new module version: the old snapshot goes once no burst uses it
	// and the bound has passed since a burst last moved to it.
	if err := os.WriteFile(filepath.Join(module, "extra.tf"), []byte("# a change\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p2 := newProvider(t, cfg, terraform.WithClock(clock.Now))
	if err := p2.Terminate(ctx, idsOf(kept)); err != nil {
		t.Fatalf("Terminate with the new module version: %v", err)
	}
	clock.Advance(terraform.RetireAfter + time.Second)
	if err := p2.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile after the module changed: %v", err)
	}
	if dirs := burstDirs(t, work); len(dirs) != 0 {
		t.Errorf("burst directories %v are left after every burst ended", dirs)
	}
	snaps, err := os.ReadDir(filepath.Join(work, "modules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range oldSnapshots {
		for _, s := range snaps {
			if s.Name() == old.Name() {
				t.Errorf("the old module version's %s is still in modules/", old.Name())
			}
		}
	}
	if len(snaps) == 0 {
		t.Errorf("the current module version's snapshot was removed")
	}
	if left := liveFiles(t, live); len(left) != 0 {
		t.Errorf("the module's instances %v still exist", left)
	}
}

// A burst whose ledger holds nothing while its Terraform state still holds
// resources (restored by hand, or left by a run the ledger does not know
// of) is never retired: removing it would leave them running, tracked by
// nothing.
func TestBurstWhoseStateHoldsResourcesIsNotRetired(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work, live := t.TempDir(), t.TempDir()
	clock := newTestClock()
	cfg := terraform.Config{Module: "testdata/childmodule", Region: region, Zones: zones, WorkDir: work, Variables: map[string]any{"live": live}}
	p := newProvider(t, cfg, terraform.WithClock(clock.Now))
	insts, err := p.Launch(ctx, demandRequest("held"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	dirs := burstDirs(t, work)
	state := filepath.Join(work, "bursts", dirs[0], "terraform.tfstate")
	held, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if err := os.WriteFile(state, held, 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(terraform.RetireAfter + time.Second)
	if err := p.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if got := burstDirs(t, work); !slices.Equal(got, dirs) {
		t.Errorf("burst directories after Reconcile = %v, want %v kept: its state holds resources", got, dirs)
	}
}

// A retirement a crash interrupted leaves the burst's directory in the
// trash, part removed; the next provider on the work dir removes it, and
// lists and launches as before.
func TestRetirementInterruptedByACrashIsFinishedOnStart(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work, live := t.TempDir(), t.TempDir()
	cfg := terraform.Config{Module: "testdata/childmodule", Region: region, Zones: zones, WorkDir: work, Variables: map[string]any{"live": live}}
	p := newProvider(t, cfg)
	insts, err := p.Launch(ctx, demandRequest("crashed"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	// What the crash left: the directory moved to the trash, its ledger
	// already removed there.
	dir := burstDirs(t, work)[0]
	moved := filepath.Join(work, "trash", dir+"-crashed")
	if err := os.MkdirAll(filepath.Dir(moved), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(work, "bursts", dir), moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(moved, ".spillway", "ledger.json")); err != nil {
		t.Fatal(err)
	}

	restarted := newProvider(t, cfg)
	if trash, _ := os.ReadDir(filepath.Join(work, "trash")); len(trash) != 0 {
		t.Errorf("after a restart the trash holds %d entries, want none", len(trash))
	}
	listed, err := restarted.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
	if err != nil || len(listed) != 0 {
		t.Errorf("List = %v, %v; want nothing", idsOf(listed), err)
	}
	if _, err := restarted.Launch(ctx, demandRequest("after-crash")); err != nil {
		t.Errorf("Launch after the restart: %v", err)
	}
}

// With backend_config the burst's state is kept outside its directory, one
// object per burst ({burst} in its name). Terraform cannot delete a
// default workspace's state, so retiring the burst removes the local
// backend's file itself (and names the object in ended.log), instead of
// leaving one empty state behind per burst for ever.
func TestRetiredBurstLeavesNoStateInItsBackend(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	work, states := t.TempDir(), t.TempDir()
	clock := newTestClock()
	cfg := terraform.Config{
		Module: "testdata/localstate", Region: region, Zones: zones, WorkDir: work,
		BackendConfig: map[string]string{"path": filepath.Join(states, "{burst}.tfstate")},
	}
	p := newProvider(t, cfg, terraform.WithClock(clock.Now))
	insts, err := p.Launch(ctx, demandRequest("remote"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	dirs := burstDirs(t, work)
	state := filepath.Join(states, dirs[0]+".tfstate")
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("the burst's state is not where backend_config puts it: %v", err)
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	clock.Advance(terraform.RetireAfter + time.Second)
	if err := p.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if left := burstDirs(t, work); len(left) != 0 {
		t.Fatalf("burst directories %v are left after the retirement", left)
	}
	if left, _ := os.ReadDir(states); len(left) != 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("the retired burst's backend still holds %v", names)
	}
	data, err := os.ReadFile(filepath.Join(work, "ended.log"))
	if err != nil {
		t.Fatal(err)
	}
	var line struct {
		State struct {
			Backend string            `json:"backend"`
			Names   map[string]string `json:"names"`
		} `json:"state"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(data), &line); err != nil {
		t.Fatalf("ended.log %q: %v", data, err)
	}
	if line.State.Backend != "local" || line.State.Names["path"] != state {
		t.Errorf("ended.log names the state %+v, want the local backend's %s", line.State, state)
	}
}
