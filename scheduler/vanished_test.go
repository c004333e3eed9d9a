package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spillway-io/spillway/policy"
)

// vanishedCount is spillway_vanished_instances_total{pool="train"}.
func vanishedCount(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "spillway_vanished_instances_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "pool" && l.GetValue() == "train" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestBudgetCountsInstancesListedLate: a cloud that lists fresh instances
// 3 minutes after their launch (beyond the 2-minute list grace) makes the
// pool end their rows as vanished at 2 minutes and, with the jobs still
// queued, launch a replacement pair; the first pair runs and bills all
// along. The pool's spend left each pair out from its vanishing until the
// cloud listed it (out of the rows): $3.28 counted at 2m50s of the $4.19
// billed, $7.46 at 4m50s of $8.37, on both emulators; the vanished metric
// counted 4 (and the spot tracker 4 short lives) for instances that never
// vanished.
//
// Now a row ended as vanished while booting and unlisted stays counted by
// the budget (its cost to now, and its commitment as a draining
// instance's) for 2 minutes more, and is counted as vanished only if not
// listed by then: every tick's spend is at least what the cloud billed,
// and the metric stays 0. A server restarted meanwhile (at 2m30s) holds
// the vanished rows again from the state.
func TestBudgetCountsInstancesListedLate(t *testing.T) {
	const lag = 3 * time.Minute
	for _, c := range lagClouds {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/restart=%v", c.name, restart), func(t *testing.T) {
				testBudgetCountsInstancesListedLate(t, c, lag, restart)
			})
		}
	}
}

// testBudgetCountsInstancesListedLate is one case of
// TestBudgetCountsInstancesListedLate.
func testBudgetCountsInstancesListedLate(t *testing.T, c lagCloud, lag time.Duration, restart bool) {
	regs := []*prometheus.Registry{prometheus.NewRegistry()}
	rig := newLagRigWith(t, c, lag, func(h *harness) { h.opts.Registerer = regs[0] })
	o := rig.pool.Offerings[0]
	rig.setDemand(5*time.Minute, 8, 8)
	rig.tick()
	if n := len(rig.launched()); n != 2 {
		t.Fatalf("the launch created %d instances, want 2", n)
	}
	short := 0
	for i := range 36 { // six minutes, the jobs still queued
		if restart && i == 15 { // 2m30s
			regs = append(regs, prometheus.NewRegistry())
			rig.opts.Registerer = regs[1]
			rig.restart()
		}
		rig.clk.Step(10 * time.Second)
		rig.serveAgents()
		rig.tick()
		st, _ := rig.sched.LastStatus(rig.pool.Name)
		var billed float64
		for _, in := range rig.launched() {
			if in.LaunchTime.Before(st.Time) {
				billed += policy.BilledCost(o, in.LaunchTime, st.Time)
			}
		}
		if st.Spend.Accrued < billed-1e-9 {
			short++
			t.Errorf("at %s the pool's spend was $%.2f while the cloud had billed $%.2f", st.Time.Sub(t0), st.Spend.Accrued, billed)
		}
	}
	if n := len(rig.launched()); n < 4 {
		t.Fatalf("%d instances launched: no replacement was planned, so the lag was not beyond the list grace", n)
	}
	var vanished float64
	for _, reg := range regs {
		vanished += vanishedCount(t, reg)
	}
	if n := vanished; n != 0 {
		t.Errorf("spillway_vanished_instances_total = %v for instances the cloud listed %s late, want 0", n, lag)
	}
	t.Logf("%d instances launched; %d ticks' spend short of the bill", len(rig.launched()), short)
}
