package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/state"
)

// slowLaunch is the real provider with a Launch that takes delay of real
// time (the time the call's bound is measured in) before the request goes
// out, as a Terraform apply waits for its instances; a call whose context
// ends first sends nothing. started, when set, is closed as the first
// launch begins.
type slowLaunch struct {
	providers.Provider
	delay   time.Duration
	started chan struct{}
	once    *sync.Once
}

func newSlowLaunch(p providers.Provider, delay time.Duration) slowLaunch {
	return slowLaunch{Provider: p, delay: delay, started: make(chan struct{}), once: &sync.Once{}}
}

func (p slowLaunch) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	p.once.Do(func() { close(p.started) })
	select {
	case <-time.After(p.delay):
		return p.Provider.Launch(ctx, req)
	case <-ctx.Done():
		return nil, fmt.Errorf("launch: %w", ctx.Err())
	}
}

// TestALaunchIsBoundedByItsProvidersCallTimeout: a launch is cut off at
// its own provider's call timeout (a provider's call_timeout), not at the
// global CallTimeout: a provider whose launches take long (a Terraform
// apply waits for its instances) launches, one without its own timeout
// (an SDK provider) is still cut off at CallTimeout, and a launch that
// runs out of its provider's timeout is resumed after that timeout.
func TestALaunchIsBoundedByItsProvidersCallTimeout(t *testing.T) {
	// CallTimeout bounds the state's calls too: short enough for a quick
	// test, long enough for a SQLite write on a loaded machine.
	const global = 500 * time.Millisecond
	for _, tc := range []struct {
		name     string
		timeouts map[string]time.Duration
		delay    time.Duration
		// want: a substring of the launch's outcome.
		want      string
		instances int
	}{
		{"a provider with a longer timeout launches", map[string]time.Duration{provName: time.Minute}, 6 * global, "launched 1", 1},
		{"a provider without one is cut at CallTimeout", map[string]time.Duration{"tf": time.Minute}, 6 * global, "timed out: the intent is resumed with the same client token after " + global.String(), 0},
		{"a launch that outlasts its provider's timeout is resumed after it", map[string]time.Duration{provName: 3 * global}, time.Hour, "timed out: the intent is resumed with the same client token after " + (3 * global).String(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := testPool()
			h := newHarness(t, pool, func(h *harness) {
				h.prov = newSlowLaunch(h.prov, tc.delay)
				h.opts.CallTimeout, h.opts.CallTimeouts, h.opts.Tick = global, tc.timeouts, global/2
			})
			h.setDemand(2*time.Minute, 8)
			h.tick()
			ds := h.decisions()
			if len(ds) == 0 || len(ds[0].Launches) != 1 || !strings.Contains(ds[0].Launches[0].Outcome, tc.want) {
				t.Fatalf("newest decision %+v: want its launch %q", ds[:min(len(ds), 1)], tc.want)
			}
			if n := len(h.live()); n != tc.instances {
				t.Fatalf("%d instances launched, want %d", n, tc.instances)
			}
		})
	}
}

// TestShutdownLetsALaunchFinishWithinItsProvidersTimeout: a launch in
// flight when the server stops finishes within its provider's call
// timeout, longer than CallTimeout, and is recorded before Run returns.
func TestShutdownLetsALaunchFinishWithinItsProvidersTimeout(t *testing.T) {
	const global = 500 * time.Millisecond // see TestALaunchIsBoundedByItsProvidersCallTimeout
	slow := slowLaunch{}
	h := newHarness(t, testPool(), func(h *harness) {
		slow = newSlowLaunch(h.prov, 6*global)
		h.prov = slow
		h.opts.CallTimeout, h.opts.CallTimeouts = global, map[string]time.Duration{provName: time.Minute}
	})
	h.setDemand(2*time.Minute, 8)
	stopDuringLaunch(t, h, slow.started, func() {})
	if n := len(h.live()); n != 1 {
		t.Fatalf("%d instances after the shutdown, want the launch in flight finished (1)", n)
	}
	in, err := h.store.Intents(context.Background(), state.IntentFilter{Status: state.IntentDone})
	if err != nil || len(in) != 1 || len(in[0].InstanceIDs) != 1 {
		t.Fatalf("finished intents %+v, %v: want the launch recorded", in, err)
	}
}

// stopsEarly is the real provider with a Launch that, like the terraform
// provider, gives up grace before its context's deadline (Terraform is
// interrupted then, so that it has stopped and written its state by the
// deadline) and returns an error wrapping context.DeadlineExceeded while
// its context is still live.
type stopsEarly struct {
	providers.Provider
	grace time.Duration
}

func (p stopsEarly) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return nil, fmt.Errorf("launch: no deadline")
	}
	select {
	case <-time.After(time.Until(dl) - p.grace):
		return nil, fmt.Errorf("launch interrupted %s before its deadline: %w", p.grace, context.DeadlineExceeded)
	case <-ctx.Done():
		return nil, fmt.Errorf("launch: %w", ctx.Err())
	}
}

// TestALaunchStoppedAheadOfItsCallTimeoutIsBackedOff: a provider that
// stops its launch ahead of the call's deadline, as the terraform provider
// interrupts Terraform its grace before it, has still run out of its call
// timeout: the intent is backed off by that timeout, not called again at
// the next tick (each call costing a whole call_timeout of the pool's
// tick). A launch stopped ahead of the end of the leader's term instead
// did not time out.
func TestALaunchStoppedAheadOfItsCallTimeoutIsBackedOff(t *testing.T) {
	// The launch stops 500ms into the call, leaving the grace to record
	// its outcome before the call's (or the term's) end: a grace of 100ms
	// was too short for the decision's write at load ~25 (the leader's term
	// ended first and the write was given up).
	const timeout, grace = 2 * time.Second, 1500 * time.Millisecond
	for _, tc := range []struct {
		name   string
		leader *fakeLeader
		want   string
	}{
		{"its call timeout", nil, "timed out: the intent is resumed with the same client token after 2s"},
		{"the leader's term", &fakeLeader{epoch: 1, ok: true, budget: -1, until: time.Now().Add(time.Hour)}, "failed for now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testPool(), func(h *harness) {
				h.prov = stopsEarly{Provider: h.prov, grace: grace}
				h.opts.CallTimeouts, h.opts.Tick = map[string]time.Duration{provName: timeout}, timeout/4
				if tc.leader != nil {
					h.opts.CallTimeouts[provName] = time.Hour
					h.opts.Leader = tc.leader
				}
			})
			if tc.leader != nil {
				tc.leader.mu.Lock()
				tc.leader.until = time.Now().Add(timeout)
				tc.leader.mu.Unlock()
			}
			h.setDemand(2*time.Minute, 8)
			h.tick()
			ds := h.decisions()
			if len(ds) == 0 || len(ds[0].Launches) != 1 || !strings.Contains(ds[0].Launches[0].Outcome, tc.want) {
				t.Fatalf("newest decision %+v: want its launch %q", ds[:min(len(ds), 1)], tc.want)
			}
		})
	}
}

// stockOutOnRelease is the real provider with a first Launch that waits
// until release is closed and then reports a stock-out (the tick decides
// again, on the next offering); started is closed as it begins. launches
// counts the calls.
type stockOutOnRelease struct {
	providers.Provider
	started, release chan struct{}
	mu               *sync.Mutex
	launches         *int
}

func (p stockOutOnRelease) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	p.mu.Lock()
	*p.launches++
	first := *p.launches == 1
	p.mu.Unlock()
	if !first {
		return p.Provider.Launch(ctx, req)
	}
	close(p.started)
	<-p.release
	return nil, &providers.CapacityError{Provider: provName, InstanceType: req.Offering.InstanceType, Code: "InsufficientInstanceCapacity", Err: errors.New("out of stock")}
}

// TestShutdownStartsNoFurtherLaunch: a server stopped while a launch is in
// flight lets that launch finish, but starts no further one in the tick
// (here, the next offering after a stock-out): each launch may take its
// provider's whole call_timeout (10m for Terraform), so a stop would take
// several and outlast the stop timeout docs/server.md sizes to one, the
// server then killed with a Terraform mid-apply.
func TestShutdownStartsNoFurtherLaunch(t *testing.T) {
	n, mu := 0, &sync.Mutex{}
	p := stockOutOnRelease{started: make(chan struct{}), release: make(chan struct{}), mu: mu, launches: &n}
	h := newHarness(t, testPool(), func(h *harness) {
		p.Provider = h.prov
		h.prov = p
	})
	h.setDemand(2*time.Minute, 8)
	stopDuringLaunch(t, h, p.started, func() { close(p.release) })
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("%d launches called, want only the one in flight at the shutdown", n)
	}
	if live := h.live(); len(live) != 0 {
		t.Fatalf("%d instances launched after the shutdown", len(live))
	}
}

// reconciling is the real provider with a Reconcile (as the terraform
// provider repairs its state) that counts its calls; the first waits until
// release is closed, started closed as it begins.
type reconciling struct {
	providers.Provider
	started, release chan struct{}
	mu               *sync.Mutex
	calls            *int
}

func (p reconciling) Reconcile(ctx context.Context) error {
	p.mu.Lock()
	*p.calls++
	first := *p.calls == 1
	p.mu.Unlock()
	if first {
		close(p.started)
		<-p.release
	}
	return nil
}

// TestShutdownStartsNoFurtherReconcile: a sweep under way when the server
// stops lets the reconcile in flight finish, but starts no other
// provider's: each may take its provider's whole call_timeout.
func TestShutdownStartsNoFurtherReconcile(t *testing.T) {
	n, mu := 0, &sync.Mutex{}
	started, release := make(chan struct{}), make(chan struct{})
	h := newHarness(t, testPool(), func(h *harness) {
		h.prov = reconciling{Provider: h.prov, started: started, release: release, mu: mu, calls: &n}
		h.moreProviders = map[string]providers.Provider{"zz-tf": reconciling{Provider: h.newProviderAt("zz-tf", h.url), started: make(chan struct{}), release: release, mu: mu, calls: &n}}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.sched.Sweep(ctx) }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("no reconcile began")
	}
	cancel()
	close(release)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Sweep did not return after the shutdown")
	}
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Fatalf("%d reconciles called, want only the one in flight at the shutdown", n)
	}
}

// stopDuringLaunch runs h's scheduler until a launch has started (started
// is closed), stops it, calls then, and waits for Run to return.
func stopDuringLaunch(t *testing.T, h *harness, started <-chan struct{}, then func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.sched.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("no launch began")
	}
	cancel()
	then()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the shutdown")
	}
}

// deadlineReconciler is the real provider with a Reconcile that records
// the deadline of each call's context.
type deadlineReconciler struct {
	providers.Provider
	mu        *sync.Mutex
	deadlines *[]time.Time
}

func (p deadlineReconciler) Reconcile(ctx context.Context) error {
	d, _ := ctx.Deadline()
	p.mu.Lock()
	defer p.mu.Unlock()
	*p.deadlines = append(*p.deadlines, d)
	return nil
}

// TestReconcileEndsWithTheLeadersTerm: a sweep's repair (a Terraform
// provider's Reconcile may apply, creating or destroying) is a mutating
// call like a launch: bounded by the end of this server's term, not only by
// the provider's call_timeout, so a deposed leader's repair is cut off when
// a new leader may act; a server whose term is over starts none.
func TestReconcileEndsWithTheLeadersTerm(t *testing.T) {
	var deadlines []time.Time
	mu := &sync.Mutex{}
	until := time.Now().Add(5 * time.Second)
	lead := &fakeLeader{epoch: 3, ok: true, budget: -1, until: until}
	h := newHarness(t, testPool(), func(h *harness) {
		h.opts.Leader = lead
		h.opts.CallTimeout = 10 * time.Minute
		h.moreProviders = map[string]providers.Provider{"zz-tf": deadlineReconciler{Provider: h.newProviderAt("zz-tf", h.url), mu: mu, deadlines: &deadlines}}
	})
	if err := h.sched.Sweep(context.Background()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	mu.Lock()
	got := slices.Clone(deadlines)
	mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d reconciles, want 1", len(got))
	}
	if got[0].IsZero() || got[0].After(until) {
		t.Fatalf("reconcile's deadline %v, want by the term's end %v (not the 10m call timeout)", got[0], until)
	}

	lead.set(3, false, -1) // the term is over: no repair starts
	err := h.sched.Sweep(context.Background())
	mu.Lock()
	n := len(deadlines)
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d reconciles after the term ended, want still 1 (err %v)", n, err)
	}
}
