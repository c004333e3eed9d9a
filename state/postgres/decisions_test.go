package postgres

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// fillDecisions adds perPool decisions to each of pools "train" and
// "infer", a 10-second tick apart from t0, interleaved (train's are the odd
// IDs), then analyses the table as autovacuum would.
func fillDecisions(ctx context.Context, s *Store, perPool int, t0 time.Time) error {
	const plan = `{"pool":"train","holds":[{"reason":"demand 0 GPUs within baseline 64 for 2m"}],"notes":["budget 1234.50 of 5000 left"]}`
	if _, err := s.pool.Exec(ctx, `INSERT INTO decisions (pool, time, dry_run, summary, plan)
		SELECT CASE WHEN i % 2 = 0 THEN 'train' ELSE 'infer' END, $2::bigint + (i / 2) * 10000000000, false, 'hold', convert_to($3, 'UTF8')
		FROM generate_series(0, $1::bigint) AS i ORDER BY i`, 2*perPool-1, nanos(t0), plan); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `ANALYZE decisions`)
	return err
}

// A listing of recent decisions reads about the rows it returns, however
// long the pool's history: GET /v1/decisions?pool=train&since=1h took 0.46 s
// a month of 10-second ticks into the pool's life (its second page 1.6 s),
// because the only way to the pool's rows was down its IDs from the newest.
func TestDecisionsSinceReadsItsWindow(t *testing.T) {
	const perPool = 15000 // ANALYZE's sample is then the whole table: the plans do not vary
	s, err := Open(t.Context(), newDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	t0 := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := fillDecisions(ctx, s, perPool, t0); err != nil {
		t.Fatal(err)
	}
	end := t0.Add(perPool * 10 * time.Second)
	for _, tc := range []struct {
		name string
		f    state.DecisionFilter
		want int
	}{
		{"pool, 5m (a window shorter than the page)", state.DecisionFilter{Pool: "train", Since: end.Add(-5 * time.Minute), Limit: 51}, 30},
		{"pool, 0s (an empty window)", state.DecisionFilter{Pool: "train", Since: end, Limit: 101}, 0},
		{"pool, 1h", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), Limit: 101}, 101},
		{"pool, 1h, the second page", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), BeforeID: 2*perPool - 2*100 + 1, Limit: 101}, 101},
		{"pool, 1h, the last page", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), BeforeID: 2*perPool - 2*300 + 1, Limit: 101}, 60},
		{"pool, 1h, limit 1000", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), Limit: 1000}, 360},
		{"pool, its whole history", state.DecisionFilter{Pool: "train", Since: t0, Limit: 101}, 101},
		{"pool, no since", state.DecisionFilter{Pool: "train", Limit: 101}, 101},
		{"every pool, 5m", state.DecisionFilter{Since: end.Add(-5 * time.Minute), Limit: 101}, 60},
		{"every pool, 1h, a cursor past the window", state.DecisionFilter{Since: end.Add(-time.Hour), BeforeID: perPool, Limit: 101}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Decisions(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("got %d decisions, want %d", len(got), tc.want)
			}
			for i, d := range got {
				if (tc.f.Pool != "" && d.Pool != tc.f.Pool) || d.Time.Before(tc.f.Since) || (tc.f.BeforeID != 0 && d.ID >= tc.f.BeforeID) || (i > 0 && d.ID >= got[i-1].ID) {
					t.Fatalf("decision %d (ID %d, pool %s, %s) does not belong at %d of the page", i, d.ID, d.Pool, d.Time, i)
				}
			}
			q, args := decisionsQuery(tc.f, tc.f.Limit)
			var plan []struct {
				Plan struct {
					Hit  int `json:"Shared Hit Blocks"`
					Read int `json:"Shared Read Blocks"`
				}
			}
			var out []byte
			if err := s.pool.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+q, args...).Scan(&out); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &plan); err != nil || len(plan) != 1 {
				t.Fatalf("EXPLAIN: %v: %s", err, out)
			}
			// A row read costs a few block reads (index pages and the
			// table's); a walk down the pool's IDs to its first reads
			// thousands.
			if pages, limit := plan[0].Plan.Hit+plan[0].Plan.Read, 3*tc.f.Limit+100; pages > limit {
				t.Errorf("read %d blocks for %d decisions, want at most %d; the plan:\n%s", pages, len(got), limit, out)
			}
		})
	}
}
