package state

import (
	"time"

	"github.com/spillway-io/spillway/policy"
)

// IntentStatus is where a write-ahead intent stands.
type IntentStatus string

const (
	// IntentPending: written before the cloud call; on restart it is
	// resumed with the same client token.
	IntentPending IntentStatus = "pending"
	// IntentDone: the call returned instances (InstanceIDs).
	IntentDone IntentStatus = "done"
	// IntentFailed: the call failed for good (Error says why).
	IntentFailed IntentStatus = "failed"
)

// Intent is the write-ahead record of one launch.
type Intent struct {
	ID          string // also the basis of the client token
	Pool        string
	Provider    string
	Offering    string // offering name
	Count       int
	Floor       string // floor id, "" for demand
	Reason      string
	ClientToken string
	// Epoch is the leader term that wrote the intent (0 without a leader
	// lease). Every attempt of the launch carries it in its spillway:epoch
	// tag, so a retry by a later term repeats the first request exactly.
	Epoch int64
	// Params is a digest of the parameters the first attempt sent that come
	// from the config (offering, user data, cluster); "" when unknown. A
	// resume whose parameters no longer match cannot repeat that request.
	Params      string
	Status      IntentStatus
	Error       string
	InstanceIDs []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// IntentFilter selects intents. Zero fields match everything; Limit 0 means
// no limit.
type IntentFilter struct {
	Pool   string
	Status IntentStatus // "" any
	Limit  int
}

// Instance states.
const (
	InstanceBooting     = "booting"
	InstanceRunning     = "running"
	InstanceDraining    = "draining"
	InstanceTerminating = "terminating"
	InstanceEnded       = "ended"
)

// Instance is one burst instance the scheduler manages.
type Instance struct {
	ID, Provider, Pool string
	Offering           string // offering name
	IntentID           string
	Floor              string
	Zone               string
	InstanceType       string
	Market             string
	PrivateIP          string
	State              string // InstanceBooting, InstanceRunning, InstanceDraining, InstanceTerminating or InstanceEnded
	GPUs               int
	PricePerHour       float64
	Billing            string
	LaunchedAt         time.Time
	JoinedAt           time.Time // zero until the agent answered
	BusyGPUs           int
	IdleSince          time.Time
	DrainStartedAt     time.Time
	DrainHookAt        time.Time // when the drain hook ran (zero: not yet)
	ReclaimedAt        time.Time // when the cloud's spot reclaim notice was first seen (zero: none)
	EndedAt            time.Time // when termination was requested/observed
	EndReason          string
	UpdatedAt          time.Time
	// RanUntil is the last tick the cloud listed a terminating instance
	// running or pending after its terminate call was answered (zero:
	// never): the cloud did not act, and the row's end is then, not at
	// the call. Stored, so that a restart or the next leader ends the
	// row at the run the ledger billed.
	RanUntil time.Time
}

// InstanceFilter selects instances. Zero fields match everything.
type InstanceFilter struct {
	Pool     string
	Provider string
	// IDs, when not empty, selects only the rows of these instance ids
	// (a launch's answer: a lookup that does not read the history).
	IDs  []string
	Live bool // true: only State != InstanceEnded
	// EndedSince, when non-zero with Live, selects the rows ended at or
	// after it too.
	EndedSince time.Time
}

// Floor kinds.
const (
	FloorSchedule = "schedule"
	FloorManual   = "manual"
)

// Floor is a number of GPUs a pool keeps from Start until Until, opened by a
// schedule or a manual burst.
type Floor struct {
	ID        string
	Pool      string
	Kind      string // FloorSchedule or FloorManual
	Owner     string // schedule name or principal
	Reason    string
	GPUs      int
	Offering  string
	Start     time.Time
	Until     time.Time // zero: no end time
	CreatedAt time.Time
	EndedAt   time.Time // zero while open
	EndReason string
	// IdempotencyKey is the key the owner sent with the request that
	// opened a manual burst ("" for none): one owner's key names at most
	// one floor (see Store.CreateFloor). RequestDigest identifies that
	// request, so a retry can be told from another request reusing the
	// key.
	IdempotencyKey string
	RequestDigest  string
}

// FloorFilter selects floors. Zero fields match everything; Limit 0 means no
// limit.
type FloorFilter struct {
	Pool string
	// ActiveAt, when non-zero, selects floors with Start <= ActiveAt <
	// Until (or no Until) that were not ended at ActiveAt (EndedAt zero or
	// after it).
	ActiveAt time.Time
	Open     bool // true: only floors whose EndedAt is zero
	Kind     string
	// ByID orders the list by ID (bytewise) instead of by Start, and
	// selects only floors whose ID sorts after AfterID when it is
	// non-empty: the pages of a listing by ID.
	ByID    bool
	AfterID string
	Limit   int
}

// Decision is one decision of the scheduler for a pool.
type Decision struct {
	ID      int64
	Pool    string
	Time    time.Time
	DryRun  bool
	Summary string // one line
	Plan    []byte // JSON of the plan with its reasons and notes (opaque to state)
}

// Page sizes of the newest-first listings (Decisions, Audit).
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// DecisionFilter selects decisions. Zero fields match everything; Limit 0
// means DefaultPageLimit and larger limits are capped at MaxPageLimit.
type DecisionFilter struct {
	Pool     string
	Since    time.Time // non-zero: Time >= Since
	BeforeID int64     // non-zero: ID < BeforeID (the next page starts below the last ID seen)
	Limit    int
}

// SpendEntry is the amount one instance accrued in one budget period.
type SpendEntry struct {
	Pool, Provider, InstanceID string
	PeriodStart                time.Time
	Amount                     float64
	At                         time.Time // when the amount was computed
}

// IdleGap is one idle spell of a burst instance as the pool learned it
// (package idlegap): how long an instance of the offering waited idle for
// its next job, or, released, for the next launch of its offering. The
// scheduler stores each as it resolves, so that a restarted server keeps
// what scale_in.idle auto learned.
type IdleGap struct {
	Pool string
	// The offering's identity (policy.OfferingKey).
	Provider, Region, Zone, InstanceType, Market string
	At                                           time.Time     // when the spell resolved
	Gap                                          time.Duration // > 0, or IdleGapNever
}

// Key is the gap's offering.
func (g IdleGap) Key() policy.OfferingKey {
	return policy.OfferingKey{Provider: g.Provider, Region: g.Region, Zone: g.Zone, InstanceType: g.InstanceType, Market: policy.Market(g.Market)}
}

// IdleGapNever is the Gap of a released spell that no launch of its
// offering followed within the learning horizon (policy.IdleGapNever).
const IdleGapNever time.Duration = -1

// Hold keeps an offering out of one pool's launches until Until: the policy
// drained an instance of it that the queue left unused (policy.Plan.Unused),
// so pending jobs that seem to fit it do not start there. The scheduler
// stores each as it records it, so that a restarted server, or the next
// leader, keeps it, and a follower can show it.
type Hold struct {
	Pool string
	// The offering's identity (policy.OfferingKey).
	Provider, Region, Zone, InstanceType, Market string
	At                                           time.Time // when the hold was recorded
	Until                                        time.Time // when it lapses: after At
	Reason                                       string    // why, truncated to MaxTextLen
}

// Key is the held offering.
func (h Hold) Key() policy.OfferingKey {
	return policy.OfferingKey{Provider: h.Provider, Region: h.Region, Zone: h.Zone, InstanceType: h.InstanceType, Market: policy.Market(h.Market)}
}

// Sighting is when the sweeper first listed a stranger (an instance
// carrying the cluster's tag that no row or intent claims) whose launch
// time the cloud does not give, or gives ahead of the server's clock: the
// sweep grace runs from it. The sweeper stores each, so that a server
// restarting more often than the grace (a crash loop), or the next leader,
// sweeps the stranger the grace after its first sighting, not after its
// own.
type Sighting struct {
	Provider, ID string
	At           time.Time // when it was first listed
}

// Kinds of Unavailable: what the leader holds out of every pool's launches
// for a while after a launch failed.
const (
	// UnavailableOffering: an offering out of stock, or whose launch
	// delivered nothing (Why names the cause; empty for a stock-out).
	UnavailableOffering = "offering"
	// UnavailableQuota: a provider's region (Region empty: the whole
	// provider) after an account quota error.
	UnavailableQuota = "quota"
	// UnavailableThrottled: a provider backing off after throttling (the
	// scheduler shows it, and does not store it).
	UnavailableThrottled = "throttled"
	// UnavailableInvalid: a provider that refused a request as invalid
	// (the pool is misconfigured; the scheduler shows it, and does not
	// store it).
	UnavailableInvalid = "invalid"
)

// Unavailable is something the server's capacity cache or back-off holds
// out of launches until Until: an offering (Kind UnavailableOffering, the
// offering's identity), a region after a quota error (Provider and Region)
// or a provider (Provider alone). It is stored so that a restarted server
// or the next leader keeps skipping it, and followers show it.
type Unavailable struct {
	Kind                                         string
	Provider, Region, Zone, InstanceType, Market string
	Why                                          string    // the cause, truncated to MaxTextLen ("" for a stock-out)
	At                                           time.Time // when it was recorded
	Until                                        time.Time // when it lapses: after At
}

// OfferingKey is the held offering of an UnavailableOffering entry.
func (u Unavailable) OfferingKey() policy.OfferingKey {
	return policy.OfferingKey{Provider: u.Provider, Region: u.Region, Zone: u.Zone, InstanceType: u.InstanceType, Market: policy.Market(u.Market)}
}

// AuditEntry is one request to the operator API.
type AuditEntry struct {
	ID        int64
	Time      time.Time
	Principal string
	Role      string
	Source    string // remote address
	Action    string // e.g. "POST /v1/bursts"
	Request   string // JSON body, truncated to MaxRequestLen
	Outcome   string // "ok", "denied: ...", "error: ..."
	Status    int
}

// AuditFilter selects audit entries. Zero fields match everything; Limit 0
// means DefaultPageLimit and larger limits are capped at MaxPageLimit.
type AuditFilter struct {
	Since    time.Time // non-zero: Time >= Since
	BeforeID int64     // non-zero: ID < BeforeID
	Limit    int
}
