package postgres

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Transient reports whether err, from Open or a query, may pass if the
// call is made again: the database unreachable or still starting, a
// connection lost or timed out, a session the database ended (shutting
// down, or idle in a transaction past its timeout while this process was
// starved), a server that takes no writes yet (25006: a standby, a
// failover not yet complete), a serialization failure or
// deadlock, or a shortage of resources. A refused password, a missing
// database or privilege, a bad DSN, a file it names that cannot be read
// or a schema this binary does not know are not, nor is a cancelled
// context.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),  // insufficient resources (too many connections)
			strings.HasPrefix(pe.Code, "57P"), // shutting down, starting up
			pe.Code == "25P03",                // idle in transaction timeout
			pe.Code == "25006",                // read-only (a standby, a failover not yet complete)
			pe.Code == "40001", pe.Code == "40P01":
			return true
		}
		return false
	}
	// A file that Open reads (server.state_password_file, the DSN's
	// sslrootcert) and cannot is so the next time too; its *fs.PathError
	// wraps a syscall.Errno, which reads as a net.Error below.
	var pathErr *fs.PathError
	var opErr *net.OpError
	if errors.As(err, &pathErr) && !errors.As(err, &opErr) {
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
