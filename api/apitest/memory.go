// Package apitest holds an in-memory api.Backend for tests of the API, the
// CLI and the status page. It is a fake: the end-to-end tests against the
// real server run with the scheduler and the store behind the API.
package apitest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spillway-io/spillway/api"
)

// Memory is an api.Backend that keeps everything in memory.
type Memory struct {
	now func() time.Time

	mu        sync.Mutex
	cluster   string
	order     []string
	pools     map[string]*pool
	decisions []api.Decision // ascending ID (and time)
	bursts    []api.Burst    // ascending ID
	audit     []api.AuditEntry
	nextBurst int
	// keys maps a principal's idempotency key to its burst's ID and
	// request digest.
	keys map[[2]string][2]string
	// leader is what Status says of the leader lease (nil: one server).
	leader *api.LeaderInfo
	// unconfigured is what Status says of the instances of pools the
	// config lacks (its Unconfigured fields).
	unconfigured api.Status
}

// SetUnconfigured makes Status answer st's Unconfigured,
// UnconfiguredOmitted and UnconfiguredUnknown.
func (m *Memory) SetUnconfigured(st api.Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unconfigured = st
}

// SetLeader makes Status say who leads, as a server sharing its state
// with others does.
func (m *Memory) SetLeader(l *api.LeaderInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leader = l
}

type pool struct {
	detail   api.PoolDetail
	timeline []api.TimelinePoint
}

var _ api.Backend = (*Memory)(nil)

// NewMemory returns an empty backend whose clock is now.
func NewMemory(cluster string, now func() time.Time) *Memory {
	return &Memory{cluster: cluster, now: now, pools: map[string]*pool{}}
}

// AddPool adds a pool; its instances are kept ordered by ID.
func (m *Memory) AddPool(d api.PoolDetail, timeline []api.TimelinePoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d.Instances = slices.Clone(d.Instances)
	sort.Slice(d.Instances, func(a, b int) bool { return d.Instances[a].ID < d.Instances[b].ID })
	m.pools[d.Name] = &pool{detail: d, timeline: timeline}
	m.order = append(m.order, d.Name)
}

// AddDecision stores a decision with the next ID and returns it.
func (m *Memory) AddDecision(d api.Decision) api.Decision {
	m.mu.Lock()
	defer m.mu.Unlock()
	d.ID = int64(len(m.decisions) + 1)
	m.decisions = append(m.decisions, d)
	return d
}

// AuditRows returns a copy of the audit log, oldest first.
func (m *Memory) AuditRows() []api.AuditEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.audit)
}

func (m *Memory) summary(p *pool) api.PoolSummary {
	d := &p.detail
	s := api.PoolSummary{Name: d.Name}
	s.OnPremTotal, s.OnPremBusy, s.IdleAllocated = d.Snapshot.OnPremTotal, d.Snapshot.OnPremBusy, d.Snapshot.IdleAllocated
	s.OnPremUnhealthy = d.Snapshot.OnPremUnhealthy
	s.PendingJobs, s.PendingGPUs, s.OldestWait = d.Snapshot.PendingJobs, d.Snapshot.PendingGPUs, d.Snapshot.OldestWait
	for _, i := range d.Instances {
		if i.State == "terminating" {
			s.Terminating++
			s.TerminatingGPUs += i.GPUs
		} else {
			s.Instances++
			s.CloudGPUs += i.GPUs
		}
	}
	s.Spend, s.Budget = d.Spend.Accrued, d.Spend.Budget
	s.Floors = len(d.Floors)
	s.ActiveFloors = slices.Clone(d.Floors)
	s.Held, s.Stale = d.Snapshot.Held, d.Snapshot.Stale
	for _, i := range d.Instances {
		if i.State == "draining" {
			s.Draining = append(s.Draining, i)
		}
	}
	s.Evaluated, s.Interval, s.Error = d.Snapshot.Time, d.Snapshot.Interval, d.Snapshot.Error
	s.TickLength, s.Waiting, s.WaitingSince = d.Snapshot.TickLength, d.Snapshot.Waiting, d.Snapshot.WaitingSince
	return s
}

// Status implements api.Backend.
func (m *Memory) Status(ctx context.Context) (api.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := api.Status{Cluster: m.cluster, Time: m.now().UTC(), Leader: m.leader,
		Unconfigured: m.unconfigured.Unconfigured, UnconfiguredOmitted: m.unconfigured.UnconfiguredOmitted, UnconfiguredUnknown: m.unconfigured.UnconfiguredUnknown}
	for _, n := range m.order {
		st.Pools = append(st.Pools, m.summary(m.pools[n]))
	}
	return st, nil
}

func (m *Memory) pool(name string) (*pool, error) {
	p, ok := m.pools[name]
	if !ok {
		return nil, fmt.Errorf("pool %q: %w", name, api.ErrNotFound)
	}
	return p, nil
}

// Pool implements api.Backend.
func (m *Memory) Pool(ctx context.Context, name string) (api.PoolDetail, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.pool(name)
	if err != nil {
		return api.PoolDetail{}, err
	}
	d := p.detail
	d.Floors = slices.Clone(d.Floors)
	d.Instances = slices.Clone(d.Instances)
	return d, nil
}

// ManualLimits implements api.Backend.
func (m *Memory) ManualLimits(ctx context.Context, name string) (api.ManualLimits, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.pool(name)
	if err != nil {
		return api.ManualLimits{}, err
	}
	return p.detail.Manual, nil
}

// Timeline implements api.Backend.
func (m *Memory) Timeline(ctx context.Context, name string, since time.Time) ([]api.TimelinePoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.pool(name)
	if err != nil {
		return nil, err
	}
	i := sort.Search(len(p.timeline), func(i int) bool { return !p.timeline[i].Time.Before(since) })
	return slices.Clone(p.timeline[i:]), nil
}

// Instances implements api.Backend.
func (m *Memory) Instances(ctx context.Context, q api.InstanceQuery) ([]api.Instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []api.Instance
	if q.Pool != "" {
		p, err := m.pool(q.Pool)
		if err != nil {
			return nil, err
		}
		all = p.detail.Instances
	} else {
		for _, n := range m.order {
			all = append(all, m.pools[n].detail.Instances...)
		}
		sort.Slice(all, func(a, b int) bool { return all[a].ID < all[b].ID })
	}
	i := sort.Search(len(all), func(i int) bool { return all[i].ID > q.After })
	end := min(len(all), i+q.Limit)
	return slices.Clone(all[i:end]), nil
}

// Decisions implements api.Backend.
func (m *Memory) Decisions(ctx context.Context, q api.DecisionQuery) ([]api.Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q.Pool != "" {
		if _, err := m.pool(q.Pool); err != nil {
			return nil, err
		}
	}
	end := len(m.decisions)
	if q.Before > 0 {
		end = min(end, int(q.Before-1))
	}
	var out []api.Decision
	for i := end - 1; i >= 0 && len(out) < q.Limit; i-- {
		d := m.decisions[i]
		if d.Time.Before(q.Since) {
			break
		}
		if q.Pool == "" || d.Pool == q.Pool {
			out = append(out, d)
		}
	}
	return out, nil
}

// Bursts implements api.Backend.
func (m *Memory) Bursts(ctx context.Context, q api.BurstQuery) ([]api.Burst, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire()
	if q.Pool != "" {
		if _, err := m.pool(q.Pool); err != nil {
			return nil, err
		}
	}
	var out []api.Burst
	for _, b := range m.bursts {
		if b.ID <= q.After || (q.Pool != "" && b.Pool != q.Pool) || (!q.All && b.State != "active") {
			continue
		}
		if len(out) == q.Limit {
			break
		}
		b.Instances = 0 // counted now, as the live ones it holds
		for _, in := range m.pools[b.Pool].detail.Instances {
			if in.Burst == b.ID && in.State != "terminating" {
				b.Instances++
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// expire ends bursts whose time is up. Called with mu held.
func (m *Memory) expire() {
	now := m.now()
	for i := range m.bursts {
		b := &m.bursts[i]
		if b.State == "active" && !now.Before(b.Until) {
			b.State, b.EndedAt = "ended", b.Until
			m.removeFloor(b.Pool, b.ID)
		}
	}
}

func (m *Memory) removeFloor(pool, burst string) {
	p := m.pools[pool]
	p.detail.Floors = slices.DeleteFunc(p.detail.Floors, func(f api.Floor) bool { return f.Burst == burst })
}

// CreateBurst implements api.Backend: it records the burst and its floor.
func (m *Memory) CreateBurst(ctx context.Context, r api.CreateBurstRequest, principal string) (api.Burst, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.pool(r.Pool)
	if err != nil {
		return api.Burst{}, err
	}
	if r.Offering != "" && !strings.Contains(r.Offering, "-") {
		return api.Burst{}, fmt.Errorf("offering %q is not one of pool %s's offerings: %w", r.Offering, r.Pool, api.ErrInvalid)
	}
	key := [2]string{principal, r.IdempotencyKey}
	if _, used := m.keys[key]; used && r.IdempotencyKey != "" {
		return api.Burst{}, fmt.Errorf("key %q of %s: %w", r.IdempotencyKey, principal, api.ErrKeyUsed)
	}
	m.nextBurst++
	now := m.now().UTC()
	b := api.Burst{
		ID: fmt.Sprintf("b-%04d", m.nextBurst), Pool: r.Pool, GPUs: r.GPUs, Offering: r.Offering,
		Reason: r.Reason, Owner: principal, CreatedAt: now, Until: now.Add(time.Duration(r.For)), State: "active",
	}
	m.bursts = append(m.bursts, b)
	if r.IdempotencyKey != "" {
		if m.keys == nil {
			m.keys = map[[2]string][2]string{}
		}
		m.keys[key] = [2]string{b.ID, r.Digest()}
	}
	p.detail.Floors = append(p.detail.Floors, api.Floor{Kind: "manual", Owner: principal, Reason: r.Reason, GPUs: r.GPUs, Until: b.Until, Offering: r.Offering, Burst: b.ID})
	return b, nil
}

// Burst implements api.Backend.
func (m *Memory) Burst(ctx context.Context, id string) (api.Burst, error) {
	bs, err := m.Bursts(ctx, api.BurstQuery{All: true, Limit: 1 << 30})
	if err != nil {
		return api.Burst{}, err
	}
	for _, b := range bs {
		if b.ID == id {
			return b, nil
		}
	}
	return api.Burst{}, fmt.Errorf("burst %q: %w", id, api.ErrNotFound)
}

// BurstByKey implements api.Backend.
func (m *Memory) BurstByKey(ctx context.Context, principal, key string) (api.Burst, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire()
	k, ok := m.keys[[2]string{principal, key}]
	if !ok {
		return api.Burst{}, "", fmt.Errorf("key %q of %s: %w", key, principal, api.ErrNotFound)
	}
	for _, b := range m.bursts {
		if b.ID == k[0] {
			return b, k[1], nil
		}
	}
	return api.Burst{}, "", fmt.Errorf("burst %s: %w", k[0], api.ErrNotFound)
}

// CancelBurst implements api.Backend: the floor goes, and the instances
// launched for it start draining.
func (m *Memory) CancelBurst(ctx context.Context, id, principal string) (api.Burst, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire()
	for i := range m.bursts {
		b := &m.bursts[i]
		if b.ID != id {
			continue
		}
		if b.State != "active" {
			return *b, fmt.Errorf("burst %s already %s at %s: %w", id, b.State, b.EndedAt.UTC().Format(time.RFC3339), api.ErrConflict)
		}
		b.State, b.EndedAt, b.CancelledBy = "cancelled", m.now().UTC(), principal
		m.removeFloor(b.Pool, b.ID)
		p := m.pools[b.Pool]
		b.Instances = 0 // it holds those launched for it, which drain
		for j := range p.detail.Instances {
			if in := &p.detail.Instances[j]; in.Burst == b.ID && (in.State == "running" || in.State == "booting") {
				in.State = "draining"
				b.Instances++
			}
		}
		return *b, nil
	}
	return api.Burst{}, fmt.Errorf("burst %q: %w", id, api.ErrNotFound)
}

// AddAudit implements api.Backend.
func (m *Memory) AddAudit(ctx context.Context, e api.AuditEntry) (api.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = int64(len(m.audit) + 1)
	m.audit = append(m.audit, e)
	return e, nil
}

// Audit implements api.Backend.
func (m *Memory) Audit(ctx context.Context, q api.AuditQuery) ([]api.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	end := len(m.audit)
	if q.Before > 0 {
		end = min(end, int(q.Before-1))
	}
	var out []api.AuditEntry
	for i := end - 1; i >= 0 && len(out) < q.Limit; i-- {
		out = append(out, m.audit[i])
	}
	return out, nil
}
