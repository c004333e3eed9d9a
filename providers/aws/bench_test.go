package aws_test

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
	"github.com/spillway-io/spillway/providers/aws"
)

// BenchmarkLaunch measures instances launched per second through the
// provider against the emulator with 50 ms injected latency per call, with
// client-side pacing off (with it on, EC2's buckets bound the rate at about
// 9 launches/s after the burst). A zone-pinned offering costs one
// RunInstances per launch; an offering over three zones costs a
// DescribeInstances (the client-token check) and a RunInstances.
func BenchmarkLaunch(b *testing.B) {
	for _, zone := range []string{"us-east-1a", ""} {
		for _, workers := range []int{1, 16, 64} {
			for _, count := range []int{1, 8} {
				name := fmt.Sprintf("zone=%s/workers=%d/count=%d", map[string]string{"": "any"}[zone]+zone, workers, count)
				b.Run(name, func(b *testing.B) { benchLaunch(b, zone, workers, count) })
			}
		}
	}
}

func benchLaunch(b *testing.B, zone string, workers, count int) {
	e := startEmulator(b, emulator.Options{Latency: 50 * time.Millisecond, Seed: 5})
	p := e.provider(b, aws.WithBuckets(nil))
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				_, err := p.Launch(context.Background(), providers.LaunchRequest{
					Offering:    policy.Offering{Provider: providerName, Zone: zone, InstanceType: gpuType},
					Count:       count,
					ClientToken: fmt.Sprintf("bench-%d", i),
					Tags:        map[string]string{providers.TagCluster: "bench"},
				})
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d launches failed", n)
	}
	b.ReportMetric(float64(b.N*count)/b.Elapsed().Seconds(), "instances/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "launches/s")
}
