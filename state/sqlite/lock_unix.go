//go:build unix

package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

var errLockHeld = errors.New("lock held by another process")

// tryLock takes an exclusive flock on f without waiting. flock locks are
// separate from the fcntl locks SQLite takes on the database itself.
func tryLock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLockHeld
	}
	return err
}

// canWrite says why this process may not write the file at path now,
// nil if it may: access(2) says so of a filesystem mounted read-only
// (EROFS, also for root) and of modes that keep this user out; a
// filesystem the kernel made read-only after an error (ext4's
// errors=remount-ro, shown as emergency_ro) answers access as writable,
// so a file is also made, and removed, beside it. (Never a descriptor of
// the file itself: closing one drops SQLite's fcntl locks on it.)
func canWrite(path string) error {
	if err := syscall.Access(path, 2 /* W_OK */); err != nil {
		return &os.PathError{Op: "access", Path: path, Err: err}
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".probe-*")
	if err != nil {
		return err
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}
