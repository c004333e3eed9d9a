package providers

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Eventual consistency. EC2 and ECS may answer "not found" (EC2
// InvalidInstanceID.NotFound, ECS InvalidInstanceId.NotFound, or an
// instance missing from DescribeInstances) for an instance for some seconds
// after RunInstances returned it. A provider that took such an answer for
// "already gone" would report a terminate of a fresh instance as done and
// leave it running. RecentLaunches lets it tell the two apart.
const (
	// ConsistencyWindow is how long after a launch a "not found" for one
	// of its instances means the cloud has not caught up, not that the
	// instance is gone: the worst-case listing lag Spillway allows for.
	// The scheduler waits as long for a new instance to be listed before
	// it counts it as vanished, and as long after it finds a pending
	// intent it did not call itself (a restart, a failover) before it
	// calls it again.
	ConsistencyWindow = 2 * time.Minute
	// ConsistencyWait is how long one Terminate call waits, polling with
	// backoff from ConsistencyPoll, for fresh instances the cloud does not
	// know yet before it returns a *TransientError for them (the caller
	// retries later). It is well within a tick's call timeout.
	ConsistencyWait = 8 * time.Second
	ConsistencyPoll = 250 * time.Millisecond
)

// RecentLaunches remembers when this process launched each instance, for
// ConsistencyWindow (or, made by NewRecent, when something else happened
// to each, for another window). It is safe for concurrent use; the zero
// value is not usable, call NewRecentLaunches or NewRecent.
type RecentLaunches struct {
	clock  clock.Clock
	window time.Duration
	mu     sync.Mutex
	at     map[string]time.Time
}

// NewRecentLaunches returns an empty record of launches dated by c.
func NewRecentLaunches(c clock.Clock) *RecentLaunches {
	return NewRecent(c, ConsistencyWindow)
}

// NewRecent returns an empty record dated by c that remembers each id
// for window.
func NewRecent(c clock.Clock, window time.Duration) *RecentLaunches {
	return &RecentLaunches{clock: c, window: window, at: map[string]time.Time{}}
}

// Add records that ids were launched now (a replayed launch renews them),
// and forgets the launches older than the window.
func (r *RecentLaunches) Add(ids ...string) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, at := range r.at {
		if now.Sub(at) >= r.window {
			delete(r.at, id)
		}
	}
	for _, id := range ids {
		r.at[id] = now
	}
}

// Ended forgets ids: the cloud accepted their termination, so it knew
// them, and a later "not found" for one of them means it is gone, not that
// it is too fresh to be known.
func (r *RecentLaunches) Ended(ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		delete(r.at, id)
	}
}

// Fresh returns those of ids launched less than the window ago, in their
// order.
func (r *RecentLaunches) Fresh(ids []string) []string {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range ids {
		if at, ok := r.at[id]; ok && now.Sub(at) < r.window {
			out = append(out, id)
		}
	}
	return out
}

// Len is how many launches are remembered.
func (r *RecentLaunches) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

// WaitConsistency waits d on c, or until ctx ends (its error then).
func WaitConsistency(ctx context.Context, c clock.Clock, d time.Duration) error {
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
	}
	return nil
}

// LaunchAttempts remembers, per client token, the subnets (vSwitches) in
// which this process's launch calls with that token may have created
// instances: calls that succeeded, and calls whose outcome it never learnt
// (a lost answer, a timeout, a throttle after the call was executed). A
// retry of the launch resumes there instead of trusting a listing, which
// an eventually consistent cloud may not have brought up to date: its
// client-token records are consistent, its DescribeInstances is not.
// Entries are kept for ResumeWindow after their last note, in memory only:
// a restarted process has none, so the scheduler resumes an intent it
// did not call itself only ConsistencyWindow after it found it, when the
// listing shows what earlier calls launched (docs/ha.md). It is safe for
// concurrent use; call NewLaunchAttempts.
type LaunchAttempts struct {
	clock clock.Clock
	mu    sync.Mutex
	m     map[string]*launchAttempt
}

type launchAttempt struct {
	where []string
	at    time.Time
}

// NewLaunchAttempts returns an empty record dated by c.
func NewLaunchAttempts(c clock.Clock) *LaunchAttempts {
	return &LaunchAttempts{clock: c, m: map[string]*launchAttempt{}}
}

// Note records that a call with token went to where, and forgets the
// tokens not noted for ResumeWindow.
func (a *LaunchAttempts) Note(token, where string) {
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for t, at := range a.m {
		if now.Sub(at.at) >= ResumeWindow {
			delete(a.m, t)
		}
	}
	at := a.m[token]
	if at == nil {
		at = &launchAttempt{}
		a.m[token] = at
	}
	at.at = now
	for _, w := range at.where {
		if w == where {
			return
		}
	}
	at.where = append(at.where, where)
}

// Where returns where calls with token went, in the order first noted
// (nothing once ResumeWindow has passed since the last note).
func (a *LaunchAttempts) Where(token string) []string {
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	at := a.m[token]
	if at == nil || now.Sub(at.at) >= ResumeWindow {
		return nil
	}
	return append([]string(nil), at.where...)
}

// Len is how many tokens are remembered.
func (a *LaunchAttempts) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.m)
}
