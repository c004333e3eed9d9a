package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestScheduleWarnings: what policy validate warns of in a pool's
// schedules: windows that overlap (floors add up) with when and how many
// GPUs, and firings the budget cannot pay for, with their least cost and
// the budget; schedules that neither overlap nor overspend say nothing.
// One offering of 8 GPUs at 10 USD/h, billed by the second.
func TestScheduleWarnings(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) // a Monday
	tests := []struct {
		name      string
		limits    string // the pool's limits block, YAML flow
		schedules string // the pool's schedules, YAML flow
		want      []string
	}{
		{"apart, within budget", "{budget: {amount: 1000, period: day}}",
			`[{name: morning, cron: "0 8 * * 1-5", gpus: 8, duration: 2h}, {name: evening, cron: "0 18 * * 1-5", gpus: 8, duration: 2h}]`,
			nil},
		{"back to back is no overlap", "{}",
			`[{name: a, cron: "0 8 * * *", gpus: 8, duration: 2h}, {name: b, cron: "0 10 * * *", gpus: 8, duration: 2h}]`,
			nil},
		{"overlapping windows", "{max_gpus: 16}",
			`[{name: morning, cron: "0 8 * * 1-5", gpus: 8, duration: 4h}, {name: standup, cron: "CRON_TZ=Europe/Berlin 30 10 * * 3", gpus: 16, duration: 1h}]`,
			[]string{`schedules "morning" (8 GPUs) and "standup" (16 GPUs) overlap, first on Wed 2 Dec 2026 09:30–10:30 UTC: floors add up, so the pool holds 24 GPUs then, held to limits.max_gpus 16; if one should replace the other, give them windows that do not overlap`}},
		{"unnamed schedules overlapping across midnight", "{}",
			`[{cron: "0 22 * * *", gpus: 8, duration: 4h}, {cron: "0 1 * * *", gpus: 8, duration: 1h}]`,
			[]string{`schedules "schedule[0]" (8 GPUs) and "schedule[1]" (8 GPUs) overlap, first on Mon 30 Nov 2026 01:00–02:00 UTC: floors add up, so the pool holds 16 GPUs then; if one should replace the other, give them windows that do not overlap`}},
		// 16 GPUs = 2 instances = 20 USD/h; 10h = 200 USD > 150.
		{"one firing over a hard budget", "{budget: {amount: 150, period: day}}",
			`[{name: peak, cron: "0 8 * * 1-5", gpus: 16, duration: 10h}]`,
			[]string{`schedule "peak" holds 16 GPUs for 10h, which costs at least 200.00 USD a firing (2 × p5.48xlarge at 10 USD/h), more than the hard budget of 150 USD per day: the budget ends each firing early, after about 7h30m at most (less when queue demand or another floor spends first); lower gpus or duration, or raise the budget`}},
		{"one firing over a soft budget", "{budget: {amount: 50, period: week, mode: soft}}",
			`[{name: peak, cron: "0 8 * * 1", gpus: 8, duration: 6h}]`,
			[]string{`schedule "peak" holds 8 GPUs for 6h, which costs at least 60.00 USD a firing (1 × p5.48xlarge at 10 USD/h), more than the soft budget of 50 USD per week: the budget ends each firing early, after about 5h at most`}},
		{"a zone without summer time named like New York's", "{}",
			`[{name: ny-morning, cron: "CRON_TZ=EST 0 8 * * 1-5", gpus: 8, duration: 2h}, {name: phoenix, cron: "TZ=America/Phoenix 0 8 * * 1-5", gpus: 8, duration: 2h}]`,
			[]string{`schedule "ny-morning" is read in EST, a fixed UTC-5 with no daylight-saving time: while New York keeps summer time it fires an hour late by New York's clock; to follow that clock write CRON_TZ=America/New_York`}},
		// 24 GPUs = 3 instances = 30 USD/h.
		{"a floor max_cost_per_hour cannot pay for", "{max_cost_per_hour: 25}",
			`[{name: peak, cron: "0 8 * * 1-5", gpus: 24, duration: 2h}, {name: small, cron: "0 20 * * 1-5", gpus: 16, duration: 2h}]`,
			[]string{`schedule "peak" holds 24 GPUs, which cost at least 30.00 USD/h at the cheapest price per GPU (p5.48xlarge, 10 USD/h for 8 GPUs), more than limits.max_cost_per_hour 25: the floor is never held in full; lower gpus or raise the limit`}},
		// 12 GPUs round up to 2 instances, 16 GPUs.
		{"a floor max_gpus has no room for in whole instances", "{max_gpus: 12}",
			`[{name: peak, cron: "0 8 * * 1-5", gpus: 12, duration: 2h}, {name: small, cron: "0 20 * * 1-5", gpus: 8, duration: 2h}]`,
			[]string{`schedule "peak" holds 12 GPUs, but each of the pool's instances has 8 and limits.max_gpus 12 leaves room for 1 of them (8 GPUs): the floor is never held in full; make gpus a multiple of 8, or raise max_gpus to 16`}},
		// 5 weekday firings × 40 USD = 200 USD a week > 150; none over alone.
		{"a week's firings together over the budget", "{budget: {amount: 150, period: week}}",
			`[{name: morning, cron: "0 8 * * 1-5", gpus: 8, duration: 2h}, {name: evening, cron: "0 18 * * 1-5", gpus: 8, duration: 2h}]`,
			[]string{`the firings of schedules "morning", "evening" in the week from Mon 30 Nov 2026 cost at least 200.00 USD together on the cheapest offerings, more than the hard budget of 150 USD per week: the budget ends the later firings of that week early or launches nothing for them; lower gpus or duration, or raise the budget`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := fmt.Sprintf(`cluster: test
providers:
  aws: {type: aws, region: us-east-1}
pools:
  - name: train
    offerings:
      - {provider: aws, instance_type: p5.48xlarge, gpus: 8, price_per_hour: 10}
    limits: %s
    schedules: %s
`, tt.limits, tt.schedules)
			cfg, err := Parse("test.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.ScheduleWarnings(0, now)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("warning %d:\n%s\nwant it to start:\n%s", i, got[i], tt.want[i])
				}
			}
		})
	}
}
