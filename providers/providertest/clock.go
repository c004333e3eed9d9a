package providertest

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// StepWhileWaiting runs f, moving clk on by step whenever something waits
// on it, until f returns; it fails the test if f is not done within a
// minute of real time.
func StepWhileWaiting(t *testing.T, clk *clocktesting.FakeClock, step time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			t.Fatal("still running after a minute")
		case <-tick.C:
			if clk.HasWaiters() {
				clk.Step(step)
			}
		}
	}
}
