package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/scheduler"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/postgres"
	"k8s.io/utils/clock"
)

// leaseName is the leader lease of one cluster's servers (a database holds
// one cluster's state: see ClaimLease).
func leaseName(cluster string) string { return "spillway/" + cluster }

// openHA opens the PostgreSQL state of several servers and this server's
// elector on the cluster's leader lease.
func openHA(ctx context.Context, cfg *config.Config, deps serverDeps) (*postgres.Store, *postgres.Elector, error) {
	// A leader paused or cut off inside a fenced write holds a share lock
	// of the lease row until the database ends its session: half the TTL.
	opts := []postgres.Option{postgres.WithLogger(deps.log), postgres.WithTxIdleTimeout(max(cfg.Server.LeaseTTL.D()/2, 100*time.Millisecond))}
	if cfg.Server.StatePasswordFile != "" {
		opts = append(opts, postgres.WithPasswordFile(cfg.Server.StatePasswordFile))
	}
	name := postgres.Redact(cfg.Server.State)
	var st *postgres.Store
	err := retryTransient(ctx, deps.clock, deps.log, "open server.state "+name, stateOpenPatience, func(ctx context.Context) error {
		var err error
		st, err = postgres.Open(ctx, cfg.Server.State, opts...)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("server.state %s: %w", name, err)
	}
	// The state's rows are not kept apart by cluster: a database already
	// holding another cluster's lease is refused (a config mistake, exit 2).
	err = retryTransient(ctx, deps.clock, deps.log, "claim server.state "+name+" for cluster "+cfg.Cluster, stateOpenPatience, func(ctx context.Context) error {
		return st.ClaimLease(ctx, leaseName(cfg.Cluster))
	})
	if err != nil {
		st.Close()
		var lc *postgres.LeaseConflictError
		if errors.As(err, &lc) {
			return nil, nil, &usageError{fmt.Errorf("cluster %q, server.state %s: %w", cfg.Cluster, name, err)}
		}
		return nil, nil, fmt.Errorf("server.state %s: %w", name, err)
	}
	lease, err := st.Lease(leaseName(cfg.Cluster), holderName(), cfg.Server.LeaseTTL.D())
	if err != nil {
		st.Close()
		return nil, nil, fmt.Errorf("server.lease_ttl: %w", err)
	}
	lease.SetPools(poolNames(cfg))
	el := postgres.NewElector(lease, cfg.Server.LeaseRenew.D(), deps.clock, deps.log)
	deps.log.Info("several servers may share this state: acting only while holding the leader lease",
		"state", name, "lease", leaseName(cfg.Cluster), "holder", el.Holder(), "lease_ttl", cfg.Server.LeaseTTL.D(), "lease_renew", cfg.Server.LeaseRenew.D())
	return st, el, nil
}

// stateOpenPatience is how long a starting server keeps trying its
// PostgreSQL database while the failures may pass (postgres.Transient: a
// database still starting or failing over, a session it ended while this
// process was starved), before it exits.
const stateOpenPatience = time.Minute

// retryTransient calls do until it succeeds, fails for good (not
// postgres.Transient), ctx ends or patience passes on clk, waiting 250ms
// and then twice as long each time, at most 5s, between tries, and logs
// each failure it retries.
func retryTransient(ctx context.Context, clk clock.Clock, log *slog.Logger, what string, patience time.Duration, do func(context.Context) error) error {
	start, wait := clk.Now(), 250*time.Millisecond
	for try := 1; ; try++ {
		err := do(ctx)
		if err == nil || !postgres.Transient(err) || ctx.Err() != nil {
			return err
		}
		if clk.Since(start)+wait > patience {
			return fmt.Errorf("still failing after %d tries in %s: %w%s", try, clk.Since(start).Round(time.Millisecond), err, unreachableHint(err))
		}
		msg := "the database does not answer yet; trying again"
		if ro := (*postgres.ReadOnlyError)(nil); errors.As(err, &ro) {
			msg = "the database takes no writes yet; trying again"
		}
		log.Warn(msg, "what", what, "try", try, "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-clk.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// unreachableHint says what to look at when the database could not be
// reached at all, after a minute of tries: nothing listening at the DSN's
// address, or nothing answering there; "" otherwise.
func unreachableHint(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "; nothing accepts connections at server.state's host and port: start PostgreSQL there, or check that it listens on that address (listen_addresses, port) and that server.state names it"
	case errors.As(err, &ne) && ne.Timeout():
		return "; nothing answered at server.state's host and port: check that the host is up and that no firewall drops the connection"
	}
	return ""
}

// holderName names this process on the lease: host, pid and a random
// suffix, so a restarted server never inherits its predecessor's term.
func holderName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// leader is the scheduler's gate: nil (always act) without an elector.
func (s *server) leader() scheduler.Leader {
	if s.elector == nil {
		return nil
	}
	return electedLeader{s.elector}
}

// electedLeader is the scheduler's gate of an elector, which also says
// the pools of the leader's config (scheduler.LeaderPools), so that a
// follower counts the instances of pools the leader lacks as its status
// lists them.
type electedLeader struct{ *postgres.Elector }

var _ scheduler.LeaderPools = electedLeader{}

// LeaderPools is the pools the leader recorded with its term, read within
// a second, as leaderInfo reads them.
func (e electedLeader) LeaderPools(ctx context.Context) ([]string, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	li, err := e.Info(ctx)
	if err != nil || !li.Live || li.Pools == nil {
		return nil, false
	}
	return li.Pools, true
}

// stateName is server.state for logs: a DSN without its password.
func stateName(state string) string { return postgres.Redact(state) }

// leaderInfo says who leads, as the database has it, and whether this
// server does; nil without an elector. A database that does not answer
// within a second leaves Holder empty and Error set.
func leaderInfo(ctx context.Context, el *postgres.Elector) *api.LeaderInfo {
	if el == nil {
		return nil
	}
	out := &api.LeaderInfo{This: el.Holder()}
	out.Epoch, out.Leads = el.Acting()
	if end, ok := el.LastTerm(); ok && !out.Leads {
		out.LastTerm = &api.TermEnd{Epoch: end.Epoch, Ended: end.At.UTC().Round(0), Why: end.Why, TakenBy: end.By}
		if end.Err != nil {
			out.LastTerm.Error = end.Err.Error()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	li, err := el.Info(ctx)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	if li.Live {
		out.Holder, out.Epoch, out.Expires, out.Pools = li.Holder, li.Epoch, li.Expires, li.Pools
	}
	return out
}

// tickAll ticks every pool once, at once: a server that just took the
// lease acts without waiting for its next tick.
func (s *server) tickAll(ctx context.Context) {
	for _, p := range s.sched.Pools() {
		if err := s.sched.Tick(ctx, p); err != nil && ctx.Err() == nil {
			s.log.Error("tick failed", "pool", p, "err", err)
		}
	}
}

// startElector takes part in the leader lease (nothing without an
// elector). The first round runs before the scheduler starts, so a server
// that finds the lease free acts from its first tick; a term taken later
// starts with a tick of every pool at once. The elector outlives ctx: stop,
// called once the scheduler has returned, waits for those ticks, then ends
// the elector, which releases a term it holds, so a follower takes over at
// once but never alongside calls still being recorded.
func (s *server) startElector(ctx context.Context) (stop func()) {
	if s.elector == nil {
		return func() {}
	}
	var (
		kicks    sync.WaitGroup
		mu       sync.Mutex // guards stopping: no kick starts once kicks.Wait has
		stopping bool
	)
	ectx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.elector.Step(ctx)
	s.elector.OnLead(func(int64) {
		mu.Lock()
		defer mu.Unlock()
		if !stopping {
			kicks.Go(func() { s.tickAll(ctx) })
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.elector.Run(ectx)
	}()
	return func() {
		mu.Lock()
		stopping = true
		mu.Unlock()
		kicks.Wait()
		cancel()
		<-done
	}
}

// followerView fills in, on a server that does not lead, what only the
// leader's ticks know, from the database: the pool's spend in its budget
// period and its active floors (schedules and manual bursts). The live
// signals (on-prem GPUs, queue) are read by the leader only. It says
// whether the server follows (and so filled them in).
func (b *backend) followerView(ctx context.Context, pool *policy.Pool, d *api.PoolDetail, lease *leaseRead) (bool, error) {
	if b.elector == nil {
		return false, nil
	}
	if _, leads := b.elector.Acting(); leads {
		return false, nil
	}
	now := b.clock.Now()
	if err := b.storedSpend(ctx, pool, d); err != nil {
		return true, err
	}
	fls, err := b.store.Floors(ctx, state.FloorFilter{Pool: pool.Name, ActiveAt: now})
	if err != nil {
		return true, err
	}
	for _, f := range fls {
		af := api.Floor{Kind: f.Kind, Owner: f.Owner, Reason: f.Reason, GPUs: f.GPUs, Until: f.Until, Offering: f.Offering,
			WaitingUnknown: onlyTheLeaderKnows(lease.get(ctx), pool.Name, "the floor")}
		if f.Kind == state.FloorManual {
			af.Burst = f.ID
		}
		d.Floors = append(d.Floors, af)
	}
	// What the leader holds out of launches, as it stored it: the offerings
	// left unused by the pool's queue, and what its capacity cache holds
	// (heldOf lists them as on the leader; a provider's back-off is the
	// leader's alone, not stored).
	hs, err := b.store.Holds(ctx, pool.Name, now)
	if err != nil {
		return true, err
	}
	us, err := b.store.Unavailable(ctx, now)
	if err != nil {
		return true, err
	}
	unused := make(map[policy.OfferingKey]time.Time, len(hs))
	for _, h := range hs {
		unused[h.Key()] = h.Until
	}
	d.Snapshot.Held = heldOf(pool, unused, us, now)
	return true, nil
}

// storedSpend sets d's spend in the budget period from the database: what
// a tick would have shown, for a pool no tick of this server has shown:
// the ledger, and what the instances of its pending intents may cost
// (Scheduler.PendingSpend), as the leader's tick counts them.
func (b *backend) storedSpend(ctx context.Context, pool *policy.Pool, d *api.PoolDetail) error {
	now := b.clock.Now()
	start, end := pool.BudgetPeriod(now)
	spent, err := b.store.Spend(ctx, pool.Name, start)
	if err != nil {
		return err
	}
	pending, err := b.store.Intents(ctx, state.IntentFilter{Pool: pool.Name, Status: state.IntentPending})
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		rows, err := b.store.Instances(ctx, state.InstanceFilter{Pool: pool.Name, Live: true})
		if err != nil {
			return err
		}
		spent += b.sched.PendingSpend(pool.Name, pending, rows, now)
	}
	d.Spend.PeriodStart, d.Spend.PeriodEnd, d.Spend.Accrued = start, end, spent
	return nil
}

// lastTermLine says how the answering server's last term ended, while it
// does not lead: its epoch, when, why, and who took the lease when the why
// does not name them; "" when it leads or never led.
func lastTermLine(l *api.LeaderInfo) string {
	lt := l.LastTerm
	if lt == nil || l.Leads {
		return ""
	}
	line := fmt.Sprintf("last term of %s: epoch %d, ended %s: %s", l.This, lt.Epoch, fmtTime(lt.Ended), oneLine(lt.Why, 400))
	if lt.TakenBy != "" && !strings.Contains(lt.Why, lt.TakenBy) {
		line += "; the lease was then taken by " + lt.TakenBy
	}
	return line
}

// poolNames is the names of cfg's pools, as the lease records them.
func poolNames(cfg *config.Config) []string {
	names := make([]string, len(cfg.Pools))
	for i, p := range cfg.Pools {
		names[i] = p.Policy.Name
	}
	return names
}

// leaderLine says who leads, for `spillway status`. A server that
// stopped acting while the database still holds its term (its renewals
// failed: it stops a fifth of the TTL before the term can end there, and
// nobody may take the lease until it does) is nobody's follower: the line
// said "leader A (epoch 5); answered by follower A" while no server acted.
func leaderLine(l *api.LeaderInfo) string {
	switch {
	case l.Error != "":
		return fmt.Sprintf("leader unknown: server %s cannot read the lease: %s", l.This, l.Error)
	case l.Holder == "":
		return fmt.Sprintf("no leader now (failing over); answered by %s", l.This)
	case !l.Leads && l.Holder == l.This:
		return fmt.Sprintf("no leader acting now: the lease (epoch %d) is still %s's in the database, but that server, which answered, stopped acting as it could not renew it; another server takes the lease once it expires there",
			l.Epoch, l.This)
	case l.Leads:
		return fmt.Sprintf("leader %s (epoch %d), which answered", l.Holder, l.Epoch)
	default:
		return fmt.Sprintf("leader %s (epoch %d); answered by follower %s", l.Holder, l.Epoch, l.This)
	}
}
