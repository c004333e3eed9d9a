//go:build !unix

package sqlite

import (
	"errors"
	"os"
)

var errLockHeld = errors.New("lock held by another process")

// tryLock is a no-op where flock is not available.
func tryLock(*os.File) error { return nil }

// canWrite is nil where access(2) is not available.
func canWrite(string) error { return nil }
