// Package alicloud rents Alibaba Cloud ECS instances through
// alibaba-cloud-sdk-go: RunInstances across vSwitches, DescribeInstances by
// Spillway's tags, DeleteInstances in batches, with ECS error codes mapped
// to the providers error taxonomy.
//
// A provider entry of the config:
//
//	providers:
//	  ali-hz:
//	    type: alicloud
//	    region: cn-hangzhou
//	    endpoint: http://127.0.0.1:8081   # optional: `spillway emulator --ecs`
//	    image: m-bp1gpuimage               # or launch_template: lt-... / a name
//	    security_groups: [sg-bp1spillway]
//	    subnets:                           # vSwitches, tried in this order
//	      - {zone: cn-hangzhou-h, id: vsw-bp1h}
//	      - {zone: cn-hangzhou-i, id: vsw-bp1i}
//
// Launches are pay-as-you-go (PostPaid); spot offerings use SpotAsPriceGo
// and are released on interruption. Every instance carries Spillway's tags
// (spillway:cluster, spillway:pool, spillway:burst, spillway:intent).
//
// Credentials: the SDK's default chain (ALIBABA_CLOUD_ACCESS_KEY_ID and
// ALIBABA_CLOUD_ACCESS_KEY_SECRET, OIDC, the aliyun CLI profile, the
// credentials file, the ECS RAM role); the profile of the credentials file
// the config's profile: names; or WithStaticCredentials /
// WithCredentialsProvider, which win over both.
//
// Pacing and retries: calls are paced client side per action, by default
// RunInstances and DeleteInstances at 10 calls/s (burst 10) and
// DescribeInstances at 20 calls/s (burst 20), below ECS's per-account flow
// control (WithRateLimit changes them); throttling (Throttling*) and transient
// failures (5xx, timeouts, network errors) are retried with capped
// exponential backoff. The SDK's own retry is off.
//
// Cancellation: the SDK's calls take no context. Each call builds its own
// SDK client whose HTTP transport attaches the caller's ctx to the request,
// so a cancelled or expired ctx aborts the request in flight (connect, wait
// or body read); the SDK's connect and read timeouts (WithTimeouts) apply
// as well. A client per call also avoids the SDK client's per-request
// writes to its shared http.Client, which race under concurrent use.
package alicloud

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/providers"
)

// ecsAPI is the part of the ECS SDK client the provider calls.
type ecsAPI interface {
	RunInstances(*ecs.RunInstancesRequest) (*ecs.RunInstancesResponse, error)
	DescribeInstances(*ecs.DescribeInstancesRequest) (*ecs.DescribeInstancesResponse, error)
	DeleteInstances(*ecs.DeleteInstancesRequest) (*ecs.DeleteInstancesResponse, error)
}

var _ ecsAPI = (*ecs.Client)(nil)

var _ providers.Provider = (*Provider)(nil)

// sdkInit fills the SDK's package-level ECS endpoint table once. The SDK
// fills it lazily, unguarded, on the first client built, which races when
// clients are built from several goroutines (one per call here).
var sdkInit sync.Once

func initSDK() { sdkInit.Do(func() { _ = ecs.GetEndpointMap() }) }

// Provider rents ECS instances in one account and region. It is safe for
// concurrent use.
type Provider struct {
	name   string
	region string
	cfg    config.ProviderConfig
	opts   options

	// newClient builds an SDK client bound to one call's context.
	newClient func(ctx context.Context) (ecsAPI, error)
	pacer     *providers.Pacer
	transport http.RoundTripper
	// recent dates the instances this provider launched, so that a
	// Terminate can tell a fresh instance ECS does not know yet from one
	// that is gone.
	recent *providers.RecentLaunches
	// attempts remembers where launches may have created instances, so
	// that a retry resumes there even while ECS does not list them.
	attempts *providers.LaunchAttempts

	// deleted remembers when this provider deleted each instance (or
	// sent a DeleteInstances whose answer was lost), for deleteMemory:
	// ECS shows an instance it is releasing as Stopping, as it shows one
	// an operator stops. A restarted provider has forgotten them: it
	// takes them for stopped, and the scheduler's second delete of one
	// is harmless (TestDeleteAnswerLostOrForgotten).
	deleted *providers.RecentLaunches

	mu sync.Mutex
	// reclaims remembers when each spot instance seen with the Recycling
	// lock will be released, until reclaimMemory after it was last seen.
	reclaims map[string]reclaim
	// unknown holds the ECS statuses seen that this provider does not
	// know, each logged once (at most maxUnknownStatuses kept).
	unknown map[string]bool
}

// New builds a provider for one ECS region from its config entry. cfg.Region
// and at least one vSwitch (cfg.Subnets) are required, and cfg.Image or
// cfg.LaunchTemplate. cfg.Endpoint, when set, replaces the SDK's endpoint
// resolution: "http://127.0.0.1:8080" (the emulator) or a host name, which
// is reached over HTTPS.
func New(ctx context.Context, cfg config.ProviderConfig, name string, opts ...Option) (*Provider, error) {
	o := defaultOptions()
	o.rates = make(map[string]providers.Bucket, len(defaultOptions().rates))
	for k, v := range defaultOptions().rates {
		o.rates[k] = v
	}
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.validate(); err != nil {
		return nil, fmt.Errorf("alicloud provider %q: %w", name, err)
	}
	if err := validateConfig(cfg, name); err != nil {
		return nil, err
	}
	scheme, domain, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("alicloud provider %q: %w", name, err)
	}

	initSDK()
	p := &Provider{name: name, region: cfg.Region, cfg: cfg, opts: o, pacer: providers.NewPacer(o.rates, providers.WithPacerClock(o.clock)), reclaims: map[string]reclaim{}, deleted: providers.NewRecent(o.clock, deleteMemory), unknown: map[string]bool{}}
	p.recent = providers.NewRecentLaunches(o.clock)
	p.attempts = providers.NewLaunchAttempts(o.clock)
	p.transport = o.transport
	if p.transport == nil {
		p.transport = &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: o.connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: o.connectTimeout,
			ForceAttemptHTTP2:   true,
		}
	}
	var creds credentials.CredentialsProvider = o.credentials
	profile := ""
	switch {
	case creds != nil:
	case cfg.Profile != "":
		// The SDK's profile provider, named: it wins over the environment's
		// keys and ALIBABA_CLOUD_PROFILE, so two providers may sign for two
		// accounts. It reads the file on first use.
		profile = cfg.Profile
		creds = credentials.NewProfileCredentialsProviderBuilder().WithProfileName(profile).Build()
	default:
		creds = credentials.NewDefaultCredentialsProvider()
	}
	creds = &lockedCredentials{p: creds, profile: profile}

	p.newClient = func(callCtx context.Context) (ecsAPI, error) {
		sc := sdk.NewConfig()
		sc.Scheme = scheme
		sc.AutoRetry = false // retries are ours: backoff, pacing and ctx
		sc.Transport = &ctxTransport{ctx: callCtx, base: p.transport}
		c, err := ecs.NewClientWithOptions(p.region, sc, creds)
		if err != nil {
			return nil, err
		}
		if domain != "" {
			c.Domain = domain
		}
		c.SetConnectTimeout(o.connectTimeout)
		c.SetReadTimeout(o.readTimeout)
		return c, nil
	}
	o.logger.DebugContext(ctx, "alicloud provider ready", "provider", name, "region", cfg.Region, "endpoint", cfg.Endpoint, "vswitches", len(cfg.Subnets))
	return p, nil
}

// Name is the provider's name from the config.
func (p *Provider) Name() string { return p.name }

// Close releases idle HTTP connections.
func (p *Provider) Close() error {
	if t, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// validateConfig checks cfg with config's rules for provider settings (the
// same ones `spillway policy validate` applies).
func validateConfig(cfg config.ProviderConfig, name string) error {
	switch cfg.Type {
	case "":
		cfg.Type = config.ProviderAlicloud // a config built in code may leave it out
	case config.ProviderAlicloud:
	default:
		return fmt.Errorf("alicloud provider %q: type is %q, want %q", name, cfg.Type, config.ProviderAlicloud)
	}
	if err := cfg.Check(name); err != nil {
		return fmt.Errorf("alicloud provider %q: %w", name, err)
	}
	return nil
}

// parseEndpoint splits an endpoint override into the SDK's scheme and
// domain. Empty means the SDK's own endpoint for the region, over HTTPS.
func parseEndpoint(endpoint string) (scheme, domain string, err error) {
	if endpoint == "" {
		return "HTTPS", "", nil
	}
	if !strings.Contains(endpoint, "://") {
		return "HTTPS", strings.TrimSuffix(endpoint, "/"), nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", "", fmt.Errorf("endpoint %q: want http://host[:port] or https://host[:port] with no path", endpoint)
	}
	return strings.ToUpper(u.Scheme), u.Host, nil
}

// call runs one ECS action with client-side pacing, retrying throttling and
// transient failures with capped exponential backoff (full jitter). It
// returns the last error as the SDK gave it, turned into an *apiError when
// ECS answered; classify turns it into a providers error.
func (p *Provider) call(ctx context.Context, action string, do func(ecsAPI) error) error {
	for attempt := 1; ; attempt++ {
		if err := p.pacer.Wait(ctx, action, 1); err != nil {
			return fmt.Errorf("%s: pacing ECS %s: %w", p.name, action, err)
		}
		c, err := p.newClient(ctx)
		if err != nil {
			return fmt.Errorf("%s: building the ECS client: %w", p.name, err)
		}
		err = do(c)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: ECS %s: %w", p.name, action, context.Cause(ctx))
		}
		err = asAPIError(action, err)
		if !retryable(err) || attempt >= p.opts.maxAttempts {
			return err
		}
		wait := p.backoff(attempt)
		kind, code := classifyKind(err)
		p.opts.logger.DebugContext(ctx, "retrying ECS call", "action", action, "attempt", attempt, "code", code, "throttled", kind == kindThrottled, "wait", wait)
		t := p.opts.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: ECS %s: %w (last error: %w)", p.name, action, context.Cause(ctx), err)
		case <-t.C():
		}
	}
}

func (p *Provider) backoff(attempt int) time.Duration {
	d := p.opts.backoffBase << (attempt - 1)
	if d <= 0 || d > p.opts.backoffMax {
		d = p.opts.backoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter is the backoff the provider would have waited next.
func (p *Provider) retryAfter() time.Duration { return p.backoff(p.opts.maxAttempts) }

// withRetryAfter fills in ThrottledError.RetryAfter.
func (p *Provider) withRetryAfter(err error) error {
	var te *providers.ThrottledError
	if errors.As(err, &te) && te.RetryAfter == 0 {
		te.RetryAfter = p.retryAfter()
	}
	return err
}
