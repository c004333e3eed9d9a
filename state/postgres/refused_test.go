package postgres

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
)

// TestOpenRefusedSaysWhatToDo: a DSN whose password, database or TLS
// settings the database refuses stopped a server with pgx's error, three
// layers deep ("migrate DSN: failed to connect to `user=postgres
// database=x`: 127.0.0.1:5432 (127.0.0.1): server error: FATAL: ..."),
// saying neither what was wrong in a person's words nor what to do. Open
// now fails with a *ConnectError naming the database, the address, the
// user, what is wrong and what would be valid, never Transient (a starting
// server does not wait a minute on it), without the password.
func TestOpenRefusedSaysWhatToDo(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	withTLS, err := fixture.StartPostgres()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(withTLS.Stop)
	ca, err := withTLS.EnableTLS()
	if err != nil {
		t.Fatal(err)
	}
	tlsDSN := func(params string) string {
		return strings.Replace(withTLS.DSN("postgres"), "sslmode=disable", params, 1)
	}
	for _, tc := range []struct {
		name string
		dsn  string
		want []string
	}{
		{"a wrong password", strings.Replace(pg.DSN(db), fixture.PostgresPassword, "wrong-secret", 1),
			[]string{`cannot connect to database "` + db + `" on ` + pg.Addr + ` as user "postgres": the database refused the password; give the user's password in the DSN, PGPASSWORD, a pgpass file or server.state_password_file`, "(SQLSTATE 28P01)"}},
		{"no password", pg.DSNWithoutPassword(db),
			[]string{"the database asks for a password and none was given; give it in the DSN, PGPASSWORD, a pgpass file or server.state_password_file"}},
		{"a missing database", pg.DSN("nosuch"),
			[]string{`cannot connect to database "nosuch"`, `the database does not exist; create it (CREATE DATABASE "nosuch" OWNER "postgres") or name an existing database in the DSN's path`, "(SQLSTATE 3D000)"}},
		{"TLS required of a server without it", strings.Replace(pg.DSN(db), "sslmode=disable", "sslmode=require", 1),
			[]string{"TLS could not be set up (sslmode=require asks for it; a server with ssl off refuses it); turn ssl on in the database's postgresql.conf, or, on a trusted network, use sslmode=prefer or disable", "server refused TLS connection)"}},
		{"a certificate of an unknown CA", tlsDSN("sslmode=verify-full"),
			[]string{"the server's TLS certificate was not accepted (sslmode=verify-full); name the CA that signed it in sslrootcert=", "certificate signed by unknown authority"}},
		{"a host name the certificate lacks", strings.Replace(tlsDSN("sslmode=verify-full&sslrootcert="+ca), "127.0.0.1", "localhost", 1),
			[]string{"the server's TLS certificate was not accepted (sslmode=verify-full)", "connect by a host name the certificate carries", "localhost"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No password but the DSN's: none from the environment or a
			// pgpass file.
			t.Setenv("PGPASSWORD", "")
			t.Setenv("PGPASSFILE", t.TempDir()+"/none")
			s, err := Open(t.Context(), tc.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			var ce *ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: %v (%T); want a *ConnectError", err, err)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Open: %s\nwant it to say: %s", msg, w)
				}
			}
			if strings.Contains(msg, "wrong-secret") || strings.Contains(msg, fixture.PostgresPassword) || strings.Contains(msg, "\n") {
				t.Errorf("Open: %q: want one line, without the password", msg)
			}
			if Transient(err) {
				t.Errorf("Transient(%v) = true; a starting server would wait a minute on it", err)
			}
		})
	}
}

// TestReadOnlyDatabaseSaysWhatToDo: a database with
// default_transaction_read_only on stopped a starting server, after a
// minute of "the database does not answer yet", with "cannot execute
// CREATE TABLE in a read-only transaction (SQLSTATE 25006)"; once running,
// its lease calls and writes failed with "cannot execute SELECT in a
// read-only transaction". Each now fails with a *ReadOnlyError naming the
// database, the setting and the statement that turns it off, still
// Transient (a failover completes).
func TestReadOnlyDatabaseSaysWhatToDo(t *testing.T) {
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	s := openStore(t, dsn)
	ctx := t.Context()
	setReadOnly(t, db, true)
	want := `takes no writes: default_transaction_read_only is on for its sessions (set on the database, the role or the server); turn it off (ALTER DATABASE "` + db + `" SET default_transaction_read_only = off`
	check := func(what string, err error) {
		t.Helper()
		var ro *ReadOnlyError
		if !errors.As(err, &ro) || ro.Standby || !strings.Contains(err.Error(), want) || !Transient(err) {
			t.Errorf("%s on a read-only database: %v (%T, Transient %v); want a *ReadOnlyError saying %q", what, err, err, Transient(err), want)
		}
	}
	_, err := Open(ctx, dsn)
	check("Open", err)
	_, _, err = lease(t, s, "a", 300*time.Millisecond).Acquire(ctx)
	check("Acquire", err)
	err = s.PutInstance(ctx, state.Instance{ID: "i-1", Provider: "aws", Pool: "train", State: state.InstanceRunning, GPUs: 8})
	check("PutInstance", err)
	if _, err := s.Instances(ctx, state.InstanceFilter{}); err != nil {
		t.Errorf("a read of a read-only database: %v; want it served", err)
	}
}

// TestHotStandbySaysWhatToDo: a hot standby given as the state (a
// replica's address by mistake) stopped a starting server, after a minute
// of "the database does not answer yet", with "cannot execute CREATE TABLE
// in a read-only transaction". Open now fails with a *ReadOnlyError saying
// the server is a hot standby and to give the primary's address.
func TestHotStandbySaysWhatToDo(t *testing.T) {
	t.Parallel() // a database of its own, and a standby server of its own copied from the package's
	dsn := newDB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	openStore(t, dsn) // the primary's schema, replicated
	standby, err := pg.StartStandby()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Stop)
	_, err = Open(t.Context(), standby.DSN(db))
	var ro *ReadOnlyError
	want := "takes no writes: the server is a hot standby (a read-only replica); give server.state the primary's address"
	if !errors.As(err, &ro) || !ro.Standby || !strings.Contains(err.Error(), want) || !Transient(err) {
		t.Fatalf("Open of a hot standby: %v (%T, Transient %v); want a *ReadOnlyError saying %q", err, err, Transient(err), want)
	}
}
