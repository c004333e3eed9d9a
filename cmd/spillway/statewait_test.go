package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
)

// TestHAServerWaitsForItsDatabase: a server started while its PostgreSQL
// does not answer (cut off behind a proxy, as during a database failover)
// keeps trying and starts once it answers; one whose password the database
// refuses exits at once, without waiting.
func TestHAServerWaitsForItsDatabase(t *testing.T) {
	pg, db := postgresDatabase(t, "wait")
	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cfgFor := func(dsn string) *config.Config {
		return &config.Config{Cluster: "wait", Server: config.Server{State: dsn,
			LeaseTTL: policy.Duration(2 * time.Second), LeaseRenew: policy.Duration(500 * time.Millisecond)}}
	}
	viaProxy := strings.Replace(pg.DSN(db), pg.Addr, proxy.Addr, 1)

	proxy.Cut()
	var logs syncBuffer
	deps := serverDeps{log: slog.New(slog.NewTextHandler(&logs, nil)), clock: clock.RealClock{}}
	done := make(chan error, 1)
	go func() {
		st, _, err := openHA(context.Background(), cfgFor(viaProxy), deps)
		if err == nil {
			st.Close()
		}
		done <- err
	}()
	// Once it has said it waits (a try failed), the database comes back.
	eventually(t, "the server says it waits for its database", func() bool {
		return strings.Contains(logs.String(), "the database does not answer yet")
	})
	proxy.Restore()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the server did not start once its database answered: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the server had not started 30s after its database answered:\n%s", logs.String())
	}

	wrong := strings.Replace(pg.DSN(db), fixture.PostgresPassword, "not-the-password", 1)
	began := time.Now()
	_, _, err = openHA(context.Background(), cfgFor(wrong), serverDeps{log: slog.New(slog.DiscardHandler), clock: clock.RealClock{}})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" || time.Since(began) > 10*time.Second {
		t.Fatalf("a refused password: %v after %s, want the database's 28P01 at once", err, time.Since(began))
	}
}

// TestHAServerSaysNothingListens: a server whose server.state names an
// address where nothing listens (PostgreSQL not started, a wrong port)
// gave up after a minute with "still failing after 16 tries ... connect:
// connection refused", and no word of what to check. It says so.
func TestHAServerSaysNothingListens(t *testing.T) {
	addr := strings.TrimPrefix(closedURL(t), "http://")
	cfg := &config.Config{Cluster: "closed", Server: config.Server{State: "postgres://postgres@" + addr + "/spillway?sslmode=disable",
		LeaseTTL: policy.Duration(2 * time.Second), LeaseRenew: policy.Duration(500 * time.Millisecond)}}
	clk := steppingClock{clocktesting.NewFakeClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))}
	_, _, err := openHA(context.Background(), cfg, serverDeps{log: slog.New(slog.DiscardHandler), clock: clk})
	if err == nil || !strings.Contains(err.Error(), "still failing after") ||
		!strings.Contains(err.Error(), "; nothing accepts connections at server.state's host and port: start PostgreSQL there") {
		t.Fatalf("a state where nothing listens: %v, want the tries given up, saying nothing listens", err)
	}
}

// steppingClock is a fake clock that passes each wait asked of it at once,
// moving its time on by the wait.
type steppingClock struct{ *clocktesting.FakeClock }

func (c steppingClock) After(d time.Duration) <-chan time.Time {
	c.Step(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

// TestRetryTransient: transient failures are tried again, backing off,
// until one succeeds or the patience is spent; a lasting failure or a
// cancelled context ends it at once.
func TestRetryTransient(t *testing.T) {
	transient := &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}
	refused := &pgconn.PgError{Code: "28P01", Message: "password authentication failed"}
	for _, tt := range []struct {
		name      string
		errs      []error // what each try returns; past the end, the last
		patience  time.Duration
		wantTries int
		wantErr   error
	}{
		{"succeeds on the third try", []error{transient, transient, nil}, time.Minute, 3, nil},
		{"a lasting failure at once", []error{refused}, time.Minute, 1, refused},
		{"an invalid value at once", []error{&state.InvalidError{Field: "postgres DSN"}}, time.Minute, 1, state.ErrInvalid},
		// Waits of 250ms, 500ms and 1s fit in 2s; the next, 2s, does not.
		{"gives up past its patience", []error{transient}, 2 * time.Second, 4, transient},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clk := steppingClock{clocktesting.NewFakeClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))}
			tries := 0
			err := retryTransient(context.Background(), clk, slog.New(slog.DiscardHandler), "test", tt.patience, func(context.Context) error {
				tries++
				return tt.errs[min(tries, len(tt.errs))-1]
			})
			if tries != tt.wantTries || !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
				t.Fatalf("%d tries, err %v; want %d tries, err %v", tries, err, tt.wantTries, tt.wantErr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := retryTransient(ctx, clock.RealClock{}, slog.New(slog.DiscardHandler), "test", time.Minute, func(ctx context.Context) error { return ctx.Err() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled context: %v", err)
	}
}

// TestHAServerOverAUnixSocket: a server.state naming PostgreSQL's Unix
// socket (?host=FOLDER) passes the config's check and opens.
func TestHAServerOverAUnixSocket(t *testing.T) {
	pg, db := postgresDatabase(t, "socket")
	dsn := pg.SocketDSN(db)
	data := fmt.Sprintf("cluster: socket\nserver:\n  state: %q\nproviders:\n  aws: {type: aws, region: us-east-1}\npools:\n  - name: train\n    offerings: [{provider: aws, instance_type: p5.48xlarge}]\n", dsn)
	cfg, err := config.Parse("socket.yaml", []byte(data))
	if err != nil {
		t.Fatalf("config with state %s: %v", postgres.Redact(dsn), err)
	}
	st, _, err := openHA(t.Context(), cfg, serverDeps{log: slog.New(slog.DiscardHandler), clock: clock.RealClock{}})
	if err != nil {
		t.Fatalf("open the state over the socket: %v", err)
	}
	st.Close()
}

// TestHAServerRefusesAnotherClustersDatabase: the state's rows are not kept
// apart by cluster, so a server whose server.state holds another cluster's
// state exits at once (a config mistake, exit 2) with a message naming
// both clusters' leases, rather than leading beside the other cluster's
// leader and ending its instances.
func TestHAServerRefusesAnotherClustersDatabase(t *testing.T) {
	pg, db := postgresDatabase(t, "clusters")
	cfgFor := func(cluster string) *config.Config {
		return &config.Config{Cluster: cluster, Server: config.Server{State: pg.DSN(db),
			LeaseTTL: policy.Duration(2 * time.Second), LeaseRenew: policy.Duration(500 * time.Millisecond)}}
	}
	deps := serverDeps{log: slog.New(slog.DiscardHandler), clock: clock.RealClock{}}
	st, _, err := openHA(t.Context(), cfgFor("east"), deps)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, _, err = openHA(t.Context(), cfgFor("west"), deps)
	if err == nil {
		st.Close()
		t.Fatal("a server of cluster west opened cluster east's database, want it refused")
	}
	code, msg := exitStatus(err)
	if code != exitUsage || !strings.Contains(msg, `cluster "west"`) || !strings.Contains(msg, `"spillway/east"`) {
		t.Fatalf("a server of cluster west on cluster east's database: exit %d %q, want exit %d naming both", code, msg, exitUsage)
	}
	st, _, err = openHA(t.Context(), cfgFor("east"), deps)
	if err != nil {
		t.Fatalf("a server of cluster east again: %v", err)
	}
	st.Close()
}
