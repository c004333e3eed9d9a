package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spillway-io/spillway/state"
)

func TestTransient(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"connection refused", fmt.Errorf("open: %w", refused), true},
		{"a connection cut mid-query", fmt.Errorf("list instances: %w", io.ErrUnexpectedEOF), true},
		{"a connect timeout", fmt.Errorf("connect: %w", context.DeadlineExceeded), true},
		{"idle in a transaction past its timeout", &pgconn.PgError{Code: "25P03"}, true},
		{"the database starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"an administrator's shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"a write on a read-only server", &pgconn.PgError{Code: "25006"}, true},
		{"a serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"a connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"a refused password", &pgconn.PgError{Code: "28P01"}, false},
		{"no such database", &pgconn.PgError{Code: "3D000"}, false},
		{"no privilege", &pgconn.PgError{Code: "42501"}, false},
		{"a bad DSN", &state.InvalidError{Field: "postgres DSN"}, false},
		{"a schema too new", &state.SchemaError{Database: "d", Have: 9, Know: 6}, false},
		{"a password file that is not there", fmt.Errorf("state/postgres: password file: %w", &fs.PathError{Op: "open", Path: "db-password", Err: syscall.ENOENT}), false},
		{"a cancelled context", fmt.Errorf("migrate: %w", context.Canceled), false},
		{"anything else", errors.New("recorded migration differs from this binary's"), false},
	} {
		if got := Transient(tt.err); got != tt.want {
			t.Errorf("%s: Transient(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
