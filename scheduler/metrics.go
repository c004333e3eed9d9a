package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// metrics are the scheduler's Prometheus series, all prefixed spillway_.
type metrics struct {
	ticks, tickErrors, decisions, vanished, hookFailures *prometheus.CounterVec
	tickSeconds, joins                                   *prometheus.HistogramVec
	launchCalls, launches, terminations                  *prometheus.CounterVec
	launchFailures, swept, unused, interruptions         *prometheus.CounterVec
	instances, gpus, spend, budgetLeft, misconfigured    *prometheus.GaugeVec
	stale, pending, unwritable, unreadable               *prometheus.GaugeVec
	unknownInstances, unconfigured                       *prometheus.GaugeVec
	terminateFailures, broken                            *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "spillway", Name: name, Help: help}, labels)
	}
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "spillway", Name: name, Help: help}, labels)
	}
	m := &metrics{
		ticks:      c("ticks_total", "Evaluations of a pool.", "pool"),
		tickErrors: c("tick_errors_total", "Evaluations of a pool that failed before deciding (state errors).", "pool"),
		tickSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "spillway", Name: "tick_duration_seconds", Help: "How long one evaluation of a pool took, cloud calls included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"pool"}),
		decisions:         c("decisions_total", "Decisions recorded.", "pool"),
		launchCalls:       c("launch_calls_total", "Launch calls made to providers (resumed intents included).", "pool", "offering"),
		launches:          c("launched_instances_total", "Instances launched.", "pool", "offering"),
		launchFailures:    c("launch_failures_total", "Failed launches by cause: capacity, quota, throttled, invalid, transient, config_changed, join_timeout, driver_wedged (a booting instance's agent says its driver wedged), reclaimed_booting, other_market, resized.", "pool", "offering", "cause"),
		terminations:      c("terminations_total", "Instances Spillway asked the cloud to terminate.", "pool", "offering"),
		terminateFailures: c("terminate_failures_total", "Instances a terminate call did not end, each attempt (retried every tick; the log says each instance's failure once per kind of error).", "pool", "provider"),
		broken:            c("broken_instances_total", "Burst instances drained (running) or ended (booting) because their agent said they can take no job, by cause: gpus_unhealthy (every GPU unhealthy, none busy), no_gpu_counted (its agent counts none of its GPUs), driver_wedged (the agent answers 503 with wedged_since: its driver wedged before it could open any GPU).", "pool", "offering", "cause"),
		vanished:          c("vanished_instances_total", "Instances that disappeared from the cloud without Spillway ending them.", "pool"),
		hookFailures:      c("drain_hook_failures_total", "Drain hooks that failed.", "pool"),
		swept:             c("sweeper_terminations_total", "Tagged instances no state row claimed, ended by the sweeper.", "provider"),
		unused:            c("unused_offering_holds_total", "Offerings held out of launches for an hour because the queue left their instances idle beside jobs that seemed to fit them.", "pool", "offering"),
		interruptions:     c("spot_interruptions_total", "Spot interruption notices: the instance drains and its offering is skipped for the capacity TTL.", "pool", "offering"),
		joins: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "spillway", Name: "join_seconds", Help: "From launch to the instance's agent answering.",
			Buckets: prometheus.ExponentialBuckets(5, 2, 10),
		}, []string{"pool", "offering"}),
		instances:        g("instances", "Burst instances by state and offering.", "pool", "offering", "state"),
		gpus:             g("gpus", "GPUs by origin (onprem, onprem_busy, cloud: burst GPUs booting, running or draining, cloud_busy, cloud_terminating: GPUs of burst instances the cloud was asked to end and has not yet, billed but no capacity, cloud_unknown: burst GPUs their agent could not read, counted busy; cloud_unhealthy: burst GPUs their agent reports unhealthy and not busy, or does not count of its offering's, no room for the queue).", "pool", "origin"),
		pending:          g("pending_gpus", "GPUs the queue asks for.", "pool"),
		spend:            g("spend_usd", "Spend in the current budget period.", "pool"),
		budgetLeft:       g("budget_remaining_usd", "Budget left in the current period (absent without a budget).", "pool"),
		stale:            g("signals_stale", "Signals missing, failed or too old at the last evaluation.", "pool"),
		misconfigured:    g("pool_misconfigured", "1 when a provider refused the pool's requests as invalid.", "pool"),
		unwritable:       g("state_unwritable", "1 when a write to the state failed at the pool's last evaluation, which went on from memory.", "pool"),
		unknownInstances: g("burst_instances_unknown", "Burst instances whose agent has read none of their GPUs for 15 minutes or more (scheduler.UnknownAlertAfter): kept as busy, never scaled in.", "pool"),
		unconfigured:     g("unconfigured_pool_instances", "Open instances recorded for a pool this server's config lacks (removed, or another server's, mid-rollout), and those launched for an intent of such a pool that no row records (state \"no row\" in status): no pool here drains or ends them, and the sweeper keeps them. On a follower, the open rows of a pool the leader's config lacks, as the leader recorded its pools (the leader counts the instances no row records).", "pool"),
		unreadable:       g("state_unreadable", "1 when a read of the state failed at the pool's last evaluation, which went on from what it last read and launched nothing.", "pool"),
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{m.ticks, m.tickErrors, m.tickSeconds, m.decisions, m.launchCalls, m.launches,
			m.launchFailures, m.terminations, m.vanished, m.hookFailures, m.swept, m.unused, m.interruptions, m.joins, m.instances, m.gpus, m.pending,
			m.spend, m.budgetLeft, m.stale, m.misconfigured, m.unwritable, m.unreadable, m.unknownInstances, m.unconfigured, m.terminateFailures, m.broken} {
			reg.MustRegister(col)
		}
	}
	return m
}

// observeMetrics sets the gauges of a pool after a tick.
func (s *Scheduler) observeMetrics(t *tick, snap policy.Snapshot, spend policy.Spend) {
	pool := t.pr.spec.Policy.Name
	m := s.metrics
	m.instances.DeletePartialMatch(map[string]string{"pool": pool})
	cloud, busy, terminating := 0, 0, 0
	for _, r := range t.rows {
		m.instances.WithLabelValues(pool, r.Offering, r.State).Inc()
		switch {
		case capacity(r):
			cloud += r.GPUs
			busy += r.BusyGPUs
		case r.State == state.InstanceTerminating:
			terminating += r.GPUs
		}
	}
	m.gpus.WithLabelValues(pool, "onprem").Set(float64(snap.OnPremGPUs))
	m.gpus.WithLabelValues(pool, "onprem_busy").Set(float64(snap.OnPremBusyGPUs))
	m.gpus.WithLabelValues(pool, "cloud").Set(float64(cloud))
	m.gpus.WithLabelValues(pool, "cloud_busy").Set(float64(busy))
	m.gpus.WithLabelValues(pool, "cloud_terminating").Set(float64(terminating))
	unknown, lost := 0, 0
	for _, u := range t.pr.unknown {
		unknown += u.gpus
		if !u.allSince.IsZero() && t.now.Sub(u.allSince) >= UnknownAlertAfter {
			lost++
		}
	}
	m.gpus.WithLabelValues(pool, "cloud_unknown").Set(float64(unknown))
	unhealthy := 0
	for id, n := range t.pr.unhealthy {
		if r, ok := t.rows[id]; ok && capacity(r) {
			unhealthy += n
		}
	}
	m.gpus.WithLabelValues(pool, "cloud_unhealthy").Set(float64(unhealthy))
	m.unknownInstances.WithLabelValues(pool).Set(float64(lost))
	m.pending.WithLabelValues(pool).Set(float64(snap.PendingGPUs))
	m.spend.WithLabelValues(pool).Set(spend.Accrued)
	if b := t.pr.spec.Policy.Limits.Budget; b != nil {
		m.budgetLeft.WithLabelValues(pool).Set(b.Amount - spend.Accrued)
	}
	m.stale.WithLabelValues(pool).Set(float64(len(snap.Stale)))
	bad := 0.0
	if s.misconfigured(t.pr, t.now) != "" {
		bad = 1
	}
	m.misconfigured.WithLabelValues(pool).Set(bad)
	unwritable := 0.0
	if t.writeErr != "" {
		unwritable = 1
	}
	m.unwritable.WithLabelValues(pool).Set(unwritable)
	unreadable := 0.0
	if t.readErr != "" {
		unreadable = 1
	}
	m.unreadable.WithLabelValues(pool).Set(unreadable)
}

// capacity tells whether row r is burst capacity, as spillway status and
// the page count it: booting, running or draining. A terminating one the
// cloud was asked to end bills on (cloud_terminating) but is none.
func capacity(r *state.Instance) bool {
	return r.State != state.InstanceEnded && r.State != state.InstanceTerminating
}

// forgetPoolFigures drops the gauges of every pool's figures, on a server
// that does not act (a follower, or a leader deposed): only the leader's
// ticks read them, and a deposed leader showed its last term's (spend,
// budget left, instances, GPUs) for as long as it followed.
func (m *metrics) forgetPoolFigures() {
	for _, g := range []*prometheus.GaugeVec{m.instances, m.gpus, m.pending, m.spend, m.budgetLeft, m.stale,
		m.misconfigured, m.unwritable, m.unreadable, m.unknownInstances} {
		g.Reset()
	}
}
