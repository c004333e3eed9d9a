package state

import (
	"errors"
	"fmt"
)

// ErrFenced: a write of a server that no longer holds the leader lease was
// refused (see *FencedError). The server must stop acting.
var ErrFenced = errors.New("not the leader: write fenced")

// FencedError says why a fenced write was refused: the lease it names is
// not held at Epoch any more (another server took it, or it expired).
type FencedError struct {
	Lease string
	Epoch int64 // the epoch the writer acted under; 0: it held none
	Why   string
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("write fenced: lease %q epoch %d: %s", e.Lease, e.Epoch, e.Why)
}

// Is makes errors.Is(err, ErrFenced) match.
func (e *FencedError) Is(target error) bool { return target == ErrFenced }
