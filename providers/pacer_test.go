package providers

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestPacer(t *testing.T) {
	// A bucket that refills once every ~17 minutes: whatever is not in the
	// bucket now cannot be had before a short deadline.
	slow := Bucket{Burst: 5, Rate: 0.001}
	tests := []struct {
		name    string
		pacer   *Pacer
		bucket  string
		takes   []int
		wantErr bool // for the last take
	}{
		{name: "nil pacer paces nothing", pacer: nil, bucket: "RunInstances", takes: []int{1000, 1000}},
		{name: "unconfigured bucket is not paced", pacer: NewPacer(map[string]Bucket{"mutating": slow}), bucket: "describe", takes: []int{100, 100}},
		{name: "burst is available at once", pacer: NewPacer(map[string]Bucket{"mutating": slow}), bucket: "mutating", takes: []int{2, 3}},
		{name: "beyond the burst waits past the deadline", pacer: NewPacer(map[string]Bucket{"mutating": slow}), bucket: "mutating", takes: []int{5, 1}, wantErr: true},
		{name: "a request larger than the bucket is paced in instalments", pacer: NewPacer(map[string]Bucket{"instances": slow}), bucket: "instances", takes: []int{6}, wantErr: true},
		{name: "zero-rate buckets are ignored", pacer: NewPacer(map[string]Bucket{"x": {Burst: 0, Rate: 1}}), bucket: "x", takes: []int{50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			for _, n := range tt.takes {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				err = tt.pacer.Wait(ctx, tt.bucket, n)
				cancel()
				if err != nil {
					break
				}
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Wait error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Wait error %v does not wrap context.DeadlineExceeded", err)
			}
		})
	}
}

func TestPacerCancelled(t *testing.T) {
	p := NewPacer(map[string]Bucket{"m": {Burst: 1, Rate: 0.001}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx, "m", 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context = %v, want context.Canceled", err)
	}
	if got := p.Buckets()["m"]; got.Burst != 1 || got.Rate != 0.001 {
		t.Errorf("Buckets()[m] = %+v", got)
	}
}

// TestPacerWaitsOnItsClock: tokens beyond the burst come as the injected
// clock moves, not as wall time passes.
func TestPacerWaitsOnItsClock(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := NewPacer(map[string]Bucket{"m": {Burst: 2, Rate: 0.5}}, WithPacerClock(fc))
	if err := p.Wait(context.Background(), "m", 2); err != nil {
		t.Fatalf("the burst: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait(context.Background(), "m", 1) }()
	for !fc.HasWaiters() {
		runtime.Gosched()
	}
	fc.Step(time.Second) // half a token: still waiting
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v after 1s of a 2s refill", err)
	default:
	}
	fc.Step(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Wait after the refill: %v", err)
	}

	// A cancelled wait gives its reservation back: the next token is due
	// 2s after the last one was taken, not 4s.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- p.Wait(ctx, "m", 1) }()
	for !fc.HasWaiters() {
		runtime.Gosched()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait = %v, want context.Canceled", err)
	}
	go func() { done <- p.Wait(context.Background(), "m", 1) }()
	for !fc.HasWaiters() {
		runtime.Gosched()
	}
	fc.Step(2 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Wait after a cancelled one: %v", err)
	}
}
