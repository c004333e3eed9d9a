package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/spillway-io/spillway/state"
)

// migrationsUpTo is the embedded migrations 1 to n, with the files in
// replaced (by name) as an older build held them.
func migrationsUpTo(t testing.TB, n int, replaced map[string]string) fs.FS {
	t.Helper()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, m := range ms[:n] {
		file := fmt.Sprintf("%04d_%s.sql", m.version, m.name)
		data := m.sql
		if r, ok := replaced[file]; ok {
			data = r
		}
		out["migrations/"+file] = &fstest.MapFile{Data: []byte(data)}
	}
	return out
}

// storeAt is a Store on dsn whose schema an older build brought to version
// n (the decisions table without 0009's indexes for n = 8), holding rows
// decisions.
func storeAt(t *testing.T, dsn string, n, rows int) *Store {
	t.Helper()
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := &Store{pool: pool, name: "test", log: slog.New(slog.DiscardHandler)}
	if err := s.migrate(ctx, time.Now, migrationsUpTo(t, n, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO decisions (pool, time, dry_run, summary, plan)
		SELECT 'pool-' || (g % 4), g::bigint * 1000000000, false, 'launch 1', '\x00'::bytea FROM generate_series(1, $1::int) g`, rows); err != nil {
		t.Fatal(err)
	}
	return s
}

// wantDecisionIndexes checks that 0009's two indexes are there, valid, on
// the columns 0009 names, and that version 9 is recorded.
func wantDecisionIndexes(t *testing.T, ctx context.Context, q querier) {
	t.Helper()
	want := map[string]string{
		"decisions_by_pool_time": "CREATE INDEX decisions_by_pool_time ON public.decisions USING btree (pool, \"time\", id)",
		"decisions_by_time":      "CREATE INDEX decisions_by_time ON public.decisions USING btree (\"time\")",
	}
	for name, def := range want {
		var got string
		var valid bool
		err := q.QueryRow(ctx, `SELECT pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`, name).Scan(&got, &valid)
		if err != nil || got != def || !valid {
			t.Errorf("index %s: %q valid %v (%v); want %q, valid", name, got, valid, err, def)
		}
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v < 9 {
		t.Errorf("schema version %d (%v), want 9 or more", v, err)
	}
}

// TestMigration9KeepsDecisionWritesGoing upgrades a database from version
// 8 while the other server of an HA pair writes decisions. Migration 9
// builds two indexes on the decisions table: built inside the migration's
// transaction, that blocked every decision write for the whole build (17 s
// on 3 million rows, measured); built CONCURRENTLY, writes go on. The test
// holds the build at its start with a write transaction left open, and
// checks that another write still goes through meanwhile.
func TestMigration9KeepsDecisionWritesGoing(t *testing.T) {
	ctx := t.Context()
	dsn := newDB(t)
	other := storeAt(t, dsn, 8, 1000)
	open, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close(context.WithoutCancel(ctx))
	tx, err := open.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `INSERT INTO decisions (pool, time, dry_run, summary, plan) VALUES ('pool-0', 1, false, 'open', '')`); err != nil {
		t.Fatal(err)
	}
	upgraded := &Store{pool: other.pool, name: "test", log: slog.New(slog.DiscardHandler)}
	migrated := make(chan error, 1)
	go func() { migrated <- upgraded.migrate(ctx, time.Now, migrationFiles) }()
	building := func() bool {
		var n int
		// Not on open: inside its transaction, pg_stat_activity stays
		// as it was first read.
		if err := other.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%CREATE INDEX%' AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	if !pollUntil(t, 30*time.Second, building) {
		tx.Rollback(ctx)
		t.Fatalf("the migration did not reach its index build in 30s: %v", <-migrated)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := other.AddDecision(wctx, state.Decision{Pool: "pool-1", Time: time.Unix(1_800_000_000, 0), Summary: "during the upgrade"}); err != nil {
		t.Errorf("a decision write during migration 9's index build: %v after %v, want it done at once", err, time.Since(start).Round(time.Millisecond))
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-migrated; err != nil {
		t.Fatal(err)
	}
	wantDecisionIndexes(t, ctx, other.pool)
}

// TestMigration9RebuildsLeftoverIndexes: a server that died during migration
// 9's build leaves an index INVALID (unused by queries, still updated by
// every write), or built but not recorded; the next start drops it and
// builds it again.
func TestMigration9RebuildsLeftoverIndexes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		leftover string // statements leaving the index a crash would
		wantErr  bool   // of leftover
	}{
		{"INVALID after a failed concurrent build",
			`CREATE UNIQUE INDEX CONCURRENTLY decisions_by_time ON decisions (pool)`, true},
		{"built, migration not recorded",
			`CREATE INDEX decisions_by_pool_time ON decisions (pool)`, false},
		{"both",
			`CREATE INDEX decisions_by_pool_time ON decisions (pool, time, id); CREATE INDEX decisions_by_time ON decisions (time)`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := storeAt(t, newDB(t), 8, 100)
			if _, err := s.pool.Exec(ctx, tc.leftover); (err != nil) != tc.wantErr {
				t.Fatalf("leaving an index behind: %v", err)
			}
			if err := s.migrate(ctx, time.Now, migrationFiles); err != nil {
				t.Fatal(err)
			}
			wantDecisionIndexes(t, ctx, s.pool)
		})
	}
}

// TestMigration9FormerChecksum: a database that an earlier build took to
// version 9 (0009 built its indexes in the transaction then) opens.
func TestMigration9FormerChecksum(t *testing.T) {
	ctx := t.Context()
	dsn := newDB(t)
	former, err := os.ReadFile("testdata/0009_decisions_by_time.former.sql")
	if err != nil {
		t.Fatal(err)
	}
	earlier := &Store{name: "test", log: slog.New(slog.DiscardHandler)}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	earlier.pool = pool
	fsys := migrationsUpTo(t, 9, map[string]string{"0009_decisions_by_time.sql": string(former)})
	if err := earlier.migrate(ctx, time.Now, fsys); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("a database migrated to 9 by an earlier build: %v", err)
	}
	s.Close()
}
