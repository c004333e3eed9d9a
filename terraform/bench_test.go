package terraform_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
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
