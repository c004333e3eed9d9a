package scheduler

import (
	"errors"

	"github.com/spillway-io/spillway/state"
)

// While the state database takes no writes (state.ErrNoWrites: a
// PostgreSQL hot standby given as the state, default_transaction_read_only
// on), the leader's lease is not renewed and its term ends; from then on
// its ticks' reads and writes fail as ended with the term ("context
// deadline exceeded") or fenced, which says nothing of why. Such a failure
// is said with the Leader's last failure on the lease (leaderErr: the
// elector's Err) when that was the database refusing writes.

// leaderErr is a Leader that says why its last call on the lease failed.
type leaderErr interface{ Err() error }

// failure is what a tick says of err, a failed state call of what ("" when
// err names it): the cause first when err is the end of the leader's term
// (or a write fenced by it) and the lease's last call was refused by a
// database that takes no writes.
func (t *tick) failure(what string, err error) string {
	msg := err.Error()
	if what != "" {
		msg = what + ": " + msg
	}
	if !errors.Is(err, errTermOver) && !errors.Is(err, state.ErrFenced) {
		return msg
	}
	l, ok := t.leader.(leaderErr)
	if !ok {
		return msg
	}
	nw := state.NoWrites(l.Err())
	if nw == nil {
		return msg
	}
	return "the state database takes no writes, so this server's leader term ended: " + nw.Error() + " (" + msg + ")"
}
