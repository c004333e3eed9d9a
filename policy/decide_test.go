package policy

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// dtT0 is a Monday, 10:00 UTC.
var dtT0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func dtP4d() Offering {
	return Offering{Name: "p4d", Provider: "aws", Region: "us-east-1", InstanceType: "p4d.24xlarge", GPUs: 8,
		PricePerHour: 21.96, Boot: Duration(3 * time.Minute), Market: MarketOnDemand, Performance: 1, Billing: BillingPerSecondMin60}
}

func dtG6e() Offering {
	return Offering{Name: "g6e", Provider: "aws", Region: "us-east-1", InstanceType: "g6e.12xlarge", GPUs: 4,
		PricePerHour: 10.49, Boot: Duration(3 * time.Minute), Market: MarketOnDemand, Performance: 1, Billing: BillingPerSecondMin60}
}

// dtOne is a 1-GPU shape at p4d's price per GPU.
func dtOne() Offering {
	one := dtP4d()
	one.Name, one.InstanceType, one.GPUs, one.PricePerHour = "one", "p.1x", 1, dtP4d().PricePerHour/8
	return one
}

func dtGn7() Offering {
	return Offering{Name: "gn7", Provider: "alicloud", Region: "cn-hangzhou", InstanceType: "ecs.gn7e-c16g1.32xlarge", GPUs: 8,
		PricePerHour: 20.00, Boot: Duration(4 * time.Minute), Market: MarketOnDemand, Performance: 1, Billing: BillingPerSecond}
}

func dtPool(offs ...Offering) *Pool {
	return &Pool{
		Name:       "train",
		OnPrem:     OnPrem{Nodes: 4, GPUsPerNode: 8},
		WaitTarget: Duration(5 * time.Minute),
		Interval:   Duration(30 * time.Second),
		Offerings:  offs,
		ScaleIn:    ScaleIn{Idle: IdleSetting{Auto: true}, DrainTimeout: Duration(10 * time.Minute)},
	}
}

// dtBusySnap is an on-prem cluster that is full, with pending jobs.
func dtBusySnap(oldest time.Duration, jobs ...int) Snapshot {
	sum := 0
	for _, j := range jobs {
		sum += j
	}
	return Snapshot{Time: dtT0, OnPremGPUs: 32, OnPremBusyGPUs: 32, OnPremFreeGPUs: 0,
		PendingJobs: len(jobs), PendingGPUs: sum, PendingJobGPUs: jobs, OldestWait: oldest}
}

func dtInst(id string, o Offering, state InstanceState, launched time.Time, busy int) Instance {
	in := Instance{ID: id, Offering: o, State: state, LaunchedAt: launched, BusyGPUs: busy}
	if state != StateBooting {
		in.ReadyAt = launched.Add(o.Boot.D())
	}
	return in
}

func dtIdle(in Instance, since time.Time) Instance {
	in.BusyGPUs = 0
	in.IdleSince = since
	return in
}

type dtCase struct {
	name  string
	pool  *Pool
	snap  Snapshot
	inst  []Instance
	spend Spend
	now   time.Time
	check func(t *testing.T, p Plan)
}

func dtLaunched(p Plan) map[string]int {
	m := map[string]int{}
	for _, l := range p.Launches {
		m[l.Offering.Name] += l.Count
	}
	return m
}

func dtIDs(as []Action) []string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.InstanceID)
	}
	return ids
}

func dtWantLaunch(want map[string]int) func(t *testing.T, p Plan) {
	return func(t *testing.T, p Plan) {
		t.Helper()
		got := dtLaunched(p)
		if len(want) == 0 && len(got) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("launches = %v, want %v; plan %+v", got, want, p)
		}
	}
}

func dtHasNote(t *testing.T, p Plan, sub string) {
	t.Helper()
	for _, n := range p.Notes {
		if strings.Contains(n, sub) {
			return
		}
	}
	t.Errorf("no note containing %q; notes: %q", sub, p.Notes)
}

func dtReasonHas(t *testing.T, reason string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(reason, s) {
			t.Errorf("reason %q lacks %q", reason, s)
		}
	}
}

// dtWantDrain wants one drain, of instance id, whose reason has every sub.
func dtWantDrain(id string, subs ...string) func(t *testing.T, p Plan) {
	return func(t *testing.T, p Plan) {
		t.Helper()
		if len(p.Drains) != 1 || p.Drains[0].InstanceID != id {
			t.Fatalf("drains %+v, want %s", p.Drains, id)
		}
		dtReasonHas(t, p.Drains[0].Reason, subs...)
	}
}

// dtWantSpentDrain wants one drain, of instance id, whose reason has
// want and does not say it keeps within the budget.
func dtWantSpentDrain(id, want string) func(t *testing.T, p Plan) {
	return func(t *testing.T, p Plan) {
		t.Helper()
		dtWantDrain(id, want)(t, p)
		if r := p.Drains[0].Reason; strings.Contains(r, "within the budget") {
			t.Errorf("reason %q says the drain keeps within a budget already spent", r)
		}
	}
}

func dtNoActions(t *testing.T, p Plan) {
	t.Helper()
	if !p.Empty() {
		t.Errorf("plan should change nothing, got launches %+v drains %+v terminates %+v", p.Launches, p.Drains, p.Terminates)
	}
}

func TestDecide(t *testing.T) {
	now := dtT0
	withIdle := func(p *Pool, s ScaleIn) *Pool { p.ScaleIn = s; return p }
	hourly := dtP4d()
	hourly.Name, hourly.Billing = "p4d-hourly", BillingHourly
	perSec := dtGn7()

	cases := []dtCase{
		{
			name: "overflow of 12 GPUs in 3 jobs of 4 needs 2 instances of 8",
			pool: dtPool(dtP4d()),
			snap: dtBusySnap(4*time.Minute+10*time.Second, 4, 4, 4),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 2})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "12 GPUs pending", "0 free on-prem", "0 free in burst",
						"oldest waited 4m10s + next evaluation 30s + boot 3m > wait target 5m", "chose p4d at $3.66 per useful GPU-hour (2 × 8 GPUs")
				}
			},
		},
		{
			name:  "a 16-GPU job on 8-GPU offerings needs 2 whole instances",
			pool:  dtPool(dtP4d()),
			snap:  dtBusySnap(5*time.Minute, 16),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 2}),
		},
		{
			name:  "3-GPU jobs cannot be split: three of them on 4-GPU instances need 3",
			pool:  dtPool(dtG6e()),
			snap:  dtBusySnap(5*time.Minute, 3, 3, 3),
			now:   now,
			check: dtWantLaunch(map[string]int{"g6e": 3}),
		},
		{
			name:  "pending GPUs without job sizes are divisible demand",
			pool:  dtPool(dtP4d()),
			snap:  Snapshot{OnPremGPUs: 32, OnPremBusyGPUs: 32, OnPremFreeGPUs: -1, PendingGPUs: 9, OldestWait: 5 * time.Minute},
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 2}),
		},
		{
			name: "free burst GPUs absorb the queue",
			pool: dtPool(dtP4d()),
			snap: dtBusySnap(10*time.Minute, 8, 4),
			inst: []Instance{
				dtInst("i-boot", dtP4d(), StateBooting, now.Add(-time.Minute), 0),
				dtInst("i-half", dtP4d(), StateRunning, now.Add(-time.Hour), 4),
			},
			now:   now,
			check: dtNoActions,
		},
		{
			// Slurm starts a job as soon as it fits: free GPUs beside a
			// job that has waited 10 minutes are held back for something
			// else (a backfill reservation, the node's CPUs or memory).
			name: "free on-prem GPUs are no room for jobs that waited beside them",
			pool: dtPool(dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(10*time.Minute, 8, 4)
				s.OnPremFreeGPUs = 8
				return s
			}(),
			inst: []Instance{dtInst("i-half", dtP4d(), StateRunning, now.Add(-time.Hour), 4)},
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "12 GPUs pending", "8 free on-prem (not room for jobs that waited beside them), 4 free in burst: 8 GPUs overflow")
				}
			},
		},
		{
			// Jobs younger than the wait horizon are left to on-prem
			// anyway; free on-prem GPUs take them before they would share
			// a launch, so the launch for the due job is priced on it alone.
			name: "free on-prem GPUs take younger jobs",
			pool: dtPool(dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(5*time.Minute, 4, 4)
				s.PendingJobWaits = []time.Duration{5 * time.Minute, 10 * time.Second}
				s.OnPremFreeGPUs = 4
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "1 younger job left to on-prem", "4 free on-prem", "4 GPUs overflow", "for 4 GPUs of jobs")
				}
			},
		},
		{
			name: "on-prem free GPUs from total minus busy when free is unknown",
			pool: dtPool(dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(10*time.Minute, 8, 8)
				s.OnPremBusyGPUs, s.OnPremFreeGPUs = 24, -1
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 2})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "8 free on-prem (not room", "16 GPUs overflow")
				}
			},
		},
		{
			name: "below the wait target the queue is left to on-prem",
			pool: dtPool(dtP4d()),
			snap: dtBusySnap(time.Minute, 8),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
				dtHasNote(t, p, "oldest waited 1m + next evaluation 30s + boot 3m of p4d <= wait target 5m")
			},
		},
		{
			name: "with per-job waits only the jobs past the wait horizon are launched for",
			pool: dtPool(dtP4d()),
			snap: func() Snapshot {
				// 16 GPUs overdue, 8 GPUs queued 1 minute: only 2 instances.
				s := dtBusySnap(5*time.Minute, 8, 8, 8)
				s.PendingJobWaits = []time.Duration{5 * time.Minute, 4 * time.Minute, time.Minute}
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 2})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "1 younger job left to on-prem")
				}
			},
		},
		{
			name: "no job past the wait horizon: hold, naming the younger jobs",
			pool: dtPool(dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(time.Minute, 8)
				s.PendingJobWaits = []time.Duration{time.Minute}
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
				dtHasNote(t, p, "holding: 1 pending job, which has not waited long enough to need burst capacity (wait target 5m)")
			},
		},
		{
			name: "younger queued jobs count as useful GPUs of the launch they will share",
			pool: func() *Pool {
				one := dtP4d()
				one.Name, one.InstanceType, one.GPUs, one.PricePerHour = "one", "g.1x", 1, 4.0
				return dtPool(dtP4d(), one)
			}(),
			snap: func() Snapshot {
				// One overdue 1-GPU job: alone it is cheapest on the 1-GPU
				// shape ($4 vs $21.96), but 6 younger 1-GPU jobs behind it
				// would fill a p4d ($21.96 / 7 = $3.14 per useful GPU-hour).
				s := dtBusySnap(5*time.Minute, 1, 1, 1, 1, 1, 1, 1)
				s.PendingJobWaits = []time.Duration{5 * time.Minute, time.Minute, time.Minute, time.Minute, time.Minute, time.Minute, time.Minute}
				return s
			}(),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 1}),
		},
		{
			name:  "at an equal price per useful GPU-hour the smaller shape wins",
			pool:  dtPool(dtP4d(), dtOne()),
			snap:  dtBusySnap(5*time.Minute, 1, 1, 1, 1, 1, 1, 1, 1),
			now:   now,
			check: dtWantLaunch(map[string]int{"one": 8}),
		},
		{
			// Its reason once said "(1 × 1 GPUs, ..., for 1 GPUs of jobs)".
			name: "one GPU is one in a queue launch's reason",
			pool: dtPool(dtOne()),
			snap: dtBusySnap(5*time.Minute, 1),
			now:  now,
			check: func(t *testing.T, p Plan) {
				if len(p.Launches) != 1 {
					t.Fatalf("launches %+v, want one", p.Launches)
				}
				dtReasonHas(t, p.Launches[0].Reason, "(1 × 1 GPU, $2.75/h each, for 1 GPU of jobs)")
			},
		},
		{
			// Its reason once said "keeps 1 burst GPUs".
			name: "one GPU is one in a floor launch's reason",
			pool: dtPool(dtOne()),
			snap: Snapshot{Floors: []Floor{{Kind: FloorManual, Owner: "alice", GPUs: 1, Until: now.Add(time.Hour)}}},
			now:  now,
			check: func(t *testing.T, p Plan) {
				if len(p.Launches) != 1 {
					t.Fatalf("launches %+v, want one", p.Launches)
				}
				dtReasonHas(t, p.Launches[0].Reason, `floor "alice" (manual) keeps 1 burst GPU until`)
			},
		},
		{
			name:  "jobs span only instances of at least SpanMinGPUs: an 8-GPU job never goes onto 1-GPU shapes",
			pool:  dtPool(dtP4d(), dtOne()),
			snap:  dtBusySnap(5*time.Minute, 8, 1),
			now:   now,
			check: dtWantLaunch(map[string]int{"one": 1, "p4d": 1}),
		},
		{
			name:  "jobs may span 8-GPU instances: a 16-GPU job takes two p4d",
			pool:  dtPool(dtP4d(), dtOne()),
			snap:  dtBusySnap(5*time.Minute, 16),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 2}),
		},
		{
			name: "whole_jobs: the 8-GPU job gets an instance that holds it, the 1-GPU job the small shape",
			pool: func() *Pool {
				p := dtPool(dtP4d(), dtOne())
				p.WholeJobs = true
				return p
			}(),
			snap:  dtBusySnap(5*time.Minute, 8, 1),
			now:   now,
			check: dtWantLaunch(map[string]int{"one": 1, "p4d": 1}),
		},
		{
			name: "whole_jobs: a job larger than every offering spans whole instances of the largest",
			pool: func() *Pool {
				p := dtPool(dtP4d(), dtOne())
				p.WholeJobs = true
				return p
			}(),
			snap:  dtBusySnap(5*time.Minute, 16),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 2}),
		},
		{
			name:  "a 3-GPU overflow prefers a 4-GPU instance, cheaper per useful GPU",
			pool:  dtPool(dtP4d(), dtG6e()),
			snap:  dtBusySnap(5*time.Minute, 3),
			now:   now,
			check: dtWantLaunch(map[string]int{"g6e": 1}),
		},
		{
			name: "8 GPUs of overflow prefer the 8-GPU instance when the 4-GPU ones cost more per GPU",
			pool: func() *Pool {
				g := dtG6e()
				g.PricePerHour = 11.5
				return dtPool(g, dtP4d())
			}(),
			snap:  dtBusySnap(5*time.Minute, 8),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 1}),
		},
		{
			name: "performance factor weighs price per useful GPU-hour",
			pool: func() *Pool {
				fast := dtGn7()
				fast.Name, fast.PricePerHour, fast.Performance = "fast", 40, 2 // $2.50 per useful GPU-hour
				return dtPool(dtP4d(), fast)
			}(),
			snap: dtBusySnap(5*time.Minute, 8),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"fast": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "$2.50 per useful GPU-hour")
				}
			},
		},
		{
			name: "capacity fallback in one tick past an out-of-stock offering",
			pool: dtPool(dtGn7(), dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(5*time.Minute, 8)
				s.Unavailable = map[OfferingKey]time.Time{dtGn7().Key(): now.Add(42 * time.Minute)}
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "gn7 skipped: out of stock until 10:42:00 UTC")
				}
			},
		},
		{
			name: "the fallback names why the offering is skipped when it is not out of stock",
			pool: dtPool(dtGn7(), dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(5*time.Minute, 8)
				s.Unavailable = map[OfferingKey]time.Time{dtGn7().Key(): now.Add(42 * time.Minute)}
				s.UnavailableWhy = map[OfferingKey]string{dtGn7().Key(): WhyNeverJoined}
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "gn7 skipped: skipped until 10:42:00 UTC: an instance of it never joined")
				}
			},
		},
		{
			name: "an expired stock-out no longer skips the offering",
			pool: dtPool(dtGn7(), dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(5*time.Minute, 8)
				s.Unavailable = map[OfferingKey]time.Time{dtGn7().Key(): now}
				return s
			}(),
			now:   now,
			check: dtWantLaunch(map[string]int{"gn7": 1}),
		},
		{
			name: "quota block on a provider falls back to another provider",
			pool: dtPool(dtP4d(), dtG6e(), dtGn7()),
			snap: func() Snapshot {
				s := dtBusySnap(5*time.Minute, 8)
				s.Blocked = map[string]time.Time{"aws": now.Add(time.Hour)}
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"gn7": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "p4d skipped: provider aws blocked by quota until 11:00:00 UTC")
				}
			},
		},
		{
			name: "quota block on a region",
			pool: dtPool(dtP4d(), dtGn7()),
			snap: func() Snapshot {
				s := dtBusySnap(5*time.Minute, 8)
				s.Unavailable = map[OfferingKey]time.Time{dtGn7().Key(): now.Add(time.Minute)}
				s.Blocked = map[string]time.Time{"aws/us-east-1": now.Add(time.Hour)}
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
				dtHasNote(t, p, "region aws/us-east-1 blocked by quota")
				dtHasNote(t, p, "gn7 skipped: out of stock")
			},
		},
		{
			name: "max_gpus cuts a launch, counting booting and draining GPUs",
			pool: withLimits(dtPool(dtP4d()), Limits{MaxGPUs: 24}),
			snap: dtBusySnap(5*time.Minute, 8, 8, 8, 8),
			inst: []Instance{
				dtInst("i-boot", dtP4d(), StateBooting, now.Add(-time.Minute), 0),
				{ID: "i-drain", Offering: dtP4d(), State: StateDraining, LaunchedAt: now.Add(-time.Hour), BusyGPUs: 8, DrainStartedAt: now.Add(-time.Minute)},
			},
			now: now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				dtHasNote(t, p, "cut from 3 to 1 instance by limit max_gpus 24 (16 burst GPUs held)")
			},
		},
		{
			name: "max_gpus passes over an 8-GPU offering for a 4-GPU one that fits",
			pool: withLimits(dtPool(dtP4d(), func() Offering { g := dtG6e(); g.PricePerHour = 12; return g }()), Limits{MaxGPUs: 4}),
			snap: dtBusySnap(5*time.Minute, 4, 4),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"g6e": 1})(t, p)
				if len(p.Launches) == 1 {
					dtReasonHas(t, p.Launches[0].Reason, "passed over p4d: limit max_gpus 4")
				}
			},
		},
		{
			name: "max_cost_per_hour cuts a launch",
			pool: withLimits(dtPool(dtP4d()), Limits{MaxCostPerHour: 50}),
			snap: dtBusySnap(5*time.Minute, 8, 8, 8),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 2})(t, p)
				dtHasNote(t, p, "max_cost_per_hour $50.00")
			},
		},
		{
			name: "budget counts committed spend: accrued, and each instance until drain_timeout after the next tick",
			pool: withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 100, Period: PeriodDay}}),
			snap: dtBusySnap(5*time.Minute, 8, 8),
			// one running p4d: $21.96/h × (30 s + 10 m drain timeout) =
			// $3.843; each launch commits as much: 90 + 2 × 3.843 fits,
			// 90 + 3 × 3.843 does not.
			inst:  []Instance{dtInst("i-run", dtP4d(), StateRunning, now.Add(-time.Hour), 8)},
			spend: Spend{Accrued: 90},
			now:   now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				dtHasNote(t, p, "budget $100.00 per day")
			},
		},
		{
			name:  "an hourly offering commits a whole hour per launch",
			pool:  withLimits(dtPool(hourly), Limits{Budget: &Budget{Amount: 30, Period: PeriodDay}}),
			snap:  dtBusySnap(5*time.Minute, 8, 8),
			spend: Spend{Accrued: 5},
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d-hourly": 1}),
		},
		{
			name: "over budget by keeping what runs: idle instances end, costliest first, drained first",
			pool: withLimits(dtPool(dtP4d(), dtG6e()), Limits{Budget: &Budget{Amount: 100, Period: PeriodMonth}}),
			snap: dtBusySnap(time.Hour, 8),
			inst: []Instance{
				dtIdle(dtInst("i-cheap", dtG6e(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)),
				dtIdle(dtInst("i-dear", dtP4d(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)),
				dtInst("i-busy", dtP4d(), StateRunning, now.Add(-time.Hour), 8),
			},
			// keeping all commits 2 × $3.843 (p4d) + $1.836 (g6e) for
			// 10.5 minutes: 92 + 9.52 > 100; ending i-dear frees $3.843.
			spend: Spend{Accrued: 92},
			now:   now,
			check: func(t *testing.T, p Plan) {
				if len(p.Launches) != 0 {
					t.Errorf("no launch over budget, got %+v", p.Launches)
				}
				if !reflect.DeepEqual(p.BoundBy, []string{LimitBudget}) {
					t.Errorf("BoundBy = %v, want [budget]", p.BoundBy)
				}
				if got := dtIDs(p.Terminates); !reflect.DeepEqual(got, []string{"i-dear"}) {
					t.Errorf("terminates = %v, want [i-dear]", got)
				}
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-dear"}) {
					t.Errorf("drains = %v, want [i-dear] drained before its termination", got)
				}
				if len(p.Terminates) == 1 {
					dtReasonHas(t, p.Terminates[0].Reason, "budget", "this month", "of a $100.00 budget")
				}
			},
		},
		{
			name: "budget: a busy instance is drained early so that drain_timeout ends it within the budget",
			pool: withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 100, Period: PeriodMonth}}),
			snap: dtBusySnap(time.Hour, 8),
			inst: []Instance{dtInst("i-busy", dtP4d(), StateRunning, now.Add(-time.Hour), 8)},
			// kept: 96.2 + $3.843 (10.5 m) > 100; drained now: + $3.66 (10 m) fits.
			spend: Spend{Accrued: 96.2},
			now:   now,
			check: func(t *testing.T, p Plan) {
				if len(p.Launches) != 0 || len(p.Terminates) != 0 {
					t.Errorf("want only a drain, got launches %+v terminates %+v", p.Launches, p.Terminates)
				}
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-busy"}) {
					t.Fatalf("drains = %v, want [i-busy]", got)
				}
				dtReasonHas(t, p.Drains[0].Reason, "budget", "drain_timeout ends it")
			},
		},
		{
			// A restart lowered the budget below what is spent: no drain
			// keeps within it, and the reason said one did.
			name:  "budget: a busy instance of a budget already spent is drained, its reason saying the budget is spent",
			pool:  withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 100, Period: PeriodMonth}}),
			snap:  dtBusySnap(time.Hour, 8),
			inst:  []Instance{dtInst("i-busy", dtP4d(), StateRunning, now.Add(-time.Hour), 8)},
			spend: Spend{Accrued: 120},
			now:   now,
			check: dtWantSpentDrain("i-busy", "budget: the $100.00 month budget is already spent ($120.00 accrued this period); draining now so that it ends as soon as its 8 busy GPU(s) finish or drain_timeout passes, billed past the budget until then"),
		},
		{
			// kept: 98.5 + $3.843 (10.5 m) > 100; drained now: + $3.66
			// (10 m), still past it: the reason said "within the budget".
			name:  "budget: a busy instance of a budget just under spent is drained, its reason saying it stays past the budget",
			pool:  withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 100, Period: PeriodMonth}}),
			snap:  dtBusySnap(time.Hour, 8),
			inst:  []Instance{dtInst("i-busy", dtP4d(), StateRunning, now.Add(-time.Hour), 8)},
			spend: Spend{Accrued: 98.5},
			now:   now,
			check: dtWantSpentDrain("i-busy", "or drain_timeout ends it as soon as it can; even so $102.16 this period and $0.00 in the next stay committed, past the budget: billed past it until they end"),
		},
		{
			name:  "budget: a busy instance of a budget spent to its last cent is drained, its reason saying the budget is spent",
			pool:  withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 100, Period: PeriodMonth}}),
			snap:  dtBusySnap(time.Hour, 8),
			inst:  []Instance{dtInst("i-busy", dtP4d(), StateRunning, now.Add(-time.Hour), 8)},
			spend: Spend{Accrued: 100},
			now:   now,
			check: dtWantSpentDrain("i-busy", "budget: the $100.00 month budget is already spent ($100.00 accrued this period)"),
		},
		{
			name: "budget: what a kept instance would bill in the next period counts against that period's budget",
			pool: withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 3, Period: PeriodDay}}),
			snap: dtBusySnap(time.Hour, 8),
			inst: []Instance{dtInst("i-busy", dtP4d(), StateRunning, dtT0.Add(13*time.Hour), 8)},
			// 23:58: kept, it may bill 8.5 m ($3.11) of tomorrow; drained
			// now, 8 m ($2.93).
			spend: Spend{Accrued: 0.5},
			now:   dtT0.Add(13*time.Hour + 58*time.Minute),
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-busy"}) {
					t.Fatalf("drains = %v, want [i-busy]", got)
				}
			},
		},
		{
			name: "a job larger than on-prem and max_gpus is never launched for, and said so",
			pool: withLimits(dtPool(dtP4d()), Limits{MaxGPUs: 2048}),
			snap: dtBusySnap(time.Hour, 2200, 8),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p) // for the 8-GPU job only
				if p.Unservable != 1 || p.UnservableGPUs != 2200 {
					t.Errorf("Unservable = %d (largest %d), want 1 (2200)", p.Unservable, p.UnservableGPUs)
				}
				dtHasNote(t, p, "never served: 1 pending job, largest 2200 GPUs, fits neither the 32 on-prem GPUs nor what the pool may rent (it needs 275 × 8 GPUs of p4d, more than max_gpus 2048)")
			},
		},
		{
			name: "a job the budget cannot hold waits for on-prem: no launch for it",
			pool: withLimits(dtPool(dtP4d()), Limits{Budget: &Budget{Amount: 5, Period: PeriodMonth}}),
			snap: dtBusySnap(time.Hour, 16),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(nil)(t, p)
				if p.Unservable != 0 {
					t.Errorf("Unservable = %d, want 0: on-prem holds 16 GPUs", p.Unservable)
				}
				dtHasNote(t, p, "1 pending job, largest 16 GPUs, waits for on-prem: no burst capacity the pool may rent holds it (2 × p4d commit $7.69")
			},
		},
		{
			name: "a lowered max_gpus ends idle instances, costliest first, and launches nothing",
			pool: withLimits(dtPool(dtP4d(), dtG6e()), Limits{MaxGPUs: 12}),
			snap: dtBusySnap(time.Hour, 8),
			inst: []Instance{
				dtIdle(dtInst("i-small", dtG6e(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Second)),
				dtIdle(dtInst("i-big", dtP4d(), StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Second)),
				dtInst("i-busy", dtP4d(), StateRunning, now.Add(-time.Hour), 8),
			},
			now: now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Terminates); !reflect.DeepEqual(got, []string{"i-big"}) {
					t.Errorf("terminates = %v, want [i-big]", got)
				}
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-big"}) {
					t.Errorf("drains = %v, want [i-big] drained before its termination", got)
				}
				if len(p.Launches) != 0 {
					t.Errorf("no launch while over a limit, got %+v", p.Launches)
				}
				dtHasNote(t, p, "over a hard limit before this plan: 20 burst GPUs")
			},
		},
		{
			name: "stale signals hold: no launch for the queue, no idle scale-in",
			pool: dtPool(dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(time.Hour, 8, 8)
				s.Stale = []string{"queue: slurm squeue failed"}
				return s
			}(),
			inst: []Instance{
				dtIdle(dtInst("i-idle", perSec, StateRunning, now.Add(-2*time.Hour), 0), now.Add(-time.Hour)),
				{ID: "i-drained", Offering: dtP4d(), State: StateDraining, LaunchedAt: now.Add(-time.Hour), DrainStartedAt: now.Add(-time.Minute)},
			},
			now: now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
				dtHasNote(t, p, "signals stale or missing (queue: slurm squeue failed)")
				dtHasNote(t, p, "holding queue overflow")
			},
		},
		{
			name: "stale signals still honour floors",
			pool: dtPool(dtP4d()),
			snap: Snapshot{Stale: []string{"nvml"}, Floors: []Floor{{Kind: FloorSchedule, Owner: "weekday", GPUs: 16, Until: now.Add(8 * time.Hour)}}},
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 2})(t, p)
				if len(p.Launches) == 1 && p.Launches[0].Floor != "weekday" {
					t.Errorf("launch floor = %q, want weekday", p.Launches[0].Floor)
				}
			},
		},
		{
			name: "floors launch what they lack regardless of the queue, counting held capacity",
			pool: dtPool(dtP4d()),
			snap: Snapshot{OnPremGPUs: 32, Floors: []Floor{
				{Kind: FloorSchedule, Owner: "weekday", Reason: "office hours", GPUs: 16, Until: now.Add(8 * time.Hour)},
				{Kind: FloorManual, Owner: "alice", Reason: "incident 42", GPUs: 8, Until: now.Add(time.Hour)},
				{Kind: FloorManual, Owner: "bob", GPUs: 8, Until: now.Add(-time.Minute)}, // ended
			}},
			inst: []Instance{dtInst("i-w1", dtP4d(), StateRunning, now.Add(-time.Hour), 0)},
			now:  now,
			check: func(t *testing.T, p Plan) {
				byFloor := map[string]int{}
				for _, l := range p.Launches {
					byFloor[l.Floor] += l.Count
				}
				if want := map[string]int{"weekday": 1, "alice": 1}; !reflect.DeepEqual(byFloor, want) {
					t.Errorf("launches by floor = %v, want %v", byFloor, want)
				}
				if len(p.Launches) > 0 {
					dtReasonHas(t, p.Launches[0].Reason, `floor "weekday"`, "office hours", "floors total 24, 8 held")
				}
			},
		},
		{
			name: "a floor pinned to an offering uses it, and waits when it is out of stock",
			pool: dtPool(dtP4d(), dtG6e()),
			snap: Snapshot{Unavailable: map[OfferingKey]time.Time{dtP4d().Key(): now.Add(time.Minute)}, Floors: []Floor{
				{Kind: FloorManual, Owner: "alice", GPUs: 8, Until: now.Add(time.Hour), Offering: "g6e"},
				{Kind: FloorManual, Owner: "bob", GPUs: 8, Until: now.Add(time.Hour), Offering: "p4d"},
			}},
			now: now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"g6e": 2})(t, p)
				dtHasNote(t, p, `floor "bob" (manual) wants 8 more burst GPUs: no offering can be launched (p4d skipped: out of stock until 10:01:00 UTC)`)
			},
		},
		{
			name: "a floor cannot break max_gpus",
			pool: withLimits(dtPool(dtP4d()), Limits{MaxGPUs: 8}),
			snap: Snapshot{Floors: []Floor{{Kind: FloorManual, Owner: "alice", GPUs: 24, Until: now.Add(time.Hour)}}},
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 1})(t, p)
				dtHasNote(t, p, `floor "alice" wants 24 more burst GPUs (3 × p4d): launching 1; limit max_gpus 8`)
			},
		},
		{
			name: "floors prevent scale-in of idle capacity",
			pool: dtPool(perSec),
			snap: Snapshot{Floors: []Floor{{Kind: FloorSchedule, Owner: "weekday", GPUs: 8, Until: now.Add(time.Hour)}}},
			inst: []Instance{
				func() Instance {
					in := dtIdle(dtInst("i-floor", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Hour))
					in.Floor = "weekday"
					return in
				}(),
				dtIdle(dtInst("i-extra", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Hour)),
			},
			now: now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-extra"}) {
					t.Errorf("drains = %v, want only i-extra (i-floor keeps the floor)", got)
				}
				dtHasNote(t, p, "floors need 8 burst GPUs")
			},
		},
		{
			name: "an instance of an ended floor is ordinary capacity",
			pool: dtPool(perSec),
			snap: Snapshot{},
			inst: []Instance{func() Instance {
				in := dtIdle(dtInst("i-floor", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-10*time.Minute))
				in.Floor = "weekday"
				return in
			}()},
			now: now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-floor"}) {
					t.Fatalf("drains = %v, want [i-floor]", got)
				}
				dtReasonHas(t, p.Drains[0].Reason, `its floor "weekday" has ended`)
			},
		},
		{
			name: "auto idle threshold is the boot time: idle 3m59s of a 4m boot is kept, 4m is drained",
			pool: dtPool(perSec),
			inst: []Instance{
				dtIdle(dtInst("i-young", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-(3*time.Minute + 59*time.Second))),
				dtIdle(dtInst("i-old", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-4*time.Minute)),
				dtInst("i-boot", perSec, StateBooting, now.Add(-time.Hour), 0),
			},
			now: now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-old"}) {
					t.Fatalf("drains = %v, want [i-old]", got)
				}
				if len(p.Terminates) != 0 {
					t.Errorf("an idle running instance is drained, not terminated: %v", p.Terminates)
				}
				dtReasonHas(t, p.Drains[0].Reason, "idle for 4m", "threshold 4m (auto: ski-rental break-even")
			},
		},
		{
			name: "a fixed idle duration overrides auto",
			pool: withIdle(dtPool(perSec), ScaleIn{Idle: IdleSetting{Duration: 10 * time.Minute}}),
			inst: []Instance{
				dtIdle(dtInst("i-5m", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-5*time.Minute)),
				dtIdle(dtInst("i-10m", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-10*time.Minute)),
			},
			now: now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-10m"}) {
					t.Errorf("drains = %v, want [i-10m]", got)
				}
			},
		},
		{
			name: "hourly billing keeps an idle instance while its paid hour runs",
			pool: dtPool(hourly),
			inst: []Instance{dtIdle(dtInst("i-h", hourly, StateRunning, now.Add(-20*time.Minute), 0), now.Add(-15*time.Minute))},
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
			},
		},
		{
			name: "hourly billing releases just before the paid hour ends",
			pool: dtPool(hourly),
			inst: []Instance{dtIdle(dtInst("i-h", hourly, StateRunning, now.Add(-(59*time.Minute+15*time.Second)), 0), now.Add(-15*time.Minute))},
			now:  now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-h"}) {
					t.Fatalf("drains = %v, want [i-h]", got)
				}
				dtReasonHas(t, p.Drains[0].Reason, "paid hour ends at 10:00:45 UTC")
			},
		},
		{
			name: "hourly billing keeps an instance whose hour ends before the next evaluation: the next hour is paid anyway",
			pool: dtPool(hourly),
			inst: []Instance{dtIdle(dtInst("i-h", hourly, StateRunning, now.Add(-(59*time.Minute+40*time.Second)), 0), now.Add(-15*time.Minute))},
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
			},
		},
		{
			name: "per-second-min-60s keeps an instance through its first minute",
			pool: withIdle(dtPool(dtP4d()), ScaleIn{Idle: IdleSetting{Duration: time.Second}}),
			inst: []Instance{dtIdle(dtInst("i-new", dtP4d(), StateRunning, now.Add(-20*time.Second), 0), now.Add(-10*time.Second))},
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtNoActions(t, p)
			},
		},
		{
			name: "pending work keeps an idle instance it fits on",
			pool: dtPool(perSec),
			snap: dtBusySnap(time.Minute, 8),
			inst: []Instance{
				dtIdle(dtInst("i-a", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Hour)),
				dtIdle(dtInst("i-b", perSec, StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Hour)),
			},
			now: now,
			check: func(t *testing.T, p Plan) {
				if len(p.Drains) != 1 || len(p.Launches) != 0 {
					t.Errorf("want one drain (the other idle instance takes the pending job) and no launch, got %+v", p)
				}
				dtHasNote(t, p, "kept 1 idle instance past its threshold: pending jobs fit on it")
			},
		},
		{
			name: "max lifetime drains even a busy instance, and floors replace it",
			pool: withIdle(dtPool(perSec), ScaleIn{Idle: IdleSetting{Auto: true}, MaxLifetime: Duration(12 * time.Hour)}),
			snap: Snapshot{Floors: []Floor{{Kind: FloorManual, Owner: "alice", GPUs: 8, Until: now.Add(time.Hour)}}},
			inst: []Instance{func() Instance {
				in := dtInst("i-old", perSec, StateRunning, now.Add(-12*time.Hour), 8)
				in.Floor = "alice"
				return in
			}()},
			now: now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Drains); !reflect.DeepEqual(got, []string{"i-old"}) {
					t.Fatalf("drains = %v, want [i-old]", got)
				}
				dtReasonHas(t, p.Drains[0].Reason, "max lifetime", "max_lifetime 12h")
				if len(p.Terminates) != 0 {
					t.Errorf("a busy instance is not terminated: %v", p.Terminates)
				}
				dtWantLaunch(map[string]int{"gn7": 1})(t, p)
			},
		},
		{
			name: "drained instances are terminated, draining busy ones wait, a drain timeout ends them",
			pool: dtPool(dtP4d()),
			inst: []Instance{
				{ID: "i-drained", Offering: dtP4d(), State: StateDraining, LaunchedAt: now.Add(-time.Hour), DrainStartedAt: now.Add(-time.Minute)},
				{ID: "i-busy", Offering: dtP4d(), State: StateDraining, LaunchedAt: now.Add(-time.Hour), BusyGPUs: 2, DrainStartedAt: now.Add(-9 * time.Minute)},
				{ID: "i-late", Offering: dtP4d(), State: StateDraining, LaunchedAt: now.Add(-time.Hour), BusyGPUs: 3, DrainStartedAt: now.Add(-10 * time.Minute)},
				{ID: "i-gone", Offering: dtP4d(), State: StateTerminating, LaunchedAt: now.Add(-time.Hour)},
			},
			now: now,
			check: func(t *testing.T, p Plan) {
				if got := dtIDs(p.Terminates); !reflect.DeepEqual(got, []string{"i-drained", "i-late"}) {
					t.Fatalf("terminates = %v, want [i-drained i-late]", got)
				}
				dtReasonHas(t, p.Terminates[0].Reason, "drained: no GPU busy since draining began at 09:59:00 UTC")
				dtReasonHas(t, p.Terminates[1].Reason, "drain timeout", "drain_timeout 10m", "3 of 8 GPUs still busy")
			},
		},
		{
			name: "idle allocations are reported as waste",
			pool: dtPool(dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(10*time.Minute, 8)
				s.IdleAllocatedGPUs = 6
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				if p.Waste != 6 {
					t.Errorf("waste = %d, want 6", p.Waste)
				}
				dtHasNote(t, p, "6 on-prem GPUs are allocated but idle")
			},
		},
		{
			// Its note once said "1 on-prem GPUs are allocated but idle".
			name: "one idle allocated GPU is one in the waste note",
			pool: dtPool(dtP4d()),
			snap: func() Snapshot {
				s := dtBusySnap(10*time.Minute, 1)
				s.IdleAllocatedGPUs = 1
				return s
			}(),
			now: now,
			check: func(t *testing.T, p Plan) {
				dtHasNote(t, p, "waste: 1 on-prem GPU is allocated but idle while 1 GPU overflows;")
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := Decide(c.pool, c.snap, c.inst, c.spend, c.now)
			if p.Pool != c.pool.Name || !p.Time.Equal(c.now) {
				t.Errorf("plan names pool %q at %v, want %q at %v", p.Pool, p.Time, c.pool.Name, c.now)
			}
			for _, l := range p.Launches {
				if l.Reason == "" || l.Count <= 0 {
					t.Errorf("launch without reason or count: %+v", l)
				}
			}
			for _, a := range append(append([]Action{}, p.Drains...), p.Terminates...) {
				if a.Reason == "" {
					t.Errorf("action without reason: %+v", a)
				}
			}
			c.check(t, p)
			if again := Decide(c.pool, c.snap, c.inst, c.spend, c.now); !reflect.DeepEqual(p, again) {
				t.Errorf("Decide is not deterministic:\n%+v\n%+v", p, again)
			}
		})
	}
}

func TestBilledCost(t *testing.T) {
	o := func(b Billing) Offering { return Offering{PricePerHour: 36, Billing: b} }
	cases := []struct {
		name string
		o    Offering
		d    time.Duration
		want float64
	}{
		{"per-second-min-60s under a minute bills a minute", o(BillingPerSecondMin60), 10 * time.Second, 0.6},
		{"per-second-min-60s bills seconds past the minute", o(BillingPerSecondMin60), 90 * time.Second, 0.9},
		{"empty billing is per-second-min-60s", o(""), 0, 0.6},
		{"per-second has no minimum", o(BillingPerSecond), 10 * time.Second, 0.1},
		{"hourly bills a started hour", o(BillingHourly), time.Minute, 36},
		{"hourly bills an exact hour once", o(BillingHourly), time.Hour, 36},
		{"hourly bills the second started hour", o(BillingHourly), time.Hour + time.Second, 72},
		{"ended before launched costs nothing", o(BillingHourly), -time.Second, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := BilledCost(c.o, dtT0, dtT0.Add(c.d)); math.Abs(got-c.want) > 1e-9 {
				t.Errorf("BilledCost = %v, want %v", got, c.want)
			}
		})
	}
}

func TestIdleThreshold(t *testing.T) {
	o := Offering{Boot: Duration(4 * time.Minute)}
	if got := IdleThreshold(&Pool{ScaleIn: ScaleIn{Idle: IdleSetting{Auto: true}}}, o); got != 4*time.Minute {
		t.Errorf("auto threshold = %v, want the 4m boot time", got)
	}
	if got := IdleThreshold(&Pool{ScaleIn: ScaleIn{Idle: IdleSetting{Duration: time.Minute}}}, o); got != time.Minute {
		t.Errorf("fixed threshold = %v, want 1m", got)
	}
	if got := IdleThreshold(&Pool{}, o); got != 4*time.Minute {
		t.Errorf("unset threshold = %v, want auto (4m)", got)
	}
	if got := IdleThreshold(&Pool{ScaleIn: ScaleIn{Idle: IdleSetting{Fixed: true}}}, o); got != 0 {
		t.Errorf(`"0s" threshold = %v, want 0 (release once idle)`, got)
	}
}

func TestDecideNilPool(t *testing.T) {
	p := Decide(nil, Snapshot{IdleAllocatedGPUs: 2}, nil, Spend{}, dtT0)
	if !p.Empty() || len(p.Notes) == 0 || p.Waste != 2 {
		t.Errorf("nil pool: want an empty plan with a note, got %+v", p)
	}
}

func TestDecFmtDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3 * time.Minute:                   "3m",
		4*time.Minute + 10*time.Second:    "4m10s",
		time.Hour:                         "1h",
		90 * time.Minute:                  "1h30m",
		time.Hour + 5*time.Second:         "1h0m5s",
		250 * time.Millisecond:            "250ms",
		12*time.Hour + 30*time.Second:     "12h0m30s",
		-(4*time.Minute + 10*time.Second): "-4m10s",
		// an observed boot is measured to the nanosecond: whole seconds
		7*time.Minute + 35*time.Second + 892575834:  "7m36s",
		250*time.Millisecond + 400*time.Microsecond: "250ms",
	} {
		if got := decFmtDur(d); got != want {
			t.Errorf("decFmtDur(%v) = %q, want %q", time.Duration(d), got, want)
		}
		if got := string(decText(nil).dur(d)); got != want {
			t.Errorf("decText.dur(%v) = %q, want %q", time.Duration(d), got, want)
		}
	}
}
