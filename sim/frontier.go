package sim

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// frontierReach is how far above the cheapest point (its mean cost) the
// frontier's cost axis reaches: the policies that compete lie within a
// few percent of each other, and one far dearer (a threshold autoscaler)
// would flatten them into one line. A dearer point is drawn at the top
// edge with its cost written beside it.
const frontierReach = 1.25

// WriteFrontier draws the cost–wait frontier of every policy on one chart:
// p95 wait across from 0, cost up over the range the points span (not from
// $0, which the axis says), one line per policy through its settings, each
// point labelled with its setting and with its spread over the seeds as
// error bars; a dominated point is hollow.
func WriteFrontier(w io.Writer, title string, pts []SweepPoint) error {
	const W, H, L, R, T, B = 900.0, 520.0, 90.0, 230.0, 50.0, 50.0
	if len(pts) == 0 {
		return fmt.Errorf("frontier: no points")
	}
	cheapest := math.Inf(1)
	for _, p := range pts {
		cheapest = min(cheapest, p.CostUSD)
	}
	reach := cheapest * frontierReach
	off := func(p SweepPoint) bool { return p.CostUSD > reach && cheapest > 0 }
	lo, hi, maxX := math.Inf(1), 0.0, 1.0
	for _, p := range pts {
		maxX = max(maxX, p.WaitP95MaxS)
		if !off(p) {
			lo, hi = min(lo, p.CostMinUSD), max(hi, p.CostMaxUSD)
		}
	}
	yMin, yMax, yStep := costAxis(lo, hi)
	xStep := waitStep(maxX)
	xMax := math.Ceil(maxX*1.02/xStep) * xStep
	x := func(v float64) float64 { return L + (W-L-R)*v/xMax }
	y := func(v float64) float64 { return H - B - (H-T-B)*(v-yMin)/(yMax-yMin) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", L, esc(title))
	for v := yMin; v <= yMax+yStep/2; v += yStep {
		fmt.Fprintf(&b, `<line class="ytick" x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/><text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			L, y(v), W-R, y(v), L-6, y(v)+4, dollars(v))
	}
	for v := 0.0; v <= xMax+xStep/2; v += xStep {
		fmt.Fprintf(&b, `<line class="xtick" x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n",
			x(v), T, x(v), H-B, x(v), H-B+18, waitTick(v))
	}
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/>`+"\n", L, H-B, W-R, H-B, L, T, L, H-B)
	yLabel := "cloud cost, USD"
	if yMin > 0 {
		yLabel += " (axis from " + dollars(yMin) + ")"
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">p95 wait</text><text x="16" y="%.0f" transform="rotate(-90 16 %.0f)" text-anchor="middle">%s</text>`+"\n",
		(L+W-R)/2, H-12, (T+H-B)/2, (T+H-B)/2, esc(yLabel))

	colors := []string{"#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f"}
	var names []string
	for _, p := range pts {
		if !slices.Contains(names, p.Policy) {
			names = append(names, p.Policy)
		}
	}
	anyOff, offHidden := false, 0
	// Off-chart labels take at most the top third of the plot area; the
	// rest are left out (each marker's tooltip still names its point).
	offRows := offLabels{max: int(math.Floor((H - T - B) / 3 / offLabelRow))}
	// Circles and setting labels are drawn after every policy's lines, the
	// larger circles first (see markerRadii), so that no policy's point
	// lies hidden under another's.
	var marks []pointMark
	var allLabels []pointLabel
	for ni, name := range names {
		c := colors[ni%len(colors)]
		var line []string
		var labels []pointLabel
		for _, p := range pts {
			if p.Policy != name {
				continue
			}
			px := x(p.WaitP95S)
			tip := fmt.Sprintf("%s: %s [%s–%s], p95 %s [%s–%s]", p.Label(), dollars(p.CostUSD), dollars(p.CostMinUSD), dollars(p.CostMaxUSD),
				humanSeconds(p.WaitP95S), humanSeconds(p.WaitP95MinS), humanSeconds(p.WaitP95MaxS))
			if off(p) {
				anyOff = true
				text := strings.TrimSpace(settingValue(p) + " " + dollars(p.CostUSD))
				fmt.Fprintf(&b, `<path class="off" d="M%.1f,%.1f l-5,9 h10 z" fill="%s"><title>%s</title></path>`+"\n", px, T, c, esc(tip))
				if row, ok := offRows.place(px+8, text); ok {
					fmt.Fprintf(&b, `<text class="offlabel" x="%.1f" y="%.1f" fill="%s" font-size="10">%s</text>`+"\n", px+8, T+9+offLabelRow*float64(row), c, esc(text))
				} else {
					offHidden++
				}
				continue
			}
			py := y(p.CostUSD)
			line = append(line, fmt.Sprintf("%.1f,%.1f", px, py))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-opacity="0.5"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-opacity="0.5"/>`+"\n",
				x(p.WaitP95MinS), py, x(p.WaitP95MaxS), py, c, px, y(p.CostMinUSD), px, y(p.CostMaxUSD), c)
			fill := c
			if len(p.DominatedBy) > 0 {
				fill = "white"
			}
			marks = append(marks, pointMark{x: px, y: py, policy: name, fill: fill, stroke: c, title: tip})
			if v := settingValue(p); v != "" {
				// Settings that land on one spot share one label.
				if n := len(labels); n > 0 && math.Abs(labels[n-1].x-px) < 8 && math.Abs(labels[n-1].y-py) < 8 {
					labels[n-1].text += ", " + v
				} else {
					labels = append(labels, pointLabel{x: px, y: py, text: v, color: c, mark: len(marks) - 1})
				}
			}
		}
		allLabels = append(allLabels, labels...)
		if len(line) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s"/>`+"\n", strings.Join(line, " "), c)
		}
		ly := T + 16*float64(ni+1)
		fmt.Fprintf(&b, `<circle cx="%.0f" cy="%.0f" r="4" fill="%s"/><text x="%.0f" y="%.0f" fill="%s">%s</text>`+"\n", W-R+16, ly-4, c, W-R+26, ly, c, esc(name))
	}
	markerRadii(marks)
	order := make([]int, len(marks))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(marks[j].r, marks[i].r) })
	for _, i := range order {
		m := marks[i]
		fmt.Fprintf(&b, `<circle class="point" cx="%.1f" cy="%.1f" r="%.0f" fill="%s" stroke="%s"><title>%s</title></circle>`+"\n", m.x, m.y, m.r, m.fill, m.stroke, esc(m.title))
	}
	for _, l := range allLabels {
		off := marks[l.mark].r + 2
		fmt.Fprintf(&b, `<text class="setting" x="%.1f" y="%.1f" fill="%s" font-size="10">%s</text>`+"\n", l.x+off, l.y-off, l.color, esc(l.text))
	}
	ly := T + 16*float64(len(names)+2)
	fmt.Fprintf(&b, `<circle cx="%.0f" cy="%.0f" r="4" fill="white" stroke="#555"/><text x="%.0f" y="%.0f" fill="#555">dominated</text>`+"\n", W-R+16, ly-4, W-R+26, ly)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="#555" font-size="10">bars: spread over the seeds</text>`+"\n", W-R+16, ly+16)
	if anyOff {
		fmt.Fprintf(&b, `<path d="M%.0f,%.0f l-5,9 h10 z" fill="#555"/><text x="%.0f" y="%.0f" fill="#555" font-size="10">off the chart: over %.0f%% above</text><text x="%.0f" y="%.0f" fill="#555" font-size="10">the cheapest point (cost beside it)</text>`+"\n",
			W-R+16, ly+26, W-R+26, ly+35, (frontierReach-1)*100, W-R+26, ly+49)
		if offHidden > 0 {
			fmt.Fprintf(&b, `<text class="offhidden" x="%.0f" y="%.0f" fill="#555" font-size="10">%d of their labels left out: no room</text><text x="%.0f" y="%.0f" fill="#555" font-size="10">(a marker's tooltip names its point)</text>`+"\n",
				W-R+26, ly+63, offHidden, W-R+26, ly+77)
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// costAxis spans lo…hi with four to eight round steps; it starts at $0
// when lo is within two steps of it.
func costAxis(lo, hi float64) (from, to, step float64) {
	if math.IsInf(lo, 1) || hi <= 0 {
		return 0, 1, 0.25
	}
	span := hi - lo
	if span < hi*0.01 {
		span = hi * 0.01 // one point, or a spread of nothing: ±1% around it
		lo, hi = max(0, lo-span/2), hi+span/2
	}
	step = niceStep(span / 5)
	from = math.Floor(lo/step) * step
	if from <= 2*step {
		from = 0
		step = niceStep(hi / 5)
	}
	to = math.Ceil(hi/step) * step
	if to <= from {
		to = from + step
	}
	return from, to, step
}

// waitStep is a round step of wait (seconds) for an axis from 0 to maxS
// with at most six ticks.
func waitStep(maxS float64) float64 {
	for _, d := range []time.Duration{10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
		5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour,
		6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour} {
		if maxS/d.Seconds() <= 6 {
			return d.Seconds()
		}
	}
	return niceStep(maxS/6/(7*86400)) * 7 * 86400
}

// offLabelRow is how far apart rows of off-chart labels are drawn, and
// offLabelChar the width a character of their 10-pixel text is taken to
// have (sans-serif digits are 5.6 pixels wide at that size).
const offLabelRow, offLabelChar = 11.0, 6.0

// offLabels lays out the labels of the points drawn off the chart, at its
// top edge: each goes in the first row down from the edge where it
// overlaps no label placed before it, so that the labels of points at one
// wait, or less than a label's width apart, are not written over each
// other. There are at most max rows.
type offLabels struct {
	max  int
	rows [][][2]float64 // each row's labels' spans across
}

// place takes a row for a label text that starts at x and returns it,
// 0 being the top one; false when every row has a label in its way.
func (o *offLabels) place(x float64, text string) (int, bool) {
	const gap = 4.0
	end := x + offLabelChar*float64(utf8.RuneCountInString(text))
	for row := 0; row < o.max; row++ {
		if row == len(o.rows) {
			o.rows = append(o.rows, nil)
		}
		free := true
		for _, sp := range o.rows[row] {
			if x < sp[1]+gap && sp[0] < end+gap {
				free = false
				break
			}
		}
		if free {
			o.rows[row] = append(o.rows[row], [2]float64{x, end})
			return row, true
		}
	}
	return 0, false
}

// pointLabel is a setting's label at a point on the chart, beside the
// marker marks[mark].
type pointLabel struct {
	x, y  float64
	text  string
	color string
	mark  int
}

// pointMark is a point's circle on the chart.
type pointMark struct {
	x, y                        float64
	r                           float64
	policy, fill, stroke, title string
}

// markerRadius is a lone point's circle; markerRing is how much wider a
// point's circle is drawn than that of another policy's point it overlaps.
const markerRadius, markerRing = 4.0, 3.0

// markerRadii sizes the circles so that points of different policies at
// one spot (per-job and karpenter often cost and wait the same) all show:
// a point overlapping an earlier point of another policy is drawn wider
// than it, and the circles are drawn widest first, so each shows as a ring
// around the next.
func markerRadii(marks []pointMark) {
	for j := range marks {
		marks[j].r = markerRadius
		for i := range j {
			if marks[i].policy != marks[j].policy && math.Hypot(marks[i].x-marks[j].x, marks[i].y-marks[j].y) < 2*markerRadius {
				marks[j].r = max(marks[j].r, marks[i].r+markerRing)
			}
		}
	}
}

// waitTick writes a wait axis tick: 0s, 30s, 5m, 1h30m, 2d.
func waitTick(s float64) string {
	d := time.Duration(s) * time.Second
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return strings.TrimSuffix(d.String(), "0s")
	}
	return humanSeconds(s)
}

// settingValue is what a point's label shows: its setting's value
// ("10m" of wait_target=10m), or nothing for a policy not swept.
func settingValue(p SweepPoint) string {
	_, v, ok := strings.Cut(p.Setting, "=")
	if !ok {
		return p.Setting
	}
	return v
}
