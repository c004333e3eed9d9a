package tokens

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .err goldens")

func TestParseGood(t *testing.T) {
	f, err := Read("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != 2 {
		t.Fatalf("%d entries, want 2", len(f.Entries))
	}
	e := f.Entries[0]
	if e.Name != "alice" || e.Role != Operator || hex.EncodeToString(e.Hash[:]) != "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b" ||
		!e.Created.Equal(time.Date(2026, 11, 29, 7, 30, 0, 0, time.UTC)) {
		t.Errorf("entry 0 = %+v", e)
	}
	if f.Entries[1].Role != Viewer || !f.Entries[1].Created.IsZero() {
		t.Errorf("entry 1 = %+v", f.Entries[1])
	}
	// Marshal reads back to the same entries.
	g, err := Parse("again", f.Marshal())
	if err != nil {
		t.Fatalf("marshalled file does not parse: %v\n%s", err, f.Marshal())
	}
	if len(g.Entries) != 2 || g.Entries[0] != f.Entries[0] || g.Entries[1] != f.Entries[1] {
		t.Errorf("round trip: %+v, want %+v", g.Entries, f.Entries)
	}
}

// TestParseBad checks the exact message a person reads for each mistake
// (testdata/*.bad.yaml against its .err golden).
func TestParseBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) < 10 {
		t.Fatalf("only %d bad fixtures", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, err := Read(path)
			if err == nil {
				t.Fatal("parsed without error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".err"
			if *update {
				os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644)
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("message\n got: %s want: %s", got, want)
			}
		})
	}
}

func TestParseBounds(t *testing.T) {
	big := bytes.Repeat([]byte("#"), MaxFileBytes+1)
	if _, err := Parse("big", big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized file: %v, want ErrTooLarge", err)
	}
	var b strings.Builder
	b.WriteString("tokens:\n")
	for i := 0; i <= MaxEntries; i++ {
		b.WriteString("  - {name: n, role: viewer, sha256: x}\n")
	}
	_, err := Parse("many", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "10001 tokens is more than the limit of 10000") {
		t.Errorf("too many entries: %v", err)
	}
}

func TestRoleAllows(t *testing.T) {
	for _, tc := range []struct {
		have, need Role
		ok         bool
	}{
		{Viewer, Viewer, true}, {Viewer, Operator, false}, {Viewer, Admin, false},
		{Operator, Viewer, true}, {Operator, Operator, true}, {Operator, Admin, false},
		{Admin, Viewer, true}, {Admin, Operator, true}, {Admin, Admin, true},
		{"", Viewer, false}, {"root", Viewer, false}, {Admin, "root", false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%q.Allows(%q) = %v, want %v", tc.have, tc.need, got, tc.ok)
		}
	}
}

func TestAddStoresHashOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	now := time.Date(2026, 11, 29, 7, 30, 12, 345, time.UTC)
	tok, err := Add(path, "alice", Operator, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, Prefix) || len(tok) != len(Prefix)+43 {
		t.Errorf("token %q: want %s and 43 base64url characters", tok, Prefix)
	}
	tok2, err := Add(path, "bob", Admin, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte(tok)) || bytes.Contains(data, []byte(tok2)) || bytes.Contains(data, []byte(tok[len(Prefix):])) {
		t.Fatalf("file holds a token:\n%s", data)
	}
	h := Hash(tok)
	if !bytes.Contains(data, []byte(hex.EncodeToString(h[:]))) {
		t.Errorf("file lacks alice's hash:\n%s", data)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	s := NewStore(path, nil)
	for tk, want := range map[string]Principal{tok: {"alice", Operator}, tok2: {"bob", Admin}} {
		if p, err := s.Lookup(tk); err != nil || p != want {
			t.Errorf("Lookup = %+v, %v; want %+v", p, err, want)
		}
	}
	if _, err := Add(path, "alice", Viewer, now, nil); err == nil || !strings.Contains(err.Error(), `token name "alice" is already in`) {
		t.Errorf("duplicate name: %v", err)
	}
	if _, err := Add(path, "carol", "root", now, nil); err == nil || !strings.Contains(err.Error(), `role "root" is not a role`) {
		t.Errorf("bad role: %v", err)
	}
}

// TestStoreReloads edits the file under a live Store: an added token works
// and a deleted one stops working without a new Store; a broken edit fails
// closed.
func TestStoreReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	s := NewStore(path, nil)
	if _, err := s.Lookup("spw_x"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("absent file: %v, want ErrUnknown", err)
	}
	now := time.Unix(1_800_000_000, 0)
	alice, err := Add(path, "alice", Viewer, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Lookup(alice); err != nil || p.Name != "alice" {
		t.Fatalf("after create: %+v %v", p, err)
	}
	bob, _ := Add(path, "bob", Admin, now, nil)
	if p, err := s.Lookup(bob); err != nil || p.Role != Admin {
		t.Fatalf("after add: %+v %v", p, err)
	}
	// Revoke alice by rewriting the file without her entry, in place (same
	// inode), keeping the size by padding with a comment.
	f, _ := Read(path)
	f.Entries = f.Entries[1:]
	old, _ := os.ReadFile(path)
	data := f.Marshal()
	pad := len(old) - len(data)
	data = append(data, '#')
	data = append(data, bytes.Repeat([]byte(" "), pad-2)...)
	data = append(data, '\n')
	if len(data) != len(old) {
		t.Fatalf("padding: %d != %d", len(data), len(old))
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(alice); !errors.Is(err, ErrUnknown) {
		t.Errorf("revoked token: %v, want ErrUnknown", err)
	}
	if _, err := s.Lookup(bob); err != nil {
		t.Errorf("bob after revoking alice: %v", err)
	}
	// A broken file refuses everyone rather than keeping old tokens.
	if err := os.WriteFile(path, []byte("tokens: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var pe *ParseError
	if _, err := s.Lookup(bob); !errors.As(err, &pe) {
		t.Errorf("broken file: %v, want *ParseError", err)
	}
}

// TestAddConcurrent: concurrent Adds to one file keep every entry.
func TestAddConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Add(path, fmt.Sprintf("user%d", i), Viewer, time.Unix(0, 0), nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Entries) != n {
		t.Errorf("%d entries after %d concurrent adds", len(f.Entries), n)
	}
}

// TestStoreSeesRewriteKeepingStat rewrites the file in place with the same
// size and modification time, the way a rotation to a token of the same
// length looks: within the filesystem's timestamp tick, or by a tool that
// restores the time (cp -p, rsync --times --inplace). The old token stops
// working, at once in the tick and within recheckEvery otherwise.
func TestStoreSeesRewriteKeepingStat(t *testing.T) {
	mtime := time.Date(2026, 11, 29, 7, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		// loaded: when the store first reads the file; checked: when
		// it is asked after the rewrite.
		loaded, checked time.Time
	}{
		{"same tick", mtime.Add(400 * time.Millisecond), mtime.Add(500 * time.Millisecond)},
		{"time restored", mtime.Add(time.Hour), mtime.Add(time.Hour + racyWindow + recheckEvery)},
		// The file server's clock is ahead of the store's.
		{"server clock ahead", mtime.Add(-time.Hour), mtime.Add(-time.Hour + 100*time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.yaml")
			old, err := Add(path, "bob", Operator, mtime, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			now := tc.loaded
			s := NewStore(path, nil)
			s.now = func() time.Time { return now }
			if p, err := s.Lookup(old); err != nil || p.Name != "bob" {
				t.Fatalf("before the rotation: %+v %v", p, err)
			}
			f, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			rotated, err := Generate(nil)
			if err != nil {
				t.Fatal(err)
			}
			f.Entries[0].Hash = Hash(rotated)
			if err := os.WriteFile(path, f.Marshal(), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				t.Fatal(err)
			}
			now = tc.checked
			if p, err := s.Lookup(old); !errors.Is(err, ErrUnknown) {
				t.Errorf("revoked token: %+v %v, want ErrUnknown", p, err)
			}
			if p, err := s.Lookup(rotated); err != nil || p.Name != "bob" {
				t.Errorf("new token: %+v %v", p, err)
			}
		})
	}
}

// BenchmarkLookup: a lookup stats the file; "reread" is the cost a lookup
// would have if it read and hashed the file every time (as it does for
// racyWindow after the file changes).
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 5000} {
		path := filepath.Join(b.TempDir(), "tokens.yaml")
		f := &File{}
		for i := range n {
			f.Entries = append(f.Entries, Entry{Name: fmt.Sprintf("user%d", i), Role: Viewer, Hash: Hash(fmt.Sprint(i)), Created: time.Unix(1_800_000_000, 0).UTC()})
		}
		if err := os.WriteFile(path, f.Marshal(), 0o600); err != nil {
			b.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		if err := os.Chtimes(path, old, old); err != nil {
			b.Fatal(err)
		}
		for _, mode := range []string{"stat", "reread"} {
			b.Run(fmt.Sprintf("%s/tokens=%d", mode, n), func(b *testing.B) {
				s := NewStore(path, nil)
				var now time.Time
				s.now = func() time.Time { return now }
				if _, err := s.Lookup("spw_x"); !errors.Is(err, ErrUnknown) {
					b.Fatal(err)
				}
				now = now.Add(racyWindow) // past the window: stat only
				if mode == "reread" {
					s.now = func() time.Time { now = now.Add(recheckEvery); return now }
				}
				for b.Loop() {
					if _, err := s.Lookup("spw_x"); !errors.Is(err, ErrUnknown) {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestStoreLogsAMissingFileOnce: a tokens file that did not exist was
// warned of by the server at start and again by the store at the first
// API call, in other words; the store says it at Debug, once, and warns
// when a file it had read is removed, once, until it is back.
func TestStoreLogsAMissingFileOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	var logs bytes.Buffer
	s := NewStore(path, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	lookups := func() {
		t.Helper()
		for range 3 {
			if _, err := s.Lookup("spw_x"); !errors.Is(err, ErrUnknown) {
				t.Fatalf("lookup: %v, want ErrUnknown", err)
			}
		}
	}
	lookups()
	if got := logs.String(); strings.Contains(got, "level=WARN") || strings.Count(got, "level=DEBUG msg=\"tokens file does not exist") != 1 {
		t.Errorf("a file never there: want one DEBUG line, no WARN:\n%s", got)
	}
	if _, err := Add(path, "alice", Viewer, time.Unix(1_800_000_000, 0), nil); err != nil {
		t.Fatal(err)
	}
	lookups()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	lookups()
	if got := logs.String(); strings.Count(got, "level=WARN msg=\"tokens file removed: no token is accepted until it is created again\"") != 1 {
		t.Errorf("a file removed: want one WARN line:\n%s", got)
	}
}
