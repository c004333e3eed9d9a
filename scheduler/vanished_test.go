package scheduler_test

import (
	"fmt"
	"slices"
	"strings"
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
// queued, launched a replacement pair; the first pair runs and bills all
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
// the vanished rows again from the state. A held row also counts as
// booting capacity for the demand it was launched for, so no replacement
// pair is launched for the same jobs (4 instances were, each pair billed).
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
	held := 0
	for _, d := range rig.decisions() {
		for _, n := range d.Notes {
			if strings.Contains(n, "never listed") {
				held++
			}
		}
	}
	if held == 0 {
		t.Fatal("no row was held as vanished: the lag was not beyond the list grace")
	}
	// The held pair is the queued jobs' capacity while it is held: the
	// pool launched a replacement pair for the same two jobs (4
	// instances, both pairs billed), which the operator pays for until
	// the idle pair is scaled in.
	if n := len(rig.launched()); n != 2 {
		t.Errorf("%d instances launched for 2 queued jobs under a %s listing lag: the held pair was replaced, want none", n, lag)
	}
	if n := len(rig.rows(true)); n != 2 {
		t.Errorf("%d live rows after the lag, want the 2 launched, tracked again", n)
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

// TestHeldRowIsReplacedOnceItsHoldEnds: a booting instance the cloud never
// lists (here a lag of an hour) is held, counted as booting capacity for
// its job, for 2 minutes after the 2-minute list grace, and replaced
// only then: the job waits no longer than that for capacity that never
// comes.
func TestHeldRowIsReplacedOnceItsHoldEnds(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			rig := newLagRig(t, c, time.Hour)
			rig.setDemand(5*time.Minute, 8)
			rig.tick()
			if n := len(rig.launched()); n != 1 {
				t.Fatalf("the launch created %d instances, want 1", n)
			}
			var replacedAt time.Duration
			for range 36 { // six minutes, the job still queued
				rig.clk.Step(10 * time.Second)
				rig.tick()
				if replacedAt == 0 && len(rig.launched()) > 1 {
					replacedAt = rig.clk.Now().Sub(t0)
				}
			}
			if replacedAt == 0 {
				t.Fatalf("the instance never listed was not replaced within 6 minutes: its hold kept it as capacity for ever")
			}
			if want := 4 * time.Minute; replacedAt < want {
				t.Errorf("replaced %s after the launch, before its hold ended (%s)", replacedAt, want)
			}
			if n := len(rig.launched()); n != 2 {
				t.Errorf("%d instances launched for 1 job, want the first and its one replacement", n)
			}
			t.Logf("replaced %s after the launch", replacedAt)
		})
	}
}

// TestStatusPlanShowsNoStandIns: a budget lowered (with a restart) while a
// pair is held after it vanished unlisted makes the policy end instances
// for money, costliest idle first, and the held pair's stand-ins
// (vanished/<id>, booting, no GPU busy) come first. The tick cannot end
// them (no row holds them; the cloud has not listed them), yet the pool's
// status, which GET /v1/pools/{pool} serves as last_plan, listed
// "terminate vanished/<id>" as if it had. It now leaves them out, and says
// in a note what each held row is counted as, and until when.
func TestStatusPlanShowsNoStandIns(t *testing.T) {
	rig := newLagRig(t, lagClouds[0], 3*time.Minute)
	rig.setDemand(5*time.Minute, 8, 8)
	rig.tick()
	if n := len(rig.launched()); n != 2 {
		t.Fatalf("the launch created %d instances, want 2", n)
	}
	rig.until("the pair is held as vanished", 10*time.Second, 15, func() bool { return len(rig.rows(true)) == 0 })
	rig.pool.Limits.Budget = &policy.Budget{Amount: 1, Period: policy.PeriodDay}
	rig.restart()
	rig.tick()
	st, _ := rig.sched.LastStatus(rig.pool.Name)
	for _, a := range append(slices.Clone(st.Plan.Drains), st.Plan.Terminates...) {
		if strings.Contains(a.InstanceID, "/") {
			t.Errorf("the status's plan acts on %s (%s), which no row holds: the tick did nothing to it", a.InstanceID, a.Reason)
		}
	}
	held := 0
	for _, n := range st.Plan.Notes {
		if strings.Contains(n, "counted as booting, capacity for its jobs and its cost, until") {
			held++
		}
	}
	if held != 2 {
		t.Errorf("the status's plan notes %q: want one for each of the 2 held instances", st.Plan.Notes)
	}
	if n := len(rig.launched()); n != 2 {
		t.Errorf("%d instances launched, want the pair alone", n)
	}
}
