//go:build unix

package postgres

import (
	"errors"
	"syscall"
)

// peekQuiet reports whether the socket fd has nothing to read and is not
// closed, without reading or waiting.
func peekQuiet(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	for errors.Is(err, syscall.EINTR) {
		_, _, err = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}
	// EAGAIN: nothing waits. Data (a byte peeked), the end of the stream
	// (none, and no error) or an error (a reset) are not quiet.
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}
