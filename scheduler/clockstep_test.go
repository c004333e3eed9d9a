package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// TestClockSteppedBackBillsFromTheCloudsLaunch: a server whose clock ran
// an hour ahead of the cloud's launched an instance (its row launched at
// the intent's time, an hour after the cloud's launch); NTP then stepped
// the clock back. The ledger billed from the row's launch, still an hour
// ahead: it added nothing for an hour and counted an hour less than the
// cloud bills. It bills from the cloud's launch.
func TestClockSteppedBackBillsFromTheCloudsLaunch(t *testing.T) {
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodDay}
	p.Interval = policy.Duration(time.Minute)
	h := newHarness(t, p, withCloudClock)
	h.clk.Step(time.Hour) // the server's clock runs an hour ahead of the cloud's
	h.joinOne(time.Minute, 5)
	h.setDemand(0)
	h.busyFor(30 * time.Minute)
	h.clk.Step(-time.Hour) // NTP steps it back
	h.busyFor(2 * time.Hour)

	insts := h.emu.Instances()
	if len(insts) != 1 || len(h.live()) != 1 {
		t.Fatalf("instances %+v, want the busy one still running", insts)
	}
	start, _ := p.BudgetPeriod(h.clk.Now())
	want := policy.PeriodCost(p.Offerings[0], insts[0].LaunchTime, h.cloudClk.Now(), start)
	spent, err := h.store.Spend(context.Background(), p.Name, start)
	if err != nil {
		t.Fatal(err)
	}
	if spent < want-1e-6 {
		t.Fatalf("ledger $%.2f for an instance the cloud bills $%.2f (%s at $%.2f/h): the clock's step back was not billed",
			spent, want, h.cloudClk.Now().Sub(insts[0].LaunchTime), p.Offerings[0].PricePerHour)
	}
}

// TestClockSteppedBackEndsADrainOnTime: a burst cancelled while the
// server's clock ran an hour ahead drained its busy instance from a time
// an hour ahead once NTP stepped the clock back; the policy took a drain
// begun in the future as begun now, and drain_timeout (10 minutes) ended
// it an hour and 10 minutes after it began. It ends it at its timeout,
// and so does a server restarted at the step (which sees it from the
// decision it last recorded).
func TestClockSteppedBackEndsADrainOnTime(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "running", true: "restarted"}[restart], func(t *testing.T) {
			steppedBackDrain(t, restart)
		})
	}
}

func steppedBackDrain(t *testing.T, restart bool) {
	h := newHarness(t, testPool(), withCloudClock)
	h.clk.Step(time.Hour)
	h.cancelledBusyBurst() // its job never ends
	h.clk.Step(-time.Hour)
	if restart {
		h.restart()
	}
	h.until("drain_timeout (10m) ends the busy instance", time.Minute, 15, func() bool { return len(h.live()) == 0 })
}

// TestClockSteppedBackAdoptsFromTheCloudsLaunch: a launch made while the
// server's clock ran an hour ahead whose answer was lost (cut off at its
// 1-minute call timeout, the cloud listing fresh instances 2 minutes
// late) was adopted after NTP stepped the clock back, recorded launched
// at its intent's time, still an hour ahead: 11 minutes into its run the
// pool's spend was $0.00 of the $6.01 the cloud billed. It is recorded
// launched at the cloud's launch time.
func TestClockSteppedBackAdoptsFromTheCloudsLaunch(t *testing.T) {
	p := testPool()
	p.Limits.Budget = &policy.Budget{Amount: 1000, Period: policy.PeriodDay}
	h := newHarness(t, p, withCloudClock, func(h *harness) {
		h.opts.Tick = 30 * time.Second
		h.opts.CallTimeouts = map[string]time.Duration{provName: time.Minute}
		h.prov = lateAnswer{Provider: h.prov, h: h, took: map[string]time.Duration{gpuType: 2 * time.Minute}}
	})
	h.emu.SetConsistencyLag(providers.ConsistencyWindow)
	h.clk.Step(time.Hour)
	h.setDemand(2*time.Minute, 8)
	h.tick() // its answer lost, the server's clock a minute on (lateAnswer)
	h.cloudClk.Step(time.Minute)
	h.clk.Step(-time.Hour)
	for range 20 {
		h.step(30 * time.Second)
	}
	insts := h.emu.Instances()
	if rs := h.rows(true); len(insts) != 1 || len(rs) != 1 || !rs[0].LaunchedAt.Equal(insts[0].LaunchTime) {
		t.Fatalf("rows %+v of instances %+v: want the instance adopted, launched at its LaunchTime", rs, insts)
	}
	st, _ := h.sched.LastStatus(p.Name)
	if billed := policy.BilledCost(p.Offerings[0], insts[0].LaunchTime, st.Time); st.Spend.Accrued < billed-1e-9 {
		t.Fatalf("the pool's spend $%.2f, while the cloud had billed $%.2f", st.Spend.Accrued, billed)
	}
}
