// Package api is Spillway's operators' surface: the authenticated JSON API
// under /v1/, the audit log of every mutating call, the server-rendered
// status page at /, and Client, the Go client the operator CLI uses.
//
// The package knows nothing of the scheduler or the store: it reads and acts
// through Backend, which the server adapts to them.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Backend is what the API needs from the server. Every method takes ctx
// first. Methods return an error wrapping ErrNotFound for an unknown pool or
// burst, ErrInvalid for a request the server cannot carry out as asked (the
// message says why), and ErrConflict for a burst that has already ended.
type Backend interface {
	// Status summarises every pool.
	Status(ctx context.Context) (Status, error)
	// Pool returns one pool in full: its latest snapshot, floors,
	// instances, spend against budget and last plan. ErrNotFound if no
	// pool has that name.
	Pool(ctx context.Context, name string) (PoolDetail, error)
	// ManualLimits returns a pool's bounds on manual bursts. ErrNotFound
	// if no pool has that name.
	ManualLimits(ctx context.Context, pool string) (ManualLimits, error)
	// Timeline returns a pool's samples since the given time, oldest
	// first. ErrNotFound if no pool has that name.
	Timeline(ctx context.Context, pool string, since time.Time) ([]TimelinePoint, error)

	// Instances lists burst instances ordered by ID, after q.After, at
	// most q.Limit of them. ErrNotFound when q.Pool names no pool (and,
	// for this and the other lists, no row of a pool since removed).
	Instances(ctx context.Context, q InstanceQuery) ([]Instance, error)
	// Decisions lists decisions newest first (by ID), older than
	// q.Before when it is non-zero, at most q.Limit of them.
	Decisions(ctx context.Context, q DecisionQuery) ([]Decision, error)
	// Bursts lists manual bursts ordered by ID, after q.After, at most
	// q.Limit; ended ones only when q.All.
	Bursts(ctx context.Context, q BurstQuery) ([]Burst, error)

	// CreateBurst starts a manual burst (a floor of r.GPUs GPUs in r.Pool
	// until now+r.For) owned by principal. The API has already checked
	// the caller's role and the pool's manual limits. ErrNotFound for an
	// unknown pool; ErrInvalid when, e.g., the offering is not the pool's.
	// When r.IdempotencyKey is set, the burst keeps it with r.Digest(),
	// durably and for as long as the burst is kept, and ErrKeyUsed says
	// that principal already has a burst with that key (BurstByKey
	// returns it): of concurrent calls with one key, one creates.
	CreateBurst(ctx context.Context, r CreateBurstRequest, principal string) (Burst, error)
	// Burst returns one manual burst, ended or not. ErrNotFound for an
	// unknown burst.
	Burst(ctx context.Context, id string) (Burst, error)
	// BurstByKey returns principal's burst created with the idempotency
	// key, as it is now, and the Digest of the request that created it.
	// ErrNotFound when principal has none with that key.
	BurstByKey(ctx context.Context, principal, key string) (Burst, string, error)
	// CancelBurst ends a manual burst now: its floor is removed and its
	// instances are drained, then terminated. ErrNotFound for an unknown
	// burst, ErrConflict for one that has already ended.
	CancelBurst(ctx context.Context, id, principal string) (Burst, error)

	// AddAudit appends one row to the audit log and returns it with its ID.
	AddAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// Audit lists audit rows newest first, older than q.Before when it is
	// non-zero, at most q.Limit.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

// Errors a Backend wraps to say what went wrong.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid request")
	ErrConflict = errors.New("conflict")
	// ErrKeyUsed: CreateBurst's idempotency key names a burst already.
	ErrKeyUsed = errors.New("idempotency key already used")
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("2h", "90m"), in either direction.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string such as "2h" or "1h30m". It
// returns a *DurationError for anything else.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &DurationError{JSON: string(b)}
	}
	v, err := time.ParseDuration(s)
	if err != nil || strings.HasPrefix(s, "+") {
		// time.ParseDuration reads "+2h" as 2h: no client writes the sign.
		return &DurationError{JSON: string(b), Value: s}
	}
	*d = Duration(v)
	return nil
}

// DurationError is a JSON value that is not a duration string. encoding/json
// does not say which field a decoder's error is about: the caller does.
type DurationError struct {
	JSON  string // the JSON value, as sent
	Value string // the string it holds; "" when it is no string
}

func (e *DurationError) Error() string {
	if e.Value == "" && !strings.HasPrefix(e.JSON, `"`) {
		return fmt.Sprintf("%s is not a duration: a duration is a string such as \"2h\" or \"90m\"", clip(e.JSON))
	}
	if strings.HasPrefix(e.Value, "+") {
		return fmt.Sprintf("%q is a duration with a sign: write it without one, such as \"2h\" or \"90m\"", clip(e.Value))
	}
	return fmt.Sprintf("%q is not a duration: use a Go duration such as \"2h\" or \"90m\"", clip(e.Value))
}

// String is the Go duration string without zero units at its end: "12h",
// "1h30m", "90s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Status is GET /v1/status.
type Status struct {
	Cluster string        `json:"cluster"`
	Time    time.Time     `json:"time"`
	DryRun  bool          `json:"dry_run,omitempty"`
	Pools   []PoolSummary `json:"pools"`
	// Leader says who leads when several servers share a PostgreSQL
	// state; absent with a single server.
	Leader *LeaderInfo `json:"leader,omitempty"`
	// Unconfigured are the open instances recorded for a pool this
	// server's config lacks (removed from it, or, mid-rollout, another
	// server's config has it): no pool here drains or ends them, the
	// sweeper keeps them, and they bill until a config with their pool
	// drains and ends them or someone ends them by hand. Those no row
	// records, kept as an intent of their pool claims them, are listed
	// too, their State "no row" and their price unknown (0). The API answers
	// the StatusUnconfigured launched first; UnconfiguredOmitted
	// counts the rest (GET /v1/instances?pool=NAME lists them). Only the
	// leader's config counts: a follower answers the open rows of pools
	// the leader's config lacks, as the leader recorded its pools with its
	// term, and UnconfiguredUnknown says the leader names those no row
	// records (when the leader recorded no pools, none, and
	// UnconfiguredUnknown says only the leader knows, naming it).
	Unconfigured        []UnconfiguredInstance `json:"unconfigured,omitempty"`
	UnconfiguredOmitted int                    `json:"unconfigured_omitted,omitempty"`
	UnconfiguredUnknown string                 `json:"unconfigured_unknown,omitempty"`
}

// StatusUnconfigured bounds Status.Unconfigured.
const StatusUnconfigured = 20

// UnconfiguredInstance is an open instance of a pool the server's config
// lacks: since its launch it has cost CostSoFar at PricePerHour, billed by
// the rule the row recorded at launch (per second, per second with a
// minute's minimum, or each started hour in full), as the ledger counts
// it once the pool is back; PricePerHour as recorded at launch, 0 when
// unknown.
type UnconfiguredInstance struct {
	Pool         string    `json:"pool"`
	Provider     string    `json:"provider"`
	ID           string    `json:"instance"`
	Offering     string    `json:"offering"`
	State        string    `json:"state"`
	Since        time.Time `json:"since"`
	PricePerHour float64   `json:"price_per_hour"`
	CostSoFar    float64   `json:"cost_so_far"`
}

// LeaderInfo is the leader lease of several servers, as the answering
// server sees it.
type LeaderInfo struct {
	// Holder is the server holding an unexpired lease ("" when none does,
	// e.g. during a failover), at Epoch, until Expires (renewed before).
	Holder  string    `json:"holder"`
	Epoch   int64     `json:"epoch"`
	Expires time.Time `json:"expires,omitzero"`
	// This is the answering server's name; Leads whether it acts now.
	This  string `json:"this"`
	Leads bool   `json:"leads"`
	// Pools is the pools of the leader's config, sorted, as it recorded
	// them with its term (absent: none holds the lease, or the leader's
	// version does not record them). A pool of the answering server that
	// is not among them is evaluated by no server.
	Pools []string `json:"pools,omitempty"`
	// Error says why the database could not be asked.
	Error string `json:"error,omitempty"`
	// LastTerm says how the answering server's last term ended, while it
	// does not lead (none before it ever led).
	LastTerm *TermEnd `json:"last_term,omitempty"`
}

// MixedConfigs warns, on a follower, of the pools of its config (pools)
// the leader's lacks (the leader recorded its pools with its term): no
// server evaluates them, launches for their floors or ends their
// instances until one whose config has them leads, as in a rollout left
// half done. "" when there are none, or the leader recorded none.
// `spillway status` and the page both say it.
func (l *LeaderInfo) MixedConfigs(pools []PoolSummary) string {
	lacks := l.lacks(pools)
	if len(lacks) == 0 {
		return ""
	}
	what, it, its := "pool "+lacks[0], "it", "its"
	if len(lacks) > 1 {
		what, it, its = "pools "+strings.Join(lacks, ", "), "them", "their"
	}
	return fmt.Sprintf("mixed configs: the leader, %s, runs a config without %s, which this server's has: no server evaluates %s, launches for %s floors or ends %s instances until one whose config has %s leads; roll the config out to every server",
		l.Holder, what, it, its, its, it)
}

// Lacks says whether the leader's config, as it recorded it, lacks pool
// (false when this server leads, none does or the leader recorded none).
func (l *LeaderInfo) Lacks(pool string) bool {
	return len(l.lacks([]PoolSummary{{Name: pool}})) == 1
}

func (l *LeaderInfo) lacks(pools []PoolSummary) []string {
	if l == nil || l.Leads || l.Holder == "" || l.Pools == nil {
		return nil
	}
	var lacks []string
	for _, p := range pools {
		if !slices.Contains(l.Pools, p.Name) {
			lacks = append(lacks, p.Name)
		}
	}
	return lacks
}

// TermEnd is how a server's term of the leader lease ended.
type TermEnd struct {
	Epoch int64     `json:"epoch"`
	Ended time.Time `json:"ended"`
	// Why says what ended it: its renewals failed (and the error), the
	// lease was lost to another server, a newer binary migrated the
	// database.
	Why string `json:"why"`
	// Error is the renewals' failure when they failed; TakenBy the server
	// that took the lease, when one did.
	Error   string `json:"error,omitempty"`
	TakenBy string `json:"taken_by,omitempty"`
}

// PoolSummary is one pool in Status and GET /v1/pools.
type PoolSummary struct {
	Name string `json:"name"`
	// On-prem: GPUs in total, running work, and allocated but idle (waste).
	OnPremTotal   int `json:"onprem_gpus"`
	OnPremBusy    int `json:"onprem_busy_gpus"`
	IdleAllocated int `json:"onprem_idle_allocated_gpus"`
	// OnPremUnhealthy are on-prem GPUs their agent reports unhealthy (a
	// wedged driver, broken memory, fallen off the bus), counted in
	// OnPremBusy: they take no job until their node is rebooted.
	OnPremUnhealthy int `json:"onprem_unhealthy_gpus"`
	// Queue demand.
	PendingJobs int      `json:"pending_jobs"`
	PendingGPUs int      `json:"pending_gpus"`
	OldestWait  Duration `json:"oldest_wait"`
	// Burst capacity: the instances booting, running or draining, and
	// their GPUs. Terminating and TerminatingGPUs count apart those the
	// cloud was asked to end and has not yet, which are no capacity: they
	// bill until it does (PoolDetail's Spend.PerHour counts them).
	Instances       int `json:"instances"`
	CloudGPUs       int `json:"cloud_gpus"`
	Terminating     int `json:"terminating,omitempty"`
	TerminatingGPUs int `json:"terminating_gpus,omitempty"`
	// Spend in the current budget period against its budget (0: none).
	Spend  float64 `json:"spend"`
	Budget float64 `json:"budget"`
	// Floors counts active schedule and manual floors; ActiveFloors are
	// they (PoolDetail.Floors), each with its reason: what holds burst
	// GPUs up now, and until when. The API answers every schedule's, then
	// the 10 newest manual bursts'; FloorsOmitted counts those left out
	// (the oldest bursts), which MoreFloors lists (GET
	// /v1/bursts?pool=NAME&limit=FloorsOmitted, at most 1000, whose next
	// cursor lists the rest).
	Floors        int     `json:"floors"`
	ActiveFloors  []Floor `json:"active_floors,omitempty"`
	FloorsOmitted int     `json:"floors_omitted,omitempty"`
	MoreFloors    string  `json:"more_floors,omitempty"`
	// Held is what the policy does not launch now (Snapshot.Held).
	Held []Held `json:"held,omitempty"`
	// Draining are the pool's draining instances (Instance.State), those
	// whose drain hook runs first, then the longest draining first: the
	// API answers statusDraining of them, and DrainingOmitted counts the
	// rest (GET /v1/instances?pool=NAME lists every instance).
	Draining        []Instance `json:"draining,omitempty"`
	DrainingOmitted int        `json:"draining_omitted,omitempty"`
	// Stale names the signals that were missing or old at the last
	// evaluation (Snapshot.Stale): the policy then holds, with no launch
	// for queue demand and no idle scale-in.
	Stale []string `json:"stale,omitempty"`
	// Evaluated, Interval and Error are Snapshot's Time, Interval and
	// Error: when the figures were read (zero: not by this server), how
	// often they are, and why the last evaluation failed. Without an
	// evaluation, or after a failed one, the on-prem and queue figures
	// are unknown.
	Evaluated time.Time `json:"evaluated,omitzero"`
	Interval  Duration  `json:"interval,omitempty"`
	Error     string    `json:"error,omitempty"`
	// TickLength, Waiting and WaitingSince are Snapshot's.
	TickLength   Duration  `json:"tick_length,omitempty"`
	Waiting      string    `json:"waiting,omitempty"`
	WaitingSince time.Time `json:"waiting_since,omitzero"`
}

// Known says whether the on-prem and queue figures were read: the pool
// was evaluated, and its last evaluation did not fail.
func (s Snapshot) Known() bool { return !s.Time.IsZero() && s.Error == "" }

// Late says whether, at now, the figures are older than LateAfter: the
// evaluations have stopped or are slower than their cloud calls explain.
func (s Snapshot) Late(now time.Time) bool {
	return !s.Time.IsZero() && now.Sub(s.Time) > s.LateAfter()
}

// Overdue says whether, at now, an evaluation was due and has not come:
// the figures are older than two intervals.
func (s Snapshot) Overdue(now time.Time) bool {
	return !s.Time.IsZero() && now.Sub(s.Time) > 2*time.Duration(s.Interval)
}

// WaitingOn says what the pool's tick is waiting on ("a call to aws-use1
// since 10:01:02 UTC, 4m0s ago"), or "" when that is not known.
func (s Snapshot) WaitingOn(now time.Time) string {
	if s.Waiting == "" {
		return ""
	}
	w := "a call to " + s.Waiting
	if !s.WaitingSince.IsZero() {
		w += fmt.Sprintf(" since %s, %s ago", s.WaitingSince.UTC().Format("15:04:05 UTC"), Duration(now.Sub(s.WaitingSince).Round(time.Second)))
	}
	return w
}

// TickWait says how long a tick may wait on its cloud calls ("a tick may
// wait up to 20m on its cloud calls"), or "" when that is not known.
func (s Snapshot) TickWait() string {
	if s.TickLength <= 0 {
		return ""
	}
	return fmt.Sprintf("a tick may wait up to %s on its cloud calls", s.TickLength)
}

// LateAfter is how old the figures may grow before they are out of date:
// three intervals (and a minute), and a tick's length (TickLength), as a
// tick waiting on slow cloud calls delays the next evaluation by up to
// that much without anything being stuck.
func (s Snapshot) LateAfter() time.Duration {
	return max(3*time.Duration(s.Interval), time.Minute) + time.Duration(s.TickLength)
}

// Snapshot is what the policy last saw in a pool.
type Snapshot struct {
	// Time is when the pool was last evaluated; zero when this server has
	// not evaluated it (it has just started, or it follows: the leader
	// reads the signals). Then, or when Error says that evaluation failed,
	// the on-prem and queue figures are unknown (zero here), not zero.
	Time time.Time `json:"time"`
	// Interval is how often the pool is evaluated.
	Interval Duration `json:"interval,omitempty"`
	// Error says why the last evaluation failed.
	Error string `json:"error,omitempty"`
	// TickLength is the longest one tick may take waiting on its cloud
	// calls one after another (twice the longest call_timeout of the
	// pool's providers, and the drain hooks': config.TickLength), so how
	// much later than Interval the next evaluation may come.
	TickLength Duration `json:"tick_length,omitempty"`
	// Waiting names the provider whose call the pool's tick is waiting
	// on now, and since when, when this server is ticking the pool.
	Waiting       string    `json:"waiting,omitempty"`
	WaitingSince  time.Time `json:"waiting_since,omitzero"`
	OnPremTotal   int       `json:"onprem_gpus"`
	OnPremBusy    int       `json:"onprem_busy_gpus"`
	IdleAllocated int       `json:"onprem_idle_allocated_gpus"`
	// OnPremUnhealthy are GPUs of OnPremBusy their agent reports unhealthy.
	OnPremUnhealthy int      `json:"onprem_unhealthy_gpus"`
	PendingJobs     int      `json:"pending_jobs"`
	PendingGPUs     int      `json:"pending_gpus"`
	OldestWait      Duration `json:"oldest_wait"`
	// Stale names signals that were missing or old.
	Stale []string `json:"stale,omitempty"`
	// Held names what the policy does not launch now, and why: offerings
	// out of stock (the capacity cache, a join timeout) or left unused by
	// the queue, and providers or regions blocked by a quota or by the
	// provider refusing calls.
	Held []Held `json:"held,omitempty"`
	// LeftOut names the queued jobs the demand sources did not count, and
	// why ("slurm:gpu: 3 jobs pending for QOSMaxGRESPerUser");
	// CountedLarger is the jobs counted as a larger shape than their GPUs,
	// for their CPUs or memory.
	LeftOut       []string `json:"left_out,omitempty"`
	CountedLarger int      `json:"counted_larger,omitempty"`
}

// Held is one offering, provider or region the policy does not launch now.
type Held struct {
	What  string    `json:"what"`
	Why   string    `json:"why"`
	Until time.Time `json:"until"`
}

// Spend is a pool's spend in its budget period.
type Spend struct {
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	Accrued     float64   `json:"accrued"`
	// Budget is the period's budget; 0 when the pool has none.
	Budget float64 `json:"budget"`
	// PerHour is what the running instances cost per hour now.
	PerHour float64 `json:"per_hour"`
}

// ManualLimits bound one manual burst in a pool.
type ManualLimits struct {
	// MaxGPUs is the most one manual burst may ask for; 0 refuses them.
	MaxGPUs int `json:"max_gpus"`
	// MaxTTL is the longest one may last; 0 is no limit.
	MaxTTL Duration `json:"max_ttl"`
}

// Floor keeps at least GPUs burst GPUs in a pool until Until.
type Floor struct {
	Kind string `json:"kind"` // schedule or manual
	// Owner is the schedule's name, or the principal who opened the
	// manual burst (as on the instances it holds).
	Owner    string    `json:"owner"`
	Reason   string    `json:"reason,omitempty"`
	GPUs     int       `json:"gpus"`
	Until    time.Time `json:"until"`
	Offering string    `json:"offering,omitempty"`
	// Burst is the manual burst's ID (manual floors only).
	Burst string `json:"burst,omitempty"`
	// Waiting and HeldBy say why the pool's last evaluation left the
	// floor short of its GPUs, as on Burst.
	Waiting string `json:"waiting,omitempty"`
	HeldBy  string `json:"held_by,omitempty"`
	// WaitingUnknown, from a server that does not lead (which evaluates
	// nothing), says it does not know what the floor waits for and names
	// the leader to ask, as on Burst.
	WaitingUnknown string `json:"waiting_unknown,omitempty"`
}

// Instance is one burst instance.
type Instance struct {
	ID           string `json:"id"`
	Pool         string `json:"pool"`
	Provider     string `json:"provider"`
	Offering     string `json:"offering"`
	InstanceType string `json:"instance_type"`
	Zone         string `json:"zone,omitempty"`
	Spot         bool   `json:"spot"`
	GPUs         int    `json:"gpus"`
	BusyGPUs     int    `json:"busy_gpus"`
	// State is booting, running, draining or terminating; or "no row"
	// for an instance of a pool the config lacks that no row records,
	// which the sweeper keeps as an intent of its pool claims it (as
	// Status.Unconfigured lists it): its InstanceType, Zone, GPUs and
	// PricePerHour are unknown (empty, 0), LaunchedAt as the sweeper
	// takes it.
	State        string    `json:"state"`
	LaunchedAt   time.Time `json:"launched_at"`
	PricePerHour float64   `json:"price_per_hour"`
	// Floor is the owner of the floor that holds it, if any (a schedule's
	// name, or the principal who opened a manual burst), and Burst the
	// manual burst's ID when that floor is one. An active floor holds the
	// instances launched for it and those it keeps from scale-in that no
	// active floor launched (launched for queue demand, or for a floor that
	// has ended); an instance no active floor holds is shown with the floor
	// it was launched for (a cancelled burst's, draining).
	Floor string `json:"floor,omitempty"`
	Burst string `json:"burst,omitempty"`
	// DrainingSince is when the instance began draining (state draining).
	// DrainHook is the pool's drain hook for it: running (since
	// DrainHookSince: the instance reads draining from then, recorded so
	// once the hook returns), done (it ran at DrainHookSince, failed or
	// not: the decision says), or absent (no hook, or not draining).
	DrainingSince  time.Time `json:"draining_since,omitzero"`
	DrainHook      string    `json:"drain_hook,omitempty"`
	DrainHookSince time.Time `json:"drain_hook_since,omitzero"`
}

// Drain hook states of an Instance.
const (
	DrainHookRunning = "running"
	DrainHookDone    = "done"
)

// Action is one step of a plan, with its reason.
type Action struct {
	Kind      string   `json:"kind"` // launch, drain, terminate, hold
	Offering  string   `json:"offering,omitempty"`
	Count     int      `json:"count,omitempty"`
	Instances []string `json:"instances,omitempty"`
	Reason    string   `json:"reason"`
}

// Plan is the policy's last decision for a pool.
type Plan struct {
	Time    time.Time `json:"time"`
	Actions []Action  `json:"actions"`
	// Notes explain why nothing (more) was done, e.g. "budget reached".
	Notes []string `json:"notes,omitempty"`
}

// PoolDetail is GET /v1/pools/{pool}.
type PoolDetail struct {
	Name      string       `json:"name"`
	Snapshot  Snapshot     `json:"snapshot"`
	Spend     Spend        `json:"spend"`
	Manual    ManualLimits `json:"manual"`
	Floors    []Floor      `json:"floors"` // active ones
	Instances []Instance   `json:"instances"`
	LastPlan  *Plan        `json:"last_plan,omitempty"`
	// The API answers the schedules' floors, then the 100 newest manual
	// bursts', and the first 100 instances by ID: the
	// Omitted fields count the rest, and the More fields are where to list
	// them (the oldest active bursts; the next page of GET /v1/instances).
	FloorsOmitted    int    `json:"floors_omitted,omitempty"`
	MoreFloors       string `json:"more_floors,omitempty"`
	InstancesOmitted int    `json:"instances_omitted,omitempty"`
	MoreInstances    string `json:"more_instances,omitempty"`
}

// Decision is one stored decision: an action the policy took, with why.
// Offering and Count are what launched (offerings joined by ", " when
// more than one did; in a dry run, what would have); when every launch
// failed, Offering is the first tried and Count is 0.
type Decision struct {
	ID        int64     `json:"id"`
	Pool      string    `json:"pool"`
	Time      time.Time `json:"time"`
	Kind      string    `json:"kind"`
	Offering  string    `json:"offering,omitempty"`
	Count     int       `json:"count,omitempty"`
	Instances []string  `json:"instances,omitempty"`
	Reason    string    `json:"reason"`
}

// Burst is a manual burst.
type Burst struct {
	ID        string    `json:"id"`
	Pool      string    `json:"pool"`
	GPUs      int       `json:"gpus"`
	Offering  string    `json:"offering,omitempty"`
	Reason    string    `json:"reason"`
	Owner     string    `json:"owner"`
	CreatedAt time.Time `json:"created_at"`
	Until     time.Time `json:"until"`
	// State is active, ended (its time ran out) or cancelled.
	State       string    `json:"state"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	CancelledBy string    `json:"cancelled_by,omitempty"`
	// Instances counts the live instances it holds (see Instance.Floor):
	// those launched for it and, while it is active, those it keeps.
	Instances int `json:"instances"`
	// LaunchingGPUs counts the GPUs of launches committed for it whose
	// instances are not recorded yet: a launch in flight, or one waiting
	// to be resumed after a transient failure. They become Instances once
	// the cloud answers.
	LaunchingGPUs int `json:"launching_gpus"`
	// Waiting says why the pool's last evaluation (at WaitingAt) left the
	// active burst short of its GPUs: the limit with its numbers, or why
	// no offering could be launched (out of stock, held after a failed
	// launch, quota), in the words of the decision's note. HeldBy names
	// the limit (budget, max_gpus, max_cost_per_hour), or no_offering;
	// launch_held when its launch is committed (LaunchingGPUs) and held
	// back from its call (after a call that timed out, or a while after a
	// restart or failover found it pending); no_pool when the config no
	// longer has the burst's pool.
	// Empty when nothing holds it back, and on a server that does not
	// lead (its last evaluation is not the leader's): there, while the
	// burst is active, WaitingUnknown says so and names the leader to ask.
	Waiting        string    `json:"waiting,omitempty"`
	HeldBy         string    `json:"held_by,omitempty"`
	WaitingAt      time.Time `json:"waiting_at,omitzero"`
	WaitingUnknown string    `json:"waiting_unknown,omitempty"`
	// Replayed says that POST /v1/bursts opened nothing: an earlier
	// request with the same Idempotency-Key created this burst.
	Replayed bool `json:"replayed,omitempty"`
}

// CreateBurstRequest is POST /v1/bursts.
type CreateBurstRequest struct {
	Pool     string   `json:"pool"`
	GPUs     int      `json:"gpus"`
	For      Duration `json:"for"`
	Reason   string   `json:"reason"`
	Offering string   `json:"offering,omitempty"`
	// IdempotencyKey travels as the Idempotency-Key header, not in the
	// body: a request sent again with the same key (a retry after a
	// timeout) returns the burst the first created instead of a second.
	IdempotencyKey string `json:"-"`
}

// Digest identifies the request's burst (every field but the key), so that
// a retry with a key can be told from another request reusing it.
func (r CreateBurstRequest) Digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %d %d %q %q", r.Pool, r.GPUs, int64(r.For), r.Reason, r.Offering)
	return hex.EncodeToString(h.Sum(nil))
}

// TimelinePoint is one sample of a pool's history, for the page's chart.
type TimelinePoint struct {
	Time       time.Time `json:"time"`
	OnPremBusy int       `json:"onprem_busy_gpus"`
	// CloudGPUs is the burst capacity's GPUs, as PoolSummary.CloudGPUs:
	// none of an instance terminating.
	CloudGPUs  int `json:"cloud_gpus"`
	QueuedGPUs int `json:"queued_gpus"`
	// Spend is the period's accrued spend at that time.
	Spend float64 `json:"spend"`
}

// AuditEntry is one row of the audit log: a mutating call, who made it,
// from where, what it asked and what came of it — refusals included.
type AuditEntry struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"` // token name, or "" when none was valid
	Role      string    `json:"role,omitempty"`
	Source    string    `json:"source"` // remote address
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Request   string    `json:"request,omitempty"` // the request body, bounded
	Status    int       `json:"status"`
	Outcome   string    `json:"outcome"` // what happened, or why it was refused
}

// Queries for the list methods.
type (
	InstanceQuery struct {
		Pool  string
		After string
		Limit int
	}
	DecisionQuery struct {
		Pool   string
		Since  time.Time
		Before int64
		Limit  int
	}
	BurstQuery struct {
		Pool  string
		All   bool
		After string
		Limit int
	}
	AuditQuery struct {
		Before int64
		Limit  int
	}
)

// Page is what every list endpoint returns: the items and, when there are
// more, the cursor to pass as ?cursor= for the next page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
	// Since is where a since= given as a duration ("1h", back from the
	// server's now) or a time put the start of the window: the next page
	// asks for since= this time, so that the window stays where the first
	// page set it rather than moving with the server's clock.
	Since time.Time `json:"since,omitzero"`
}
