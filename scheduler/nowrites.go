package scheduler

import (
	"errors"

	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// While the state database takes no writes (a PostgreSQL hot standby given
// as the state, default_transaction_read_only on: *postgres.ReadOnlyError),
// the leader's lease is not renewed and its term ends; from then on its
// ticks' reads and writes fail as ended with the term ("context deadline
// exceeded") or fenced, which says nothing of why. The Leader's last
// failure (leaderErr: *postgres.Elector's Err), or else the refusal the
// pool's ticks last met (poolRun.noWrites, until a tick writes again),
// is said with a failure that the term's end explains.

// leaderErr is a Leader that says why its last call on the lease failed.
type leaderErr interface{ Err() error }

// failure is what a tick says of err, a failed state call of what: the
// cause first when the state database takes no writes and err is the
// term's end that followed.
func (t *tick) failure(what string, err error) string {
	msg := err.Error()
	if what != "" {
		msg = what + ": " + msg
	}
	var ro *postgres.ReadOnlyError
	if errors.As(err, &ro) {
		t.pr.noWrites = ro.Error()
		return msg
	}
	if !errors.Is(err, errTermOver) && !errors.Is(err, state.ErrFenced) {
		return msg
	}
	cause := t.pr.noWrites
	if l, ok := t.leader.(leaderErr); ok && errors.As(l.Err(), &ro) {
		cause = ro.Error()
	}
	if cause == "" {
		return msg
	}
	return "the state database takes no writes, so this server's leader term ended: " + cause + " (" + msg + ")"
}
