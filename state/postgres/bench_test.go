package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// Write throughput of the PostgreSQL store, unfenced and fenced by a held
// lease (each fenced write first checks the epoch in its transaction). The
// test server runs with fsync off: the figures measure round trips and
// statements, not the disk (state/sqlite's benchmarks wait for it).

var benchT0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func benchStores(b *testing.B) map[string]*Store {
	b.Helper()
	s, err := Open(b.Context(), newDB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	l, err := s.Lease("leader", "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	epoch, ok, err := l.Acquire(b.Context())
	if err != nil || !ok {
		b.Fatal(ok, err)
	}
	return map[string]*Store{"unfenced": s, "fenced": s.FencedBy("leader", func() (int64, bool) { return epoch, true })}
}

// BenchmarkCreateFinishIntent is one launch's bookkeeping: the intent
// before the cloud call and its outcome after.
func BenchmarkCreateFinishIntent(b *testing.B) {
	for _, kind := range []string{"unfenced", "fenced"} {
		b.Run(kind, func(b *testing.B) {
			s := benchStores(b)[kind]
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				id := fmt.Sprintf("intent-%d", i)
				in := state.Intent{ID: id, Pool: "train", Provider: "aws", Offering: "p5-use1-spot", Count: 2, Reason: "demand", ClientToken: "spw-" + id, CreatedAt: benchT0.Add(time.Duration(i) * time.Second)}
				if err := s.CreateIntent(b.Context(), in); err != nil {
					b.Fatal(err)
				}
				if err := s.FinishIntent(b.Context(), id, state.IntentDone, []string{"i-0a" + id, "i-0b" + id}, "", in.CreatedAt.Add(time.Second)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkTickWrites is what one tick of 100 pools with 5,000 instances
// writes (as state/sqlite's BenchmarkTickWrites): each pool puts its
// instances and their spend in one batch each, 200 transactions, 10,000
// rows.
func BenchmarkTickWrites(b *testing.B) {
	for _, kind := range []string{"unfenced", "fenced"} {
		b.Run(kind, func(b *testing.B) {
			s := benchStores(b)[kind]
			pools := make([][]state.Instance, 100)
			for i := range 5000 {
				p := i % 100
				pools[p] = append(pools[p], state.Instance{
					ID: fmt.Sprintf("i-%05d", i), Provider: "aws", Pool: fmt.Sprint("pool-", p), Offering: "p5-use1-spot",
					Zone: "us-east-1a", InstanceType: "p5.48xlarge", Market: "spot", PrivateIP: "10.0.3.17",
					State: state.InstanceRunning, GPUs: 8, PricePerHour: 31.464, Billing: "per-second",
					LaunchedAt: benchT0, JoinedAt: benchT0.Add(3 * time.Minute),
				})
			}
			month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			tick := 0
			for b.Loop() {
				now := benchT0.Add(time.Duration(tick) * 10 * time.Second)
				for _, ins := range pools {
					spend := make([]state.SpendEntry, len(ins))
					for i := range ins {
						ins[i].UpdatedAt, ins[i].BusyGPUs = now, tick%9
						spend[i] = state.SpendEntry{Pool: ins[i].Pool, Provider: "aws", InstanceID: ins[i].ID, PeriodStart: month, Amount: float64(tick) * 0.087, At: now}
					}
					if err := s.PutInstances(b.Context(), ins); err != nil {
						b.Fatal(err)
					}
					if err := s.RecordSpends(b.Context(), spend); err != nil {
						b.Fatal(err)
					}
				}
				tick++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
			b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkDecisionsSince lists decisions from a store holding a month of a
// 10-second tick for two pools (518,400 decisions, analysed), as GET
// /v1/decisions asks for them (limit 101: a page of 100 and whether there
// is a next); the cases are state/sqlite's BenchmarkDecisionsSince.
func BenchmarkDecisionsSince(b *testing.B) {
	const perPool = 30 * 24 * 360
	s, err := Open(b.Context(), newDB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	end := benchT0.Add(perPool * 10 * time.Second)
	plan := `{"pool":"train","holds":[{"reason":"demand 0 GPUs within baseline 64 for 2m"}],"notes":["budget 1234.50 of 5000 left"]}`
	if _, err := s.pool.Exec(b.Context(), `INSERT INTO decisions (pool, time, dry_run, summary, plan)
		SELECT CASE WHEN i % 2 = 0 THEN 'train' ELSE 'infer' END, $2::bigint + (i / 2) * 10000000000, false, 'hold', convert_to($3, 'UTF8')
		FROM generate_series(0, $1::bigint) AS i ORDER BY i`, 2*perPool-1, nanos(benchT0), plan); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(b.Context(), `ANALYZE decisions`); err != nil {
		b.Fatal(err)
	}
	page1, err := s.Decisions(b.Context(), state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), Limit: 101})
	if err != nil || len(page1) != 101 {
		b.Fatal(len(page1), err)
	}
	for _, tc := range []struct {
		name string
		f    state.DecisionFilter
		want int
	}{
		{"pool/all", state.DecisionFilter{Pool: "train", Limit: 101}, 101},
		{"pool/1h", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), Limit: 101}, 101},
		{"pool/1h page 2", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), BeforeID: page1[99].ID, Limit: 101}, 101},
		{"pool/1h page 4", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), BeforeID: page1[99].ID - 400, Limit: 101}, 60},
		{"pool/1h limit 1000", state.DecisionFilter{Pool: "train", Since: end.Add(-time.Hour), Limit: 1000}, 360},
		{"pool/24h", state.DecisionFilter{Pool: "train", Since: end.Add(-24 * time.Hour), Limit: 101}, 101},
		{"pool/30d", state.DecisionFilter{Pool: "train", Since: benchT0, Limit: 101}, 101},
		{"pool/0s", state.DecisionFilter{Pool: "train", Since: end, Limit: 101}, 0},
		{"every pool/1h", state.DecisionFilter{Since: end.Add(-time.Hour), Limit: 101}, 101},
		{"every pool/1h limit 1000", state.DecisionFilter{Since: end.Add(-time.Hour), Limit: 1000}, 720},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ds, err := s.Decisions(b.Context(), tc.f)
				if err != nil || len(ds) != tc.want {
					b.Fatalf("%d decisions (%v), want %d", len(ds), err, tc.want)
				}
			}
		})
	}
}

// BenchmarkSessionCheck is what finding a dead pooled session costs each
// call: the peek at the socket every session gets before use, against the
// ping (a round trip) pgx gives only to sessions idle for over a second,
// and a whole read (Intents of an empty store) for scale.
func BenchmarkSessionCheck(b *testing.B) {
	s, err := Open(b.Context(), newDB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	c, err := s.pool.Acquire(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Release()
	b.Run("peek", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !quiet(c.Conn().PgConn().Conn()) {
				b.Fatal("a live session is not quiet")
			}
		}
	})
	b.Run("ping", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Ping(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Intents(b.Context(), state.IntentFilter{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
