package sim

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Plot geometry, in SVG user units: one panel per policy, stacked.
const (
	plotW                  = 1000
	plotLeft, plotRight    = 70, 90
	plotHead               = 78      // title, subtitle and legend
	plotPanelH, plotPanelG = 220, 56 // a panel's plot area, and the room above it
	plotFoot               = 40
)

// Colours of the GPU series, and of the providers' cost lines in order.
var (
	plotGPUColors      = [3]string{"#1f77b4", "#ff7f0e", "#d62728"}
	plotGPUSeries      = [3]string{"on-prem busy GPUs", "cloud GPUs", "queued GPUs"}
	plotProviderColors = []string{"#2e7d32", "#6a1b9a", "#00838f", "#8d6e63", "#c2185b", "#455a64"}
)

// WritePlot draws the timeline of every result that has one as an SVG, one
// panel per policy on shared axes: on-prem busy GPUs, cloud GPUs (booting,
// running and draining) and queued GPUs (each the peak within its sample)
// on the left axis; cumulative cloud cost, one dashed line per provider
// (and their total when there are several), on the right axis. The GPU
// axis is set by the policies that rent: the queue of one that never rents
// is clipped at its top, with a note of its peak. Every line
// is a polyline with data-policy and data-series attributes (and
// data-provider for cost lines), so that it can be read back.
func WritePlot(w io.Writer, rep Report) error {
	var rs []Result
	for _, r := range rep.Results {
		if r.Timeline != nil && len(r.Timeline.Samples) > 0 {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return fmt.Errorf("sim: no result has a timeline to plot (run the backtest with Timeline set)")
	}
	var provs []string
	span := time.Minute
	gmax, cmax := float64(rep.OnPremGPUs), 0.0
	for _, r := range rs {
		tl := r.Timeline
		for _, p := range tl.Providers {
			if !slices.Contains(provs, p) {
				provs = append(provs, p)
			}
		}
		span = max(span, tl.Samples[len(tl.Samples)-1].At)
		for _, s := range tl.Samples {
			gmax = max(gmax, float64(s.OnPremBusy), float64(s.CloudGPUs))
			if rents(r) {
				// The queue of a policy that never rents (onprem-only)
				// grows without bound; it would flatten every other
				// panel, so it is clipped at the top of the axis.
				gmax = max(gmax, float64(s.QueuedGPUs))
			}
			cmax = max(cmax, s.CostUSD)
		}
	}
	slices.Sort(provs)
	color := func(p string) string {
		i, _ := slices.BinarySearch(provs, p)
		return plotProviderColors[i%len(plotProviderColors)]
	}
	gstep := niceStep(gmax / 4)
	gtop := math.Max(gstep, math.Ceil(gmax/gstep)*gstep)
	cstep := niceStep(cmax / 4)
	ctop := math.Max(cstep, math.Ceil(cmax/cstep)*cstep)
	x0, x1 := float64(plotLeft), float64(plotW-plotRight)
	x := func(t time.Duration) float64 { return x0 + (x1-x0)*float64(t)/float64(span) }
	height := plotHead + len(rs)*(plotPanelG+plotPanelH) + plotFoot

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, height, plotW, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="22" font-size="16" font-weight="bold">%s</text>`+"\n", x0,
		esc(fmt.Sprintf("%s on %s", Counted(len(rs), "policy", "policies"), rep.Trace.Name)))
	fmt.Fprintf(&b, `<text x="%g" y="40" fill="#555">%s</text>`+"\n", x0,
		esc(fmt.Sprintf("%d on-prem GPUs · wait target %s · GPUs on the left axis, cumulative cloud cost (USD) on the right", rep.OnPremGPUs, humanSeconds(rep.WaitTargetS))))
	// The legend.
	lx := x0
	legend := func(label, col, dash string) {
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="58" y2="58" stroke="%s" stroke-width="3"%s/>`, lx, lx+24, col, dashAttr(dash))
		fmt.Fprintf(&b, `<text x="%g" y="62">%s</text>`+"\n", lx+30, esc(label))
		lx += 40 + 7*float64(len(label))
	}
	for k, name := range plotGPUSeries {
		legend(name, plotGPUColors[k], "")
	}
	for _, p := range provs {
		legend("cost "+p, color(p), "5 3")
	}
	if len(provs) > 1 {
		legend("total cost", "#000", "2 2")
	}
	xstep := timeStep(span)
	for i, r := range rs {
		tl := r.Timeline
		y0 := float64(plotHead + i*(plotPanelG+plotPanelH) + plotPanelG)
		y1 := y0 + plotPanelH
		yg := func(v float64) float64 { return y1 - (y1-y0)*v/gtop }
		yc := func(v float64) float64 { return y1 - (y1-y0)*v/ctop }
		fmt.Fprintf(&b, `<g data-panel="%s">`+"\n", esc(r.Policy))
		fmt.Fprintf(&b, `<text x="%g" y="%g" font-weight="bold">%s</text>`+"\n", x0, y0-10,
			esc(fmt.Sprintf("%s: cloud cost %s · efficiency %s · wait p95 %s", r.Policy, dollars(r.CloudCostUSD), efficiencyText(r), humanSeconds(r.WaitP95S))))
		for v := 0.0; v <= gtop+gstep/2; v += gstep {
			fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#e4e4e4"/><text x="%g" y="%.1f" text-anchor="end" fill="#333">%s</text>`+"\n",
				x0, x1, yg(v), yg(v), x0-6, yg(v)+4, trimFloat(v))
		}
		for v := 0.0; v <= ctop+cstep/2; v += cstep {
			fmt.Fprintf(&b, `<text x="%g" y="%.1f" fill="#2e7d32">%s</text>`+"\n", x1+6, yc(v)+4, dollars(v))
		}
		for t := time.Duration(0); t <= span; t += xstep {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#333"/><text x="%.1f" y="%g" text-anchor="middle" fill="#333">%s</text>`+"\n",
				x(t), x(t), y1, y1+5, x(t), y1+18, timeLabel(t, xstep))
		}
		cy := yg(float64(rep.OnPremGPUs))
		fmt.Fprintf(&b, `<line x1="%g" x2="%g" y1="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="6 4"/><text x="%g" y="%.1f" text-anchor="end" fill="#666">on-prem capacity %d</text>`+"\n",
			x0, x1, cy, cy, x1-4, cy-4, rep.OnPremGPUs)
		line := func(series, provider, col, dash string, v func(Sample) float64, y func(float64) float64) {
			fmt.Fprintf(&b, `<polyline data-policy="%s" data-series="%s"`, esc(r.Policy), esc(series))
			if provider != "" {
				fmt.Fprintf(&b, ` data-provider="%s"`, esc(provider))
			}
			fmt.Fprintf(&b, ` fill="none" stroke="%s" stroke-width="1.2"%s points="`, col, dashAttr(dash))
			for k, s := range tl.Samples {
				if k > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%.1f,%.1f", x(s.At), y(v(s)))
			}
			b.WriteString(`"/>` + "\n")
		}
		gpu := [3]func(Sample) float64{
			func(s Sample) float64 { return float64(s.OnPremBusy) },
			func(s Sample) float64 { return float64(s.CloudGPUs) },
			func(s Sample) float64 { return float64(s.QueuedGPUs) },
		}
		clip := func(v float64) float64 { return yg(min(v, gtop)) }
		for k, name := range plotGPUSeries {
			line(name, "", plotGPUColors[k], "", gpu[k], clip)
		}
		if peak := peakQueued(tl); float64(peak) > gtop {
			fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="end" fill="#b71c1c" data-clipped="%d">%s</text>`+"\n", x1-4, y0+14, peak,
				esc(fmt.Sprintf("queued GPUs clipped at %s (peak %d)", trimFloat(gtop), peak)))
		}
		for k, p := range tl.Providers {
			line("cost "+p, p, color(p), "5 3", func(s Sample) float64 {
				if k < len(s.ProviderCost) {
					return s.ProviderCost[k]
				}
				return 0
			}, yc)
		}
		if len(tl.Providers) > 1 {
			line("total cost", "", "#000", "2 2", func(s Sample) float64 { return s.CostUSD }, yc)
		}
		fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#333"/>`+"\n</g>\n", x0, y0, x1-x0, y1-y0)
	}
	fmt.Fprintf(&b, `<text x="%g" y="%d" text-anchor="middle">time since trace start</text>`+"\n</svg>\n", (x0+x1)/2, height-10)
	_, err := io.WriteString(w, b.String())
	return err
}

// rents reports whether a result's policy rented anything.
func rents(r Result) bool { return r.Launches > 0 || r.CloudCostUSD > 0 }

// peakQueued is the most GPUs queued in any sample.
func peakQueued(tl *Timeline) int {
	peak := 0
	for _, s := range tl.Samples {
		peak = max(peak, s.QueuedGPUs)
	}
	return peak
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return ` stroke-dasharray="` + d + `"`
}

// esc escapes text for an SVG (XML) attribute or element.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// niceStep rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func timeStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour,
		12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour} {
		if span/s <= 10 {
			return s
		}
	}
	return 56 * 24 * time.Hour
}

// timeLabel names a tick of the time axis: days for steps of a day or
// more, else hours and minutes ("1h", "1h10m", "20m"), never a fraction
// of an hour ("0.16666666666666666h" under a 10-minute step).
func timeLabel(t, step time.Duration) string {
	if step >= 24*time.Hour {
		return fmt.Sprintf("day %d", int(t.Hours()/24))
	}
	h, m := int(t/time.Hour), int(t%time.Hour/time.Minute)
	switch {
	case m == 0:
		return fmt.Sprintf("%dh", h)
	case h == 0:
		return fmt.Sprintf("%dm", m)
	}
	return fmt.Sprintf("%dh%02dm", h, m)
}

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
