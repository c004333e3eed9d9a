package api

import (
	"fmt"
	"strings"
	"time"
)

// chart is the page's timeline: GPU series share the left axis, spend has
// its own scale (its maximum is printed in the legend).
type chart struct {
	W, H, Left, Top, PlotW, PlotH int
	Series                        []series
	Ticks                         []tick
	MaxGPUs                       int
	Empty                         bool
}

type series struct {
	Name, Class, Points, Last string
}

type tick struct {
	X    int
	Text string
}

func newChart(pts []TimelinePoint, from, to time.Time) chart {
	c := chart{W: 640, H: 180, Left: 40, Top: 10, PlotW: 580, PlotH: 140}
	if len(pts) == 0 || !to.After(from) {
		c.Empty = true
		return c
	}
	maxG, maxS := 1, 0.0
	for _, p := range pts {
		maxG = max(maxG, p.OnPremBusy, p.CloudGPUs, p.QueuedGPUs)
		maxS = max(maxS, p.Spend)
	}
	c.MaxGPUs = maxG
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 {
		f := t.Sub(from).Seconds() / span
		f = min(max(f, 0), 1)
		return float64(c.Left) + f*float64(c.PlotW)
	}
	y := func(v, top float64) float64 {
		if top <= 0 {
			return float64(c.Top + c.PlotH)
		}
		return float64(c.Top) + float64(c.PlotH)*(1-v/top)
	}
	line := func(val func(TimelinePoint) float64, top float64) string {
		keep := thin(pts, from, span, val)
		var b strings.Builder
		b.Grow(len(keep) * 12)
		for i, k := range keep {
			if i > 0 {
				b.WriteByte(' ')
			}
			p := pts[k]
			fmt.Fprintf(&b, "%.1f,%.1f", x(p.Time), y(val(p), top))
		}
		return b.String()
	}
	last := pts[len(pts)-1]
	g := float64(maxG)
	c.Series = []series{
		{"on-prem busy GPUs", "s-onprem", line(func(p TimelinePoint) float64 { return float64(p.OnPremBusy) }, g), fmt.Sprint(last.OnPremBusy)},
		{"cloud GPUs", "s-cloud", line(func(p TimelinePoint) float64 { return float64(p.CloudGPUs) }, g), fmt.Sprint(last.CloudGPUs)},
		{"queued GPUs", "s-queue", line(func(p TimelinePoint) float64 { return float64(p.QueuedGPUs) }, g), fmt.Sprint(last.QueuedGPUs)},
		{fmt.Sprintf("spend (top = $%.2f)", maxS), "s-spend", line(func(p TimelinePoint) float64 { return p.Spend }, maxS), fmt.Sprintf("$%.2f", last.Spend)},
	}
	for h := 0; h <= 6; h++ {
		t := from.Add(time.Duration(h) * to.Sub(from) / 6)
		c.Ticks = append(c.Ticks, tick{X: int(x(t)), Text: t.UTC().Format("15:04")})
	}
	return c
}

// chartBuckets is how many slices of the time axis a series keeps two
// points of (its lowest and its highest, in time order): every sample
// drawn made six hours at a 10 s tick 2,160 points a series, 100 kB of the
// page per pool (5 MB for 50 pools, fetched at every refresh), for a plot
// 580 pixels wide. A slice is 4 pixels.
const chartBuckets = 145

// thin returns the indices of the points of pts (in time order from from,
// over span seconds) that a series drawing val keeps: the first and the
// last, and in each of chartBuckets slices of the time axis the lowest and
// the highest, so that no peak or trough is lost.
func thin(pts []TimelinePoint, from time.Time, span float64, val func(TimelinePoint) float64) []int {
	if len(pts) <= 2*chartBuckets+2 {
		keep := make([]int, len(pts))
		for i := range keep {
			keep[i] = i
		}
		return keep
	}
	bucket := func(p TimelinePoint) int {
		return min(max(int(p.Time.Sub(from).Seconds()/span*chartBuckets), 0), chartBuckets-1)
	}
	keep := []int{0}
	add := func(i int) {
		if i > keep[len(keep)-1] {
			keep = append(keep, i)
		}
	}
	for i := 0; i < len(pts); {
		b, lo, hi := bucket(pts[i]), i, i
		j := i + 1
		for ; j < len(pts) && bucket(pts[j]) == b; j++ {
			if val(pts[j]) < val(pts[lo]) {
				lo = j
			}
			if val(pts[j]) > val(pts[hi]) {
				hi = j
			}
		}
		add(min(lo, hi))
		add(max(lo, hi))
		i = j
	}
	add(len(pts) - 1)
	return keep
}
