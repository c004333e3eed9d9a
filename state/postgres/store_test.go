package postgres

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/statetest"
)

// pg is the package's PostgreSQL server, started once in TestMain; every
// test gets databases of its own on it.
var pg *fixture.Postgres

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	pg, err = fixture.StartPostgres()
	if err != nil {
		fmt.Fprintln(os.Stderr, "state/postgres tests need a PostgreSQL server:", err)
		fixture.RemovePostgresTemplate()
		return 1
	}
	code := m.Run()
	pg.Stop()
	fixture.RemovePostgresTemplate()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			return 1
		}
	}
	return code
}

// newDB returns the DSN of a new, empty database.
func newDB(t testing.TB) string {
	t.Helper()
	name, err := pg.CreateDatabase("t")
	if err != nil {
		t.Fatal(err)
	}
	return pg.DSN(name)
}

func open(ctx context.Context, dsn string) (state.Store, error) {
	s, err := Open(ctx, dsn)
	if err != nil {
		return nil, err // not a typed nil in a non-nil interface
	}
	return s, nil
}

func TestContract(t *testing.T) {
	statetest.RunDurable(t, statetest.Durable{
		New:  func(t *testing.T) string { return newDB(t) },
		Open: open,
	})
}
