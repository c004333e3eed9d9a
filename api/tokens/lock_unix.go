//go:build unix

package tokens

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir holds an exclusive flock on dir until the returned func is
// called, so that concurrent `spillway token create` runs on one file do
// not lose each other's entries.
func lockDir(dir string) (func(), error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("locking the tokens file's folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the tokens file's folder %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
