package policy

// Stage 7 of Decide, explanation: the plan as the stages write it (decPlan),
// the Plan it becomes, and the words of reasons and notes, written without
// fmt on the per-instance paths.

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// decPlan is the plan as Decide's stages write it: the actions each
// planned (with their reasons), its notes and the limits that bound it, in
// stage order. A stage takes it and returns it with its own appended, the
// way append takes and returns a slice: the caller goes on with what is
// returned, and no stage changes what an earlier one wrote. explain turns
// it into the Plan.
type decPlan struct {
	drains, terms []Action
	launches      []Launch
	notes         []string
	boundBy       []string // limits that bound, in the order they first did (Plan.BoundBy)
	// pending jobs no capacity the pool may hold can run, and the largest (overflow)
	unservable, unservableGPUs int
	unused                     []OfferingKey // offerings drained as unused by the queue (Plan.Unused)
	waits                      []FloorWait   // floors left short, and why (Plan.Waits)
	buf                        []byte        // scratch for reasons (decText)
	// quiet: the caller drops the notes (AdmitWithoutNotes) and reasons
	// (DecideWithoutNotes), so a stage that would format one only for
	// them need not.
	quiet bool
}

// explain is Decide's last stage: the Plan of what the stages decided,
// in the order they decided it. It takes the decision's inputs rather than
// its decEnv so that the environment's pointers do not flow into the
// result, which would move the snapshot to the heap.
func explain(pool *Pool, snap *Snapshot, now time.Time, p decPlan) Plan {
	return Plan{
		Pool: pool.Name, Time: now, Waste: snap.IdleAllocatedGPUs,
		Launches: p.launches, Drains: p.drains, Terminates: p.terms, Notes: p.notes,
		BoundBy: p.boundBy, Unservable: p.unservable, UnservableGPUs: p.unservableGPUs,
		Unused: p.unused, Waits: p.waits,
	}
}

func (p *decPlan) note(s string) { p.notes = append(p.notes, s) }

// text starts a reason in p's scratch buffer.
func (p *decPlan) text() decText {
	if p.buf == nil {
		p.buf = make([]byte, 0, 256) // most reasons fit: no regrowth while writing
	}
	return decText(p.buf[:0])
}

// str ends a reason and keeps the buffer for the next.
func (p *decPlan) str(t decText) string {
	p.buf = t
	return string(t)
}

// decText builds a per-instance reason without fmt: reasons are written for
// every action, and a scale-in storm can release thousands at once.
type decText []byte

func (t decText) s(x string) decText { return append(t, x...) }

func (t decText) n(x int) decText { return strconv.AppendInt(t, int64(x), 10) }

func (t decText) q(x string) decText { return strconv.AppendQuote(t, x) }

// usd writes $x.xx.
func (t decText) usd(x float64) decText {
	return strconv.AppendFloat(append(t, '$'), x, 'f', 2, 64)
}

// dur writes a duration like decFmtDur.
func (t decText) dur(d time.Duration) decText {
	// Reasons are read by people: whole seconds from a second up,
	// milliseconds below.
	if d >= time.Second || d <= -time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	if d%time.Second != 0 || d == 0 {
		return append(t, decFmtDur(d)...)
	}
	if d < 0 {
		t = append(t, '-')
		d = -d
	}
	h, m, sec := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	if h > 0 {
		t = append(t.n(h), 'h')
		if m == 0 && sec == 0 {
			return t
		}
		t = append(t.n(m), 'm')
	} else if m > 0 {
		t = append(t.n(m), 'm')
	}
	if sec > 0 || (h == 0 && m == 0) {
		t = append(t.n(sec), 's')
	}
	return t
}

// at writes a moment like fmtTime.
func (t decText) at(now, x time.Time) decText {
	x = x.UTC()
	n := now.UTC()
	if x.Year() == n.Year() && x.YearDay() == n.YearDay() {
		return x.AppendFormat(t, "15:04:05 UTC")
	}
	return x.AppendFormat(t, "2006-01-02 15:04:05 UTC")
}

// decFmtDur writes a duration the way people do: 3m, 4m10s, 1h30m, 2h, 250ms.
func decFmtDur(d time.Duration) string {
	// Whole seconds from a second up (an observed boot is measured to the
	// nanosecond), milliseconds below, as decText.dur writes them.
	if d >= time.Second || d <= -time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// fmtTime writes a moment as UTC clock time, with the date too when it
// falls on another day than the evaluation.
func (e *decEnv) fmtTime(t time.Time) string {
	t = t.UTC()
	n := e.now.UTC()
	if t.Year() == n.Year() && t.YearDay() == n.YearDay() {
		return t.Format("15:04:05 UTC")
	}
	return t.Format("2006-01-02 15:04:05 UTC")
}

// bound records that a limit held back or ended capacity in this plan.
func (p *decPlan) bound(limit string) {
	if !slices.Contains(p.boundBy, limit) {
		p.boundBy = append(p.boundBy, limit)
	}
}

func decPeriod(p BudgetPeriod) string {
	if p == "" {
		return "period"
	}
	return string(p)
}
