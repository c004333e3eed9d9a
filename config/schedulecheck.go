package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spillway-io/spillway/policy"
)

// What `spillway policy validate` warns of in a pool's schedules, without
// refusing the config: schedules whose windows overlap (their floors add
// up, as the scheduler sums every active floor's GPUs), and firings that
// the pool's budget cannot pay for (the budget ends them early: a hard
// budget stops launching for them, a soft one too once spent). A budget
// that admits no launch at all is refused elsewhere (budgetAdmitsALaunch);
// one that pays for part of a window is a choice (a cap over schedules and
// queue demand together), so it is a warning, as a cloud's scheduled
// scaling would not refuse an action a spending alarm could cut short.

// scheduleHorizon is how far ahead the firings are looked at: a month
// budget's whole period and every weekday pattern, from now.
const scheduleHorizon = 35 * 24 * time.Hour

// maxFiringsChecked bounds the firings read per schedule (one a minute
// for 35 days would be 50,400).
const maxFiringsChecked = 2000

type scheduleWindow struct{ from, to time.Time }

// ScheduleWarnings returns, for pool i, a line for each pair of its
// schedules whose windows overlap within 35 days of now, and for each
// schedule (or budget period) whose firings cost more than the pool's
// budget on the cheapest offerings. Each names the schedules, the times in
// UTC, the GPUs or the cost, and the budget.
func (c *Config) ScheduleWarnings(i int, now time.Time) []string {
	p := &c.Pools[i].Policy
	names := make([]string, len(p.Schedules))
	windows := make([][]scheduleWindow, len(p.Schedules))
	for j, s := range p.Schedules {
		names[j] = s.Name
		if names[j] == "" {
			names[j] = fmt.Sprintf("schedule[%d]", j)
		}
		windows[j] = scheduleWindows(s, now)
	}
	var out []string
	for a := range p.Schedules {
		for b := a + 1; b < len(p.Schedules); b++ {
			w, ok := firstOverlap(windows[a], windows[b])
			if !ok {
				continue
			}
			sa, sb := p.Schedules[a], p.Schedules[b]
			line := fmt.Sprintf("schedules %q (%d GPUs) and %q (%d GPUs) overlap, first %s: floors add up, so the pool holds %d GPUs then",
				names[a], sa.GPUs, names[b], sb.GPUs, fmtWindow(w), sa.GPUs+sb.GPUs)
			if m := p.Limits.MaxGPUs; m > 0 && sa.GPUs+sb.GPUs > m {
				line += fmt.Sprintf(", held to limits.max_gpus %d", m)
			}
			out = append(out, line+"; if one should replace the other, give them windows that do not overlap")
		}
	}
	for j, sc := range p.Schedules {
		if w := fixedZoneWarning(names[j], sc.Cron); w != "" {
			out = append(out, w)
		}
	}
	out = append(out, scheduleLimitWarnings(p, names)...)
	return append(out, scheduleBudgetWarnings(p, names, windows)...)
}

// scheduleLimitWarnings: a schedule whose GPUs the pool's limits never let
// it hold in full: they cost more per hour than max_cost_per_hour at the
// cheapest price per GPU, or, where every offering has one size, they
// round up to more instances than max_gpus has room for. The policy holds
// what fits of such a floor, each tick saying the limit.
func scheduleLimitWarnings(p *policy.Pool, names []string) []string {
	var cheapest *policy.Offering
	sizes := map[int]bool{}
	for i := range p.Offerings {
		o := &p.Offerings[i]
		if o.GPUs <= 0 {
			continue
		}
		sizes[o.GPUs] = true
		if o.PricePerHour > 0 && (cheapest == nil || o.PricePerHour/float64(o.GPUs) < cheapest.PricePerHour/float64(cheapest.GPUs)) {
			cheapest = o
		}
	}
	var out []string
	for j, s := range p.Schedules {
		if c := p.Limits.MaxCostPerHour; c > 0 && cheapest != nil {
			if usd := float64(s.GPUs) * cheapest.PricePerHour / float64(cheapest.GPUs); usd > c {
				out = append(out, fmt.Sprintf("schedule %q holds %d GPUs, which cost at least %s USD/h at the cheapest price per GPU (%s, %s USD/h for %d GPUs), more than limits.max_cost_per_hour %s: the floor is never held in full; lower gpus or raise the limit",
					names[j], s.GPUs, cfgMoney(usd), cheapest.InstanceType, cfgFloat(cheapest.PricePerHour), cheapest.GPUs, cfgFloat(c)))
			}
		}
		if m := p.Limits.MaxGPUs; m > 0 && len(sizes) == 1 {
			for g := range sizes {
				if k := (s.GPUs + g - 1) / g; k*g > m {
					out = append(out, fmt.Sprintf("schedule %q holds %d GPUs, but each of the pool's instances has %d and limits.max_gpus %d leaves room for %d of them (%d GPUs): the floor is never held in full; make gpus a multiple of %d, or raise max_gpus to %d",
						names[j], s.GPUs, g, m, m/g, m/g*g, g, k*g))
				}
			}
		}
	}
	return out
}

// cfgFixedZones are IANA zones named like a region's time that keep one
// offset all year (since tzdata 2024b, links to Panama's and Phoenix's):
// a schedule written in EST for New York's mornings fires an hour late by
// New York's clock from March to November.
var cfgFixedZones = map[string]struct{ offset, city, zone string }{
	"EST": {"UTC-5", "New York", "America/New_York"},
	"MST": {"UTC-7", "Denver", "America/Denver"},
}

// fixedZoneWarning warns of a schedule read in a zone of cfgFixedZones.
func fixedZoneWarning(name, spec string) string {
	f := strings.Fields(spec)
	if len(f) == 0 {
		return ""
	}
	_, zone, ok := strings.Cut(f[0], "TZ=")
	z, fixed := cfgFixedZones[zone]
	if !ok || !fixed || !(strings.HasPrefix(f[0], "CRON_TZ=") || strings.HasPrefix(f[0], "TZ=")) {
		return ""
	}
	return fmt.Sprintf("schedule %q is read in %s, a fixed %s with no daylight-saving time: while %s keeps summer time it fires an hour late by %s's clock; to follow that clock write CRON_TZ=%s", name, zone, z.offset, z.city, z.city, z.zone)
}

// scheduleWindows are schedule s's firing windows that end after now and
// start within scheduleHorizon of it, earliest first.
func scheduleWindows(s policy.Schedule, now time.Time) []scheduleWindow {
	one := policy.Pool{Schedules: []policy.Schedule{s}}
	d := s.Duration.D()
	var out []scheduleWindow
	t := now.Add(-d)
	for len(out) < maxFiringsChecked {
		next, ok := policy.NextScheduleFiring(one, t)
		if !ok || next.After(now.Add(scheduleHorizon)) {
			break
		}
		out = append(out, scheduleWindow{next, next.Add(d)})
		t = next
	}
	return out
}

// firstOverlap is the earliest time span that a window of a and one of b
// share.
func firstOverlap(a, b []scheduleWindow) (scheduleWindow, bool) {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		from, to := a[i].from, a[i].to
		if b[j].from.After(from) {
			from = b[j].from
		}
		if b[j].to.Before(to) {
			to = b[j].to
		}
		if from.Before(to) {
			return scheduleWindow{from, to}, true
		}
		if a[i].to.Before(b[j].to) {
			i++
		} else {
			j++
		}
	}
	return scheduleWindow{}, false
}

func fmtWindow(w scheduleWindow) string {
	from, to := w.from.UTC(), w.to.UTC()
	end := to.Format("15:04")
	if to.YearDay() != from.YearDay() || to.Year() != from.Year() {
		end = to.Format("Mon 2 Jan 15:04")
	}
	return fmt.Sprintf("on %s–%s UTC", from.Format("Mon 2 Jan 2006 15:04"), end)
}

// firingCost is the least a firing of gpus GPUs for d costs: that many
// instances of the offering that bills least for it.
type firingCost struct {
	usd   float64
	count int
	o     policy.Offering
}

func cheapestFiring(p *policy.Pool, gpus int, from, to time.Time, periodStart time.Time) (firingCost, bool) {
	var best firingCost
	found := false
	for _, o := range p.Offerings {
		if o.GPUs <= 0 || o.PricePerHour <= 0 {
			continue
		}
		k := (gpus + o.GPUs - 1) / o.GPUs
		usd := float64(k) * policy.PeriodCost(o, from, to, periodStart)
		if periodStart.IsZero() {
			usd = float64(k) * policy.BilledCost(o, from, to)
		}
		if !found || usd < best.usd {
			best, found = firingCost{usd, k, o}, true
		}
	}
	return best, found
}

// scheduleBudgetWarnings: a schedule one firing of which costs more than
// the budget, else the budget period whose firings together cost more.
func scheduleBudgetWarnings(p *policy.Pool, names []string, windows [][]scheduleWindow) []string {
	b := p.Limits.Budget
	if b == nil || b.Amount <= 0 {
		return nil
	}
	mode := "hard"
	if b.Soft() {
		mode = "soft"
	}
	var out []string
	over := false
	for j, s := range p.Schedules {
		if len(windows[j]) == 0 {
			continue
		}
		w := windows[j][0]
		fc, ok := cheapestFiring(p, s.GPUs, w.from, w.to, time.Time{})
		if !ok || fc.usd <= b.Amount {
			continue
		}
		over = true
		perHour := float64(fc.count) * fc.o.PricePerHour
		lasts := time.Duration(b.Amount / perHour * float64(time.Hour)).Truncate(time.Minute)
		out = append(out, fmt.Sprintf("schedule %q holds %d GPUs for %s, which costs at least %s USD a firing (%d × %s at %s USD/h), more than the %s budget of %s USD per %s: the budget ends each firing early, after about %s at most (less when queue demand or another floor spends first); lower gpus or duration, or raise the budget",
			names[j], s.GPUs, DurationString(s.Duration.D()), cfgMoney(fc.usd), fc.count, fc.o.InstanceType, cfgFloat(fc.o.PricePerHour),
			mode, cfgFloat(b.Amount), b.Period, DurationString(max(lasts, time.Minute))))
	}
	if over {
		return out
	}
	// No one firing is over it: the busiest period's firings together.
	type periodSum struct {
		usd   float64
		names []string
	}
	sums := map[time.Time]*periodSum{}
	for j, s := range p.Schedules {
		for _, w := range windows[j] {
			start, end := policy.PeriodBounds(b.Period, w.from)
			for _, ps := range []time.Time{start, end} {
				if !w.to.After(ps) {
					continue
				}
				fc, ok := cheapestFiring(p, s.GPUs, w.from, w.to, ps)
				if !ok || fc.usd <= 0 {
					continue
				}
				if sums[ps] == nil {
					sums[ps] = &periodSum{}
				}
				sums[ps].usd += fc.usd
				if !slices.Contains(sums[ps].names, names[j]) {
					sums[ps].names = append(sums[ps].names, names[j])
				}
			}
		}
	}
	var worst time.Time
	for ps, s := range sums {
		if s.usd > b.Amount && (worst.IsZero() || s.usd > sums[worst].usd || (s.usd == sums[worst].usd && ps.Before(worst))) {
			worst = ps
		}
	}
	if worst.IsZero() {
		return nil
	}
	s := sums[worst]
	quoted := make([]string, len(s.names))
	for i, n := range s.names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return []string{fmt.Sprintf("the firings of schedules %s in the %s from %s cost at least %s USD together on the cheapest offerings, more than the %s budget of %s USD per %s: the budget ends the later firings of that %s early or launches nothing for them; lower gpus or duration, or raise the budget",
		strings.Join(quoted, ", "), b.Period, worst.Format("Mon 2 Jan 2006"), cfgMoney(s.usd), mode, cfgFloat(b.Amount), b.Period, b.Period)}
}
