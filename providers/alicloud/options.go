package alicloud

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/providers"
)

// ECS API actions the provider calls; they name rate limits in WithRateLimit.
const (
	ActionRunInstances      = "RunInstances"
	ActionDescribeInstances = "DescribeInstances"
	ActionDeleteInstances   = "DeleteInstances"
)

// Option configures a Provider built by New.
type Option func(*options)

// options holds every knob of the provider; defaultOptions is the only
// place defaults are set.
type options struct {
	logger *slog.Logger
	clock  clock.Clock
	// credentials is nil for the SDK's default chain.
	credentials credentials.CredentialsProvider
	// transport is the base HTTP transport; nil builds one.
	transport      http.RoundTripper
	connectTimeout time.Duration
	readTimeout    time.Duration
	// maxAttempts bounds tries of one API call on throttling and transient
	// errors (1 means no retry).
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	rates       map[string]providers.Bucket
	// reclaimWarning is how long before release ECS announces a spot
	// reclamation through the Recycling operation lock.
	reclaimWarning time.Duration
	// intentLookup makes Launch look for instances of an earlier attempt
	// with the same intent before launching, when several vSwitches are
	// configured (per-vSwitch client tokens alone cannot prevent a retry
	// from landing in a zone that was out of stock the first time).
	intentLookup bool
}

func defaultOptions() options {
	return options{
		logger:         slog.New(slog.DiscardHandler),
		clock:          clock.RealClock{},
		connectTimeout: 5 * time.Second,
		readTimeout:    30 * time.Second,
		maxAttempts:    5,
		backoffBase:    200 * time.Millisecond,
		backoffMax:     5 * time.Second,
		// Client-side pacing kept below ECS's per-account API flow control
		// (which is counted per API per region), leaving headroom for other
		// callers of the same account.
		rates: map[string]providers.Bucket{
			ActionRunInstances:      {Rate: 10, Burst: 10},
			ActionDescribeInstances: {Rate: 20, Burst: 20},
			ActionDeleteInstances:   {Rate: 10, Burst: 10},
		},
		reclaimWarning: 5 * time.Minute,
		intentLookup:   true,
	}
}

// WithLogger sets the logger; the provider is silent by default.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClock sets the clock that dates spot interruption notices and
// launches, times retry backoffs and refills the request buckets
// (clock.RealClock{} by default; tests pass a fake one).
func WithClock(c clock.Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithStaticCredentials uses an AccessKey pair instead of the SDK's default
// credential chain (environment ALIBABA_CLOUD_ACCESS_KEY_ID /
// ALIBABA_CLOUD_ACCESS_KEY_SECRET, OIDC, the CLI profile, the credentials
// file, the ECS RAM role).
func WithStaticCredentials(accessKeyID, accessKeySecret string) Option {
	return func(o *options) {
		o.credentials = credentials.NewStaticAKCredentialsProvider(accessKeyID, accessKeySecret)
	}
}

// WithCredentialsProvider uses any SDK credentials provider (STS, RAM role
// ARN, OIDC, ...).
func WithCredentialsProvider(p credentials.CredentialsProvider) Option {
	return func(o *options) { o.credentials = p }
}

// WithTimeouts sets the SDK's connect and read timeouts for every request.
// A context deadline, when sooner, still applies.
func WithTimeouts(connect, read time.Duration) Option {
	return func(o *options) {
		if connect > 0 {
			o.connectTimeout = connect
		}
		if read > 0 {
			o.readTimeout = read
		}
	}
}

// WithRetries sets how many times one API call is tried on throttling and
// transient errors, and the capped exponential backoff between tries.
func WithRetries(maxAttempts int, base, max time.Duration) Option {
	return func(o *options) {
		if maxAttempts > 0 {
			o.maxAttempts = maxAttempts
		}
		if base > 0 {
			o.backoffBase = base
		}
		if max > 0 {
			o.backoffMax = max
		}
	}
}

// WithRateLimit paces one ECS action client-side to perSecond calls with
// the given burst. perSecond <= 0 disables pacing of that action.
func WithRateLimit(action string, perSecond float64, burst int) Option {
	return func(o *options) {
		if burst < 1 {
			burst = 1
		}
		o.rates[action] = providers.Bucket{Rate: perSecond, Burst: burst}
	}
}

// WithTransport sets the base HTTP transport (its connect timeout is then
// the transport's own).
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) { o.transport = rt }
}

// WithIntentLookup turns on or off the look-up of an earlier attempt's
// instances before a launch across several vSwitches (on by default).
func WithIntentLookup(on bool) Option {
	return func(o *options) { o.intentLookup = on }
}

func (o options) validate() error {
	for action := range o.rates {
		switch action {
		case ActionRunInstances, ActionDescribeInstances, ActionDeleteInstances:
		default:
			return fmt.Errorf("rate limit for unknown ECS action %q: valid actions are %s, %s, %s",
				action, ActionRunInstances, ActionDescribeInstances, ActionDeleteInstances)
		}
	}
	return nil
}
