package policy

import (
	"testing"
	"time"
)

// TestCutLaunchMustRunAJob: a launch cut by a limit is made only when what
// it buys can run a job. A 64-GPU job spans eight 8-GPU instances; with
// room for three more, launching them buys instances that idle until all
// eight are up, and are let go before, over and over.
func TestCutLaunchMustRunAJob(t *testing.T) {
	now := dtT0
	p4d := dtP4d() // 8 GPUs
	limited := func(maxGPUs int) *Pool {
		p := dtPool(p4d)
		p.Limits.MaxGPUs = maxGPUs
		return p
	}
	idle := func(n int) []Instance {
		var in []Instance
		for i := range n {
			in = append(in, dtIdle(dtInst("i-"+string(rune('a'+i)), p4d, StateRunning, now.Add(-time.Hour), 0), now.Add(-time.Minute)))
		}
		return in
	}
	busy := func(n int) []Instance { // instances running 8-GPU jobs
		var in []Instance
		for i := range n {
			in = append(in, dtInst("b-"+string(rune('a'+i)), p4d, StateRunning, now.Add(-time.Hour), 8))
		}
		return in
	}
	for _, c := range []dtCase{
		{
			name: "room for 3 of the 8 instances a 64-GPU job spans: hold, and say why",
			pool: limited(64), // 5 held busy: room for 3
			snap: dtBusySnap(10*time.Minute, 64),
			inst: busy(5),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(nil)(t, p)
				dtHasNote(t, p, "allows 3 more; with the 0 whole ones free or booting, too few for the 64-GPU job it would take, which spans 8")
			},
		},
		{
			name:  "room for all 8: launch them",
			pool:  limited(64),
			snap:  dtBusySnap(10*time.Minute, 64),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 8}),
		},
		{
			name: "5 idle and room for 3: the 3 complete the job's 8",
			pool: limited(64),
			snap: dtBusySnap(10*time.Minute, 64),
			inst: idle(5),
			now:  now,
			check: func(t *testing.T, p Plan) {
				dtWantLaunch(map[string]int{"p4d": 3})(t, p)
				if len(p.Drains) != 0 {
					t.Errorf("drains %+v: the idle instances are the job's", p.Drains)
				}
			},
		},
		{
			// The room left over takes the jobs queued behind.
			name:  "a 4-GPU job beside it: launch the 3 there is room for",
			pool:  limited(64),
			snap:  dtBusySnap(10*time.Minute, 64, 4),
			inst:  busy(5),
			now:   now,
			check: dtWantLaunch(map[string]int{"p4d": 3}),
		},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, Decide(c.pool, c.snap, c.inst, c.spend, c.now)) })
	}
}

// TestAdmitCutLaunchMustRunAJob: Admit holds another policy's cut launches
// to the same rule: none when the instances a limit leaves cannot run any
// pending job.
func TestAdmitCutLaunchMustRunAJob(t *testing.T) {
	now := dtT0
	p4d := dtP4d()
	pool := dtPool(p4d)
	pool.Limits.MaxGPUs = 64
	var busy []Instance
	for i := range 5 {
		busy = append(busy, dtInst("b-"+string(rune('a'+i)), p4d, StateRunning, now.Add(-time.Hour), 8))
	}
	plan := Plan{Pool: pool.Name, Time: now, Launches: []Launch{{Offering: p4d, Count: 8, Reason: "per-job: resume 8 nodes"}}}
	for _, tt := range []struct {
		name string
		jobs []int
		want int
		note string
	}{
		{"a 64-GPU job, room for 3 of its 8", []int{64}, 0, "admit: launch of p4d cut from 8 to none: limit max_gpus 64 (40 burst GPUs held) allows 3, with the 0 whole ones free or booting too few for a pending 64-GPU job, which spans 8"},
		{"and a 4-GPU job the 3 can run", []int{64, 4}, 3, "launch of p4d cut from 8 to 3 instances"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			snap := dtBusySnap(10*time.Minute, tt.jobs...)
			got := Admit(pool, snap, busy, Spend{}, now, plan)
			n := 0
			for _, l := range got.Launches {
				n += l.Count
			}
			if n != tt.want {
				t.Errorf("admitted %d launches, want %d; plan %+v", n, tt.want, got)
			}
			dtHasNote(t, got, tt.note)
		})
	}
}
