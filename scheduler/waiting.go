package scheduler

import (
	"context"
	"sync"
	"time"
)

// inFlight is a pool's cloud calls in flight in its tick, so that the API
// can say what a tick slow to end is waiting on (a figure hours old read
// as a stuck server while the tick waited on a cloud's 10-minute call).
type inFlight struct {
	mu    sync.Mutex
	next  int
	calls map[int]call
	// hooks is the drain hooks running, by instance, since when: a tick
	// waits on them (up to config.MaxDrainHookTimeout), and one cut off
	// there may run on past its tick.
	hooks map[string]time.Time
}

// hookRunning records that the pool's drain hook runs for the instance id
// from now until the func it returns is called.
func (s *Scheduler) hookRunning(pr *poolRun, id string) func() {
	f := &pr.calls
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hooks == nil {
		f.hooks = map[string]time.Time{}
	}
	f.hooks[id] = s.clock.Now()
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.hooks, id)
	}
}

// DrainHooks returns the instances of the pool whose drain hook is running
// now, and since when: until it returns, an instance is not yet recorded
// as draining.
func (s *Scheduler) DrainHooks(pool string) map[string]time.Time {
	pr, found := s.pools[pool]
	if !found {
		return nil
	}
	f := &pr.calls
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]time.Time, len(f.hooks))
	for id, since := range f.hooks {
		out[id] = since
	}
	return out
}

type call struct {
	provider string
	since    time.Time
}

// tickPoolKey holds, in a tick's context, the pool it ticks.
type tickPoolKey struct{}

// calling records a call to provider made on ctx, if ctx is a pool's tick,
// until cancel (which it returns, wrapped) is called.
func (s *Scheduler) calling(ctx context.Context, provider string, cancel context.CancelFunc) context.CancelFunc {
	pr, ok := ctx.Value(tickPoolKey{}).(*poolRun)
	if !ok || provider == "" {
		return cancel
	}
	f := &pr.calls
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[int]call{}
	}
	id := f.next
	f.next++
	f.calls[id] = call{provider: provider, since: s.clock.Now()}
	var once sync.Once
	return func() {
		cancel()
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			delete(f.calls, id)
		})
	}
}

// Waiting names the provider whose call the pool's tick has waited on the
// longest of those in flight now, and since when; ok is false when none is
// (no tick runs, or it is not calling a cloud).
func (s *Scheduler) Waiting(pool string) (provider string, since time.Time, ok bool) {
	pr, found := s.pools[pool]
	if !found {
		return "", time.Time{}, false
	}
	f := &pr.calls
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if !ok || c.since.Before(since) || (c.since.Equal(since) && c.provider < provider) {
			provider, since, ok = c.provider, c.since, true
		}
	}
	return provider, since, ok
}
