// Package aws rents EC2 instances through aws-sdk-go-v2.
//
// Launches go through RunInstances from a launch template or an image, into
// the configured subnets in order: a stock-out in one subnet falls through
// to the next within the same Launch. Every instance carries Spillway's tags;
// List finds them by tag with DescribeInstances pagination; Terminate ends
// them in batches and treats already-gone instances as done.
//
// Calls are paced client side under EC2's published request buckets (one
// bucket per action, sized by its class, plus the resource buckets that
// count instances launched and terminated), and the SDK's standard retryer
// retries throttling, 5xx and connection errors a bounded number of times
// with jittered exponential backoff. What is still refused reaches the
// caller as one of the providers package's typed errors.
//
// Spot interruptions: EC2 announces a reclaim two minutes ahead. The
// instance learns it from its metadata service (spot/instance-action) and
// EventBridge carries it; through the API a controller outside the instance
// sees it on the instance's spot request, whose status turns to
// marked-for-termination (its update time is the notice). List and Describe
// therefore follow DescribeInstances, when its answer holds live spot
// instances, with one DescribeSpotInstanceRequests call per 200 of them
// (filtered by instance-id, paced under its own non-mutating bucket), and
// set Instance.InterruptionNotice to the status's update time. Once the
// reclaim has begun, DescribeInstances' state reason
// Server.SpotInstanceTermination sets it too (at the time the provider saw
// it, for an instance whose notice it never read). Lists without spot
// instances cost no extra call.
package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/logging"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// ec2API is the part of the EC2 client the provider calls.
type ec2API interface {
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput, opts ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, opts ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DescribeSpotInstanceRequests(ctx context.Context, in *ec2.DescribeSpotInstanceRequestsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSpotInstanceRequestsOutput, error)
}

var _ providers.Provider = (*Provider)(nil)

// Provider rents EC2 instances in one account and region.
type Provider struct {
	name   string
	cfg    config.ProviderConfig
	opts   Options
	client ec2API
	pacer  *providers.Pacer
	// launched dates the instances this provider launched, so that a
	// Terminate can tell a fresh instance EC2 does not know yet from one
	// that is gone.
	launched *providers.RecentLaunches
	// attempts remembers where launches may have created instances, so
	// that a retry resumes there even while EC2 does not list them.
	attempts *providers.LaunchAttempts
	logger   *slog.Logger
	// transport is the HTTP transport the SDK built, for Close; nil until
	// the first call, and when the caller supplied the client.
	transport atomic.Pointer[http.Transport]
}

// Options tune a Provider. defaultOptions holds every default.
type Options struct {
	// Logger receives debug records of launches and fall-throughs; silent
	// by default.
	Logger *slog.Logger
	// Clock stamps interruption notices and paces calls (the request
	// buckets refill on it); clock.RealClock{} by default.
	Clock clock.Clock
	// Credentials replaces the standard credential chain (environment,
	// shared config and credentials files, SSO, web identity, container
	// and instance roles) when set.
	Credentials awssdk.CredentialsProvider
	// HTTPTimeout bounds each HTTP attempt, from dial to the last byte of
	// the response. An attempt that times out is retried by the SDK (with
	// the same client token, so a lost RunInstances response is safe).
	HTTPTimeout time.Duration
	// MaxAttempts bounds the SDK's attempts per call (1 disables retries).
	MaxAttempts int
	// MaxBackoff caps the jittered exponential backoff between attempts.
	MaxBackoff time.Duration
	// Buckets are the client-side request buckets, by bucket name (see
	// DefaultBuckets). Nil disables pacing.
	Buckets map[string]providers.Bucket
	// TerminateBatch is how many ids one TerminateInstances call carries.
	TerminateBatch int
	// PageSize is DescribeInstances' MaxResults for List.
	PageSize int32
	// ThrottleRetryAfter is the hint a *ThrottledError carries when the
	// SDK's retries were exhausted.
	ThrottleRetryAfter time.Duration
	// client replaces the SDK client (unit tests).
	client ec2API
}

// Option changes Options.
type Option func(*Options)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// WithClock sets the clock (tests pass a fake one).
func WithClock(c clock.Clock) Option { return func(o *Options) { o.Clock = c } }

// WithCredentials replaces the standard credential chain.
func WithCredentials(c awssdk.CredentialsProvider) Option {
	return func(o *Options) { o.Credentials = c }
}

// WithHTTPTimeout bounds each HTTP attempt.
func WithHTTPTimeout(d time.Duration) Option { return func(o *Options) { o.HTTPTimeout = d } }

// WithRetry sets the SDK retryer's attempt bound and backoff cap.
func WithRetry(maxAttempts int, maxBackoff time.Duration) Option {
	return func(o *Options) { o.MaxAttempts, o.MaxBackoff = maxAttempts, maxBackoff }
}

// WithBuckets replaces the client-side request buckets; nil disables pacing.
func WithBuckets(b map[string]providers.Bucket) Option { return func(o *Options) { o.Buckets = b } }

// WithTerminateBatch sets how many ids one TerminateInstances call carries (1..1000).
func WithTerminateBatch(n int) Option { return func(o *Options) { o.TerminateBatch = n } }

// WithPageSize sets DescribeInstances' page size for List (5..1000).
func WithPageSize(n int32) Option { return func(o *Options) { o.PageSize = n } }

// withClient replaces the SDK client (unit tests).
func withClient(c ec2API) Option { return func(o *Options) { o.client = c } }

func defaultOptions() Options {
	return Options{
		Logger:             slog.New(slog.DiscardHandler),
		Clock:              clock.RealClock{},
		HTTPTimeout:        30 * time.Second,
		MaxAttempts:        5,
		MaxBackoff:         20 * time.Second,
		Buckets:            DefaultBuckets(),
		TerminateBatch:     200,
		PageSize:           1000,
		ThrottleRetryAfter: 2 * time.Second,
	}
}

// New returns a Provider for the EC2 account and region cfg names. It
// validates cfg and loads credentials through the standard chain (or
// WithCredentials); it makes no API call.
func New(ctx context.Context, cfg config.ProviderConfig, name string, opts ...Option) (*Provider, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := validate(cfg, name, o); err != nil {
		return nil, &providers.InvalidError{Provider: name, Code: "Config", Err: err}
	}
	p := &Provider{name: name, cfg: cfg, opts: o, logger: o.Logger.WithGroup("aws").With("provider", name)}
	p.pacer = providers.NewPacer(o.Buckets, providers.WithPacerClock(o.Clock))
	p.launched = providers.NewRecentLaunches(o.Clock)
	p.attempts = providers.NewLaunchAttempts(o.Clock)
	if o.client != nil {
		p.client = o.client
		return p, nil
	}

	// The SDK's buildable client, so that the config loader can still add
	// a custom CA bundle (AWS_CA_BUNDLE); the transport it builds is kept
	// for Close.
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(o.HTTPTimeout).
		WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = 256
			tr.MaxIdleConnsPerHost = 64
			p.transport.Store(tr)
		})

	load := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithHTTPClient(httpClient),
		// The SDK's own warnings (e.g. a body it could not drain after a
		// timed-out attempt) go to the provider's logger, not to stderr.
		awsconfig.WithLogger(logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			p.logger.Debug(fmt.Sprintf(format, v...), "sdk", string(c))
		})),
		awsconfig.WithRetryer(func() awssdk.Retryer { return newRetryer(o) }),
	}
	profile := ""
	switch {
	case o.Credentials != nil:
		load = append(load, awsconfig.WithCredentialsProvider(o.Credentials))
	case cfg.Profile != "":
		// The profile wins over AWS_ACCESS_KEY_ID and AWS_PROFILE in the
		// environment: two providers may sign for two accounts.
		profile = cfg.Profile
		load = append(load, awsconfig.WithSharedConfigProfile(profile))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, load...)
	var noProfile awsconfig.SharedConfigProfileNotExistError
	switch {
	case errors.As(err, &noProfile):
		return nil, &providers.InvalidError{Provider: name, Code: "Config", Err: fmt.Errorf(
			"provider %q: profile %q is in neither the shared config file nor the shared credentials file (%s, %s): add it there, or name one of theirs in profile:: %w",
			name, noProfile.Profile, sharedFile("AWS_CONFIG_FILE", awsconfig.DefaultSharedConfigFilename()), sharedFile("AWS_SHARED_CREDENTIALS_FILE", awsconfig.DefaultSharedCredentialsFilename()), err)}
	case err != nil:
		return nil, &providers.InvalidError{Provider: name, Code: "Config", Err: fmt.Errorf("loading AWS configuration for provider %q: %w", name, err)}
	}
	// Wrapped only now, so that the loader above could still customise the
	// buildable client (AWS_CA_BUNDLE); see bufferedBodyClient.
	awsCfg.HTTPClient = bufferedBodyClient{inner: awsCfg.HTTPClient}
	if awsCfg.Credentials != nil {
		awsCfg.Credentials = credentialsGuard{inner: awsCfg.Credentials, profile: profile}
	}
	p.client = ec2.NewFromConfig(awsCfg, func(eo *ec2.Options) {
		if cfg.Endpoint != "" {
			eo.BaseEndpoint = awssdk.String(cfg.Endpoint)
		}
		eo.APIOptions = append(eo.APIOptions, p.addPacing)
	})
	return p, nil
}

// validate checks cfg with config's rules for provider settings (the same
// ones `spillway policy validate` applies) and the options.
func validate(cfg config.ProviderConfig, name string, o Options) error {
	var problems []string
	switch cfg.Type {
	case "":
		cfg.Type = config.ProviderAWS // a config built in code may leave it out
	case config.ProviderAWS:
	default:
		problems = append(problems, fmt.Sprintf("type is %q, want %q", cfg.Type, config.ProviderAWS))
		cfg.Type = config.ProviderAWS
	}
	if o.TerminateBatch < 1 || o.TerminateBatch > 1000 {
		problems = append(problems, fmt.Sprintf("terminate batch %d is outside 1..1000 (EC2's limit per call)", o.TerminateBatch))
	}
	if o.PageSize < 5 || o.PageSize > 1000 {
		problems = append(problems, fmt.Sprintf("page size %d is outside 5..1000 (DescribeInstances' MaxResults)", o.PageSize))
	}
	if o.MaxAttempts < 1 {
		problems = append(problems, fmt.Sprintf("max attempts %d is below 1", o.MaxAttempts))
	}
	var errs []error
	if err := cfg.Check(name); err != nil {
		errs = append(errs, err)
	}
	if len(problems) > 0 {
		errs = append(errs, fmt.Errorf("provider %q: %s", name, strings.Join(problems, "; ")))
	}
	return errors.Join(errs...)
}

// Name is the provider's name from the config.
func (p *Provider) Name() string { return p.name }

// Close releases idle HTTP connections. The Provider stays usable.
func (p *Provider) Close() {
	if tr := p.transport.Load(); tr != nil {
		tr.CloseIdleConnections()
	}
}

// subnetsFor returns the configured subnets an offering may use, in order,
// with their index in the config (which keys their client tokens).
func (p *Provider) subnetsFor(o policy.Offering) []indexedSubnet {
	var out []indexedSubnet
	for i, s := range p.cfg.Subnets {
		if o.Zone == "" || o.Zone == s.Zone {
			out = append(out, indexedSubnet{Subnet: s, index: i})
		}
	}
	return out
}

type indexedSubnet struct {
	config.Subnet
	index int
}

func zonesOf(subnets []config.Subnet) []string {
	var z []string
	for _, s := range subnets {
		if !slices.Contains(z, s.Zone) {
			z = append(z, s.Zone)
		}
	}
	return z
}

// sharedFile is the SDK's shared config or credentials file: the one env
// names, else def.
func sharedFile(env, def string) string {
	if f := os.Getenv(env); f != "" {
		return f
	}
	return def
}
