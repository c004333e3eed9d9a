//go:build unix

package sqlite

import (
	"errors"
	"os"
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
