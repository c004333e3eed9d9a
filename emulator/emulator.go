// Package emulator serves HTTP emulations of the parts of the AWS EC2 Query API
// and the Alibaba Cloud ECS RPC API that Spillway calls, so that the real SDKs
// can be exercised on loopback without a cloud account.
//
// One Emulator holds one shared world: instances, per instance type and zone
// stock, client-token records, throttling buckets and injected faults. Its
// EC2Handler and ECSHandler speak the two wire protocols over that world, and
// both also serve the JSON control API under /_emulator/.
//
// Instance states are derived from timestamps and the injected clock whenever
// they are read, so the emulator starts no goroutines of its own and a fake
// clock moves instances from pending to running (and from shutting-down to
// terminated) without sleeping.
package emulator

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure an Emulator. The zero value is a fast, fault-free,
// unthrottled emulator with unlimited stock.
type Options struct {
	// BootDelay is how long an instance stays pending before it runs; an
	// instance being terminated spends the same time shutting down.
	BootDelay time.Duration
	// FaultRate is the fraction (0..1) of API calls answered with a 5xx
	// (InternalError or ServiceUnavailable) without being executed.
	FaultRate float64
	// Latency is added to every API call before it is executed.
	Latency time.Duration
	// Throttle enforces the request-rate token buckets (see throttle.go).
	Throttle bool
	// ConsistencyLag models the clouds' eventual consistency: for this long
	// after its launch an instance is missing from every Describe call and
	// unknown to TerminateInstances and DeleteInstances (EC2
	// InvalidInstanceID.NotFound, ECS InvalidInstanceId.NotFound), as EC2
	// and ECS may answer for some seconds after RunInstances. A launch
	// replayed with its client token still returns its instances. Zero
	// (the default) shows every instance at once.
	ConsistencyLag time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// RequestClock is the cloud's clock against which the time each
	// request was signed with is checked (MaxRequestSkew); nil means
	// time.Now. It is not Clock: the SDKs sign with the machine's clock,
	// while a test's Clock may be a fake one hours away. A test sets it
	// off time.Now to play a machine whose clock is wrong.
	RequestClock func() time.Time
	// Logger receives one debug record per call; nil means silent.
	Logger *slog.Logger
	// Seed seeds the generator of ids and faults; 0 picks a random seed.
	Seed uint64
	// ReadTimeout bounds how long Serve waits for a request's headers and
	// body (a client that announces more than it sends is cut off);
	// IdleTimeout how long it keeps an idle keep-alive connection. Zero
	// means DefaultReadTimeout and DefaultIdleTimeout.
	ReadTimeout, IdleTimeout time.Duration
	// MaxInstances bounds the instances kept per API (see the constant);
	// 0 means MaxInstances.
	MaxInstances int
	// MaxInstanceBytes bounds the user data, tags and names the instances
	// kept per API carry (see the constant); 0 means MaxInstanceBytes.
	MaxInstanceBytes int
	// PrivateIPs, when valid, is the range private addresses are handed out
	// from, in launch order and wrapping around (e.g. 127.1.0.0/16, so that
	// a test or the demo can serve a simulated agent at each instance's
	// address). The zero value hands out 10.ZONE.x.y addresses.
	PrivateIPs netip.Prefix
}

// API names the protocol an instance was launched through.
const (
	APIEC2 = "ec2"
	APIECS = "ecs"
)

// Defaults for requests that name no region.
const (
	DefaultEC2Region = "us-east-1"
	DefaultECSRegion = "cn-hangzhou"
)

// TerminatedRetention is how long EC2 keeps listing a terminated instance, as
// the real service does (about an hour).
const TerminatedRetention = time.Hour

// Tag is one key/value tag on an instance, in the order it was given.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Instance is a snapshot of one emulated instance, for assertions.
type Instance struct {
	ID           string `json:"id"`
	API          string `json:"api"` // APIEC2 or APIECS
	Region       string `json:"region"`
	Zone         string `json:"zone"`
	SubnetID     string `json:"subnet_id"` // subnet (EC2) or vSwitch (ECS)
	InstanceType string `json:"instance_type"`
	ImageID      string `json:"image_id"`
	// State is EC2's vocabulary for both APIs: pending, running,
	// stopping, stopped, shutting-down, terminated.
	State       string    `json:"state"`
	Spot        bool      `json:"spot"`
	LaunchTime  time.Time `json:"launch_time"`
	Tags        []Tag     `json:"tags,omitempty"`
	PrivateIP   string    `json:"private_ip"`
	ClientToken string    `json:"client_token,omitempty"`
	UserData    string    `json:"user_data,omitempty"` // decoded
	// AccessKeyID is the access key id the launch was signed with (the
	// SigV4 credential's first part on EC2, AccessKeyId on ECS): which of
	// several accounts' credentials a client used. Signatures are not
	// checked.
	AccessKeyID string `json:"access_key_id,omitempty"`
	// InterruptAt is when a spot interruption announced with Interrupt
	// takes the instance away.
	InterruptAt *time.Time `json:"interrupt_at,omitempty"`
}

// Emulator is an in-memory cloud shared by the EC2 and ECS handlers. It is
// safe for concurrent use.
type Emulator struct {
	clock        func() time.Time
	requestClock func() time.Time
	logger       *slog.Logger

	mu        sync.Mutex
	rng       *rand.Rand
	bootDelay time.Duration
	faultRate float64
	latency   time.Duration
	throttle  bool
	lag       time.Duration

	readTimeout, idleTimeout time.Duration
	maxInstances             int
	maxInstanceBytes         int

	instances map[string]*record
	kept      map[string]int         // instances kept per API, terminated ones included
	keptBytes map[string]int         // their payload (record.payload), per API
	order     []*record              // launch order
	byOffer   map[stockKey][]*record // by instance type and zone, for stock
	byAccount map[quotaKey][]*record // by API and region, for quotas
	stock     map[stockKey]int
	offered   map[stockKey]bool // false: the type (or "" every type) is not sold in the zone
	quotas    map[quotaKey]int  // vCPU quotas
	tokens    map[string]*tokenRecord
	calls     map[string]int
	stalls    map[string]*stall
	buckets   map[string]*bucket
	regions   map[string]map[string]bool // served, by API (MaxRegions each)
	ipSeq     int
	ipRange   netip.Prefix
	// large holds a token per large answer in flight (admitLarge).
	large chan struct{}
}

// New returns an Emulator configured by opts.
func New(opts Options) *Emulator {
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	requestClock := opts.RequestClock
	if requestClock == nil {
		requestClock = time.Now
	}
	return &Emulator{
		clock:            clock,
		requestClock:     requestClock,
		logger:           logger,
		rng:              rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		bootDelay:        opts.BootDelay,
		faultRate:        opts.FaultRate,
		latency:          opts.Latency,
		throttle:         opts.Throttle,
		lag:              max(opts.ConsistencyLag, 0),
		readTimeout:      cmp.Or(opts.ReadTimeout, DefaultReadTimeout),
		idleTimeout:      cmp.Or(opts.IdleTimeout, DefaultIdleTimeout),
		maxInstances:     cmp.Or(opts.MaxInstances, MaxInstances),
		maxInstanceBytes: cmp.Or(opts.MaxInstanceBytes, MaxInstanceBytes),
		instances:        map[string]*record{},
		kept:             map[string]int{},
		keptBytes:        map[string]int{},
		byOffer:          map[stockKey][]*record{},
		byAccount:        map[quotaKey][]*record{},
		stock:            map[stockKey]int{},
		offered:          map[stockKey]bool{},
		quotas:           map[quotaKey]int{},
		tokens:           map[string]*tokenRecord{},
		calls:            map[string]int{},
		stalls:           map[string]*stall{},
		buckets:          map[string]*bucket{},
		regions:          map[string]map[string]bool{},
		ipRange:          opts.PrivateIPs.Masked(),
		large:            make(chan struct{}, MaxLargeAnswers),
	}
}

// SetFaultRate sets the fraction (0..1) of calls answered with a 5xx.
func (e *Emulator) SetFaultRate(r float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faultRate = min(max(r, 0), 1)
}

// SetLatency sets the delay added to every API call.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = max(d, 0)
}

// SetBootDelay sets the pending→running (and shutting-down→terminated) delay
// for instances launched or terminated from now on.
func (e *Emulator) SetBootDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bootDelay = max(d, 0)
}

// SetConsistencyLag sets how long instances launched from now on stay
// invisible to Describe, Terminate and Delete calls (Options.ConsistencyLag).
func (e *Emulator) SetConsistencyLag(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lag = max(d, 0)
}

// SetThrottle turns the request-rate buckets on or off. Turning them on
// starts every bucket full.
func (e *Emulator) SetThrottle(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if on && !e.throttle {
		e.buckets = map[string]*bucket{}
	}
	e.throttle = on
}

type stall struct {
	n int
	d time.Duration
}

// StallResponses makes the next n calls of action execute normally and then
// hold their response for d, which a client with a shorter timeout sees as a
// lost response. action is an action name ("RunInstances", matching both
// APIs) or one qualified by its API ("ec2:RunInstances", "ecs:RunInstances").
// n <= 0 clears the stall.
func (e *Emulator) StallResponses(action string, n int, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n <= 0 {
		delete(e.stalls, action)
		return
	}
	e.stalls[action] = &stall{n: n, d: d}
}

// StallEntry is one armed stall: the next Count calls of Action hold
// their response for Duration.
type StallEntry struct {
	Action   string   `json:"action"`
	Count    int      `json:"count"`
	Duration Duration `json:"duration"`
}

// Stalls lists the armed stalls, by action.
func (e *Emulator) Stalls() []StallEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []StallEntry{}
	for _, action := range sortedKeys(e.stalls) {
		s := e.stalls[action]
		out = append(out, StallEntry{Action: action, Count: s.n, Duration: Duration(s.d)})
	}
	return out
}

// takeStall returns how long the response of this call must be held.
func (e *Emulator) takeStall(api, action string) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range []string{api + ":" + action, action} {
		if s, ok := e.stalls[k]; ok && s.n > 0 {
			s.n--
			if s.n == 0 {
				delete(e.stalls, k)
			}
			return s.d
		}
	}
	return 0
}

// Interrupt announces a spot interruption: the instance keeps running for
// `in`, then shuts down and terminates as if reclaimed. EC2 reports the
// termination reason as Server.SpotInstanceTermination; ECS shows the
// Recycling operation lock from the notice on. It reports whether the
// instance exists and is not already terminating.
func (e *Emulator) Interrupt(instanceID string, in time.Duration) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	r, ok := e.instances[instanceID]
	if !ok {
		return false
	}
	if s := r.stopStart(); s != nil && !s.After(now) {
		return false
	}
	at := now.Add(max(in, 0))
	r.noticeAt = &now
	r.interruptAt = &at
	if r.terminateAt == nil {
		r.stopDelay = e.bootDelay
	}
	return true
}

// Instances returns every instance kept, terminated ones included, in
// launch order. Terminated instances are forgotten, oldest first, only
// when an API's MaxInstances are reached.
func (e *Emulator) Instances() []Instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	out := make([]Instance, 0, len(e.order))
	for _, r := range e.order {
		out = append(out, r.snapshot(now))
	}
	return out
}

// Calls returns how many calls of action were received, including those
// answered with an injected fault or a throttling error. A bare action name
// counts both APIs; "ec2:RunInstances" or "ecs:RunInstances" counts one.
func (e *Emulator) Calls(action string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if strings.Contains(action, ":") {
		return e.calls[action]
	}
	return e.calls[APIEC2+":"+action] + e.calls[APIECS+":"+action]
}

// countCall records a received call.
func (e *Emulator) countCall(api, action string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[api+":"+action]++
}

// injectFault decides whether this call fails with a 5xx, and which one.
func (e *Emulator) injectFault() (fail bool, unavailable bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.faultRate <= 0 || e.rng.Float64() >= e.faultRate {
		return false, false
	}
	return true, e.rng.IntN(2) == 1
}

// wait sleeps for the configured latency or until ctx ends.
func (e *Emulator) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *Emulator) currentLatency() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.latency
}

// apiError is a refusal in the cloud's own vocabulary; each protocol renders
// it in its own envelope.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// newRequestID returns a UUID-shaped request id.
func (e *Emulator) newRequestID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, b := e.rng.Uint64(), e.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

const hexDigits = "0123456789abcdef"
const alnum = "0123456789abcdefghijklmnopqrstuvwxyz"

// newIDLocked returns prefix + n random characters from alphabet, unique
// among instances. e.mu must be held.
func (e *Emulator) newIDLocked(prefix, alphabet string, n int) string {
	for {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[e.rng.IntN(len(alphabet))]
		}
		id := prefix + string(b)
		if _, taken := e.instances[id]; !taken {
			return id
		}
	}
}

// serveControlOr routes /_emulator/ to the control API and everything else
// to api.
func (e *Emulator) serveControlOr(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/_emulator/", e.controlHandler())
	mux.Handle("/", api)
	return mux
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
