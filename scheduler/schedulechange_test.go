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
		{"schedule removed", func(p *policy.Pool) { p.Schedules = nil },
			nil, 1, `schedule "morning" is no longer in the config of pool train`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPool()
			p.Schedules = morning("30 9 * * 1-5", time.Hour)
			h := newHarness(t, p)
			h.until("the schedule opens at 09:30", time.Minute, 40, func() bool { return len(h.live()) == 1 })
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
		})
	}
}
