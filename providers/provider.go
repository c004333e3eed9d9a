// Package providers defines the contract every cloud backend implements, the
// error taxonomy the scheduler acts on, and the capacity-failure cache the
// policy reads.
package providers

import (
	"context"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// Tag keys Spillway writes on every instance it launches.
const (
	TagCluster = "spillway:cluster"
	TagPool    = "spillway:pool"
	TagBurst   = "spillway:burst"
	TagIntent  = "spillway:intent"
)

// ResumeWindow is how long after a launch's intent was written the
// scheduler may call Launch again with its client token (resuming a launch
// a crash or a lost answer left unanswered); after it the intent is failed
// and its token never sent again. A provider that keeps its own record of
// client tokens must keep each one at least this long after the token's
// last call, or a resume could launch its instances twice.
const ResumeWindow = time.Hour

// Provider rents and releases instances in one cloud account and region.
// Implementations must be safe for concurrent use.
type Provider interface {
	// Name is the provider's name from the config.
	Name() string

	// Launch starts up to req.Count instances of req.Offering, at least
	// req.MinCount. The same req.ClientToken with the same parameters returns
	// the same instances and never creates duplicates. Launch returns a
	// *CapacityError when the offering is out of stock in every zone tried,
	// a *QuotaError when an account limit is hit, a *ThrottledError when
	// retries were exhausted, a *InvalidError on bad parameters or
	// credentials, and a *TransientError otherwise.
	Launch(ctx context.Context, req LaunchRequest) ([]Instance, error)

	// List returns every instance carrying Spillway's cluster tag with the
	// given value (and pool, when filter.Pool is set), in any state but
	// terminated. Instances without Spillway's tags are never returned.
	List(ctx context.Context, filter ListFilter) ([]Instance, error)

	// Describe returns the named instances. Ids that no longer exist are
	// omitted, not an error.
	Describe(ctx context.Context, ids []string) ([]Instance, error)

	// Terminate ends the named instances. Ids that are already gone or
	// terminating are not an error: Terminate is idempotent. An id the
	// cloud does not know yet because it launched it moments ago (its
	// eventual consistency, ConsistencyWindow) is not gone: Terminate
	// waits for it (up to ConsistencyWait) or returns a *TransientError.
	// When some ids were ended and others not (one batch of several
	// failed), Terminate returns a *TerminateError naming both, wrapping
	// the failure's typed error; any other error means none was ended.
	Terminate(ctx context.Context, ids []string) error
}

// LaunchRequest asks a provider for instances.
type LaunchRequest struct {
	Offering policy.Offering
	Count    int
	// MinCount is the fewest instances acceptable; below it the launch fails
	// with a *CapacityError and nothing is kept. Zero means Count.
	MinCount int
	// ClientToken makes the launch idempotent; at most 64 characters. It is
	// sent again for at most ResumeWindow after the launch's intent was
	// written.
	ClientToken string
	// Tags are added to every instance (Spillway's own tags included).
	Tags map[string]string
	// UserData is the rendered bootstrap script.
	UserData string
}

// ListFilter selects Spillway's instances.
type ListFilter struct {
	Cluster string
	Pool    string
}

// State is a cloud instance's lifecycle state, normalised across clouds.
type State string

const (
	StatePending      State = "pending"
	StateRunning      State = "running"
	StateShuttingDown State = "shutting-down"
	// StateStopping is an instance on its way to stopped: EC2's
	// "stopping", or ECS's "Stopping" of an instance this provider did not
	// delete (ECS shows one it is releasing alike, so a provider that
	// restarted since its delete cannot tell the two apart). Unlike
	// StateStopped, it may still be an end the cloud is carrying out.
	StateStopping State = "stopping"
	// StateStopped is an instance stopped (by someone other than
	// Spillway): it runs nothing, yet bills until it is terminated.
	StateStopped    State = "stopped"
	StateTerminated State = "terminated"
	// StateUnknown is a state the cloud reported that the provider does
	// not know (one the cloud added later): the instance exists and may
	// bill, so it is neither gone nor capacity to wait for.
	StateUnknown State = "unknown"
)

// Instance is one cloud instance as a provider reports it.
type Instance struct {
	ID           string
	Provider     string
	Region       string
	Zone         string
	InstanceType string
	Market       policy.Market
	State        State
	LaunchTime   time.Time
	Tags         map[string]string
	PrivateIP    string
	// InterruptionNotice is set when the cloud announced it will reclaim a
	// spot instance; the time is when it will.
	InterruptionNotice *time.Time
}
