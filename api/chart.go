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
		var b strings.Builder
		b.Grow(len(pts) * 16)
		for i, p := range pts {
			if i > 0 {
				b.WriteByte(' ')
			}
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
