package postgres

import (
	"context"
	"crypto/tls"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// A pooled session the database ended while it sat idle (a restart, a
// failover, pg_terminate_backend(), a proxy's idle timeout) is found before
// a statement is sent on it, not by the statement failing: the server's
// parting words (FATAL 57P01, then the end of the stream) are already in
// the socket when the pool hands the session out. shouldPing looks for them
// without waiting (one non-blocking peek of the socket, no round trip), and
// has the pool ping a session that shows them, or that sat idle for longer
// than pingIdle; a session whose ping fails is dropped and another taken.
// So the first call after the database is back succeeds, and the lease's
// renewal is never sent on a dead session (it is not retried: one renewal
// is one statement, sent once).
//
// What it cannot see: a session ended between the peek and the statement,
// or while a statement runs (that call fails, once), and a peer that
// vanished without closing (no FIN: the statement times out with its
// context).

// shouldPing is the pool's ShouldPing: ping a session idle for longer than
// idle, or one the server has closed or spoken on unasked.
func shouldPing(idle time.Duration) func(context.Context, pgxpool.ShouldPingParams) bool {
	return func(_ context.Context, p pgxpool.ShouldPingParams) bool {
		return p.IdleDuration > idle || !quiet(p.Conn.PgConn().Conn())
	}
}

// quiet reports whether nothing waits to be read on c: the server has
// neither closed the session nor sent anything since its last answer. A
// connection whose socket cannot be peeked at counts as quiet.
func quiet(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn() // a TLS alert or record waiting is as telling
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	// Control, not Read: pgx's background reader may sit in a Read of an
	// idle session (started by a slow write, it stops only after its next
	// read returns) and holds the socket's read lock until the server
	// speaks; a peek that does not wait needs no lock.
	q := true
	if err := rc.Control(func(fd uintptr) { q = peekQuiet(fd) }); err != nil {
		return false
	}
	return q
}

// withPingIdle sets how long a pooled session may sit idle before it is
// pinged whatever its socket shows (tests: an hour, so that only the peek
// can find a dead session).
func withPingIdle(d time.Duration) Option { return func(o *options) { o.pingIdle = d } }
