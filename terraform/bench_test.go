package terraform_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/terraform"
)

// burstOnce launches a one-instance burst and ends it.
func burstOnce(b *testing.B, ctx context.Context, p providers.Provider, token string) {
	insts, err := p.Launch(ctx, launchRequest("bench-"+token, token, 1))
	if err != nil {
		b.Fatalf("Launch: %v", err)
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		b.Fatalf("Terminate: %v", err)
	}
}

// BenchmarkOneInstanceBurst is a one-instance burst (launch, then
// terminate) through the Terraform provider and through the AWS SDK
// provider, on the same emulator: the difference is Terraform's own cost.
func BenchmarkOneInstanceBurst(b *testing.B) {
	ctx := context.Background()
	b.Run("terraform", func(b *testing.B) {
		e := startEmulator(b)
		p := newProvider(b, e.config(b, b.TempDir(), 5*time.Second))
		for i := 0; b.Loop(); i++ {
			burstOnce(b, ctx, p, fmt.Sprintf("tf-%d", i))
		}
	})
	b.Run("sdk", func(b *testing.B) {
		e := startEmulator(b)
		p, err := aws.New(ctx, config.ProviderConfig{
			Type: config.ProviderAWS, Region: region, Endpoint: e.srv.URL,
			Subnets: []config.Subnet{{Zone: zones[0], ID: "subnet-" + zones[0]}, {Zone: zones[1], ID: "subnet-" + zones[1]}},
			Image:   helperImage, SecurityGroups: []string{"sg-0123456789abcdef0"},
		}, providerName, aws.WithCredentials(staticCreds()), aws.WithRetry(10, 100*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		for i := 0; b.Loop(); i++ {
			burstOnce(b, ctx, p, fmt.Sprintf("sdk-%d", i))
		}
	})
}

// BenchmarkTenParallelBursts launches ten one-instance bursts at once
// through the Terraform provider, then ends them at once.
func BenchmarkTenParallelBursts(b *testing.B) {
	ctx := context.Background()
	e := startEmulator(b)
	p := newProvider(b, e.config(b, b.TempDir(), 5*time.Second))
	for i := 0; b.Loop(); i++ {
		var wg sync.WaitGroup
		for j := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				burstOnce(b, ctx, p, fmt.Sprintf("par-%d-%d", i, j))
			}()
		}
		wg.Wait()
	}
}

// BenchmarkListWithEndedBursts lists one live burst beside endedBursts
// bursts that ended a day ago (copies of one real ended burst's
// directory), after a Reconcile: List reads every burst directory left.
func BenchmarkListWithEndedBursts(b *testing.B) {
	const endedBursts = 2000
	ctx := context.Background()
	work, live := b.TempDir(), b.TempDir()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	cfg := terraform.Config{Module: "testdata/childmodule", Region: region, Zones: zones, WorkDir: work, Variables: map[string]any{"live": live}}
	p := newProvider(b, cfg, terraform.WithClock(clock))
	insts, err := p.Launch(ctx, launchRequest("", "bench-ended", 1))
	if err != nil {
		b.Fatalf("Launch: %v", err)
	}
	if err := p.Terminate(ctx, idsOf(insts)); err != nil {
		b.Fatalf("Terminate: %v", err)
	}
	if _, err := p.Launch(ctx, launchRequest("", "bench-live", 1)); err != nil {
		b.Fatalf("Launch: %v", err)
	}
	bursts := filepath.Join(work, "bursts")
	ended := filepath.Join(bursts, burstDirOf(b, bursts, "bench-ended"))
	for i := range endedBursts {
		copyRegularFiles(b, ended, filepath.Join(bursts, fmt.Sprintf("ended-%05d", i)))
	}
	now.Add(int64(24 * time.Hour))
	if err := p.Reconcile(ctx); err != nil {
		b.Fatalf("Reconcile: %v", err)
	}
	for b.Loop() {
		listed, err := p.List(ctx, providers.ListFilter{Cluster: "lifecycle"})
		if err != nil || len(listed) != 1 {
			b.Fatalf("List = %d instances, %v; want the live one", len(listed), err)
		}
	}
}

// burstDirOf is the name of the burst directory whose name starts with prefix.
func burstDirOf(b *testing.B, bursts, prefix string) string {
	ents, err := os.ReadDir(bursts)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			return e.Name()
		}
	}
	b.Fatalf("no burst directory %s* in %s", prefix, bursts)
	return ""
}

// copyRegularFiles copies the regular files under src to dst (links are
// left out: a burst's .terraform is one).
func copyRegularFiles(b *testing.B, src, dst string) {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		switch {
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		case !d.Type().IsRegular():
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		b.Fatal(err)
	}
}
