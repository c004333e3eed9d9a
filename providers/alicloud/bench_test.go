package alicloud

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// BenchmarkLaunch measures instances launched per second through the
// provider against the ECS emulator answering every call after 50 ms, one
// instance per Launch, from a fixed number of concurrent callers. Unpaced,
// the bound is concurrency × 1/latency (each Launch is one DescribeInstances
// intent look-up plus one RunInstances); with the default pacing it is the
// RunInstances bucket.
func BenchmarkLaunch(b *testing.B) {
	for _, bc := range []struct {
		name        string
		concurrency int
		paced       bool
	}{
		{"unpaced/concurrency=1", 1, false},
		{"unpaced/concurrency=16", 16, false},
		{"unpaced/concurrency=64", 64, false},
		{"paced-default/concurrency=16", 16, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, srv := startEmulator(b, emulator.Options{Latency: 50 * time.Millisecond})
			var opts []Option
			if !bc.paced {
				opts = append(opts, WithRateLimit(ActionRunInstances, 0, 1), WithRateLimit(ActionDescribeInstances, 0, 1))
			}
			p := newEmulatorProvider(b, srv.URL, opts...)
			offering := policy.Offering{Provider: "alicloud", Region: emuRegion, InstanceType: emuType, Market: policy.MarketOnDemand}
			var (
				next     atomic.Int64
				launched atomic.Int64
				wg       sync.WaitGroup
				errOnce  sync.Once
				firstErr error
			)
			b.ResetTimer()
			start := time.Now()
			for range bc.concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						insts, err := p.Launch(context.Background(), providers.LaunchRequest{
							Offering: offering, Count: 1, ClientToken: fmt.Sprintf("bench-%d", i),
							Tags: map[string]string{providers.TagCluster: "bench", providers.TagPool: "gpu"},
						})
						if err != nil {
							errOnce.Do(func() { firstErr = err })
							return
						}
						launched.Add(int64(len(insts)))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			b.ReportMetric(float64(launched.Load())/elapsed.Seconds(), "instances/s")
		})
	}
}
