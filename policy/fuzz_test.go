package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// dtGen draws a pool, a snapshot, instances and spend from bytes, so that
// the fuzzer can steer them; past the end of the bytes every draw is 0.
type dtGen struct {
	b []byte
	i int
}

func (g *dtGen) byte() int {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return int(g.b[g.i-1])
}

// intn draws in [0, n).
func (g *dtGen) intn(n int) int {
	if n <= 1 {
		return 0
	}
	v := g.byte()
	if n > 256 {
		v = v<<8 | g.byte()
	}
	return v % n
}

func (g *dtGen) chance(pct int) bool { return g.intn(100) < pct }

func (g *dtGen) dur(max time.Duration, step time.Duration) time.Duration {
	return time.Duration(g.intn(int(max/step)+1)) * step
}

var dtBillings = []Billing{BillingPerSecondMin60, BillingPerSecond, BillingHourly, ""}

// dtScenario is one random input to Decide.
type dtScenario struct {
	pool  Pool
	snap  Snapshot
	inst  []Instance
	spend Spend
	now   time.Time
}

func (s *dtScenario) String() string {
	return fmt.Sprintf("pool %+v\nsnap %+v\ninstances %+v\nspend %+v\nnow %v", s.pool, s.snap, s.inst, s.spend, s.now)
}

func dtGenerate(data []byte) *dtScenario {
	g := &dtGen{b: data}
	now := dtT0.Add(g.dur(48*time.Hour, 37*time.Second))
	s := &dtScenario{now: now}
	p := &s.pool
	p.Name = "fuzz"
	p.WaitTarget = Duration(g.dur(10*time.Minute, 30*time.Second))
	p.Interval = Duration([]time.Duration{0, 15 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute}[g.intn(5)])
	gpus := []int{1, 2, 4, 8, 16}
	providers := []string{"aws", "alicloud"}
	for n := 1 + g.intn(4); len(p.Offerings) < n; {
		k := len(p.Offerings)
		o := Offering{
			Provider:     providers[g.intn(2)],
			Region:       []string{"r1", "r2"}[g.intn(2)],
			InstanceType: fmt.Sprintf("t%d", k),
			GPUs:         gpus[g.intn(len(gpus))],
			PricePerHour: float64(1+g.intn(4000)) / 100,
			Boot:         Duration(g.dur(10*time.Minute, 15*time.Second)),
			Market:       []Market{MarketOnDemand, MarketSpot}[g.intn(2)],
			Billing:      dtBillings[g.intn(len(dtBillings))],
		}
		if g.chance(30) {
			o.Performance = float64(1+g.intn(30)) / 10
		}
		if g.chance(50) {
			o.Name = fmt.Sprintf("o%d", k)
		}
		p.Offerings = append(p.Offerings, o)
	}
	if g.chance(50) {
		p.Limits.MaxGPUs = g.intn(129)
	}
	if g.chance(50) {
		p.Limits.MaxCostPerHour = float64(g.intn(20000)) / 100
	}
	if g.chance(50) {
		p.Limits.Budget = &Budget{Amount: float64(g.intn(50000)) / 100, Period: PeriodDay}
		s.spend.Accrued = p.Limits.Budget.Amount * float64(g.intn(121)) / 100
	} else {
		s.spend.Accrued = float64(g.intn(10000)) / 100
	}
	switch {
	case g.chance(50):
		p.ScaleIn.Idle.Auto = true
	case g.chance(15):
		p.ScaleIn.Idle.Fixed = true // "0s": release once idle
	default:
		p.ScaleIn.Idle.Duration = g.dur(20*time.Minute, 30*time.Second)
		p.ScaleIn.Idle.Fixed = g.chance(50)
	}
	if g.chance(40) {
		p.ScaleIn.MaxLifetime = Duration(g.dur(24*time.Hour, 20*time.Minute))
	}
	if g.chance(70) {
		p.ScaleIn.DrainTimeout = Duration(g.dur(30*time.Minute, time.Minute))
	}

	sn := &s.snap
	sn.Time = now
	sn.OnPremGPUs = 8 * g.intn(9)
	sn.OnPremBusyGPUs = g.intn(sn.OnPremGPUs + 1)
	sn.OnPremFreeGPUs = -1
	if g.chance(50) {
		sn.OnPremFreeGPUs = g.intn(sn.OnPremGPUs - sn.OnPremBusyGPUs + 1)
	}
	sn.IdleAllocatedGPUs = g.intn(3) * g.intn(8)
	if g.chance(70) {
		for n := g.intn(16); len(sn.PendingJobGPUs) < n; {
			sn.PendingJobGPUs = append(sn.PendingJobGPUs, []int{1, 1, 2, 3, 4, 8, 12, 16, 32, 0}[g.intn(10)])
		}
		for _, j := range sn.PendingJobGPUs {
			sn.PendingGPUs += j
		}
		sn.PendingJobs = len(sn.PendingJobGPUs)
	} else {
		sn.PendingGPUs = g.intn(64)
	}
	sn.OldestWait = g.dur(20*time.Minute, 10*time.Second)
	if g.chance(20) {
		sn.Stale = []string{"queue"}
	}
	for i := range p.Offerings {
		if g.chance(25) {
			if sn.Unavailable == nil {
				sn.Unavailable = map[OfferingKey]time.Time{}
			}
			sn.Unavailable[p.Offerings[i].Key()] = now.Add(g.dur(20*time.Minute, time.Minute) - 5*time.Minute)
		}
		if g.chance(20) {
			// Any reclaim rate, a huge one and a negative one included.
			if sn.SpotReclaims == nil {
				sn.SpotReclaims = map[OfferingKey]float64{}
			}
			sn.SpotReclaims[p.Offerings[i].Key()] = []float64{0, 1.0 / 168, 0.5, 3, 1e9, -1}[g.intn(6)]
		}
	}
	if g.chance(20) {
		sn.Blocked = map[string]time.Time{[]string{"aws", "alicloud", "aws/r1", "alicloud/r2"}[g.intn(4)]: now.Add(g.dur(20*time.Minute, time.Minute) - 5*time.Minute)}
	}
	owners := []string{"weekday", "alice", "bob"}
	for n := g.intn(4); len(sn.Floors) < n; {
		f := Floor{Kind: FloorSchedule, Owner: owners[g.intn(3)], GPUs: g.intn(33), Until: now.Add(g.dur(4*time.Hour, 10*time.Minute) - 30*time.Minute)}
		if g.chance(20) {
			f.Offering = decOfferingName(&p.Offerings[g.intn(len(p.Offerings))])
		}
		sn.Floors = append(sn.Floors, f)
	}

	states := []InstanceState{StateBooting, StateRunning, StateRunning, StateRunning, StateDraining, StateTerminating}
	for n := g.intn(30); len(s.inst) < n; {
		o := p.Offerings[g.intn(len(p.Offerings))]
		if g.chance(10) {
			o.InstanceType, o.GPUs, o.Name = "retired", gpus[g.intn(len(gpus))], "retired"
		}
		in := Instance{
			ID:         fmt.Sprintf("i-%03d", len(s.inst)),
			Offering:   o,
			State:      states[g.intn(len(states))],
			LaunchedAt: now.Add(-g.dur(26*time.Hour, 7*time.Second)),
		}
		if in.State != StateBooting {
			in.ReadyAt = in.LaunchedAt.Add(o.Boot.D())
			in.BusyGPUs = g.intn(o.GPUs + 1)
			if g.chance(50) {
				in.BusyGPUs = 0
			}
		}
		if in.BusyGPUs == 0 && in.State != StateBooting && g.chance(90) {
			in.IdleSince = now.Add(-g.dur(2*time.Hour, 20*time.Second))
			if in.IdleSince.Before(in.LaunchedAt) {
				in.IdleSince = in.LaunchedAt
			}
		}
		if in.State == StateDraining {
			in.DrainStartedAt = now.Add(-g.dur(40*time.Minute, time.Minute))
		}
		if g.chance(25) {
			in.Floor = owners[g.intn(3)]
		}
		s.inst = append(s.inst, in)
	}
	// Drawn last so that older seeds keep their meaning.
	p.WholeJobs = g.chance(50)
	if n := len(s.snap.PendingJobGPUs); n > 0 && g.chance(50) {
		for k := range n {
			// Waits fall from the oldest one, in queue order.
			s.snap.PendingJobWaits = append(s.snap.PendingJobWaits, s.snap.OldestWait*time.Duration(n-k)/time.Duration(n))
		}
	}
	// Drawn after those, each on a draw of 3 in 0..3 (past the end of the
	// bytes every draw is 0): a soft budget, observed boot times, and
	// spanning settings.
	if p.Limits.Budget != nil && g.intn(4) == 3 {
		p.Limits.Budget.Mode = BudgetSoft
	}
	if g.intn(4) == 3 {
		sn.Boot = g.boots(p.Offerings, 12*time.Minute)
	}
	if g.intn(4) == 3 {
		p.Span.MinGPUs = []int{1, 2, 4, 16}[g.intn(4)]
	}
	if g.intn(4) == 3 {
		sn.BootMean = g.boots(p.Offerings, 10*time.Minute)
	}
	if g.intn(4) == 3 {
		sn.IdleGaps = map[OfferingKey][]time.Duration{}
		for i := range p.Offerings {
			if g.chance(70) {
				gaps := make([]time.Duration, g.intn(2*MinIdleSpells))
				for k := range gaps {
					if gaps[k] = IdleGapNever; g.chance(60) {
						gaps[k] = g.dur(15*time.Minute, 10*time.Second)
					}
				}
				sn.IdleGaps[p.Offerings[i].Key()] = gaps
			}
		}
	}
	return s
}

// boots draws observed boot times, up to max, for most of offs.
func (g *dtGen) boots(offs []Offering, max time.Duration) map[OfferingKey]time.Duration {
	m := map[OfferingKey]time.Duration{}
	for i := range offs {
		if g.chance(70) {
			m[offs[i].Key()] = g.dur(max, 20*time.Second)
		}
	}
	return m
}

// dtBoot is the boot time Decide plans with for o: the observed one when
// the snapshot has it.
func dtBoot(s *dtScenario, o Offering) time.Duration { return dtBootIn(s.snap.Boot, o) }

// dtBootIn is o's entry in an observed-boot map, else its configured boot.
func dtBootIn(m map[OfferingKey]time.Duration, o Offering) time.Duration {
	k := o.Key()
	if b, ok := m[k]; ok {
		return max(b, 0)
	}
	if k.Market == "" {
		k.Market = MarketOnDemand
		if b, ok := m[k]; ok {
			return max(b, 0)
		}
	}
	return max(o.Boot.D(), 0)
}

// dtCommit is committed spend as Decide defines it, computed
// independently: in the budget period, accrued plus each instance's billed
// cost from now until the latest moment it can end (capped at the period's
// end), less what accrued already holds; in the next period, what it bills
// after the period ends, over at most the longest period of the kind. An
// instance kept runs until drain_timeout after the next evaluation, a
// draining one until the first evaluation past its drain_timeout, a busy
// one drained in the plan until drain_timeout, an idle one drained in the
// plan until the next evaluation, one terminated in the plan (or
// terminating) ends now; a launch is kept.
type dtCommit struct{ cur, next float64 }

func dtCommitted(s *dtScenario, ended, drainedNow map[string]bool, launches []Launch) dtCommit {
	iv := s.pool.Interval.D()
	if iv <= 0 {
		iv = 30 * time.Second
	}
	b := s.pool.Limits.Budget
	if b == nil {
		return dtCommit{cur: s.spend.Accrued}
	}
	forever := s.now.AddDate(100, 0, 0)
	roundUp := func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return (d + iv - 1) / iv * iv
	}
	drainEnd := func(from time.Time) time.Time {
		if s.pool.ScaleIn.DrainTimeout <= 0 {
			return forever
		}
		return s.now.Add(roundUp(from.Add(s.pool.ScaleIn.DrainTimeout.D()).Sub(s.now)))
	}
	periodEnd := s.spend.PeriodEnd
	if !periodEnd.After(s.now) {
		_, periodEnd = PeriodBounds(b.Period, s.now)
	}
	maxLen := map[BudgetPeriod]time.Duration{PeriodDay: 24 * time.Hour, PeriodWeek: 7 * 24 * time.Hour}[b.Period]
	if maxLen == 0 {
		maxLen = 31 * 24 * time.Hour
	}
	if periodEnd.Sub(s.now) > maxLen {
		periodEnd = s.now.Add(maxLen)
	}
	c := dtCommit{cur: s.spend.Accrued}
	if b.Soft() {
		// A soft budget counts the current period only, each instance
		// until the latest moment the policy could end it without
		// cutting work for money: a draining one at its drain_timeout, one
		// drained now at drain_timeout from now, any other drained at
		// max_lifetime and ended by drain_timeout (for ever without
		// either).
		for _, in := range s.inst {
			launched := in.LaunchedAt
			if launched.After(s.now) || launched.IsZero() {
				launched = s.now
			}
			var end time.Time
			life := s.pool.ScaleIn.MaxLifetime.D()
			switch {
			case in.State == StateTerminating || ended[in.ID]:
				end = s.now
			case in.State == StateDraining:
				started := in.DrainStartedAt
				if started.IsZero() || started.After(s.now) {
					started = s.now
				}
				end = drainEnd(started)
			case drainedNow[in.ID]:
				end = drainEnd(s.now)
			case life > 0 && s.pool.ScaleIn.DrainTimeout > 0:
				end = s.now.Add(roundUp(launched.Add(life).Sub(s.now)) + roundUp(s.pool.ScaleIn.DrainTimeout.D()))
			default:
				end = forever
			}
			if end.After(periodEnd) {
				end = periodEnd
			}
			c.cur += math.Max(0, BilledCost(in.Offering, launched, end)-in.Offering.PricePerHour*s.now.Sub(launched).Hours())
		}
		for _, l := range launches {
			end := forever
			if life := s.pool.ScaleIn.MaxLifetime.D(); life > 0 && s.pool.ScaleIn.DrainTimeout > 0 {
				end = s.now.Add(roundUp(life) + roundUp(s.pool.ScaleIn.DrainTimeout.D()))
			}
			if end.After(periodEnd) {
				end = periodEnd
			}
			c.cur += float64(l.Count) * BilledCost(l.Offering, s.now, end)
		}
		return c
	}
	add := func(o Offering, launched, end time.Time) {
		if launched.After(s.now) || launched.IsZero() {
			launched = s.now
		}
		curEnd := end
		if curEnd.After(periodEnd) {
			curEnd = periodEnd
		}
		c.cur += math.Max(0, BilledCost(o, launched, curEnd)-o.PricePerHour*s.now.Sub(launched).Hours())
		if end.After(periodEnd) {
			nextEnd := end
			if nextEnd.After(periodEnd.Add(maxLen)) {
				nextEnd = periodEnd.Add(maxLen)
			}
			c.next += BilledCost(o, launched, nextEnd) - BilledCost(o, launched, periodEnd)
		}
	}
	for _, in := range s.inst {
		var end time.Time
		switch {
		case in.State == StateTerminating || ended[in.ID]:
			end = s.now
		case in.State == StateDraining:
			started := in.DrainStartedAt
			if started.IsZero() || started.After(s.now) {
				started = s.now
			}
			end = drainEnd(started)
		case drainedNow[in.ID] && in.BusyGPUs <= 0:
			end = s.now.Add(iv)
		case drainedNow[in.ID]:
			end = drainEnd(s.now)
		default:
			end = drainEnd(s.now.Add(iv))
		}
		add(in.Offering, in.LaunchedAt, end)
	}
	for _, l := range launches {
		for range l.Count {
			add(l.Offering, s.now, drainEnd(s.now.Add(iv)))
		}
	}
	return c
}

func (c dtCommit) fits(amount float64) bool {
	return dtApprox(c.cur, amount) && dtApprox(c.next, amount)
}

func dtApprox(a, limit float64) bool { return a <= limit+1e-9*math.Max(1, math.Abs(limit)) }

// dtCheck verifies the plan's invariants; it returns the problems found.
func dtCheck(s *dtScenario, p Plan) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	pool := &s.pool
	byID := map[string]*Instance{}
	for i := range s.inst {
		byID[s.inst[i].ID] = &s.inst[i]
	}
	stale := len(s.snap.Stale) > 0
	iv := pool.Interval.D()
	if iv <= 0 {
		iv = 30 * time.Second
	}

	drained := map[string]bool{}
	for _, a := range p.Drains {
		in := byID[a.InstanceID]
		switch {
		case in == nil:
			bad("drain of unknown instance %q", a.InstanceID)
			continue
		case a.Reason == "":
			bad("drain of %s without a reason", a.InstanceID)
		case drained[a.InstanceID]:
			bad("%s drained twice", a.InstanceID)
		case in.State == StateDraining || in.State == StateTerminating:
			bad("%s drained while %s", a.InstanceID, in.State)
		}
		drained[a.InstanceID] = true
	}
	ended := map[string]bool{}
	for _, a := range p.Terminates {
		in := byID[a.InstanceID]
		if in == nil {
			bad("terminate of unknown instance %q", a.InstanceID)
			continue
		}
		if a.Reason == "" {
			bad("terminate of %s without a reason", a.InstanceID)
		}
		if ended[a.InstanceID] || in.State == StateTerminating {
			bad("%s terminated twice or while terminating", a.InstanceID)
		}
		ended[a.InstanceID] = true
		if in.State != StateDraining && !drained[a.InstanceID] {
			bad("%s terminated without a drain (state %s)", a.InstanceID, in.State)
		}
		timedOut := false
		if in.State == StateDraining && pool.ScaleIn.DrainTimeout > 0 && s.now.Sub(in.DrainStartedAt) >= pool.ScaleIn.DrainTimeout.D() {
			timedOut = true
		}
		if in.BusyGPUs > 0 && !timedOut {
			bad("%s terminated with %d busy GPUs before its drain timed out", a.InstanceID, in.BusyGPUs)
		}
	}
	for _, l := range p.Launches {
		if l.Count <= 0 || l.Reason == "" {
			bad("launch without count or reason: %+v", l)
		}
	}

	// Totals before and after.
	floorSum := 0
	activeFloor := map[string]bool{}
	for _, f := range s.snap.Floors {
		if f.GPUs > 0 && (f.Until.IsZero() || f.Until.After(s.now)) {
			floorSum += f.GPUs
			activeFloor[f.Owner] = true
		}
	}
	var gpusAfter, capBefore, capAfter, forced int
	var costAfter float64
	for _, in := range s.inst {
		if in.State == StateTerminating {
			continue
		}
		live := in.State != StateDraining
		if live {
			capBefore += in.Offering.GPUs
		}
		if ended[in.ID] {
			continue
		}
		gpusAfter += in.Offering.GPUs
		costAfter += in.Offering.PricePerHour
		if live && !drained[in.ID] {
			capAfter += in.Offering.GPUs
		}
		if drained[in.ID] && pool.ScaleIn.MaxLifetime > 0 && s.now.Sub(in.LaunchedAt) >= pool.ScaleIn.MaxLifetime.D() {
			forced += in.Offering.GPUs
		}
	}
	launchGPUs, floorLaunchGPUs, floorLaunches, maxG := 0, 0, 0, 0
	for _, l := range p.Launches {
		launchGPUs += l.Count * l.Offering.GPUs
		costAfter += float64(l.Count) * l.Offering.PricePerHour
		maxG = max(maxG, l.Offering.GPUs)
		if l.Floor != "" {
			floorLaunchGPUs += l.Count * l.Offering.GPUs
			floorLaunches++
		}
	}
	gpusAfter += launchGPUs
	capAfter += launchGPUs

	// "Before" is what the pool holds once instances whose drain is over
	// end: their ending needs no decision.
	drainedOut := map[string]bool{}
	for _, in := range s.inst {
		if in.State == StateDraining && ((in.BusyGPUs <= 0 && !stale) ||
			(pool.ScaleIn.DrainTimeout > 0 && s.now.Sub(in.DrainStartedAt) >= pool.ScaleIn.DrainTimeout.D())) {
			drainedOut[in.ID] = true
			if !ended[in.ID] {
				bad("%s finished draining but is not terminated", in.ID)
			}
		}
	}
	var gpusBefore int
	var costBefore float64
	for _, in := range s.inst {
		if in.State != StateTerminating && !drainedOut[in.ID] {
			gpusBefore += in.Offering.GPUs
			costBefore += in.Offering.PricePerHour
		}
	}
	overLimit := (pool.Limits.MaxGPUs > 0 && gpusBefore > pool.Limits.MaxGPUs) ||
		(pool.Limits.MaxCostPerHour > 0 && costBefore > pool.Limits.MaxCostPerHour)
	if overLimit && len(p.Launches) > 0 {
		bad("launch while over a hard limit before the plan: %d GPUs, $%.2f/h", gpusBefore, costBefore)
	}
	if (pool.Limits.MaxGPUs > 0 && gpusAfter > pool.Limits.MaxGPUs) || (pool.Limits.MaxCostPerHour > 0 && !dtApprox(costAfter, pool.Limits.MaxCostPerHour)) {
		// Still over a limit: only busy instances may remain.
		for _, in := range s.inst {
			if in.State != StateTerminating && !ended[in.ID] && in.BusyGPUs <= 0 {
				bad("over a hard limit after the plan (%d GPUs, $%.2f/h) with idle %s kept", gpusAfter, costAfter, in.ID)
			}
		}
	}
	committedBefore := dtCommitted(s, drainedOut, nil, nil)
	committedAfter := dtCommitted(s, ended, drained, p.Launches)
	overBudget := pool.Limits.Budget != nil && !committedBefore.fits(pool.Limits.Budget.Amount)
	if len(p.Launches) > 0 {
		if m := pool.Limits.MaxGPUs; m > 0 && gpusAfter > m {
			bad("max_gpus %d broken: %d GPUs after the plan", m, gpusAfter)
		}
		if m := pool.Limits.MaxCostPerHour; m > 0 && !dtApprox(costAfter, m) {
			bad("max_cost_per_hour %.2f broken: $%.4f/h after the plan", m, costAfter)
		}
		if b := pool.Limits.Budget; b != nil && !committedAfter.fits(b.Amount) {
			bad("budget %.2f broken: committed %+v after the plan (%+v before)", b.Amount, committedAfter, committedBefore)
		}
	}
	if len(p.Launches) == 0 && !(dtApprox(committedAfter.cur, committedBefore.cur) && dtApprox(committedAfter.next, committedBefore.next)) {
		bad("committed spend grew without a launch: %+v -> %+v", committedBefore, committedAfter)
	}

	// Launches need overflow or a floor.
	pendingJobs := s.snap.PendingJobGPUs
	pending := 0
	if len(pendingJobs) == 0 && s.snap.PendingGPUs > 0 {
		for range s.snap.PendingGPUs {
			pendingJobs = append(pendingJobs, 1)
		}
	}
	for _, j := range pendingJobs {
		if j > 0 {
			pending += j
		}
	}
	for _, l := range p.Launches {
		o := l.Offering
		if until, ok := s.snap.Unavailable[o.Key()]; ok && until.After(s.now) {
			bad("launch of out-of-stock %s", decOfferingName(&o))
		}
		for _, k := range []string{o.Provider, o.Provider + "/" + o.Region} {
			if until, ok := s.snap.Blocked[k]; ok && until.After(s.now) {
				bad("launch of %s blocked by quota on %s", decOfferingName(&o), k)
			}
		}
		if l.Floor != "" {
			if !activeFloor[l.Floor] {
				bad("launch for floor %q that is not active", l.Floor)
			}
			continue
		}
		if stale {
			bad("launch for the queue on stale signals: %+v", l)
		}
		// Free on-prem GPUs are no room for due jobs (overflow): a
		// launch needs pending jobs, not more than free GPUs.
		if pending == 0 {
			bad("launch without overflow: no GPUs pending")
		}
		interval := pool.Interval.D()
		if interval <= 0 {
			interval = decDefaultInterval
		}
		boot := dtBoot(s, o)
		if s.snap.OldestWait+interval+boot <= pool.WaitTarget.D() {
			bad("launch before the wait target: oldest %v + interval %v + boot %v <= %v", s.snap.OldestWait, interval, boot, pool.WaitTarget.D())
		}
		want := "+ boot " + decFmtDur(boot)
		if _, ok := s.snap.Boot[decWithMarket(o).Key()]; ok {
			want += " (observed)"
		}
		if !strings.Contains(l.Reason, want+" > wait target") {
			bad("launch reason does not name the boot planned with (%q): %s", want, l.Reason)
		}
		need := 0
		for _, j := range pendingJobs {
			if j > 0 {
				need += (j + o.GPUs - 1) / o.GPUs
			}
		}
		if l.Count > need {
			bad("launch of %d × %d GPUs for pending jobs that need at most %d", l.Count, o.GPUs, need)
		}
	}
	capKept := capAfter - launchGPUs
	if floorLaunches > 0 && floorLaunchGPUs > max(0, floorSum-capKept)+floorLaunches*(maxG-1) {
		bad("floors launched %d GPUs for a deficit of %d", floorLaunchGPUs, floorSum-capKept)
	}
	if overBudget && len(p.Launches) > 0 {
		bad("launch while committed spend %+v already exceeds the budget %.2f", committedBefore, pool.Limits.Budget.Amount)
	}
	if pool.Limits.Budget.Soft() {
		for _, a := range append(append([]Action{}, p.Drains...), p.Terminates...) {
			if strings.HasPrefix(a.Reason, "budget") {
				bad("soft budget: %s cut for money: %s", a.InstanceID, a.Reason)
			}
		}
		overBudget = false // a soft budget excuses no drain below
	}

	// Scale-in: never below floors (max lifetime and budget aside), only idle
	// instances past their threshold, nothing on stale signals but the
	// documented protections.
	if !overBudget && !overLimit && capAfter < min(floorSum, capBefore-forced) {
		bad("scale-in below floors: %d burst GPUs after the plan, floors %d, %d before", capAfter, floorSum, capBefore)
	}
	for _, a := range p.Drains {
		in := byID[a.InstanceID]
		if in == nil {
			continue
		}
		lifetime := pool.ScaleIn.MaxLifetime > 0 && s.now.Sub(in.LaunchedAt) >= pool.ScaleIn.MaxLifetime.D()
		if lifetime || overBudget || overLimit {
			continue
		}
		if stale {
			bad("drain of %s on stale signals: %s", a.InstanceID, a.Reason)
		}
		since := in.IdleSince
		if since.IsZero() {
			since = in.ReadyAt
		}
		threshold := IdleThreshold(pool, in.Offering)
		if pool.ScaleIn.Idle.Auto || (!pool.ScaleIn.Idle.Fixed && pool.ScaleIn.Idle.Duration <= 0) {
			threshold = dtBootIn(s.snap.BootMean, in.Offering) // ski-rental: the mean boot
			if c, ok := LearnedIdle(s.snap.IdleGaps[in.Offering.Key()], threshold); ok {
				if c > threshold {
					bad("learned idle threshold %v above the break-even %v", c, threshold)
				}
				threshold = c // what would have cost least over the spells seen
			}
		}
		if strings.HasPrefix(a.Reason, "idle:") && !strings.Contains(a.Reason, ">= threshold "+string(decText(nil).dur(threshold))+" (") {
			bad("idle drain of %s does not name its threshold %v: %s", a.InstanceID, threshold, a.Reason)
		}
		if in.State == StateBooting || in.BusyGPUs > 0 || since.IsZero() || s.now.Sub(since) < threshold {
			bad("drain of %s that is not idle past its threshold: %s", a.InstanceID, a.Reason)
		}
		if in.Offering.Billing == BillingHourly && 2*iv < time.Hour {
			left := decHourEnd(in.LaunchedAt, s.now).Sub(s.now)
			if left <= iv || left > 2*iv {
				bad("hourly %s released %v before its paid hour ends", a.InstanceID, left)
			}
		}
	}
	for _, a := range p.Terminates {
		in := byID[a.InstanceID]
		if in == nil || !stale || overBudget || overLimit {
			continue
		}
		if !(in.State == StateDraining && pool.ScaleIn.DrainTimeout > 0 && s.now.Sub(in.DrainStartedAt) >= pool.ScaleIn.DrainTimeout.D()) {
			bad("terminate of %s on stale signals without a drain timeout: %s", a.InstanceID, a.Reason)
		}
	}
	return errs
}

func dtRunScenario(t *testing.T, s *dtScenario) {
	t.Helper()
	p := Decide(&s.pool, s.snap, s.inst, s.spend, s.now)
	if errs := dtCheck(s, p); len(errs) > 0 {
		t.Fatalf("invariants broken:\n  %s\n%s\nplan %+v", strings.Join(errs, "\n  "), s, p)
	}
	if again := Decide(&s.pool, s.snap, s.inst, s.spend, s.now); fmt.Sprint(again) != fmt.Sprint(p) {
		t.Fatalf("Decide not deterministic:\n%+v\n%+v", p, again)
	}
	// DecideWithoutNotes plans the same, but for the words.
	if quiet, want := withoutWords(DecideWithoutNotes(&s.pool, s.snap, s.inst, s.spend, s.now)), withoutWords(p); !reflect.DeepEqual(quiet, want) {
		t.Fatalf("DecideWithoutNotes plans otherwise than Decide (notes and reasons left out):\n%+v\nwant\n%+v\n%s", quiet, want, s)
	}
}

// withoutWords is p without its notes and reasons, which
// DecideWithoutNotes may leave unwritten.
func withoutWords(p Plan) Plan {
	p.Notes, p.Waits = nil, nil
	p.Launches = slices.Clone(p.Launches)
	for i := range p.Launches {
		p.Launches[i].Reason = ""
	}
	p.Drains, p.Terminates = slices.Clone(p.Drains), slices.Clone(p.Terminates)
	for _, as := range [][]Action{p.Drains, p.Terminates} {
		for i := range as {
			as[i].Reason = ""
		}
	}
	return p
}

// TestDecideProperties drives Decide with random scenarios from a fixed
// seed and checks its invariants on each.
func TestDecideProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 512)
	n := 3000
	if testing.Short() {
		n = 300
	}
	for range n {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		dtRunScenario(t, dtGenerate(buf))
	}
}

// TestDecidePropertiesAct makes sure the random scenarios exercise every
// kind of decision, so the invariants above are not checked on idle plans.
func TestDecidePropertiesAct(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 512)
	var overflow, floor, drains, terms, budget, soft, observed int
	for range 2000 {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		s := dtGenerate(buf)
		p := Decide(&s.pool, s.snap, s.inst, s.spend, s.now)
		for _, l := range p.Launches {
			if l.Floor == "" {
				overflow++
			} else {
				floor++
			}
		}
		drains += len(p.Drains)
		terms += len(p.Terminates)
		if s.pool.Limits.Budget.Soft() && slices.Contains(p.BoundBy, LimitBudget) {
			soft++
		}
		for _, l := range p.Launches {
			if strings.Contains(l.Reason, "(observed)") {
				observed++
			}
		}
		for _, a := range p.Terminates {
			if strings.HasPrefix(a.Reason, "budget") {
				budget++
			}
		}
	}
	if overflow == 0 || floor == 0 || drains == 0 || terms == 0 || budget == 0 || soft == 0 || observed == 0 {
		t.Errorf("random scenarios miss a decision kind: overflow launches %d, floor launches %d, drains %d, terminates %d, budget terminates %d, soft budget bound %d, launches on an observed boot %d",
			overflow, floor, drains, terms, budget, soft, observed)
	}
}

// FuzzDecide checks Decide's invariants on scenarios drawn from fuzz bytes:
// go test -fuzz FuzzDecide ./policy
func FuzzDecide(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("overflow with a floor and a budget, all offerings in stock"))
	f.Add([]byte{0, 10, 2, 1, 3, 1, 0, 0, 8, 200, 10, 20, 30, 99, 0, 1, 1, 1, 1, 1, 1, 1, 1, 5, 7, 9, 11, 255, 254, 3, 3, 3, 3, 3, 3, 3})
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dtRunScenario(t, dtGenerate(data))
	})
}

// TestPendingBySizeSameAsList: the grouped queue (Snapshot.PendingBySize)
// gives exactly the plan of the per-job list with waits it stands for.
func TestPendingBySizeSameAsList(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 512)
	compared, launched := 0, 0
	for range 2000 {
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		s := dtGenerate(buf)
		if len(s.snap.PendingJobWaits) == 0 || len(s.snap.PendingJobWaits) != len(s.snap.PendingJobGPUs) {
			continue
		}
		want := Decide(&s.pool, s.snap, s.inst, s.spend, s.now)
		grouped := s.snap
		grouped.PendingJobGPUs, grouped.PendingJobWaits = nil, nil
		idx := map[int]int{}
		for k, g := range s.snap.PendingJobGPUs {
			if g <= 0 {
				continue
			}
			i, ok := idx[g]
			if !ok {
				i = len(grouped.PendingBySize)
				idx[g] = i
				grouped.PendingBySize = append(grouped.PendingBySize, PendingSize{GPUs: g})
			}
			ps := &grouped.PendingBySize[i]
			ps.Submitted = append(ps.Submitted, s.now.Add(-s.snap.PendingJobWaits[k]))
		}
		got := Decide(&s.pool, grouped, s.inst, s.spend, s.now)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("grouped queue plans differently:\n got %+v\nwant %+v\n%s", got, want, s)
		}
		compared++
		launched += len(want.Launches)
	}
	if compared < 100 || launched == 0 {
		t.Errorf("compared %d scenarios with %d launches: too few", compared, launched)
	}
}
