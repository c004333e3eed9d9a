package aws_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
)

// scripted is an EC2 endpoint that answers chosen calls with an EC2 error
// and hands the rest to a real emulator. It records every call.
type scripted struct {
	emu *emulator.Emulator
	srv *httptest.Server

	mu    sync.Mutex
	calls []call
	// answer returns the error to send for the n-th (from 1) call of
	// action, or ok false to let the emulator answer.
	answer func(action string, n int, form map[string][]string) (status int, code string, ok bool)
}

type call struct {
	action, subnet, token string
}

func newScripted(t *testing.T, answer func(action string, n int, form map[string][]string) (int, string, bool)) *scripted {
	t.Helper()
	s := &scripted{emu: emulator.New(emulator.Options{Seed: 3}), answer: answer}
	ec2 := s.emu.EC2Handler()
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parsing a request: %v", err)
		}
		action := r.Form.Get("Action")
		s.mu.Lock()
		s.calls = append(s.calls, call{action: action, subnet: r.Form.Get("SubnetId"), token: r.Form.Get("ClientToken")})
		n := 0
		for _, c := range s.calls {
			if c.action == action {
				n++
			}
		}
		s.mu.Unlock()
		if status, code, ok := s.answer(action, n, r.Form); ok {
			writeEC2Error(w, status, code, "scripted "+code)
			return
		}
		ec2.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) provider(t *testing.T, opts ...aws.Option) *aws.Provider {
	t.Helper()
	cfg := config.ProviderConfig{Type: config.ProviderAWS, Region: "us-east-1", Endpoint: s.srv.URL, Subnets: subnets, Image: image}
	base := []aws.Option{aws.WithCredentials(staticCreds), aws.WithRetry(1, 10*time.Millisecond)}
	p, err := aws.New(context.Background(), cfg, providerName, append(base, opts...)...)
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func (s *scripted) callsOf(action string) []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []call
	for _, c := range s.calls {
		if c.action == action {
			out = append(out, c)
		}
	}
	return out
}

func launchReq(token string) providers.LaunchRequest {
	return providers.LaunchRequest{
		Offering:    policy.Offering{Provider: providerName, InstanceType: gpuType, Market: policy.MarketOnDemand},
		Count:       2,
		ClientToken: token,
		Tags:        map[string]string{providers.TagCluster: "c", providers.TagPool: "p"},
	}
}

// TestErrorMapping sends each EC2 error code, with the HTTP status EC2
// uses for it, to RunInstances in every subnet and checks the typed error
// Launch returns, and how many subnets it tried.
func TestErrorMapping(t *testing.T) {
	type check func(error) bool
	tests := []struct {
		code        string
		status      int
		is          check
		kind        string
		wantSubnets int // RunInstances calls: 3 when a capacity error falls through
	}{
		{"InsufficientInstanceCapacity", 500, providers.IsCapacity, "capacity", 3},
		{"InsufficientHostCapacity", 500, providers.IsCapacity, "capacity", 3},
		{"InsufficientReservedInstanceCapacity", 500, providers.IsCapacity, "capacity", 3},
		{"InsufficientCapacityOnHost", 500, providers.IsCapacity, "capacity", 3},
		{"Unsupported", 400, providers.IsCapacity, "capacity", 3},
		{"MaxSpotInstanceCountExceeded", 400, providers.IsCapacity, "capacity", 3},
		{"InsufficientFreeAddressesInSubnet", 400, providers.IsCapacity, "capacity", 3},
		{"SpotMaxPriceTooLow", 400, providers.IsCapacity, "capacity", 3},
		{"InstanceLimitExceeded", 400, providers.IsQuota, "quota", 1},
		{"VcpuLimitExceeded", 400, providers.IsQuota, "quota", 1},
		{"PendingVerification", 400, providers.IsQuota, "quota", 1},
		{"RequestLimitExceeded", 503, providers.IsThrottled, "throttled", 1},
		{"Throttling", 400, providers.IsThrottled, "throttled", 1},
		{"IdempotentParameterMismatch", 400, providers.IsInvalid, "invalid", 1},
		{"AuthFailure", 401, providers.IsInvalid, "invalid", 1},
		{"UnauthorizedOperation", 403, providers.IsInvalid, "invalid", 1},
		{"InvalidAMIID.NotFound", 400, providers.IsInvalid, "invalid", 1},
		{"InvalidSubnetID.NotFound", 400, providers.IsInvalid, "invalid", 1},
		{"InvalidParameterValue", 400, providers.IsInvalid, "invalid", 1},
		{"SomeFutureClientError", 400, providers.IsInvalid, "invalid", 1},
		{"InternalError", 500, providers.IsTransient, "transient", 1},
		{"Unavailable", 503, providers.IsTransient, "transient", 1},
		{"ServiceUnavailable", 503, providers.IsTransient, "transient", 1},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			s := newScripted(t, func(action string, _ int, _ map[string][]string) (int, string, bool) {
				return tt.status, tt.code, action == "RunInstances"
			})
			_, err := s.provider(t).Launch(context.Background(), launchReq("map-"+tt.code))
			if !tt.is(err) {
				t.Fatalf("%s (HTTP %d): err = %v (%T), want %s", tt.code, tt.status, err, errors.Unwrap(err), tt.kind)
			}
			if !strings.Contains(err.Error(), tt.code) {
				t.Errorf("error %q does not name the code %s", err, tt.code)
			}
			runs := s.callsOf("RunInstances")
			if len(runs) != tt.wantSubnets {
				t.Fatalf("%s led to %d RunInstances calls, want %d", tt.code, len(runs), tt.wantSubnets)
			}
			for i, c := range runs {
				if c.subnet != subnets[i].ID {
					t.Errorf("attempt %d went to %s, want %s (subnets in config order)", i+1, c.subnet, subnets[i].ID)
				}
				if want := "map-" + tt.code + "-" + string(rune('0'+i)); c.token != want {
					t.Errorf("attempt %d carried client token %q, want %q", i+1, c.token, want)
				}
			}
		})
	}
}

func TestCapacityErrorNamesOffering(t *testing.T) {
	s := newScripted(t, func(action string, _ int, _ map[string][]string) (int, string, bool) {
		return 500, "InsufficientInstanceCapacity", action == "RunInstances"
	})
	req := launchReq("ice")
	req.Offering.Zone = "us-east-1b"
	_, err := s.provider(t).Launch(context.Background(), req)
	var ce *providers.CapacityError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *CapacityError", err)
	}
	if ce.Zone != "us-east-1b" || ce.InstanceType != gpuType || ce.Region != "us-east-1" || ce.Provider != providerName {
		t.Errorf("CapacityError = %+v, want zone us-east-1b, type %s, region us-east-1, provider %s", ce, gpuType, providerName)
	}
	if runs := s.callsOf("RunInstances"); len(runs) != 1 || runs[0].subnet != "subnet-us-east-1b" {
		t.Errorf("a zone-pinned offering tried %v, want only subnet-us-east-1b", runs)
	}
}

// TestRetries proves the SDK retryer stays on: 5xx and throttling are
// retried up to the attempt bound, with the same client token.
func TestRetries(t *testing.T) {
	t.Run("5xx then success", func(t *testing.T) {
		s := newScripted(t, func(action string, n int, _ map[string][]string) (int, string, bool) {
			return 503, "Unavailable", action == "RunInstances" && n <= 2
		})
		insts, err := s.provider(t, aws.WithRetry(3, 10*time.Millisecond)).Launch(context.Background(), launchReq("retry-5xx"))
		if err != nil || len(insts) != 2 {
			t.Fatalf("Launch after two 503s = %d instances, %v; want 2, nil", len(insts), err)
		}
		runs := s.callsOf("RunInstances")
		if len(runs) != 3 || runs[0].token != runs[2].token || runs[0].subnet != runs[2].subnet {
			t.Errorf("calls %+v: want 3 attempts in one subnet with one token", runs)
		}
	})
	t.Run("throttled past the bound", func(t *testing.T) {
		s := newScripted(t, func(action string, _ int, _ map[string][]string) (int, string, bool) {
			return 503, "RequestLimitExceeded", action == "RunInstances"
		})
		_, err := s.provider(t, aws.WithRetry(4, 10*time.Millisecond)).Launch(context.Background(), launchReq("retry-throttle"))
		var te *providers.ThrottledError
		if !errors.As(err, &te) || te.RetryAfter <= 0 {
			t.Fatalf("err = %v, want *ThrottledError with a RetryAfter hint", err)
		}
		if n := len(s.callsOf("RunInstances")); n != 4 {
			t.Errorf("%d attempts, want the bound of 4", n)
		}
	})
}

// TestTerminateNotFound: EC2 fails a whole TerminateInstances batch when
// one id does not exist; the live ones must still end.
func TestTerminateNotFound(t *testing.T) {
	s := newScripted(t, func(string, int, map[string][]string) (int, string, bool) { return 0, "", false })
	p := s.provider(t, aws.WithTerminateBatch(2))
	insts, err := p.Launch(context.Background(), launchReq("tnf"))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	ids := []string{insts[0].ID, "i-0000000000000dead", insts[1].ID, "i-0000000000000beef"}
	if err := p.Terminate(context.Background(), ids); err != nil {
		t.Fatalf("Terminate with absent ids: %v", err)
	}
	for _, in := range s.emu.Instances() {
		if in.State != "shutting-down" && in.State != "terminated" {
			t.Errorf("instance %s is %s after Terminate", in.ID, in.State)
		}
	}
	if n := len(s.callsOf("TerminateInstances")); n != 4 {
		t.Errorf("%d TerminateInstances calls, want 4 (two batches, each refused once and retried with its live ids)", n)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.ProviderConfig
		opts []aws.Option
		want []string
	}{
		{"empty", config.ProviderConfig{}, nil, []string{"region: missing required field", "subnets: missing required field", "image: missing required field: the server boots an image or a launch template"}},
		{"wrong type", config.ProviderConfig{Type: config.ProviderAlicloud, Region: "r", Subnets: subnets, Image: image}, nil, []string{`type is "alicloud"`}},
		{"subnet without zone", config.ProviderConfig{Region: "r", Subnets: []config.Subnet{{ID: "subnet-1"}}, Image: image}, nil, []string{`subnets[0].zone: missing required field`}},
		{"batch too large", config.ProviderConfig{Region: "r", Subnets: subnets, Image: image}, []aws.Option{aws.WithTerminateBatch(5000)}, []string{"terminate batch 5000 is outside 1..1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := aws.New(context.Background(), tt.cfg, "bad", append([]aws.Option{aws.WithCredentials(staticCreds)}, tt.opts...)...)
			if !providers.IsInvalid(err) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if (tt.name == "empty" || tt.name == "subnet without zone") && !errors.Is(err, config.ErrProvider) {
				t.Errorf("err = %v, want it to wrap config.ErrProvider (config's rules, checked in one place)", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestLaunchValidatesRequest(t *testing.T) {
	s := newScripted(t, func(string, int, map[string][]string) (int, string, bool) { return 0, "", false })
	p := s.provider(t)
	tests := []struct {
		name   string
		mutate func(*providers.LaunchRequest)
		want   string
	}{
		{"no cluster tag", func(r *providers.LaunchRequest) { delete(r.Tags, providers.TagCluster) }, "tag spillway:cluster is missing"},
		{"no token", func(r *providers.LaunchRequest) { r.ClientToken = "" }, "client token is empty"},
		{"zero count", func(r *providers.LaunchRequest) { r.Count = 0 }, "count 0 is below 1"},
		{"min above count", func(r *providers.LaunchRequest) { r.MinCount = 3 }, "min count 3 is outside 0..2"},
		{"other provider", func(r *providers.LaunchRequest) { r.Offering.Provider = "ali" }, `belongs to provider "ali"`},
		{"zone without subnet", func(r *providers.LaunchRequest) { r.Offering.Zone = "us-west-2a" }, "has subnets only in us-east-1a, us-east-1b, us-east-1c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := launchReq("v-" + tt.name)
			tt.mutate(&req)
			_, err := p.Launch(context.Background(), req)
			if !providers.IsInvalid(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want *InvalidError saying %q", err, tt.want)
			}
		})
	}
	if n := len(s.callsOf("RunInstances")); n != 0 {
		t.Errorf("invalid requests reached EC2 %d times", n)
	}
}

// TestNoCredentials: a provider that finds no credentials sends nothing
// and fails as invalid, saying what to set. The SDK's error was about the
// EC2 instance metadata service, classified as a network failure and
// retried every tick.
func TestNoCredentials(t *testing.T) {
	s := newScripted(t, func(string, int, map[string][]string) (int, string, bool) { return 0, "", false })
	none := awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
		return awssdk.Credentials{}, errors.New("no EC2 IMDS role found")
	})
	p := s.provider(t, aws.WithCredentials(none))
	_, err := p.List(context.Background(), providers.ListFilter{Cluster: "c", Pool: "p"})
	var ie *providers.InvalidError
	if !errors.As(err, &ie) || ie.Code != "CredentialsUnavailable" || !strings.Contains(err.Error(), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("List without credentials: %v, want an invalid CredentialsUnavailable naming what to set", err)
	}
	if n := len(s.callsOf("DescribeInstances")); n != 0 {
		t.Errorf("%d DescribeInstances sent without credentials", n)
	}
}

// TestClockSkewNamesTheClock: a request EC2 refuses for its timestamp (this
// machine's clock more than 15 minutes off) is an invalid request that
// says the clock is wrong, not only EC2's "Request has expired".
func TestClockSkewNamesTheClock(t *testing.T) {
	tests := []struct {
		code  string
		clock bool
	}{
		{"RequestExpired", true},
		{"RequestInTheFuture", true},
		{"AuthFailure", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			s := newScripted(t, func(action string, _ int, _ map[string][]string) (int, string, bool) {
				return http.StatusBadRequest, tt.code, action == "DescribeInstances"
			})
			_, err := s.provider(t).List(context.Background(), providers.ListFilter{Cluster: "c"})
			if !providers.IsInvalid(err) || !strings.Contains(err.Error(), tt.code) {
				t.Fatalf("%s: err = %v, want an *InvalidError naming the code", tt.code, err)
			}
			if got := errors.Is(err, providers.ErrClockSkew); got != tt.clock {
				t.Errorf("%s: errors.Is(err, ErrClockSkew) = %v, want %v (err: %v)", tt.code, got, tt.clock, err)
			}
			if tt.clock && !strings.Contains(err.Error(), "this machine's clock") {
				t.Errorf("%s: %q does not say the clock is wrong", tt.code, err)
			}
		})
	}
}
