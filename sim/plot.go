package sim

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Plot geometry, in SVG user units.
const (
	plotW, plotH                          = 1000, 460
	plotLeft, plotRight, plotTop, plotBot = 70, 90, 60, 50
)

type plotSeries struct {
	Label, Color, Dash, Points string
	Right                      bool
}

type plotTick struct {
	Pos   float64
	Label string
}

type plotData struct {
	Title, Subtitle           string
	W, H, X0, X1, Y0, Y1      float64
	XTicks, YTicks, CostTicks []plotTick
	Series                    []plotSeries
	CapacityY                 float64
	CapacityLabel             string
}

var plotTmpl = template.Must(template.New("plot").Funcs(template.FuncMap{
	"add": func(a, b any) float64 { return num(a) + num(b) },
	"sub": func(a, b any) float64 { return num(a) - num(b) },
	"mul": func(a, b any) float64 { return num(a) * num(b) },
	"div": func(a, b any) float64 { return num(a) / num(b) },
}).Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{{.X0}}" y="22" font-size="16" font-weight="bold">{{.Title}}</text>
<text x="{{.X0}}" y="40" fill="#555">{{.Subtitle}}</text>
<g stroke="#e4e4e4">{{range .YTicks}}
<line x1="{{$.X0}}" x2="{{$.X1}}" y1="{{.Pos}}" y2="{{.Pos}}"/>{{end}}
</g>
<g fill="#333" text-anchor="end">{{range .YTicks}}
<text x="{{printf "%.1f" (sub $.X0 6)}}" y="{{printf "%.1f" (add .Pos 4)}}">{{.Label}}</text>{{end}}
</g>
<g fill="#2e7d32">{{range .CostTicks}}
<text x="{{printf "%.1f" (add $.X1 6)}}" y="{{printf "%.1f" (add .Pos 4)}}">{{.Label}}</text>{{end}}
</g>
<g fill="#333" text-anchor="middle">{{range .XTicks}}
<line x1="{{.Pos}}" x2="{{.Pos}}" y1="{{$.Y1}}" y2="{{printf "%.1f" (add $.Y1 5)}}" stroke="#333"/>
<text x="{{.Pos}}" y="{{printf "%.1f" (add $.Y1 18)}}">{{.Label}}</text>{{end}}
</g>
<text x="16" y="{{printf "%.1f" (div (add $.Y0 $.Y1) 2)}}" transform="rotate(-90 16 {{printf "%.1f" (div (add $.Y0 $.Y1) 2)}})" text-anchor="middle">GPUs</text>
<text x="{{printf "%.1f" (sub $.W 14)}}" y="{{printf "%.1f" (div (add $.Y0 $.Y1) 2)}}" transform="rotate(90 {{printf "%.1f" (sub $.W 14)}} {{printf "%.1f" (div (add $.Y0 $.Y1) 2)}})" text-anchor="middle" fill="#2e7d32">cumulative cloud cost (USD)</text>
<text x="{{printf "%.1f" (div (add $.X0 $.X1) 2)}}" y="{{printf "%.1f" (sub $.H 8)}}" text-anchor="middle">time since trace start</text>
<line x1="{{.X0}}" x2="{{.X1}}" y1="{{.CapacityY}}" y2="{{.CapacityY}}" stroke="#888" stroke-dasharray="6 4"/>
<text x="{{printf "%.1f" (sub $.X1 4)}}" y="{{printf "%.1f" (sub .CapacityY 4)}}" text-anchor="end" fill="#666">{{.CapacityLabel}}</text>
{{range .Series}}<polyline fill="none" stroke="{{.Color}}" stroke-width="1.2"{{if .Dash}} stroke-dasharray="{{.Dash}}"{{end}} points="{{.Points}}"/>
{{end}}<rect x="{{.X0}}" y="{{.Y0}}" width="{{printf "%.1f" (sub .X1 .X0)}}" height="{{printf "%.1f" (sub .Y1 .Y0)}}" fill="none" stroke="#333"/>
<g>{{range $i, $s := .Series}}
<line x1="{{printf "%.1f" (add $.X0 (mul $i 190))}}" x2="{{printf "%.1f" (add $.X0 (add (mul $i 190) 24))}}" y1="52" y2="52" stroke="{{$s.Color}}" stroke-width="3"{{if $s.Dash}} stroke-dasharray="{{$s.Dash}}"{{end}}/>
<text x="{{printf "%.1f" (add $.X0 (add (mul $i 190) 30))}}" y="56">{{$s.Label}}</text>{{end}}
</g>
</svg>
`))

// num converts the template's numbers (ints from range, floats from data).
func num(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	panic(fmt.Sprintf("plot template: %T is not a number", v))
}

// WritePlot draws a result's timeline as an SVG: on-prem busy GPUs, cloud
// GPUs (booting, running and draining), queued GPUs (each the peak within
// its sample), and cumulative cloud cost on the right axis.
func WritePlot(w io.Writer, rep Report, res Result) error {
	tl := res.Timeline
	if tl == nil || len(tl.Samples) == 0 {
		return fmt.Errorf("sim: result %q has no timeline to plot", res.Policy)
	}
	d := plotData{
		Title: fmt.Sprintf("%s policy on %s", res.Policy, rep.Trace.Name),
		Subtitle: fmt.Sprintf("%d on-prem GPUs · cloud cost $%s · efficiency %.2f · wait p95 %s (target %s)",
			rep.OnPremGPUs, money(res.CloudCostUSD), res.Efficiency, humanSeconds(res.WaitP95S), humanSeconds(rep.WaitTargetS)),
		W: plotW, H: plotH, X0: plotLeft, X1: plotW - plotRight, Y0: plotTop + 10, Y1: plotH - plotBot,
	}
	last := tl.Samples[len(tl.Samples)-1]
	span := max(last.At, time.Minute)
	gmax, cmax := float64(rep.OnPremGPUs), last.CostUSD
	for _, s := range tl.Samples {
		gmax = max(gmax, float64(s.OnPremBusy), float64(s.CloudGPUs), float64(s.QueuedGPUs))
		cmax = max(cmax, s.CostUSD)
	}
	gstep := niceStep(gmax / 5)
	gtop := math.Max(gstep, math.Ceil(gmax/gstep)*gstep)
	cstep := niceStep(cmax / 5)
	ctop := math.Max(cstep, math.Ceil(cmax/cstep)*cstep)
	x := func(t time.Duration) float64 { return d.X0 + (d.X1-d.X0)*float64(t)/float64(span) }
	yg := func(v float64) float64 { return d.Y1 - (d.Y1-d.Y0)*v/gtop }
	yc := func(v float64) float64 { return d.Y1 - (d.Y1-d.Y0)*v/ctop }
	for v := 0.0; v <= gtop+gstep/2; v += gstep {
		d.YTicks = append(d.YTicks, plotTick{Pos: round1(yg(v)), Label: trimFloat(v)})
	}
	for v := 0.0; v <= ctop+cstep/2; v += cstep {
		d.CostTicks = append(d.CostTicks, plotTick{Pos: round1(yc(v)), Label: "$" + trimFloat(v)})
	}
	xstep := timeStep(span)
	for t := time.Duration(0); t <= span; t += xstep {
		d.XTicks = append(d.XTicks, plotTick{Pos: round1(x(t)), Label: timeLabel(t, xstep)})
	}
	d.CapacityY = round1(yg(float64(rep.OnPremGPUs)))
	d.CapacityLabel = fmt.Sprintf("on-prem capacity %d", rep.OnPremGPUs)
	series := []struct {
		label, color, dash string
		v                  func(Sample) float64
		y                  func(float64) float64
	}{
		{"on-prem busy GPUs", "#1f77b4", "", func(s Sample) float64 { return float64(s.OnPremBusy) }, yg},
		{"cloud GPUs", "#ff7f0e", "", func(s Sample) float64 { return float64(s.CloudGPUs) }, yg},
		{"queued GPUs", "#d62728", "", func(s Sample) float64 { return float64(s.QueuedGPUs) }, yg},
		{"cumulative cost", "#2e7d32", "5 3", func(s Sample) float64 { return s.CostUSD }, yc},
	}
	for _, ser := range series {
		var b strings.Builder
		for i, s := range tl.Samples {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(s.At), ser.y(ser.v(s)))
		}
		d.Series = append(d.Series, plotSeries{Label: ser.label, Color: ser.color, Dash: ser.dash, Points: b.String()})
	}
	return plotTmpl.Execute(w, d)
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

func timeLabel(t, step time.Duration) string {
	if step >= 24*time.Hour {
		return fmt.Sprintf("day %d", int(t.Hours()/24))
	}
	return fmt.Sprintf("%gh", t.Hours())
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

func trimFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
