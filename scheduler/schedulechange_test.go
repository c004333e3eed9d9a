package scheduler_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
)

// TestScheduleChangedDuringAFiring: the config is changed and the server
// restarted while a schedule's firing holds. The firing the config no
// longer has ends at the restart's first tick and says why, instead of
// staying open (on the page, in the followers' view, in the floors' history)
// until its old end beside the new one; the instance it launched is kept,
// not launched twice, when the new config still wants it.
func TestScheduleChangedDuringAFiring(t *testing.T) {
	morning := func(cron string, d time.Duration) []policy.Schedule {
		return []policy.Schedule{{Name: "morning", Cron: cron, GPUs: 8, Duration: policy.Duration(d)}}
	}
	firing := func(until time.Time) string {
		return "schedule/train/morning/" + strconv.FormatInt(until.Unix(), 10)
	}
	tests := []struct {
		name      string
		change    func(p *policy.Pool)
		wantOpen  []string // ids of the open schedule floors after the restart
		wantLive  int
		endReason string
	}{
		{"duration lengthened", func(p *policy.Pool) { p.Schedules = morning("30 9 * * 1-5", 2*time.Hour) },
			[]string{firing(t0.Add(150 * time.Minute))}, 1, `schedule "morning" changed in the config`},
		{"cron moved past now", func(p *policy.Pool) { p.Schedules = morning("0 11 * * 1-5", time.Hour) },
			nil, 1, `schedule "morning" changed in the config`},
		{"renamed", func(p *policy.Pool) { p.Schedules = morning("30 9 * * 1-5", time.Hour); p.Schedules[0].Name = "am" },
			[]string{"schedule/train/am/" + strconv.FormatInt(t0.Add(90*time.Minute).Unix(), 10)}, 1, `schedule "morning" is no longer in the config of pool train`},
		{"schedule removed", func(p *policy.Pool) { p.Schedules = nil },
			nil, 1, `schedule "morning" is no longer in the config of pool train`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool()
			p.Schedules = morning("30 9 * * 1-5", time.Hour)
			h := newHarness(t, p)
			h.until("the schedule opens at 09:30", time.Minute, 40, func() bool { return len(h.live()) == 1 })
			h.until("09:45", time.Minute, 20, func() bool { return !h.clk.Now().Before(t0.Add(45 * time.Minute)) })
			old := firing(t0.Add(90 * time.Minute))
			ctx := context.Background()
			if _, err := h.store.Floor(ctx, old); err != nil {
				t.Fatalf("firing %s: %v", old, err)
			}
			tt.change(&h.pool)
			h.restart()
			h.step(time.Minute)
			restartedAt := h.clk.Now()

			fls, err := h.store.Floors(ctx, state.FloorFilter{Pool: "train", Kind: state.FloorSchedule, Open: true})
			if err != nil {
				t.Fatal(err)
			}
			var open []string
			for _, f := range fls {
				open = append(open, f.ID)
			}
			if strings.Join(open, ",") != strings.Join(tt.wantOpen, ",") {
				t.Errorf("open schedule floors after the restart = %v, want %v", open, tt.wantOpen)
			}
			f, err := h.store.Floor(ctx, old)
			if err != nil {
				t.Fatal(err)
			}
			if !f.EndedAt.Equal(restartedAt) || !strings.Contains(f.EndReason, tt.endReason) {
				t.Errorf("old firing ended at %v (%q), want at %v saying %q", f.EndedAt, f.EndReason, restartedAt, tt.endReason)
			}
			if n := len(h.live()); n != tt.wantLive {
				t.Errorf("%d live instances after the restart, want %d", n, tt.wantLive)
			}
			// The window opened on time; the new firing of it does not
			// say it opened late.
			st, _ := h.sched.LastStatus("train")
			for _, f := range st.Snapshot.Floors {
				if strings.Contains(f.Reason, "late") {
					t.Errorf("floor %s says %q, want no word of a late opening (the window opened at 09:30)", f.Owner, f.Reason)
				}
			}
		})
	}
}

// TestScheduleMissedWhileDown: a firing that came while no server ran
// opens at the first tick after the server starts, for the rest of its
// window (as a cron scaler that sets the floor while the window lasts
// does), once across restarts, and its floor says it opened late and
// when it fired; a firing opened on time says nothing of the kind.
func TestScheduleMissedWhileDown(t *testing.T) {
	tests := []struct {
		name     string
		down     time.Duration // from 09:29, before the 09:30 firing
		wantLate string        // "" for none
	}{
		{"on time", 0, ""},
		{"server down over the firing", 20 * time.Minute, "opened late, at 09:50 UTC, 20m after it fired at 09:30 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool()
			p.Schedules = []policy.Schedule{{Name: "morning", Cron: "30 9 * * 1-5", GPUs: 8, Duration: policy.Duration(time.Hour)}}
			h := newHarness(t, p)
			h.until("09:29", time.Minute, 40, func() bool { return !h.clk.Now().Before(t0.Add(29 * time.Minute)) })
			h.store.Close() // the server stops
			h.clk.Step(tt.down)
			h.start()
			h.until("the schedule's instance launches", time.Minute, 5, func() bool { return len(h.live()) == 1 })
			h.restart()
			h.step(time.Minute)

			ctx := context.Background()
			fls, err := h.store.Floors(ctx, state.FloorFilter{Pool: "train", Kind: state.FloorSchedule})
			if err != nil || len(fls) != 1 {
				t.Fatalf("schedule floors = %+v (%v), want one row", fls, err)
			}
			if n := len(h.live()); n != 1 {
				t.Errorf("%d live instances, want 1 (fired once)", n)
			}
			st, _ := h.sched.LastStatus("train")
			var shown string
			for _, f := range st.Snapshot.Floors {
				if f.Owner == "morning" {
					shown = f.Reason
				}
			}
			for what, reason := range map[string]string{"its row": fls[0].Reason, "the status": shown} {
				if tt.wantLate == "" && strings.Contains(reason, "late") {
					t.Errorf("%s says %q, want no word of a late opening", what, reason)
				}
				if tt.wantLate != "" && !strings.Contains(reason, tt.wantLate) {
					t.Errorf("%s says %q, want it to say %q", what, reason, tt.wantLate)
				}
			}
		})
	}
}

// TestScheduleGPUsChangedDuringAFiring: only the schedule's gpus change in
// the config during a firing, and the server restarts. The firing keeps
// its id (its window is the same), and its row takes the GPUs it holds
// now and a reason that says them, so the followers' page and the floors'
// history do not show the old number until the firing ends; the pool
// holds the new number.
func TestScheduleGPUsChangedDuringAFiring(t *testing.T) {
	for _, tt := range []struct {
		name     string
		gpus     int
		wantLive int
	}{
		{"raised", 16, 2},
		{"lowered", 8, 1}, // from 16
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := 8
			if tt.gpus == 8 {
				before = 16
			}
			sched := func(gpus int) []policy.Schedule {
				return []policy.Schedule{{Name: "morning", Cron: "30 9 * * 1-5", GPUs: gpus, Duration: policy.Duration(time.Hour)}}
			}
			p := testPool()
			p.Schedules = sched(before)
			h := newHarness(t, p)
			h.until("the schedule opens at 09:30", time.Minute, 40, func() bool { return len(h.live()) == before/8 })
			h.until("09:45", time.Minute, 20, func() bool { return !h.clk.Now().Before(t0.Add(45 * time.Minute)) })
			id := "schedule/train/morning/" + strconv.FormatInt(t0.Add(90*time.Minute).Unix(), 10)

			h.pool.Schedules = sched(tt.gpus)
			h.restart()
			h.step(time.Minute)

			ctx := context.Background()
			f, err := h.store.Floor(ctx, id)
			if err != nil {
				t.Fatalf("firing %s: %v", id, err)
			}
			want := "holds " + strconv.Itoa(tt.gpus) + " GPUs"
			if f.GPUs != tt.gpus || !strings.Contains(f.Reason, want) || !f.EndedAt.IsZero() {
				t.Errorf("firing row after the restart: %d GPUs, %q, ended %v; want %d GPUs, a reason saying %q, open", f.GPUs, f.Reason, f.EndedAt, tt.gpus, want)
			}
			fls, err := h.store.Floors(ctx, state.FloorFilter{Pool: "train", Kind: state.FloorSchedule})
			if err != nil || len(fls) != 1 {
				t.Errorf("schedule floors = %+v (%v), want the one firing", fls, err)
			}
			if tt.wantLive > before/8 {
				h.until("the raised floor launches", time.Minute, 5, func() bool { return len(h.live()) == tt.wantLive })
			}
		})
	}
}

// TestScheduleFiringBeforeItsLastEnds: a schedule whose duration is longer
// than the time between its firings (hourly, for 2 hours) fires again
// while its previous firing holds. The schedule holds its GPUs once, until
// the new firing's end; the previous firing's row ends at the new firing
// and says so, not that the config changed (it did not), and no second
// instance launches.
func TestScheduleFiringBeforeItsLastEnds(t *testing.T) {
	p := testPool()
	p.Schedules = []policy.Schedule{{Name: "hourly", Cron: "0 * * * *", GPUs: 8, Duration: policy.Duration(2 * time.Hour)}}
	h := newHarness(t, p)
	h.until("10:05", time.Minute, 70, func() bool { return !h.clk.Now().Before(t0.Add(65 * time.Minute)) })

	ctx := context.Background()
	first := "schedule/train/hourly/" + strconv.FormatInt(t0.Add(2*time.Hour).Unix(), 10)
	f, err := h.store.Floor(ctx, first)
	if err != nil {
		t.Fatalf("firing %s: %v", first, err)
	}
	want := `ended early: schedule "hourly" fired again at 10:00 UTC, before this firing's end, and its new firing holds its 8 GPUs until Mon 30 Nov 12:00 UTC`
	if !f.EndedAt.Equal(t0.Add(time.Hour)) || !strings.HasPrefix(f.EndReason, want) {
		t.Errorf("the 09:00 firing ended at %v, %q; want at 10:00, %q", f.EndedAt, f.EndReason, want)
	}
	fls, err := h.store.Floors(ctx, state.FloorFilter{Pool: "train", Kind: state.FloorSchedule, Open: true})
	if err != nil || len(fls) != 1 || !fls[0].Until.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("open schedule floors = %+v (%v), want the 10:00 firing alone, until 12:00", fls, err)
	}
	if n := len(h.live()); n != 1 {
		t.Errorf("%d live instances, want 1: a schedule's firings do not add up", n)
	}
}
