package terraform

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// recordDisk makes writeFileAtomic and mkdirAll record their steps (op
// and file, "op name") for the test's length, and returns them.
func recordDisk(t *testing.T) func() []string {
	t.Helper()
	var (
		mu  sync.Mutex
		did []string
	)
	old := osDisk
	osDisk = disk{step: func(op, name string) error {
		mu.Lock()
		defer mu.Unlock()
		did = append(did, op+" "+name)
		return nil
	}}
	t.Cleanup(func() { osDisk = old })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(did)
	}
}

// A burst's directories were made by os.MkdirAll, never synced: the
// ledger written in WorkDir/bursts/KEY/.spillway synced that directory
// only, and a crash soon after could lose the entries of bursts/KEY and
// .spillway, with them the ledger, the record of the burst's instances.
// lockBurst now syncs the directory above each it makes.
//
// What this proves: the syncs are asked of the real file system for each
// directory made; no test here can cut the power.
func TestBurstDirectoriesAreSyncedWhenMade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	work := t.TempDir()
	p, err := New("tf-sync", Config{Module: "testdata/childmodule", Region: "us-east-1", Zones: []string{"us-east-1a"}, WorkDir: work,
		Variables: map[string]any{"live": t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	did := recordDisk(t)
	_, unlock, err := p.lockBurst(ctx, "synced-k", true)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	burst := filepath.Join(work, "bursts", "synced-k")
	for _, dir := range []string{filepath.Join(work, "bursts"), burst, filepath.Join(burst, ".spillway")} {
		if !slices.Contains(did(), "sync-dir "+dir) {
			t.Errorf("%s, above a directory made for the burst, was not synced: steps %q", dir, did())
		}
	}
}

// copyModule wrote each module file with os.WriteFile, never synced,
// before prepare wrote (and synced) the burst's version file: after a
// crash a main.tf left empty, under a version recorded as copied, would
// be run as the module, planning to destroy every instance in the
// burst's state. Each file is now synced, as is the directory holding it.
func TestModuleCopyIsSynced(t *testing.T) {
	dst := t.TempDir()
	did := recordDisk(t)
	if err := copyModule("testdata/childmodule", dst); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"main.tf", filepath.Join("instance", "main.tf")} {
		path := filepath.Join(dst, f)
		synced := slices.ContainsFunc(did(), func(s string) bool {
			m, _ := filepath.Match("sync "+filepath.Join(filepath.Dir(path), ".tmp-main.tf-*"), s)
			return m
		})
		if !synced || !slices.Contains(did(), "sync-dir "+filepath.Dir(path)) {
			t.Errorf("module file %s was not synced with its directory: steps %q", f, did())
		}
	}
}
