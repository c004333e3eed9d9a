package terraform

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A ledger was written to a temporary file and renamed over the old one
// with no sync: after a power loss a file system may hold the rename but
// not the data (an empty ledger) or neither (the rename undone), and the
// record of which instances a burst owns is lost. writeFileAtomic now
// syncs the file before the rename and the directory after it.
//
// What this proves: the steps run in that order on the real file system,
// and a failing step (a sync the disk refuses) fails the write, keeps the
// old ledger whole and leaves no temporary file. It cannot prove the data
// survives a power loss: no test here can cut the power.
func TestLedgerWriteSyncsBeforeAndAfterItsRename(t *testing.T) {
	steps := []string{"create", "write", "sync", "close", "rename", "sync-dir"}
	for _, fail := range append([]string{""}, steps...) {
		name := "ok"
		if fail != "" {
			name = "failing " + fail
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ledger.json")
			l := newLedger()
			l.Burst = "old"
			if err := l.write(path); err != nil {
				t.Fatal(err)
			}
			var did []string
			refused := errors.New("refused by the test's disk")
			d := disk{step: func(op, name string) error {
				did = append(did, op)
				if op == fail {
					return refused
				}
				return nil
			}}
			data := []byte(`{"burst":"new"}`)
			err := d.writeAtomic(path, data)
			want := steps
			if fail != "" {
				want = slices.Clone(steps[:slices.Index(steps, fail)+1])
				if i := slices.Index(steps, fail); i > 0 && i < slices.Index(steps, "close") {
					want = append(want, "close") // the file is closed however the write failed
				}
			}
			if !slices.Equal(did, want) {
				t.Errorf("steps %v, want %v", did, want)
			}
			if fail == "" {
				if err != nil {
					t.Fatalf("write: %v", err)
				}
			} else if !errors.Is(err, refused) {
				t.Fatalf("write with %s failing = %v, want the refusal", fail, err)
			}
			got, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			// Past the rename the new ledger is in place (its directory's
			// sync failing is reported, not undone).
			newWanted := fail == "" || fail == "sync-dir"
			if newWanted != (string(got) == string(data)) {
				t.Errorf("with %q failing the ledger reads %s", fail, got)
			}
			if !newWanted {
				if rl, err := readLedger(path); err != nil || rl.Burst != "old" {
					t.Errorf("the old ledger = %+v, %v; want it whole", rl, err)
				}
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("the directory holds %v, want the ledger only (a temporary file left behind)", names)
			}
		})
	}
}
