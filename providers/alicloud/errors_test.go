package alicloud

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// ecsServer is an httptest server speaking ECS's RPC JSON: each call is
// answered by reply, which sees the action and its parameters.
type ecsServer struct {
	*httptest.Server
	mu    sync.Mutex
	calls []url.Values
}

func newECSServer(t *testing.T, reply func(n int, params url.Values) (status int, body any)) *ecsServer {
	t.Helper()
	s := &ecsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.calls = append(s.calls, r.Form)
		n := len(s.calls)
		s.mu.Unlock()
		status, body := reply(n, r.Form)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ecsServer) params() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.calls...)
}

func ecsError(code string) map[string]string {
	return map[string]string{"RequestId": "req-1", "HostId": "ecs.aliyuncs.com", "Code": code, "Message": "message text is never read: " + code}
}

func testConfig(endpoint string) config.ProviderConfig {
	return config.ProviderConfig{
		Type: config.ProviderAlicloud, Region: "cn-hangzhou", Endpoint: endpoint, Image: "m-test",
		Subnets: []config.Subnet{{Zone: "cn-hangzhou-h", ID: "vsw-h"}, {Zone: "cn-hangzhou-i", ID: "vsw-i"}},
	}
}

func newTestProvider(t *testing.T, endpoint string, opts ...Option) *Provider {
	t.Helper()
	base := []Option{
		WithStaticCredentials("AKID", "SECRET"),
		WithRetries(3, time.Millisecond, 5*time.Millisecond),
		WithIntentLookup(false),
	}
	p, err := New(context.Background(), testConfig(endpoint), "ali", append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func launchReq(count, minCount int) providers.LaunchRequest {
	return providers.LaunchRequest{
		Offering:    policy.Offering{Name: "gn7i", Provider: "ali", Region: "cn-hangzhou", InstanceType: "ecs.gn7i-c8g1.2xlarge", Market: policy.MarketOnDemand},
		Count:       count,
		MinCount:    minCount,
		ClientToken: "intent-42",
		Tags:        map[string]string{providers.TagCluster: "c1", providers.TagPool: "p1", providers.TagBurst: "b1"},
		UserData:    "#!/bin/sh\necho join\n",
	}
}

// TestErrorMapping sends each ECS error answer through the real SDK and
// checks the typed error the scheduler acts on.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		code   string
		status int
		is     func(error) bool
		kind   string
	}{
		{"OperationDenied.NoStock", 403, providers.IsCapacity, "capacity"},
		{"OperationDenied.NoSpotStock", 403, providers.IsCapacity, "capacity"},
		{"Zone.NotOnSale", 403, providers.IsCapacity, "capacity"},
		{"InvalidInstanceType.ZoneNotSupported", 400, providers.IsCapacity, "capacity"},
		{"InvalidResourceType.NotSupported", 403, providers.IsCapacity, "capacity"},
		{"QuotaExceed.ElasticQuota", 403, providers.IsQuota, "quota"},
		{"QuotaExceeded.PrivateIpAddress", 403, providers.IsQuota, "quota"},
		{"Throttling", 400, providers.IsThrottled, "throttled"},
		{"Throttling.User", 400, providers.IsThrottled, "throttled"},
		{"IdempotentParameterMismatch", 400, providers.IsInvalid, "invalid"},
		{"InvalidParameter.Amount", 400, providers.IsInvalid, "invalid"},
		{"Forbidden.RAM", 403, providers.IsInvalid, "invalid"},
		{"InvalidAccessKeyId.NotFound", 404, providers.IsInvalid, "invalid"},
		{"InvalidInstanceId.NotFound", 404, providers.IsNotFound, "not found"},
		{"InternalError", 500, providers.IsTransient, "transient"},
		{"ServiceUnavailable", 503, providers.IsTransient, "transient"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv := newECSServer(t, func(int, url.Values) (int, any) { return tt.status, ecsError(tt.code) })
			p := newTestProvider(t, srv.URL)
			var err error
			if tt.kind == "not found" {
				err = p.deleteInstances(context.Background(), []string{"i-gone"})
			} else {
				req := launchReq(1, 1)
				req.Offering.Zone = "cn-hangzhou-h" // one vSwitch: capacity errors surface
				_, err = p.Launch(context.Background(), req)
			}
			if err == nil || !tt.is(err) {
				t.Fatalf("ECS %s (HTTP %d): got %v, want a %s error", tt.code, tt.status, err, tt.kind)
			}
			var ae *apiError
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.RequestID != "req-1" {
				t.Errorf("error %v does not carry ECS's code %s and request id", err, tt.code)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error text spans several lines: %q", err.Error())
			}
			retried := tt.kind == "throttled" || tt.kind == "transient"
			if n := len(srv.params()); retried && n != 3 || !retried && n != 1 {
				t.Errorf("%d calls for %s, want %d", n, tt.code, map[bool]int{true: 3, false: 1}[retried])
			}
			var te *providers.ThrottledError
			if errors.As(err, &te) && te.RetryAfter <= 0 {
				t.Errorf("throttled error has no RetryAfter")
			}
		})
	}
}

func TestKindOfUnknownCodes(t *testing.T) {
	tests := []struct {
		code   string
		status int
		want   errorKind
	}{
		{"SomethingNew", 500, kindTransient},
		{"SomethingNew", 404, kindInvalid},
		{"SomethingNew", 429, kindThrottled},
		{"InvalidVSwitchId.IpNotEnough", 403, kindCapacity},
		{"QuotaExceed", 403, kindQuota},
	}
	for _, tt := range tests {
		if got := kindOf(tt.code, tt.status); got != tt.want {
			t.Errorf("kindOf(%q, %d) = %v, want %v", tt.code, tt.status, got, tt.want)
		}
	}
}

// TestLaunchParameters checks what RunInstances carries on the wire.
func TestLaunchParameters(t *testing.T) {
	srv := newECSServer(t, func(n int, v url.Values) (int, any) {
		return 200, map[string]any{"RequestId": "r", "InstanceIdSets": map[string]any{"InstanceIdSet": []string{"i-1", "i-2"}}}
	})
	p := newTestProvider(t, srv.URL)
	req := launchReq(2, 1)
	req.Offering.Market = policy.MarketSpot
	got, err := p.Launch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "i-1" || got[0].Zone != "cn-hangzhou-h" || got[0].Market != policy.MarketSpot || got[0].Tags[providers.TagIntent] != "intent-42" {
		t.Errorf("instances %+v", got)
	}
	v := srv.params()[0]
	want := map[string]string{
		"Action": "RunInstances", "RegionId": "cn-hangzhou", "ZoneId": "cn-hangzhou-h", "VSwitchId": "vsw-h",
		"InstanceType": "ecs.gn7i-c8g1.2xlarge", "Amount": "2", "MinAmount": "1", "ImageId": "m-test",
		"InstanceChargeType": "PostPaid", "SpotStrategy": "SpotAsPriceGo",
		"UserData":  base64.StdEncoding.EncodeToString([]byte(req.UserData)),
		"Tag.1.Key": providers.TagBurst, "Tag.1.Value": "b1",
		"Tag.2.Key": providers.TagCluster, "Tag.2.Value": "c1",
		"Tag.3.Key": providers.TagIntent, "Tag.3.Value": "intent-42",
		"Tag.4.Key": providers.TagPool, "Tag.4.Value": "p1",
		"AccessKeyId": "AKID",
	}
	for k, w := range want {
		if got := v.Get(k); got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	if tok := v.Get("ClientToken"); tok == "" || len(tok) > 64 || !strings.HasPrefix(tok, "intent-42") {
		t.Errorf("ClientToken %q: want derived from intent-42, at most 64 characters", tok)
	}
}

func TestVSwitchToken(t *testing.T) {
	long := strings.Repeat("x", 64)
	seen := map[string]bool{}
	for _, tok := range []string{"intent-1", "intent-2", long, long[:63] + "y"} {
		for _, vsw := range []string{"vsw-a", "vsw-b"} {
			for _, off := range []int{0, 100} {
				got := vSwitchToken(tok, vsw, off)
				if got != vSwitchToken(tok, vsw, off) {
					t.Fatalf("token for %s/%s/%d is not deterministic", tok, vsw, off)
				}
				if len(got) > 64 || !printableASCII(got) {
					t.Errorf("token %q: want at most 64 printable ASCII characters", got)
				}
				if seen[got] {
					t.Errorf("token %q derived twice from different inputs", got)
				}
				seen[got] = true
			}
		}
	}
}

// TestStockOutFallsThrough: a stock-out in the first vSwitch's zone is
// retried in the next vSwitch within the same Launch.
func TestStockOutFallsThrough(t *testing.T) {
	srv := newECSServer(t, func(n int, v url.Values) (int, any) {
		if v.Get("VSwitchId") == "vsw-h" {
			return 403, ecsError("OperationDenied.NoStock")
		}
		return 200, map[string]any{"RequestId": "r", "InstanceIdSets": map[string]any{"InstanceIdSet": []string{"i-9"}}}
	})
	p := newTestProvider(t, srv.URL)
	got, err := p.Launch(context.Background(), launchReq(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Zone != "cn-hangzhou-i" {
		t.Fatalf("got %+v, want one instance in cn-hangzhou-i", got)
	}
	calls := srv.params()
	if len(calls) != 2 || calls[0].Get("ClientToken") == calls[1].Get("ClientToken") {
		t.Errorf("want two calls with distinct client tokens, got %d", len(calls))
	}
}

// TestAllZonesOutOfStock: every vSwitch stocked out is one capacity error
// naming the instance type.
func TestAllZonesOutOfStock(t *testing.T) {
	srv := newECSServer(t, func(int, url.Values) (int, any) { return 403, ecsError("OperationDenied.NoStock") })
	p := newTestProvider(t, srv.URL)
	_, err := p.Launch(context.Background(), launchReq(1, 1))
	var ce *providers.CapacityError
	if !errors.As(err, &ce) || ce.InstanceType != "ecs.gn7i-c8g1.2xlarge" || ce.Code != "OperationDenied.NoStock" {
		t.Fatalf("got %v, want a capacity error for ecs.gn7i-c8g1.2xlarge", err)
	}
	if n := len(srv.params()); n != 2 {
		t.Errorf("%d RunInstances calls, want one per vSwitch (2)", n)
	}
}

// TestQuotaStopsFallThrough: a quota error is region-wide; no other vSwitch is tried.
func TestQuotaStopsFallThrough(t *testing.T) {
	srv := newECSServer(t, func(int, url.Values) (int, any) { return 403, ecsError("QuotaExceed.PostPaidDisk") })
	p := newTestProvider(t, srv.URL)
	_, err := p.Launch(context.Background(), launchReq(1, 1))
	if !providers.IsQuota(err) || len(srv.params()) != 1 {
		t.Fatalf("got %v after %d calls, want a quota error after one call", err, len(srv.params()))
	}
}

// TestRetriesThenSucceeds: 5xx answers are retried with the same token.
func TestRetriesThenSucceeds(t *testing.T) {
	srv := newECSServer(t, func(n int, v url.Values) (int, any) {
		if n < 3 {
			return 503, ecsError("ServiceUnavailable")
		}
		return 200, map[string]any{"RequestId": "r", "InstanceIdSets": map[string]any{"InstanceIdSet": []string{"i-1"}}}
	})
	p := newTestProvider(t, srv.URL)
	if _, err := p.Launch(context.Background(), launchReq(1, 1)); err != nil {
		t.Fatal(err)
	}
	calls := srv.params()
	if len(calls) != 3 || calls[0].Get("ClientToken") != calls[2].Get("ClientToken") {
		t.Fatalf("want 3 calls with one client token, got %d", len(calls))
	}
}

// TestCancelStopsCallInFlight: the SDK takes no context; cancelling ctx
// must still abort a request whose answer never comes.
func TestCancelStopsCallInFlight(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Store(true)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	p := newTestProvider(t, srv.URL, WithTimeouts(time.Second, time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Launch(ctx, launchReq(1, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's deadline error", err)
	}
	if !started.Load() {
		t.Fatal("the request never reached the server")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Launch returned after %v, long after its context ended", d)
	}
}

// TestCredentialsFromEnvironment: without static credentials the SDK's
// default chain reads ALIBABA_CLOUD_ACCESS_KEY_ID.
func TestCredentialsFromEnvironment(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "ENVKEY")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ENVSECRET")
	srv := newECSServer(t, func(int, url.Values) (int, any) {
		return 200, map[string]any{"RequestId": "r", "Instances": map[string]any{"Instance": []any{}}}
	})
	p, err := New(context.Background(), testConfig(srv.URL), "ali")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.List(context.Background(), providers.ListFilter{Cluster: "c1"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.params()[0].Get("AccessKeyId"); got != "ENVKEY" {
		t.Errorf("AccessKeyId %q, want ENVKEY from the environment", got)
	}
}

// TestTerminateToleratesNotFound: a batch with a gone instance is described
// and only the remaining instances deleted again.
func TestTerminateToleratesNotFound(t *testing.T) {
	srv := newECSServer(t, func(n int, v url.Values) (int, any) {
		switch v.Get("Action") {
		case "DeleteInstances":
			if v.Get("InstanceId.2") != "" {
				return 404, ecsError("InvalidInstanceId.NotFound")
			}
			if v.Get("Force") != "true" {
				return 400, ecsError("InvalidParameter.Force")
			}
			return 200, map[string]any{"RequestId": "r"}
		case "DescribeInstances":
			return 200, map[string]any{"RequestId": "r", "Instances": map[string]any{"Instance": []any{
				map[string]any{"InstanceId": "i-live", "Status": "Running"}}}}
		}
		return 400, ecsError("InvalidAction")
	})
	p := newTestProvider(t, srv.URL)
	if err := p.Terminate(context.Background(), []string{"i-gone", "i-live"}); err != nil {
		t.Fatal(err)
	}
	calls := srv.params()
	last := calls[len(calls)-1]
	if last.Get("Action") != "DeleteInstances" || last.Get("InstanceId.1") != "i-live" {
		t.Errorf("last call %v, want DeleteInstances of i-live alone", last)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.ProviderConfig)
		want string
	}{
		{"no region", func(c *config.ProviderConfig) { c.Region = "" }, "region: missing required field"},
		{"no vswitch", func(c *config.ProviderConfig) { c.Subnets = nil }, "launches into a vSwitch"},
		{"no image", func(c *config.ProviderConfig) { c.Image = "" }, "image: missing required field: the server boots an image or a launch template"},
		{"bad endpoint", func(c *config.ProviderConfig) { c.Endpoint = "ftp://x" }, `bad endpoint "ftp://x"`},
		{"wrong type", func(c *config.ProviderConfig) { c.Type = config.ProviderAWS }, `want "alicloud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:1")
			tt.mod(&cfg)
			_, err := New(context.Background(), cfg, "ali")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	// A launch template instead of an image is what ECS supports too.
	cfg := testConfig("http://127.0.0.1:1")
	cfg.Image, cfg.LaunchTemplate = "", "lt-spillway"
	p, err := New(context.Background(), cfg, "ali")
	if err != nil {
		t.Fatalf("launch_template without image: %v", err)
	}
	p.Close()
}

func TestLaunchRejectsBadRequest(t *testing.T) {
	p := newTestProvider(t, "http://127.0.0.1:1")
	tests := []struct {
		name string
		mod  func(*providers.LaunchRequest)
	}{
		{"no token", func(r *providers.LaunchRequest) { r.ClientToken = "" }},
		{"long token", func(r *providers.LaunchRequest) { r.ClientToken = strings.Repeat("t", 65) }},
		{"min above count", func(r *providers.LaunchRequest) { r.MinCount = 5 }},
		{"zone without vswitch", func(r *providers.LaunchRequest) { r.Offering.Zone = "cn-hangzhou-z" }},
		{"other region", func(r *providers.LaunchRequest) { r.Offering.Region = "cn-beijing" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := launchReq(2, 1)
			tt.mod(&req)
			if _, err := p.Launch(context.Background(), req); !providers.IsInvalid(err) {
				t.Fatalf("got %v, want an invalid-request error", err)
			}
		})
	}
}

func TestInterruptionNoticeFromOperationLock(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := newECSServer(t, func(int, url.Values) (int, any) {
		return 200, map[string]any{"RequestId": "r", "Instances": map[string]any{"Instance": []any{
			map[string]any{"InstanceId": "i-1", "Status": "Running", "SpotStrategy": "SpotAsPriceGo", "CreationTime": "2026-01-02T03:00Z",
				"Tags":           map[string]any{"Tag": []any{map[string]string{"TagKey": providers.TagCluster, "TagValue": "c1"}}},
				"OperationLocks": map[string]any{"LockReason": []any{map[string]string{"LockReason": "Recycling"}}}},
			map[string]any{"InstanceId": "i-2", "Status": "Running", "Tags": map[string]any{"Tag": []any{map[string]string{"TagKey": providers.TagCluster, "TagValue": "c1"}}}},
		}}}
	})
	p := newTestProvider(t, srv.URL, WithClock(clocktesting.NewFakeClock(now)))
	got, err := p.List(context.Background(), providers.ListFilter{Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d instances, want 2", len(got))
	}
	if got[0].InterruptionNotice == nil || !got[0].InterruptionNotice.Equal(now.Add(5*time.Minute)) || got[0].Market != policy.MarketSpot {
		t.Errorf("i-1: notice %v market %s, want %v spot", got[0].InterruptionNotice, got[0].Market, now.Add(5*time.Minute))
	}
	if got[1].InterruptionNotice != nil {
		t.Errorf("i-2 has no lock but a notice %v", got[1].InterruptionNotice)
	}
	if want := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC); !got[0].LaunchTime.Equal(want) {
		t.Errorf("launch time %v, want %v", got[0].LaunchTime, want)
	}
}

func idsN(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// TestStopEarly: what a launch does with instances it got before an error
// that is not a stock-out.
func TestStopEarly(t *testing.T) {
	tests := []struct {
		name             string
		count, min       int
		second           func() (int, any) // answer to the second RunInstances
		wantInstances    int
		wantErr          func(error) bool
		wantDeleteCalled bool
	}{
		{"enough before a quota error is a success", 5, 2,
			func() (int, any) { return 403, ecsError("QuotaExceed.ElasticQuota") }, 3, nil, false},
		{"too few before a transient error are kept for the retry", 150, 150,
			func() (int, any) { return 503, ecsError("ServiceUnavailable") }, 0, providers.IsTransient, false},
		{"too few before a quota error are deleted", 150, 150,
			func() (int, any) { return 403, ecsError("QuotaExceed.ElasticQuota") }, 0, providers.IsQuota, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var runs atomic.Int32
			srv := newECSServer(t, func(n int, v url.Values) (int, any) {
				switch v.Get("Action") {
				case "RunInstances":
					if runs.Add(1) == 1 {
						first := min(tt.count, 100)
						if tt.count == 5 {
							first = 3 // a partial answer: the zone had 3
						}
						return 200, map[string]any{"RequestId": "r", "InstanceIdSets": map[string]any{"InstanceIdSet": idsN("i-", first)}}
					}
					return tt.second()
				case "DeleteInstances":
					return 200, map[string]any{"RequestId": "r"}
				}
				return 400, ecsError("InvalidAction")
			})
			p := newTestProvider(t, srv.URL)
			got, err := p.Launch(context.Background(), launchReq(tt.count, tt.min))
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !tt.wantErr(err) {
				t.Fatalf("err = %v", err)
			}
			if len(got) != tt.wantInstances {
				t.Errorf("got %d instances, want %d", len(got), tt.wantInstances)
			}
			deleted := false
			for _, c := range srv.params() {
				deleted = deleted || c.Get("Action") == "DeleteInstances"
			}
			if deleted != tt.wantDeleteCalled {
				t.Errorf("DeleteInstances called: %v, want %v", deleted, tt.wantDeleteCalled)
			}
		})
	}
}

// TestMissingCredentialsIsInvalid: with no credentials anywhere in the
// SDK's chain, a call fails as a config problem before any request is sent.
func TestMissingCredentialsIsInvalid(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
	t.Setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true") // no metadata-server look-up
	t.Setenv("ALIBABA_CLOUD_CREDENTIALS_FILE", "")
	t.Setenv("ALIBABA_CLOUD_PROFILE", "")
	t.Setenv("HOME", t.TempDir())
	srv := newECSServer(t, func(int, url.Values) (int, any) { return 200, map[string]any{"RequestId": "r"} })
	p, err := New(context.Background(), testConfig(srv.URL), "ali", WithRetries(3, time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.List(context.Background(), providers.ListFilter{Cluster: "c1"})
	if !providers.IsInvalid(err) || !strings.Contains(err.Error(), "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Fatalf("got %v, want an invalid-request error naming the credential variables", err)
	}
	if n := len(srv.params()); n != 0 {
		t.Errorf("%d requests sent without credentials", n)
	}
}

// TestBackoffWaitsOnTheClock: after a throttled answer the retry waits on
// the provider's clock, not on wall time.
func TestBackoffWaitsOnTheClock(t *testing.T) {
	srv := newECSServer(t, func(n int, _ url.Values) (int, any) {
		if n == 1 {
			return 400, ecsError("Throttling")
		}
		return 200, map[string]any{"RequestId": "r", "Instances": map[string]any{"Instance": []any{}}}
	})
	fc := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	p := newTestProvider(t, srv.URL, WithClock(fc), WithRetries(3, time.Minute, time.Minute))
	done := make(chan error, 1)
	go func() {
		_, err := p.List(context.Background(), providers.ListFilter{Cluster: "c1"})
		done <- err
	}()
	for !fc.HasWaiters() {
		runtime.Gosched()
	}
	select {
	case err := <-done:
		t.Fatalf("List returned %v before the clock reached the backoff", err)
	default:
	}
	fc.Step(time.Minute) // the backoff is at most the 1m cap
	if err := <-done; err != nil {
		t.Fatalf("List after the backoff: %v", err)
	}
	if n := len(srv.params()); n != 2 {
		t.Errorf("%d calls, want the throttled one and its retry", n)
	}
}

// TestClockSkewNamesTheClock: a request ECS refuses for its Timestamp (this
// machine's clock more than 15 minutes off; the SDK does not correct it) is
// an invalid request that says the clock is wrong, not only ECS's
// "Specified time stamp or date value is expired".
func TestClockSkewNamesTheClock(t *testing.T) {
	tests := []struct {
		code  string
		clock bool
	}{
		{"InvalidTimeStamp.Expired", true},
		{"SignatureDoesNotMatch", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			srv := newECSServer(t, func(int, url.Values) (int, any) { return http.StatusBadRequest, ecsError(tt.code) })
			_, err := newTestProvider(t, srv.URL).List(context.Background(), providers.ListFilter{Cluster: "c"})
			if !providers.IsInvalid(err) || !strings.Contains(err.Error(), tt.code) {
				t.Fatalf("%s: err = %v, want an *InvalidError naming the code", tt.code, err)
			}
			if got := errors.Is(err, providers.ErrClockSkew); got != tt.clock {
				t.Errorf("%s: errors.Is(err, ErrClockSkew) = %v, want %v (err: %v)", tt.code, got, tt.clock, err)
			}
			if tt.clock && !strings.Contains(err.Error(), "this machine's clock") {
				t.Errorf("%s: %q does not say the clock is wrong", tt.code, err)
			}
			if n := len(srv.params()); n != 1 {
				t.Errorf("%s: %d calls, want 1 (a skewed clock is not cured by repeating)", tt.code, n)
			}
		})
	}
}
