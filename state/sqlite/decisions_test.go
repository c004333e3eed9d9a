package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
	"modernc.org/sqlite"
)

// fillDecisions adds perPool decisions to each of pools "train" and
// "infer", a 10-second tick apart from t0, interleaved (train's are the odd
// IDs), in one statement.
func fillDecisions(ctx context.Context, s *Store, perPool int, t0 time.Time) error {
	const plan = `{"pool":"train","holds":[{"reason":"demand 0 GPUs within baseline 64 for 2m"}],"notes":["budget 1234.50 of 5000 left"]}`
	_, err := s.write.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO decisions (pool, time, dry_run, summary, plan)
		SELECT iif(i % 2 = 0, 'train', 'infer'), ? + (i / 2) * 10000000000, 0, 'hold', CAST(? AS BLOB) FROM n`,
		2*perPool-1, nanos(t0), plan)
	return err
}

// pagesRead is how many database pages the connection has read (from its
// cache or the file) since the last call.
func pagesRead(t *testing.T, c *sql.Conn) int {
	t.Helper()
	n := 0
	err := c.Raw(func(dc any) error {
		for _, op := range []sqlite.DBStatusOp{sqlite.DBStatusCacheHit, sqlite.DBStatusCacheMiss} {
			v, _, err := dc.(sqlite.DBStatus).Status(op, true)
			if err != nil {
				return err
			}
			n += v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A listing of recent decisions reads about the rows it returns, however
// long the pool's history: `spillway decisions --since 5m` in an incident
// answered in 0.7 s a month of 10-second ticks into a pool's life (and
// longer each month), because SQLite walked the pool's IDs down from the
// newest, reading every row back to the first, whenever the window held
// fewer decisions than the page.
func TestDecisionsSinceReadsItsWindow(t *testing.T) {
	const perPool = 20000 // 55 hours of both pools
	s := openFileStore(t, filepath.Join(t.TempDir(), "spillway.db"), WithReaders(1))
	defer s.Close()
	ctx := t.Context()
	if err := fillDecisions(ctx, s, perPool, testT0); err != nil {
		t.Fatal(err)
	}
	end := testT0.Add(perPool * 10 * time.Second)
	c, err := s.read.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tablePages int
	if err := c.QueryRowContext(ctx, `SELECT count(*) FROM dbstat WHERE name = 'decisions'`).Scan(&tablePages); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, tc := range []struct {
		name string
		f    state.DecisionFilter
		want int
	}{
		{"pool, 5m (a window shorter than the page)", state.DecisionFilter{Pool: "train", Since: end.Add(-5 * time.Minute), Limit: 51}, 30},
		{"pool, 0s (an empty window)", state.DecisionFilter{Pool: "train", Since: end, Limit: 101}, 0},
		{"pool, 1h", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), Limit: 101}, 101},
		{"pool, 1h, the last page", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), BeforeID: 2*perPool - 2*300 + 1, Limit: 101}, 60},
		{"pool, 1h, limit 1000", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), Limit: 1000}, 360},
		{"pool, its whole history", state.DecisionFilter{Pool: "train", Since: testT0, Limit: 101}, 101},
		{"pool, no since", state.DecisionFilter{Pool: "train", Limit: 101}, 101},
		{"every pool, 5m", state.DecisionFilter{Since: end.Add(-5 * time.Minute), Limit: 101}, 60},
		{"every pool, 1h, a cursor past the window", state.DecisionFilter{Since: end.Add(-time.Hour), BeforeID: perPool, Limit: 101}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.read.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pagesRead(t, c)
			c.Close() // back to the pool, whose one connection Decisions takes
			got, err := s.Decisions(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			c, err = s.read.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			pages := pagesRead(t, c)
			want := referenceDecisions(t, c, tc.f)
			if gotIDs := decisionIDs(got); len(got) != tc.want || !slices.Equal(gotIDs, want) {
				t.Fatalf("got %d decisions %v, want %d: %v", len(got), clipIDs(gotIDs), tc.want, clipIDs(want))
			}
			// A row read costs about two page reads (the index's leaf and
			// the table's), and a listing reads at most limit rows twice.
			if limit := 4*tc.f.Limit + 100; pages > limit {
				t.Errorf("read %d pages of the database (the decisions table has %d) for %d decisions, want at most %d", pages, tablePages, len(got), limit)
			}
		})
	}
}

// referenceDecisions lists the IDs f asks for by reading every row.
func referenceDecisions(t *testing.T, c *sql.Conn, f state.DecisionFilter) []int64 {
	t.Helper()
	rows, err := c.QueryContext(t.Context(), `SELECT id FROM decisions NOT INDEXED
		WHERE (? = '' OR pool = ?) AND time >= ? AND (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?`,
		f.Pool, f.Pool, nanos(f.Since), f.BeforeID, f.BeforeID, f.Limit)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func decisionIDs(ds []state.Decision) []int64 {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func clipIDs(ids []int64) string {
	if len(ids) > 6 {
		return fmt.Sprintf("%v … %v", ids[:3], ids[len(ids)-3:])
	}
	return fmt.Sprint(ids)
}
