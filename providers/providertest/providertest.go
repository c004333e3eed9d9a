// Package providertest is the contract suite every providers.Provider
// passes: the behaviour the scheduler relies on, checked against a cloud
// emulator through the provider's real SDK.
//
// A provider's own test builds a Harness per case (a fresh emulator, a
// provider pointed at it) and calls Run:
//
//	func TestContract(t *testing.T) {
//		providertest.Run(t, func(t *testing.T) *providertest.Harness { ... })
//	}
//
// Cases run in parallel, each on its own harness.
package providertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// Emulator is the part of emulator.Emulator the suite drives.
type Emulator interface {
	// SetStock limits instanceType in zone to n pending or running
	// instances; n < 0 is unlimited.
	SetStock(instanceType, zone string, n int)
	// SetThrottle turns the cloud's published request buckets on or off.
	SetThrottle(on bool)
	// SetFaultRate answers that fraction of calls with a 5xx, unexecuted.
	SetFaultRate(r float64)
	// StallResponses executes the next n calls of action and holds each
	// response for d, or until its client hangs up.
	StallResponses(action string, n int, d time.Duration)
	// Calls counts the calls of action received, refused ones included.
	Calls(action string) int
}

// Harness is one provider built against one fresh emulator.
type Harness struct {
	// Provider is built against Emulator with the provider's default
	// pacing, and a retry policy that survives the fault case (a 30% 5xx
	// rate): at least 8 attempts, with a short backoff cap for test speed.
	Provider providers.Provider
	Emulator Emulator
	// Offering is one the provider can launch. Its Zone is empty, so the
	// provider tries every zone of Zones, in that order.
	Offering policy.Offering
	// Zones are the zones the provider tries, in order (at least two).
	Zones []string
	// LaunchAction is the emulator's name for the launch call
	// ("RunInstances" for both EC2 and ECS).
	LaunchAction string
	// AbsentID is a well-formed instance id that does not exist.
	AbsentID string
	// PacedLaunchSize is how many instances each launch asks for in the
	// 300-instance paced case (default 1: one call per instance, the
	// scheduler's worst case).
	PacedLaunchSize int
	// NewProviderWithTimeout builds another provider on the same emulator
	// whose per-attempt HTTP timeout is d (for the lost-response case).
	NewProviderWithTimeout func(d time.Duration) providers.Provider
	// LaunchRaw launches count running instances carrying exactly tags
	// (none when nil) directly through the SDK, bypassing the provider and
	// its pacing: foreign instances, and the 2,500 listed instances.
	LaunchRaw func(ctx context.Context, count int, tags map[string]string) ([]string, error)
	// ExhaustQuota makes every later launch fail with the cloud's account
	// quota error, through the emulator's own vCPU quota (SetVCPUQuota to 0:
	// EC2 VcpuLimitExceeded, ECS QuotaExceed.ElasticQuota).
	ExhaustQuota func()
	// Interrupt announces a spot interruption of the instance, effective
	// after in. The provider must report the notice while the instance
	// still runs (the suite interrupts two minutes ahead, as the clouds do).
	Interrupt func(id string, in time.Duration)
	// RepeatNextToken, while on, makes the cloud answer every
	// DescribeInstances page with a NextToken, and the page that token asks
	// for with the same token again: a listing that follows it never ends.
	RepeatNextToken func(on bool)
}

// Cluster is the spillway:cluster tag value the suite's launches carry.
const Cluster = "contract"

// cases are the contract's cases, by name.
var cases = []struct {
	name string
	fn   func(t *testing.T, h *Harness)
}{
	{"Lifecycle", testLifecycle},
	{"TerminateIsIdempotent", testTerminateIdempotent},
	{"LostLaunchResponseCreatesNoDuplicate", testLostResponse},
	{"SameTokenOtherParametersIsInvalid", testTokenMismatch},
	{"PartialStockHonoursMinCount", testPartialStock},
	{"StockOutFallsThroughToNextZone", testZoneFallthrough},
	{"Paced300InstanceLaunchIsNeverThrottled", testPaced300},
	{"List2500InstancesPages", testList2500},
	{"RepeatedNextTokenFailsTheListing", testRepeatedToken},
	{"ForeignInstancesAreNeverListed", testForeign},
	{"QuotaErrorIsTyped", testQuota},
	{"ServerFaultsAreRetried", testFaults},
	{"SpotInterruptionIsReported", testInterruption},
}

// Cases names every contract case.
func Cases() []string {
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	return names
}

// Run runs every contract case, each on a harness from newHarness.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	RunCases(t, newHarness, Cases()...)
}

// RunCases runs the named cases only, for a provider some cases cannot
// apply to (its test says which and why, and checks with Cases that every
// case is either run or excluded). An unknown name fails the test.
func RunCases(t *testing.T, newHarness func(t *testing.T) *Harness, names ...string) {
	for _, n := range names {
		if !slices.Contains(Cases(), n) {
			t.Fatalf("no contract case %q (cases: %v)", n, Cases())
		}
	}
	for _, c := range cases {
		if !slices.Contains(names, c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if len(h.Zones) < 2 {
				t.Fatalf("harness has %d zones; the suite needs at least two", len(h.Zones))
			}
			if h.LaunchAction == "" {
				h.LaunchAction = "RunInstances"
			}
			if h.PacedLaunchSize <= 0 {
				h.PacedLaunchSize = 1
			}
			c.fn(t, h)
		})
	}
}

// noDeadlineBound bounds a case's calls when the test binary has no
// deadline (go test -timeout 0).
const noDeadlineBound = 10 * time.Minute

// ctxFor is the context a case's calls run under. How fast a provider is
// is not part of the contract, and a provider that runs Terraform for each
// call takes seconds a call, minutes on a loaded two-core CI machine: a
// fixed bound would fail a correct provider there. So a case is bounded by
// the test binary's own deadline (go test -timeout), less a tenth of the
// time left for the case to report and clean up: a provider that hangs
// still fails its case, with the call's error, before the binary's
// timeout panics.
func ctxFor(t *testing.T) context.Context {
	bound := noDeadlineBound
	if deadline, ok := t.Deadline(); ok {
		left := time.Until(deadline)
		bound = left - left/10
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	t.Cleanup(cancel)
	return ctx
}

func request(h *Harness, token string, count, minCount int, pool string) providers.LaunchRequest {
	return providers.LaunchRequest{
		Offering:    h.Offering,
		Count:       count,
		MinCount:    minCount,
		ClientToken: token,
		Tags: map[string]string{
			providers.TagCluster: Cluster,
			providers.TagPool:    pool,
			providers.TagBurst:   "burst-" + token,
			providers.TagIntent:  token,
		},
		UserData: "#!/bin/sh\necho joining the pool\n",
	}
}

func ids(insts []providers.Instance) []string {
	out := make([]string, 0, len(insts))
	for _, i := range insts {
		out = append(out, i.ID)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func listIDs(t *testing.T, ctx context.Context, p providers.Provider, f providers.ListFilter) []string {
	t.Helper()
	insts, err := p.List(ctx, f)
	if err != nil {
		t.Fatalf("List(%+v): %v", f, err)
	}
	return ids(insts)
}

// eventually polls cond every 50ms until it holds, and fails the case if
// ctx ends first.
func eventually(ctx context.Context, t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, detail := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not happen before the case's deadline: %s", what, detail)
		case <-tick.C:
		}
	}
}

func testLifecycle(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	req := request(h, "lifecycle-1", 2, 0, "gpu")
	insts, err := h.Provider.Launch(ctx, req)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	if len(insts) != 2 {
		t.Fatalf("Launch returned %d instances, want 2", len(insts))
	}
	wantMarket := h.Offering.Market
	if wantMarket == "" {
		wantMarket = policy.MarketOnDemand
	}
	for _, in := range insts {
		switch {
		case in.ID == "":
			t.Errorf("instance without an id: %+v", in)
		case in.Provider != h.Provider.Name():
			t.Errorf("instance %s Provider = %q, want %q", in.ID, in.Provider, h.Provider.Name())
		case in.InstanceType != h.Offering.InstanceType:
			t.Errorf("instance %s type = %q, want %q", in.ID, in.InstanceType, h.Offering.InstanceType)
		case in.Market != wantMarket:
			t.Errorf("instance %s market = %q, want %q", in.ID, in.Market, wantMarket)
		case in.Zone != h.Zones[0]:
			t.Errorf("instance %s zone = %q, want the first zone %q", in.ID, in.Zone, h.Zones[0])
		case in.State != providers.StatePending && in.State != providers.StateRunning:
			t.Errorf("fresh instance %s is %q", in.ID, in.State)
		}
		for k, v := range req.Tags {
			if in.Tags[k] != v {
				t.Errorf("instance %s tag %s = %q, want %q", in.ID, k, in.Tags[k], v)
			}
		}
	}
	launched := ids(insts)

	if got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster}); !slices.Equal(got, launched) {
		t.Errorf("List(cluster) = %v, want %v", got, launched)
	}
	if got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster, Pool: "gpu"}); !slices.Equal(got, launched) {
		t.Errorf("List(cluster, pool gpu) = %v, want %v", got, launched)
	}
	if got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster, Pool: "other"}); len(got) != 0 {
		t.Errorf("List(cluster, pool other) = %v, want none", got)
	}

	desc, err := h.Provider.Describe(ctx, append(slices.Clone(launched), h.AbsentID))
	if err != nil {
		t.Fatalf("Describe with an absent id: %v (absent ids must be omitted, not an error)", err)
	}
	if got := ids(desc); !slices.Equal(got, launched) {
		t.Errorf("Describe = %v, want %v", got, launched)
	}

	if err := h.Provider.Terminate(ctx, launched); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	desc, err = h.Provider.Describe(ctx, launched)
	if err != nil {
		t.Fatalf("Describe after Terminate: %v", err)
	}
	for _, in := range desc {
		if in.State != providers.StateShuttingDown && in.State != providers.StateTerminated {
			t.Errorf("instance %s is %q after Terminate, want shutting-down or terminated", in.ID, in.State)
		}
	}
	eventually(ctx, t, "terminated instances leaving List", func() (bool, string) {
		got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster})
		return len(got) == 0, fmt.Sprintf("still listed: %v", got)
	})
}

func testTerminateIdempotent(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	insts, err := h.Provider.Launch(ctx, request(h, "twice-1", 3, 0, "gpu"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	all := ids(insts)
	// An id named twice is one instance: counted twice, the scheduler
	// would book its spend twice.
	if desc, err := h.Provider.Describe(ctx, append(slices.Clone(all), all[0])); err != nil || len(desc) != len(all) {
		t.Fatalf("Describe of %d instances, one named twice = %d instances (err %v), want %d", len(all), len(desc), err, len(all))
	}
	first := all[:1]
	for i := range 2 {
		if err := h.Provider.Terminate(ctx, first); err != nil {
			t.Fatalf("Terminate #%d of %v: %v", i+1, first, err)
		}
	}
	// A batch mixing an ended instance, live ones and an id that never
	// existed ends the live ones and is not an error.
	if err := h.Provider.Terminate(ctx, append(slices.Clone(all), h.AbsentID)); err != nil {
		t.Fatalf("Terminate of a mixed batch: %v", err)
	}
	if err := h.Provider.Terminate(ctx, nil); err != nil {
		t.Fatalf("Terminate of nothing: %v", err)
	}
	desc, err := h.Provider.Describe(ctx, all)
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	for _, in := range desc {
		if in.State != providers.StateShuttingDown && in.State != providers.StateTerminated {
			t.Errorf("instance %s is %q after the mixed Terminate", in.ID, in.State)
		}
	}
	// Once the cloud has ended them (ECS then forgets them, EC2 lists them
	// terminated for a while), ending them again is done at once, though
	// they were launched moments ago: they are gone, not too fresh for the
	// cloud to know (a scheduler retrying a terminate whose answer it lost
	// would otherwise wait and fail every tick for minutes).
	eventually(ctx, t, "the cloud ending the instances", func() (bool, string) {
		desc, err := h.Provider.Describe(ctx, all)
		if err != nil {
			return false, err.Error()
		}
		for _, in := range desc {
			if in.State != providers.StateTerminated {
				return false, fmt.Sprintf("%s is %q", in.ID, in.State)
			}
		}
		return true, ""
	})
	if err := h.Provider.Terminate(ctx, all); err != nil {
		t.Fatalf("Terminate of instances the cloud has ended: %v", err)
	}
}

func testLostResponse(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	// The launch's response is held far longer than the provider waits for
	// it (the emulator lets it go once the client hangs up), so it is lost
	// however slow the machine; the per-attempt timeout is long enough
	// that the calls it does not stall do not time out under load.
	const timeout = 2 * time.Second
	p := h.NewProviderWithTimeout(timeout)
	h.Emulator.StallResponses(h.LaunchAction, 1, 5*time.Minute)
	req := request(h, "lost-response-1", 3, 0, "gpu")
	insts, err := p.Launch(ctx, req)
	// Whether the SDK's own retry recovered the launch or the error reached
	// us, the scheduler retries with the same token, as it does after a crash.
	for retry := 0; err != nil && retry < 3; retry++ {
		t.Logf("launch failed (%v); retrying with the same client token", err)
		insts, err = p.Launch(ctx, req)
	}
	if err != nil {
		t.Fatalf("Launch retried with the same token: %v", err)
	}
	if calls := h.Emulator.Calls(h.LaunchAction); calls < 2 {
		t.Fatalf("%s was called %d times; the stalled response was never retried, so the case proves nothing", h.LaunchAction, calls)
	}
	got := ids(insts)
	listed := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster})
	if len(listed) != 3 || !slices.Equal(got, listed) {
		t.Fatalf("after a lost response and a retry: Launch returned %v, the cloud holds %v; want the same 3 instances", got, listed)
	}
	// A later retry of the same intent still creates nothing.
	again, err := h.Provider.Launch(ctx, req)
	if err != nil {
		t.Fatalf("third launch with the same token: %v", err)
	}
	if !slices.Equal(ids(again), got) {
		t.Errorf("third launch with the same token returned %v, want %v", ids(again), got)
	}
	if n := len(listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster})); n != 3 {
		t.Errorf("the cloud holds %d instances after three launches with one token, want 3", n)
	}
}

func testTokenMismatch(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	if _, err := h.Provider.Launch(ctx, request(h, "mismatch-1", 2, 0, "gpu")); err != nil {
		t.Fatalf("Launch: %v", err)
	}
	_, err := h.Provider.Launch(ctx, request(h, "mismatch-1", 3, 0, "gpu"))
	if !providers.IsInvalid(err) {
		t.Fatalf("same token, other count: err = %v, want *InvalidError", err)
	}
	if n := len(listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster})); n != 2 {
		t.Errorf("the cloud holds %d instances, want the first launch's 2", n)
	}
}

func testPartialStock(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	typ := h.Offering.InstanceType
	h.Emulator.SetStock(typ, h.Zones[0], 3)
	for _, z := range h.Zones[1:] {
		h.Emulator.SetStock(typ, z, 0)
	}

	_, err := h.Provider.Launch(ctx, request(h, "partial-1", 5, 4, "gpu"))
	if !providers.IsCapacity(err) {
		t.Fatalf("5 wanted, at least 4, 3 in stock: err = %v, want *CapacityError", err)
	}
	if got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster}); len(got) != 0 {
		t.Fatalf("a launch below MinCount left instances behind: %v", got)
	}

	insts, err := h.Provider.Launch(ctx, request(h, "partial-2", 5, 2, "gpu"))
	if err != nil {
		t.Fatalf("5 wanted, at least 2, 3 in stock: %v", err)
	}
	if len(insts) != 3 {
		t.Fatalf("partial launch returned %d instances, want the 3 in stock", len(insts))
	}
	for _, in := range insts {
		if in.Zone != h.Zones[0] {
			t.Errorf("instance %s in %s, want %s", in.ID, in.Zone, h.Zones[0])
		}
	}

	_, err = h.Provider.Launch(ctx, request(h, "partial-3", 1, 0, "gpu"))
	if !providers.IsCapacity(err) {
		t.Fatalf("launch with every zone empty: err = %v, want *CapacityError", err)
	}
	if got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster}); !slices.Equal(got, ids(insts)) {
		t.Errorf("the cloud holds %v, want the partial launch's %v", got, ids(insts))
	}
}

func testZoneFallthrough(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	typ := h.Offering.InstanceType
	for i, z := range h.Zones[:len(h.Zones)-1] {
		h.Emulator.SetStock(typ, z, 0)
		insts, err := h.Provider.Launch(ctx, request(h, fmt.Sprintf("fallthrough-%d", i), 2, 0, "gpu"))
		if err != nil {
			t.Fatalf("zones up to %s out of stock: %v", z, err)
		}
		want := h.Zones[i+1]
		for _, in := range insts {
			if in.Zone != want {
				t.Errorf("with %v out of stock, instance %s went to %s, want %s", h.Zones[:i+1], in.ID, in.Zone, want)
			}
		}
	}
}

func testPaced300(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	h.Emulator.SetThrottle(true)
	size := h.PacedLaunchSize
	launches := (300 + size - 1) / size
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		launched []string
		errs     []error
	)
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				insts, err := h.Provider.Launch(ctx, request(h, fmt.Sprintf("paced-%03d", i), size, 0, "gpu"))
				mu.Lock()
				launched = append(launched, ids(insts)...)
				if err != nil {
					errs = append(errs, fmt.Errorf("launch %d: %w", i, err))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range launches {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if providers.IsThrottled(err) {
			t.Errorf("throttling reached the caller: %v", err)
		} else {
			t.Errorf("%v", err)
		}
	}
	if len(launched) != launches*size {
		t.Errorf("launched %d instances, want %d", len(launched), launches*size)
	}
	// Pacing kept every call inside the buckets: the emulator saw exactly
	// one launch call per launch, none refused and retried.
	if calls := h.Emulator.Calls(h.LaunchAction); calls != launches {
		t.Errorf("the emulator received %d %s calls for %d launches: some were refused for rate and retried", calls, h.LaunchAction, launches)
	}
	if got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster}); len(got) != launches*size {
		t.Errorf("List under throttling returned %d instances, want %d", len(got), launches*size)
	}
}

func testList2500(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	tags := map[string]string{providers.TagCluster: Cluster, providers.TagPool: "big", providers.TagBurst: "b", providers.TagIntent: "raw"}
	raw, err := h.LaunchRaw(ctx, 2500, tags)
	if err != nil {
		t.Fatalf("LaunchRaw 2500: %v", err)
	}
	small, err := h.Provider.Launch(ctx, request(h, "list-small", 7, 0, "small"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	insts, err := h.Provider.List(ctx, providers.ListFilter{Cluster: Cluster, Pool: "big"})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	seen := map[string]bool{}
	for _, in := range insts {
		if seen[in.ID] {
			t.Fatalf("List returned %s twice: pages overlap", in.ID)
		}
		seen[in.ID] = true
	}
	if got := ids(insts); !slices.Equal(got, sorted(raw)) {
		t.Fatalf("List(pool big) returned %d instances, want the %d launched", len(got), len(raw))
	}
	all := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster})
	if len(all) != len(raw)+len(small) {
		t.Errorf("List(cluster) returned %d instances, want %d", len(all), len(raw)+len(small))
	}
}

// repeatedTokenBound is how long the repeated-token case lets one listing
// run: a provider that follows the repeated token loops until then.
const repeatedTokenBound = time.Minute

func testRepeatedToken(t *testing.T, h *Harness) {
	if h.RepeatNextToken == nil {
		t.Fatal("the harness has no RepeatNextToken; a listing that never ends cannot be proven to stop")
	}
	ctx := ctxFor(t)
	ours, err := h.Provider.Launch(ctx, request(h, "repeat-token", 1, 0, "gpu"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	h.RepeatNextToken(true)
	calls := []struct {
		name string
		call func(context.Context) ([]providers.Instance, error)
	}{
		{"List", func(ctx context.Context) ([]providers.Instance, error) {
			return h.Provider.List(ctx, providers.ListFilter{Cluster: Cluster})
		}},
		{"Describe", func(ctx context.Context) ([]providers.Instance, error) {
			return h.Provider.Describe(ctx, ids(ours))
		}},
	}
	for _, c := range calls {
		cctx, cancel := context.WithTimeout(ctx, repeatedTokenBound)
		got, err := c.call(cctx)
		cancel()
		// A list cut short at the repeat and taken as complete would have
		// the scheduler take the instances left out for vanished (their
		// spend no longer counted, replacements launched); one that follows
		// the token runs until its deadline every tick.
		if !providers.IsTransient(err) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s while the cloud repeats its NextToken = %d instances, err %v; want a *TransientError at the repeat", c.name, len(got), err)
		}
	}
	h.RepeatNextToken(false)
	if got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster}); !slices.Equal(got, ids(ours)) {
		t.Errorf("List once the cloud pages again = %v, want %v", got, ids(ours))
	}
}

func testForeign(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	foreign, err := h.LaunchRaw(ctx, 2, nil)
	if err != nil {
		t.Fatalf("LaunchRaw untagged: %v", err)
	}
	otherCluster, err := h.LaunchRaw(ctx, 2, map[string]string{providers.TagCluster: "someone-else", providers.TagPool: "gpu"})
	if err != nil {
		t.Fatalf("LaunchRaw other cluster: %v", err)
	}
	ours, err := h.Provider.Launch(ctx, request(h, "foreign-ours", 1, 0, "gpu"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	for _, f := range []providers.ListFilter{{Cluster: Cluster}, {Cluster: Cluster, Pool: "gpu"}} {
		got := listIDs(t, ctx, h.Provider, f)
		if !slices.Equal(got, ids(ours)) {
			t.Errorf("List(%+v) = %v, want only Spillway's %v (foreign: %v, other cluster: %v)", f, got, ids(ours), foreign, otherCluster)
		}
	}
	if _, err := h.Provider.List(ctx, providers.ListFilter{}); !providers.IsInvalid(err) {
		t.Errorf("List without a cluster: err = %v, want *InvalidError (it would list strangers)", err)
	}
}

func testQuota(t *testing.T, h *Harness) {
	if h.ExhaustQuota == nil {
		t.Fatal("the harness has no ExhaustQuota; the quota mapping cannot be proven")
	}
	ctx := ctxFor(t)
	before, err := h.Provider.Launch(ctx, request(h, "quota-0", 1, 0, "gpu"))
	if err != nil {
		t.Fatalf("Launch before the quota is spent: %v", err)
	}
	h.ExhaustQuota()
	_, err = h.Provider.Launch(ctx, request(h, "quota-1", 1, 0, "gpu"))
	if !providers.IsQuota(err) {
		t.Fatalf("launch beyond the account quota: err = %v, want *QuotaError", err)
	}
	if providers.IsCapacity(err) {
		t.Errorf("a quota refusal is also a *CapacityError (%v): the scheduler would try the next zone instead of blocking the region", err)
	}
	if got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster}); !slices.Equal(got, ids(before)) {
		t.Errorf("after a quota-refused launch the cloud holds %v, want only the earlier launch's %v", got, ids(before))
	}
}

func testFaults(t *testing.T, h *Harness) {
	ctx := ctxFor(t)
	h.Emulator.SetFaultRate(0.3)
	var launched []string
	const launches = 20
	for i := range launches {
		insts, err := h.Provider.Launch(ctx, request(h, fmt.Sprintf("faults-%02d", i), 1, 0, "gpu"))
		if err != nil {
			t.Fatalf("launch %d with 30%% server faults: %v", i, err)
		}
		launched = append(launched, ids(insts)...)
	}
	if calls := h.Emulator.Calls(h.LaunchAction); calls <= launches {
		t.Fatalf("%d launch calls for %d launches: no fault was injected, so no retry was proven", calls, launches)
	}
	got := listIDs(t, ctx, h.Provider, providers.ListFilter{Cluster: Cluster})
	h.Emulator.SetFaultRate(0)
	if !slices.Equal(got, sorted(launched)) {
		t.Errorf("after retried faults the cloud holds %d instances, want exactly the %d launched", len(got), len(launched))
	}
	if err := h.Provider.Terminate(ctx, launched); err != nil {
		t.Errorf("Terminate: %v", err)
	}
}

func testInterruption(t *testing.T, h *Harness) {
	if h.Interrupt == nil {
		t.Fatal("the harness has no Interrupt; spot interruption reporting cannot be proven")
	}
	ctx := ctxFor(t)
	req := request(h, "spot-1", 2, 0, "gpu")
	req.Offering.Market = policy.MarketSpot
	insts, err := h.Provider.Launch(ctx, req)
	if err != nil {
		t.Fatalf("spot Launch: %v", err)
	}
	for _, in := range insts {
		if in.Market != policy.MarketSpot {
			t.Errorf("spot launch returned %s with market %q", in.ID, in.Market)
		}
	}
	victim, survivor := insts[0].ID, insts[1].ID
	// The reclaim is two minutes away, as on the clouds: the notice must be
	// reported while the instance still runs, not once it is going.
	announced := time.Now()
	h.Interrupt(victim, 2*time.Minute)
	eventually(ctx, t, "the interruption notice before termination", func() (bool, string) {
		desc, err := h.Provider.Describe(ctx, []string{victim, survivor})
		if err != nil {
			return false, err.Error()
		}
		byID := map[string]providers.Instance{}
		for _, in := range desc {
			byID[in.ID] = in
		}
		if byID[survivor].InterruptionNotice != nil {
			t.Fatalf("instance %s was not interrupted but carries a notice", survivor)
		}
		in, ok := byID[victim]
		if ok && in.State != providers.StatePending && in.State != providers.StateRunning {
			t.Fatalf("instance %s is %q two minutes before its reclaim; the notice was not seen first", victim, in.State)
		}
		return ok && in.InterruptionNotice != nil, fmt.Sprintf("instance %+v", in)
	})
	insts, err = h.Provider.List(ctx, providers.ListFilter{Cluster: Cluster})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for _, in := range insts {
		switch {
		case in.ID == victim && in.InterruptionNotice == nil:
			t.Errorf("List shows no notice on %s, which Describe reported under notice", victim)
		case in.ID == victim && in.InterruptionNotice.Before(announced.Add(-time.Minute)):
			t.Errorf("the notice on %s is dated %v, long before it was announced at %v", victim, *in.InterruptionNotice, announced)
		case in.ID != victim && in.InterruptionNotice != nil:
			t.Errorf("List shows a notice on %s, which was not interrupted", in.ID)
		}
	}
}
