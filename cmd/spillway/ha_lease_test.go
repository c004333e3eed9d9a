package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/internal/fixture"
)

// countStatements has PostgreSQL count the statements run on db
// (pg_stat_statements): a restart loads the module, before any server
// connects.
func countStatements(t *testing.T) func(pg *fixture.Postgres, db string) {
	return func(pg *fixture.Postgres, db string) {
		t.Helper()
		ctx := context.Background()
		execSQL(t, ctx, pg.DSN("postgres"), `ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`)
		if err := pg.Restart(); err != nil {
			t.Fatal(err)
		}
		execSQL(t, ctx, pg.DSN(db), `CREATE EXTENSION pg_stat_statements`)
	}
}

func execSQL(t *testing.T, ctx context.Context, dsn, stmt string) {
	t.Helper()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// leaseReads is how many times the servers read who holds the lease (the
// lease's SELECT, counted by pg_stat_statements) while do ran. A count
// across a change of term, at whose end the elector reads the lease too,
// is taken again; the least of three such counts is kept (reads of the
// follower's sweep only add).
func leaseReads(t *testing.T, c *pgx.Conn, do func()) int64 {
	t.Helper()
	ctx := context.Background()
	read := func() (reads, epoch int64) {
		if err := c.QueryRow(ctx, `SELECT (SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE 'SELECT holder, epoch, acquired, expires_at%'),
			(SELECT epoch FROM leader_lease)`).Scan(&reads, &epoch); err != nil {
			t.Fatal(err)
		}
		return reads, epoch
	}
	// The follower's sweep reads the lease too, to count the rows of
	// pools the leader lacks, and may fall inside a measure: such reads
	// only add, so the least of three measures within one term is the
	// request's own (one more each time would still show).
	n, measured := int64(-1), 0
	eventually(t, "three counts of lease reads, each within one term", func() bool {
		r0, e0 := read()
		do()
		r1, e1 := read()
		if e0 == e1 {
			if measured++; n < 0 || r1-r0 < n {
				n = r1 - r0
			}
		}
		return measured == 3
	})
	return n
}

// TestHAFollowerReadsTheLeaseOncePerRequest: a follower read who leads,
// a query of up to a second, for each pool of a request: GET /v1/status
// with three pools read it four times, GET /v1/bursts once per pool with
// an active burst, and a pool's detail and a burst's read it where
// nothing used it (a pool without floors, a burst cancelled). Each reads
// it at most once, and only where it is said. The status page, which
// calls for the status and then each pool's detail, read it once more for
// each pool with floors (3 times for 2): it reads it once too. And the follower's floors,
// in a pool's detail, /v1/status, spillway status and its page, said nothing of what they wait
// for, where its bursts say only the leader knows: each floor carries
// waiting_unknown, naming the leader, and the page says it once under
// the floors, as spillway status does.
func TestHAFollowerReadsTheLeaseOncePerRequest(t *testing.T) {
	p := startHAPairWith(t, "ha_lease_reads", 3, countStatements(t))
	p.emu.SetStock("p4d.24xlarge", "us-east-1a", 0)
	ctx := context.Background()
	c := p.client(p.follow)
	var ended api.Burst
	for i, pool := range []string{"train", "train2", "train2"} {
		b, err := c.CreateBurst(ctx, api.CreateBurstRequest{Pool: pool, GPUs: 8, For: api.Duration(time.Hour), Reason: "incident 11"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if ended, err = c.CancelBurst(ctx, b.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn, err := pgx.Connect(ctx, p.pg.DSN(p.db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	want := "ask the leader, " + p.leader
	var detail api.PoolDetail
	for _, tc := range []struct {
		what  string
		reads int64
		do    func() error
	}{
		{"GET /v1/status, 3 pools", 1, func() (err error) { _, err = c.Status(ctx); return }},
		{"GET /v1/bursts, 2 pools", 1, func() (err error) { _, err = c.Bursts(ctx, "", false); return }},
		{"GET /v1/pools/train", 1, func() (err error) { detail, err = c.Pool(ctx, "train"); return }},
		{"GET /v1/pools/train3, no floor", 0, func() (err error) { _, err = c.Pool(ctx, "train3"); return }},
		{"GET /v1/bursts/" + ended.ID + ", cancelled", 0, func() (err error) { _, err = c.Burst(ctx, ended.ID); return }},
		{"the status page, 3 pools, 2 with floors", 1, func() error { followerPage(t, p); return nil }},
	} {
		if n := leaseReads(t, conn, func() {
			if err := tc.do(); err != nil {
				t.Fatalf("%s: %v", tc.what, err)
			}
		}); n != tc.reads {
			t.Errorf("%s on the follower read the lease %d times, want %d", tc.what, n, tc.reads)
		}
	}
	if len(detail.Floors) != 1 || !strings.Contains(detail.Floors[0].WaitingUnknown, "knows what the floor waits for; "+want) {
		t.Errorf("the follower's floors of train: %+v; want one, whose waiting_unknown says %q", detail.Floors, want)
	}
	t.Setenv("SPILLWAY_TOKEN", p.token)
	out, _, err := runCLI(t, "status", "--server", p.follow.url)
	if err != nil || !strings.Contains(out, "  what the floors wait for: this server (") || !strings.Contains(out, want) {
		t.Errorf("spillway status on the follower: %v\n%s\nwant it saying only the leader knows what the floors wait for, naming it", err, out)
	}
	page := followerPage(t, p)
	if !strings.Contains(page, `id="floors-unknown-train">What the floors wait for: this server (`) || !strings.Contains(page, want) {
		t.Errorf("the follower's page does not say only the leader knows what the floors wait for, naming it:\n%s", page)
	}
}

// followerPage is the follower's status page, logged in with p's token.
func followerPage(t *testing.T, p *haPair) string {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := hc.PostForm(p.follow.url+"/login", url.Values{"token": {p.token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("logging in to the follower's page: %d, %v\n%s", resp.StatusCode, err, body)
	}
	return string(body)
}
