//go:build unix

package sqlite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenSaysWhatToMakeWritable opens a database a server may not write
// (a read-only directory, with or without the file yet; a read-only file)
// from another process, as spillway server opens it, and checks that the
// refusal names what is not writable and what to do, rather than SQLite's
// "attempt to write a readonly database (1544)" or a bare "permission
// denied", that it is state.ErrNoWrites (as PostgreSQL's read-only
// database is), and that nothing was changed. Root may write anything:
// run as root, the helper runs as nobody.
func TestOpenSaysWhatToMakeWritable(t *testing.T) {
	for _, c := range []struct {
		name     string
		existing bool        // the database was made before
		dirMode  os.FileMode // of the database's directory
		fileMode os.FileMode // of the database, when it exists
		want     string      // the path named
		dir      bool
	}{
		{"a read-only directory, no database yet", false, 0o555, 0, "dir", true},
		{"a read-only directory", true, 0o555, 0o600, "dir", true},
		{"a read-only file", true, 0o755, 0o400, "file", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := helperAsUnprivileged(t)
			dir := filepath.Join(run.dir, "state")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			run.own(t, dir)
			path := filepath.Join(dir, "spillway.db")
			if c.existing {
				if out, err := run.cmd(t, path, "server").CombinedOutput(); err != nil {
					t.Fatalf("making the database: %v: %s", err, out)
				}
				if err := os.Chmod(path, c.fileMode); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, c.dirMode); err != nil {
				t.Fatal(err)
			}
			before := listing(t, dir)
			cmd := run.cmd(t, path, "server")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("the helper's Open: %v (%s), want it refused (exit 2)", err, stderr.String())
			}
			msg := stderr.String()
			named := path
			if c.dir {
				named = dir
			}
			for _, want := range []string{"cannot be written", named + " is not writable", "make " + dir + " and the file writable", "the error is state.ErrNoWrites"} {
				if !strings.Contains(msg, want) {
					t.Errorf("refusal %q does not say %q", msg, want)
				}
			}
			if after := listing(t, dir); after != before {
				t.Errorf("the directory changed: %s, was %s", after, before)
			}
		})
	}
}

// unprivileged runs the test binary as a helper process (runHelper) that
// file modes bind: as nobody when the test runs as root.
type unprivileged struct {
	dir  string // a directory the helper may write, holding its binary
	bin  string
	cred *syscall.Credential
}

func helperAsUnprivileged(t *testing.T) *unprivileged {
	t.Helper()
	u := &unprivileged{dir: t.TempDir(), bin: os.Args[0]}
	if os.Geteuid() != 0 {
		return u
	}
	u.cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	// The test binary's own directory is root's: nobody runs a copy.
	u.bin = filepath.Join(u.dir, "helper.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(u.bin, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	// The test's temporary directory and its parent are root's alone.
	for _, d := range []string{filepath.Dir(u.dir), u.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Let the modes be put back and the directory removed at the end.
	t.Cleanup(func() {
		_ = filepath.Walk(u.dir, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o700) })
	})
	return u
}

// own gives path to the helper's user.
func (u *unprivileged) own(t *testing.T, path string) {
	t.Helper()
	if u.cred == nil {
		return
	}
	if err := os.Chown(path, int(u.cred.Uid), int(u.cred.Gid)); err != nil {
		t.Fatal(err)
	}
}

func (u *unprivileged) cmd(t *testing.T, path, mode string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), u.bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperDBEnv+"="+path, helperModeEnv+"="+mode, helperNameEnv+"=i-1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	return cmd
}

// listing is the names and sizes of dir's files.
func listing(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s:%d ", e.Name(), fi.Mode(), fi.Size())
	}
	return b.String()
}
