package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spillway-io/spillway/state"
)

// ConnectError is a database that refused the store's session for a
// reason a person must fix: the password, the user, the database's name,
// its privileges or TLS. pgx's own error named the user, the address and
// the server's words three levels deep; Why says what is wrong in the
// server's words, Fix what would be valid. Never Transient.
type ConnectError struct {
	Addr     string // host:port, or the socket's directory
	Database string // the database named in the DSN
	User     string
	Why      string // what is wrong
	Fix      string // what to do
	Err      error  // pgx's error
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("cannot connect to database %q on %s as user %q: %s; %s (%s)", e.Database, e.Addr, e.User, e.Why, e.Fix, rootCause(e.Err))
}

func (e *ConnectError) Unwrap() error { return e.Err }

// ReadOnlyError is a database that takes no writes (SQLSTATE 25006): a
// hot standby (a replica given as the state by mistake, or the endpoint of
// a managed database reaching a reader during a failover), or one whose
// sessions have default_transaction_read_only on. Its Unwrap keeps it
// Transient: a failover completes, a setting is turned off. The bare
// error said only "cannot execute UPDATE in a read-only transaction", and
// a starting server logged that the database did not answer yet.
type ReadOnlyError struct {
	Database string // the DSN without its password
	DBName   string // the database's name, for the statement to run
	Standby  bool   // the server is in recovery (a hot standby)
	Err      error
}

func (e *ReadOnlyError) Error() string {
	if e.Standby {
		return fmt.Sprintf("database %s takes no writes: the server is a hot standby (a read-only replica); give server.state the primary's address (a managed database's writer endpoint), or, during a failover, wait for it to complete (%s)", e.Database, rootCause(e.Err))
	}
	return fmt.Sprintf("database %s takes no writes: default_transaction_read_only is on for its sessions (set on the database, the role or the server); turn it off (ALTER DATABASE %s SET default_transaction_read_only = off, or ALTER ROLE ... RESET default_transaction_read_only) or give server.state a writable database (%s)", e.Database, quoteIdent(e.DBName), rootCause(e.Err))
}

func (e *ReadOnlyError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, state.ErrNoWrites) match.
func (e *ReadOnlyError) Is(target error) bool { return target == state.ErrNoWrites }

// readOnly returns err as a *ReadOnlyError when the database refused it
// as a write on a read-only server (25006), asking the database (for up
// to a second, on a session of its own) whether it is a standby; else err.
func (s *Store) readOnly(ctx context.Context, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "25006" {
		return err
	}
	var ro *ReadOnlyError
	if errors.As(err, &ro) {
		return err
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	var standby bool
	_ = s.pool.QueryRow(qctx, `SELECT pg_is_in_recovery()`).Scan(&standby)
	return &ReadOnlyError{Database: s.name, DBName: s.dbName, Standby: standby, Err: err}
}

// refused returns err, from the first session Open made, as a
// *ConnectError when the database refused the session for a reason a
// person must fix; else err.
func refused(cfg *pgxpool.Config, dsn string, err error) error {
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return err
	}
	cc := cfg.ConnConfig
	out := &ConnectError{Addr: fmt.Sprintf("%s:%d", cc.Host, cc.Port), Database: cc.Database, User: cc.User, Err: err}
	if strings.HasPrefix(cc.Host, "/") {
		out.Addr = cc.Host
	}
	mode := sslMode(dsn)
	var pe *pgconn.PgError
	var cv *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var host x509.HostnameError
	switch {
	case errors.As(err, &pe) && pe.Code == "28P01" && cc.Password == "":
		out.Why = "the database asks for a password and none was given"
		out.Fix = "give it in the DSN, PGPASSWORD, a pgpass file or server.state_password_file"
	case errors.As(err, &pe) && pe.Code == "28P01":
		out.Why = "the database refused the password"
		out.Fix = "give the user's password in the DSN, PGPASSWORD, a pgpass file or server.state_password_file (which wins)"
	case errors.As(err, &pe) && pe.Code == "28000":
		out.Why = pe.Message
		out.Fix = "check the user name in the DSN, and that the database's pg_hba.conf lets it connect from this host to this database"
	case errors.As(err, &pe) && pe.Code == "3D000":
		out.Why = "the database does not exist"
		out.Fix = fmt.Sprintf("create it (CREATE DATABASE %s OWNER %s) or name an existing database in the DSN's path", quoteIdent(cc.Database), quoteIdent(cc.User))
	case errors.As(err, &pe) && pe.Code == "42501":
		out.Why = pe.Message
		out.Fix = fmt.Sprintf("grant it (GRANT CONNECT ON DATABASE %s TO %s)", quoteIdent(cc.Database), quoteIdent(cc.User))
	case errors.As(err, &cv) || errors.As(err, &unknownCA) || errors.As(err, &host):
		out.Why = fmt.Sprintf("the server's TLS certificate was not accepted (sslmode=%s)", mode)
		out.Fix = "name the CA that signed it in sslrootcert=, connect by a host name the certificate carries (verify-full checks it), or use sslmode=require to encrypt without checking the certificate"
	case tlsRequired(cfg) && !Transient(err) && !errors.As(err, &pe):
		// pgx says "server refused TLS connection" in an untyped error: a
		// TLS-only connection that failed neither on the server's word,
		// nor on the network, nor on the certificate.
		out.Why = fmt.Sprintf("TLS could not be set up (sslmode=%s asks for it; a server with ssl off refuses it)", mode)
		out.Fix = "turn ssl on in the database's postgresql.conf, or, on a trusted network, use sslmode=prefer or disable"
	default:
		return err
	}
	return out
}

// tlsRequired reports whether every connection cfg tries is over TLS
// (sslmode require, verify-ca or verify-full).
func tlsRequired(cfg *pgxpool.Config) bool {
	if cfg.ConnConfig.TLSConfig == nil {
		return false
	}
	for _, f := range cfg.ConnConfig.Fallbacks {
		if f.TLSConfig == nil {
			return false
		}
	}
	return true
}

// sslMode is the DSN's sslmode, "prefer" (pgx's default) when it has none.
func sslMode(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		if m := u.Query().Get("sslmode"); m != "" {
			return m
		}
		return "prefer"
	}
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "sslmode="); ok {
			return v
		}
	}
	return "prefer"
}

// rootCause is the innermost error of err's chain that says something of
// its own: the server's error, or the TLS or network error, without pgx's
// layers of context (which name the user and the address again).
func rootCause(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// quoteIdent quotes name as an SQL identifier.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
