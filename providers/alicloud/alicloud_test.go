package alicloud

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/providertest"
)

const (
	emuRegion    = "cn-hangzhou"
	emuType      = "ecs.gn7i-c8g1.2xlarge"
	emuBootDelay = 2 * time.Second
)

var emuZones = []string{"cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j"}

// emulatorConfig is the provider config of an ECS emulator at url, with one
// vSwitch per zone in emuZones order.
func emulatorConfig(url string) config.ProviderConfig {
	cfg := config.ProviderConfig{Type: config.ProviderAlicloud, Region: emuRegion, Endpoint: url, Image: "m-spillway-gpu", SecurityGroups: []string{"sg-spillway"}}
	for _, z := range emuZones {
		cfg.Subnets = append(cfg.Subnets, config.Subnet{Zone: z, ID: "vsw-" + z})
	}
	return cfg
}

// startEmulator serves a fresh ECS emulator on loopback for the test.
func startEmulator(tb testing.TB, opts emulator.Options) (*emulator.Emulator, *httptest.Server) {
	tb.Helper()
	e := emulator.New(opts)
	srv := httptest.NewServer(e.ECSHandler())
	tb.Cleanup(srv.Close)
	return e, srv
}

// newEmulatorProvider builds the provider under test against srv.
func newEmulatorProvider(tb testing.TB, url string, opts ...Option) *Provider {
	tb.Helper()
	base := []Option{WithStaticCredentials("emulator-key", "emulator-secret"), WithRetries(8, 10*time.Millisecond, 100*time.Millisecond)}
	p, err := New(context.Background(), emulatorConfig(url), "alicloud", append(base, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// rawClient is the SDK's ECS client pointed at the emulator, bypassing the
// provider (for instances launched outside Spillway).
func rawClient(tb testing.TB, url string) *ecs.Client {
	tb.Helper()
	initSDK()
	cfg := sdk.NewConfig()
	cfg.Scheme = "HTTP"
	c, err := ecs.NewClientWithOptions(emuRegion, cfg, credentials.NewStaticAKCredentialsProvider("outsider", "secret"))
	if err != nil {
		tb.Fatal(err)
	}
	c.Domain = url[len("http://"):]
	return c
}

// repeatedToken is the NextToken the contract harness answers twice.
const repeatedToken = "spillway-contract-repeated-token"

// startRepeatingEmulator is startEmulator whose DescribeInstances, while
// repeat is set, answers every page with repeatedToken as its NextToken and
// the page repeatedToken asks for with the first page again: ECS answering
// the same NextToken twice.
func startRepeatingEmulator(tb testing.TB, opts emulator.Options, repeat *atomic.Bool) (*emulator.Emulator, *httptest.Server) {
	tb.Helper()
	e := emulator.New(opts)
	ecsHandler := e.ECSHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !repeat.Load() || r.ParseForm() != nil || r.Form.Get("Action") != ActionDescribeInstances {
			ecsHandler.ServeHTTP(w, r)
			return
		}
		if r.Form.Get("NextToken") == repeatedToken {
			r.Form.Del("NextToken")
		}
		rec := httptest.NewRecorder()
		ecsHandler.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			var page map[string]any
			if err := json.Unmarshal(body, &page); err != nil {
				tb.Errorf("the emulator's DescribeInstances answer is not JSON: %v", err)
			}
			page["NextToken"] = repeatedToken
			body, _ = json.Marshal(page)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	tb.Cleanup(srv.Close)
	return e, srv
}

func TestContract(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		var repeat atomic.Bool
		e, srv := startRepeatingEmulator(t, emulator.Options{BootDelay: emuBootDelay}, &repeat)
		raw := rawClient(t, srv.URL)
		var rawSeq atomic.Int64
		return &providertest.Harness{
			Provider: newEmulatorProvider(t, srv.URL),
			Emulator: e,
			Offering: policy.Offering{Name: "alicloud/cn-hangzhou/gn7i/on-demand", Provider: "alicloud", Region: emuRegion,
				InstanceType: emuType, GPUs: 1, Market: policy.MarketOnDemand},
			Zones:           emuZones,
			LaunchAction:    "RunInstances",
			AbsentID:        "i-bp1absent0000000000",
			RepeatNextToken: repeat.Store,
			NewProviderWithTimeout: func(d time.Duration) providers.Provider {
				return newEmulatorProvider(t, srv.URL, WithTimeouts(0, d))
			},
			LaunchRaw: func(ctx context.Context, count int, tags map[string]string) ([]string, error) {
				keys := make([]string, 0, len(tags))
				for k := range tags {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				var out []string
				for len(out) < count {
					n := min(count-len(out), 100)
					r := ecs.CreateRunInstancesRequest()
					r.RegionId = emuRegion
					r.VSwitchId = "vsw-" + emuZones[int(rawSeq.Add(1))%len(emuZones)]
					r.InstanceType = emuType
					r.ImageId = "m-outsider"
					r.Amount = requests.NewInteger(n)
					r.InstanceChargeType = "PostPaid"
					if len(keys) > 0 {
						t := make([]ecs.RunInstancesTag, 0, len(keys))
						for _, k := range keys {
							t = append(t, ecs.RunInstancesTag{Key: k, Value: tags[k]})
						}
						r.Tag = &t
					}
					resp, err := raw.RunInstances(r)
					if err != nil {
						return out, fmt.Errorf("raw RunInstances of %d: %w", n, err)
					}
					out = append(out, resp.InstanceIdSets.InstanceIdSet...)
				}
				return out, nil
			},
			// A vCPU quota of 0: ECS answers QuotaExceed.ElasticQuota.
			ExhaustQuota: func() { e.SetVCPUQuota(emulator.APIECS, emuRegion, 0) },
			Interrupt:    func(id string, in time.Duration) { e.Interrupt(id, in) },
		}
	})
}

func emuLaunchReq(token string, count, minCount int) providers.LaunchRequest {
	return providers.LaunchRequest{
		Offering:    policy.Offering{Provider: "alicloud", Region: emuRegion, InstanceType: emuType, Market: policy.MarketOnDemand},
		Count:       count,
		MinCount:    minCount,
		ClientToken: token,
		Tags:        map[string]string{providers.TagCluster: "c1", providers.TagPool: "gpu", providers.TagIntent: token},
	}
}

// liveECS counts the emulator's instances that are pending or running.
func liveECS(e *emulator.Emulator) map[string]int {
	out := map[string]int{}
	for _, in := range e.Instances() {
		if in.State == "pending" || in.State == "running" {
			out[in.Zone]++
		}
	}
	return out
}

// TestRetryAfterFallThroughDoesNotRelaunch: a launch that fell through from
// a stocked-out zone to the next, retried once the first zone has stock
// again (as after a lost response or a crash), returns the instances it
// already has instead of launching again in the first zone.
func TestRetryAfterFallThroughDoesNotRelaunch(t *testing.T) {
	e, srv := startEmulator(t, emulator.Options{})
	p := newEmulatorProvider(t, srv.URL)
	ctx := context.Background()
	e.SetStock(emuType, emuZones[0], 0)
	first, err := p.Launch(ctx, emuLaunchReq("fell-through", 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	e.SetStock(emuType, emuZones[0], -1)
	again, err := p.Launch(ctx, emuLaunchReq("fell-through", 2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := ids(first), ids(again); !equal(a, b) {
		t.Errorf("retry returned %v, want the first launch's %v", b, a)
	}
	if got := liveECS(e); got[emuZones[0]] != 0 || got[emuZones[1]] != 2 {
		t.Errorf("live instances per zone %v, want the 2 in %s only", got, emuZones[1])
	}
}

// TestLaunchBeyondOneCall: ECS creates at most 100 instances per call; a
// larger launch spans calls and, when a zone runs out, vSwitches. With
// MinCount = Count every call is all-or-nothing (MinAmount = Amount), so
// the second call in the first zone, which has 50 left, creates nothing.
func TestLaunchBeyondOneCall(t *testing.T) {
	e, srv := startEmulator(t, emulator.Options{})
	p := newEmulatorProvider(t, srv.URL)
	e.SetStock(emuType, emuZones[0], 150)
	got, err := p.Launch(context.Background(), emuLaunchReq("big", 250, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 250 {
		t.Fatalf("got %d instances, want 250", len(got))
	}
	if live := liveECS(e); live[emuZones[0]] != 100 || live[emuZones[1]] != 150 {
		t.Errorf("live instances per zone %v, want 100 in %s and 150 in %s", live, emuZones[0], emuZones[1])
	}
	if n := e.Calls("RunInstances"); n != 4 {
		t.Errorf("%d RunInstances calls, want 4 (100, then a refused 100 in %s; 100 and 50 in %s)", n, emuZones[0], emuZones[1])
	}
}

// TestLaunchBelowMinimumLeavesNothing: when the calls of one launch
// together get fewer than MinCount, what they got is deleted.
func TestLaunchBelowMinimumLeavesNothing(t *testing.T) {
	e, srv := startEmulator(t, emulator.Options{})
	p := newEmulatorProvider(t, srv.URL)
	e.SetStock(emuType, emuZones[0], 150)
	for _, z := range emuZones[1:] {
		e.SetStock(emuType, z, 0)
	}
	_, err := p.Launch(context.Background(), emuLaunchReq("too-few", 250, 200))
	if !providers.IsCapacity(err) {
		t.Fatalf("got %v, want a capacity error", err)
	}
	if live := liveECS(e); len(live) != 0 {
		t.Errorf("instances left running after a launch below its minimum: %v", live)
	}
}

// TestThrottlingWithoutPacingIsRetried: with client-side pacing off, the
// emulator's flow control refuses calls with Throttling.User; the provider
// backs off and retries until they pass.
func TestThrottlingWithoutPacingIsRetried(t *testing.T) {
	e, srv := startEmulator(t, emulator.Options{Throttle: true})
	p := newEmulatorProvider(t, srv.URL, WithRateLimit(ActionRunInstances, 0, 1), WithRetries(20, 50*time.Millisecond, 200*time.Millisecond))
	const launches = 40
	errs := make(chan error, launches)
	for i := range launches {
		go func() {
			_, err := p.Launch(context.Background(), emuLaunchReq(fmt.Sprintf("burst-%d", i), 1, 0))
			errs <- err
		}()
	}
	for range launches {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := e.Calls("RunInstances"); n <= launches {
		t.Errorf("%d RunInstances calls for %d launches: the emulator throttled nothing, so no retry was proven", n, launches)
	}
	if live := liveECS(e); live[emuZones[0]] != launches {
		t.Errorf("live instances %v, want %d in %s", live, launches, emuZones[0])
	}
}

func ids(insts []providers.Instance) []string {
	out := make([]string, 0, len(insts))
	for _, in := range insts {
		out = append(out, in.ID)
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDescribeAndTerminateInBatches: ECS takes at most 100 ids per
// DescribeInstances and DeleteInstances call.
func TestDescribeAndTerminateInBatches(t *testing.T) {
	e, srv := startEmulator(t, emulator.Options{BootDelay: emuBootDelay})
	p := newEmulatorProvider(t, srv.URL)
	ctx := context.Background()
	insts, err := p.Launch(ctx, emuLaunchReq("batches", 250, 0))
	if err != nil {
		t.Fatal(err)
	}
	all := append(ids(insts), "i-bp1absent0000000000")
	desc, err := p.Describe(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(desc); !equal(got, ids(insts)) {
		t.Fatalf("Describe of 250 ids and an absent one returned %d instances, want the 250", len(got))
	}
	for _, in := range desc {
		if in.PrivateIP == "" || in.Zone == "" || in.LaunchTime.IsZero() || in.Tags[providers.TagIntent] != "batches" {
			t.Fatalf("described instance lacks its address, zone, launch time or tags: %+v", in)
		}
	}
	if err := p.Terminate(ctx, all); err != nil {
		t.Fatal(err)
	}
	if live := liveECS(e); len(live) != 0 {
		t.Errorf("live instances after Terminate: %v", live)
	}
	// 3 batches; the one holding the absent id is refused as not found,
	// then its remaining ids are deleted again.
	if n := e.Calls("DeleteInstances"); n != 4 {
		t.Errorf("%d DeleteInstances calls, want 4", n)
	}
}
