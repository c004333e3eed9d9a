package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// Write throughput of the file-backed store as the server runs it (WAL,
// synchronous=FULL: every write is on disk when the call returns). Each
// benchmark reports ops/s beside ns/op.

var benchT0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func benchStore(b *testing.B, opts ...Option) *Store {
	b.Helper()
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkAddDecision(b *testing.B) {
	s := benchStore(b)
	plan := []byte(`{"pool":"train","launch":[{"offering":"p5-use1-spot","count":2}],"reasons":["demand 16 GPUs > baseline 0 for 2m"],"notes":["budget 1234.50 of 5000 left"]}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, err := s.AddDecision(b.Context(), state.Decision{Pool: "train", Time: benchT0.Add(time.Duration(i) * time.Second), Summary: "launch 2 × p5-use1-spot", Plan: plan})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportOps(b)
}

func BenchmarkPutInstance(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// 100 instances updated in turn, as a tick updates a pool's.
		in := state.Instance{
			ID: fmt.Sprintf("i-%04d", i%100), Provider: "aws", Pool: "train", Offering: "p5-use1-spot",
			Zone: "us-east-1a", InstanceType: "p5.48xlarge", Market: "spot", PrivateIP: "10.0.3.17",
			State: state.InstanceRunning, GPUs: 8, BusyGPUs: i % 9, PricePerHour: 31.464, Billing: "per-second",
			LaunchedAt: benchT0, JoinedAt: benchT0.Add(3 * time.Minute), UpdatedAt: benchT0.Add(time.Duration(i) * time.Second),
		}
		if err := s.PutInstance(b.Context(), in); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportOps(b)
}

// BenchmarkCreateFinishIntent is one launch's bookkeeping: the intent
// before the cloud call and its outcome after (two durable writes).
func BenchmarkCreateFinishIntent(b *testing.B) {
	s := benchStore(b)
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
	reportOps(b)
}

// BenchmarkAddDecisionParallel: decisions of many pools written at once
// queue on the one writer connection.
func BenchmarkAddDecisionParallel(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.AddDecision(b.Context(), state.Decision{Pool: "train", Time: benchT0, Summary: "hold"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportOps(b)
}

func BenchmarkDecisionsPage(b *testing.B) {
	s := benchStore(b)
	for i := range 2000 {
		if _, err := s.AddDecision(b.Context(), state.Decision{Pool: []string{"train", "infer"}[i%2], Time: benchT0.Add(time.Duration(i) * time.Second), Summary: "hold", Plan: []byte(`{"hold":true}`)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		ds, err := s.Decisions(b.Context(), state.DecisionFilter{Pool: "train"})
		if err != nil || len(ds) != state.DefaultPageLimit {
			b.Fatal(len(ds), err)
		}
	}
	reportOps(b)
}

// BenchmarkAddDecisionSyncNormal is BenchmarkAddDecision with WithSync(SyncNormal).
func BenchmarkAddDecisionSyncNormal(b *testing.B) {
	s := benchStore(b, WithSync(SyncNormal))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.AddDecision(b.Context(), state.Decision{Pool: "train", Time: benchT0.Add(time.Duration(i) * time.Second), Summary: "hold"}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportOps(b)
}

// benchInstances returns n instances spread over pools pools.
func benchInstances(n, pools int) [][]state.Instance {
	out := make([][]state.Instance, pools)
	for i := range n {
		p := i % pools
		out[p] = append(out[p], state.Instance{
			ID: fmt.Sprintf("i-%05d", i), Provider: "aws", Pool: fmt.Sprint("pool-", p), Offering: "p5-use1-spot",
			Zone: "us-east-1a", InstanceType: "p5.48xlarge", Market: "spot", PrivateIP: "10.0.3.17",
			State: state.InstanceRunning, GPUs: 8, PricePerHour: 31.464, Billing: "per-second",
			LaunchedAt: benchT0, JoinedAt: benchT0.Add(3 * time.Minute),
		})
	}
	return out
}

// BenchmarkTickWrites is what one tick of 100 pools with 5,000 instances
// writes when each pool puts its instances and their spend in one batch
// each: 200 transactions, 10,000 rows.
func BenchmarkTickWrites(b *testing.B) {
	for _, sync := range []Sync{SyncFull, SyncNormal} {
		b.Run(string(sync), func(b *testing.B) {
			s := benchStore(b, WithSync(sync))
			pools := benchInstances(5000, 100)
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

// BenchmarkTickWritesOneByOne is BenchmarkTickWrites for one pool of 50
// instances, one call per row (PutInstance, RecordSpend): 100 transactions.
func BenchmarkTickWritesOneByOne(b *testing.B) {
	s := benchStore(b)
	ins := benchInstances(50, 1)[0]
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	tick := 0
	for b.Loop() {
		now := benchT0.Add(time.Duration(tick) * 10 * time.Second)
		for i := range ins {
			ins[i].UpdatedAt = now
			if err := s.PutInstance(b.Context(), ins[i]); err != nil {
				b.Fatal(err)
			}
			if err := s.RecordSpend(b.Context(), state.SpendEntry{Pool: ins[i].Pool, Provider: "aws", InstanceID: ins[i].ID, PeriodStart: month, Amount: float64(tick) * 0.087, At: now}); err != nil {
				b.Fatal(err)
			}
		}
		tick++
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkDecisionsSince lists decisions from a store holding a month of a
// 10-second tick for two pools (518,400 decisions), as GET /v1/decisions
// asks for them (limit 101: a page of 100 and whether there is a next).
// Each case names the filter; "1h page 2" passes the cursor of page 1 of a
// window of 360 decisions, "page 4" its last, shorter page, and "0s" a
// window with none in it.
func BenchmarkDecisionsSince(b *testing.B) {
	const perPool = 30 * 24 * 360
	s := benchStore(b)
	end := benchT0.Add(perPool * 10 * time.Second)
	plan := `{"pool":"train","holds":[{"reason":"demand 0 GPUs within baseline 64 for 2m"}],"notes":["budget 1234.50 of 5000 left"]}`
	if _, err := s.write.ExecContext(b.Context(), `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO decisions (pool, time, dry_run, summary, plan)
		SELECT iif(i % 2 = 0, 'train', 'infer'), ? + (i / 2) * 10000000000, 0, 'hold', CAST(? AS BLOB) FROM n`,
		2*perPool-1, nanos(benchT0), plan); err != nil {
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
