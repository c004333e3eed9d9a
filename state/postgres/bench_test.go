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
