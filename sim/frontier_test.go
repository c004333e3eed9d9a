package sim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// svgShape is the part of a chart element the frontier tests read.
type svgShape struct {
	XMLName xml.Name
	Class   string `xml:"class,attr"`
	X       string `xml:"x,attr"`
	Y       string `xml:"y,attr"`
	CX      string `xml:"cx,attr"`
	CY      string `xml:"cy,attr"`
	R       string `xml:"r,attr"`
	D       string `xml:"d,attr"`
	Text    string `xml:",chardata"`
	Title   string `xml:"title"`
}

func parseSVG(t *testing.T, svg []byte) []svgShape {
	t.Helper()
	var doc struct {
		Shapes []svgShape `xml:",any"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("the chart is not well-formed XML: %v\n%s", err, svg)
	}
	return doc.Shapes
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

// TestFrontierScales: policies within 1% of each other are told apart on
// the chart (the cost axis spans the points, not $0 up), a point far
// dearer is marked at the top edge with its cost instead of flattening
// the others, each point carries its setting (one label for settings that
// coincide), and the ticks are round amounts.
func TestFrontierScales(t *testing.T) {
	pts := []SweepPoint{
		{Policy: "spillway", Setting: "wait_target=0s", CostUSD: 171000, CostMinUSD: 170500, CostMaxUSD: 171500, WaitP95S: 250, WaitP95MinS: 240, WaitP95MaxS: 260},
		{Policy: "spillway", Setting: "wait_target=2m", CostUSD: 171000, CostMinUSD: 170500, CostMaxUSD: 171500, WaitP95S: 251, WaitP95MinS: 240, WaitP95MaxS: 260},
		{Policy: "spillway", Setting: "wait_target=10m", CostUSD: 170200, CostMinUSD: 169900, CostMaxUSD: 170600, WaitP95S: 350, WaitP95MinS: 340, WaitP95MaxS: 360},
		{Policy: "karpenter", CostUSD: 172700, CostMinUSD: 172000, CostMaxUSD: 173400, WaitP95S: 255, WaitP95MinS: 250, WaitP95MaxS: 260, DominatedBy: []string{"spillway wait_target=0s"}},
		{Policy: "threshold", CostUSD: 342000, CostMinUSD: 340000, CostMaxUSD: 344000, WaitP95S: 200, WaitP95MinS: 190, WaitP95MaxS: 210},
	}
	var buf bytes.Buffer
	if err := WriteFrontier(&buf, "jobs &<1>.csv", pts); err != nil { // a title the SVG must escape
		t.Fatal(err)
	}
	shapes := parseSVG(t, buf.Bytes())
	cy := map[string]float64{}
	var settings, texts []string
	offs := 0
	for _, s := range shapes {
		switch {
		case s.XMLName.Local == "circle" && s.Class == "point":
			cy[strings.SplitN(s.Title, ":", 2)[0]] = num(t, s.CY)
		case s.Class == "setting":
			settings = append(settings, s.Text)
		case s.Class == "off":
			offs++
			if !strings.Contains(s.Title, "threshold: $342,000") {
				t.Errorf("off-chart marker's title %q, want threshold's cost", s.Title)
			}
		case s.XMLName.Local == "text":
			texts = append(texts, s.Text)
		}
	}
	if offs != 1 || len(cy) != 4 {
		t.Fatalf("%d off-chart markers and points %v, want threshold off the chart and the other 4 on it\n%s", offs, cy, buf.String())
	}
	// 1% of cost apart: at least 40 pixels of a 420-pixel axis.
	if d := cy["spillway wait_target=0s"] - cy["karpenter"]; d < 40 {
		t.Errorf("karpenter ($172,700) drawn %.1f px above spillway ($171,000), want ≥ 40: the cost axis does not zoom to the points", d)
	}
	if cy["spillway wait_target=10m"] <= cy["spillway wait_target=0s"] {
		t.Errorf("the cheaper point is drawn higher: %v", cy)
	}
	for _, want := range []string{"0s, 2m", "10m"} {
		if !contains(settings, want) {
			t.Errorf("setting labels %q, want %q", settings, want)
		}
	}
	for _, want := range []string{"$170,000", "$172,000", "$342,000"} {
		if !containsPart(texts, want) {
			t.Errorf("chart texts %q lack %q", texts, want)
		}
	}
	if !containsPart(texts, "axis from $169,") {
		t.Errorf("the cost axis does not start at $0 and the chart must say so: %q", texts)
	}
}

// TestFrontierShowsEveryPolicysPoint: points of different policies at one
// spot (per-job and karpenter often cost and wait the same) are all
// visible. Every circle was drawn with radius 4 in policy order, so the
// later policy's point covered the earlier one's entirely: a tester saw
// karpenter's point hidden under per-job's.
func TestFrontierShowsEveryPolicysPoint(t *testing.T) {
	pt := func(policy string, cost, wait float64) SweepPoint {
		return SweepPoint{Policy: policy, CostUSD: cost, CostMinUSD: cost - 500, CostMaxUSD: cost + 500, WaitP95S: wait, WaitP95MinS: wait - 10, WaitP95MaxS: wait + 10}
	}
	for _, tt := range []struct {
		name string
		pts  []SweepPoint
	}{
		{"karpenter under per-job", []SweepPoint{pt("spillway", 170000, 400), pt("karpenter", 171000, 250), pt("per-job", 171000, 250)}},
		{"per-job under karpenter", []SweepPoint{pt("spillway", 170000, 400), pt("per-job", 171000, 250), pt("karpenter", 171000, 250)}},
		{"a pixel apart", []SweepPoint{pt("spillway", 170000, 400), pt("karpenter", 171000, 250), pt("per-job", 171005, 251)}},
		{"three at one spot", []SweepPoint{pt("spillway", 171000, 250), pt("karpenter", 171000, 250), pt("per-job", 171000, 250), pt("threshold", 175000, 100)}},
		{"dominated under filled", []SweepPoint{pt("spillway", 170000, 240), func() SweepPoint {
			p := pt("karpenter", 171000, 250)
			p.DominatedBy = []string{"spillway"}
			return p
		}(), pt("per-job", 171000, 250)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrontier(&buf, "t", tt.pts); err != nil {
				t.Fatal(err)
			}
			type circle struct {
				label   string
				x, y, r float64
			}
			var cs []circle
			for _, s := range parseSVG(t, buf.Bytes()) {
				if s.XMLName.Local == "circle" && s.Class == "point" {
					cs = append(cs, circle{strings.SplitN(s.Title, ":", 2)[0], num(t, s.CX), num(t, s.CY), num(t, s.R)})
				}
			}
			if len(cs) != len(tt.pts) {
				t.Fatalf("%d points drawn, want %d\n%s", len(cs), len(tt.pts), buf.String())
			}
			// A circle drawn before another is hidden when the later one
			// covers it but for less than a pixel.
			for i, a := range cs {
				for _, b := range cs[i+1:] {
					if math.Hypot(a.x-b.x, a.y-b.y)+a.r <= b.r+1 {
						t.Errorf("%s's point (r %.0f at %.1f,%.1f) is hidden under %s's (r %.0f at %.1f,%.1f)", a.label, a.r, a.x, a.y, b.label, b.r, b.x, b.y)
					}
				}
			}
		})
	}
}

// TestFrontierOffChartLabelsApart: the labels of points drawn off the
// chart at its top edge do not overlap: two at one wait (a policy's
// settings, or two policies) wrote their settings and costs over each
// other, into an unreadable smudge. Labels with room beside each other
// stay on the edge's row.
func TestFrontierOffChartLabelsApart(t *testing.T) {
	pt := func(policy, setting string, cost, wait float64) SweepPoint {
		return SweepPoint{Policy: policy, Setting: setting, CostUSD: cost, CostMinUSD: cost - 500, CostMaxUSD: cost + 500, WaitP95S: wait, WaitP95MinS: wait - 10, WaitP95MaxS: wait + 10}
	}
	on := pt("spillway", "", 171000, 2000) // sets the chart's cost range
	for _, tt := range []struct {
		name    string
		pts     []SweepPoint
		oneRow  bool // every label on the edge's row
		wantOff int
	}{
		{"two policies at one wait", []SweepPoint{on, pt("threshold", "", 342000, 200), pt("per-job", "", 350500, 200)}, false, 2},
		{"one policy's settings at one wait", []SweepPoint{on, pt("threshold", "threshold.up=0.8", 342000, 200), pt("threshold", "threshold.up=0.9", 342100, 200), pt("threshold", "threshold.up=0.95", 342200, 200)}, false, 3},
		{"a few pixels apart", []SweepPoint{on, pt("threshold", "", 342000, 200), pt("per-job", "", 350500, 230)}, false, 2},
		{"far apart", []SweepPoint{on, pt("threshold", "", 342000, 200), pt("per-job", "", 350500, 1500)}, true, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrontier(&buf, "t", tt.pts); err != nil {
				t.Fatal(err)
			}
			type box struct {
				text           string
				x0, y0, x1, y1 float64
			}
			var labels []box
			for _, s := range parseSVG(t, buf.Bytes()) {
				if s.Class == "offlabel" {
					x, y := num(t, s.X), num(t, s.Y)
					// 10-pixel text: at most 6 pixels a character, 10 high above its baseline.
					labels = append(labels, box{s.Text, x, y - 10, x + 6*float64(len([]rune(s.Text))), y})
				}
			}
			if len(labels) != tt.wantOff {
				t.Fatalf("%d off-chart labels, want %d\n%s", len(labels), tt.wantOff, buf.String())
			}
			for _, p := range tt.pts[1:] {
				want := strings.TrimSpace(settingValue(p) + " " + dollars(p.CostUSD))
				if !slices.ContainsFunc(labels, func(b box) bool { return b.text == want }) {
					t.Errorf("no off-chart label %q among %+v", want, labels)
				}
			}
			for i, a := range labels {
				for _, b := range labels[i+1:] {
					if a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 {
						t.Errorf("off-chart labels %q (%.1f,%.1f) and %q (%.1f,%.1f) overlap", a.text, a.x0, a.y1, b.text, b.x0, b.y1)
					}
				}
				if tt.oneRow && a.y1 != labels[0].y1 {
					t.Errorf("label %q drawn at y %.1f, want on the edge's row (y %.1f) with room beside the others", a.text, a.y1, labels[0].y1)
				}
			}
		})
	}
}

// TestFrontierOffChartLabelsBounded: off-chart labels that find no room
// in the top third of the plot are left out, and the legend says how
// many; forty settings at one wait ran their labels down past the plot.
func TestFrontierOffChartLabelsBounded(t *testing.T) {
	const H, T, B = 520.0, 50.0, 50.0 // WriteFrontier's height and margins
	pts := []SweepPoint{{Policy: "spillway", CostUSD: 171000, CostMinUSD: 170500, CostMaxUSD: 171500, WaitP95S: 2000, WaitP95MinS: 1990, WaitP95MaxS: 2010}}
	for i := range 40 {
		c := 342000 + 100*float64(i)
		pts = append(pts, SweepPoint{Policy: "threshold", Setting: fmt.Sprintf("threshold.up=0.%02d", 50+i), CostUSD: c, CostMinUSD: c, CostMaxUSD: c, WaitP95S: 200, WaitP95MinS: 200, WaitP95MaxS: 200})
	}
	var buf bytes.Buffer
	if err := WriteFrontier(&buf, "t", pts); err != nil {
		t.Fatal(err)
	}
	shown, markers, hidden := 0, 0, ""
	for _, s := range parseSVG(t, buf.Bytes()) {
		switch s.Class {
		case "offlabel":
			shown++
			if y := num(t, s.Y); y > T+(H-T-B)/3 {
				t.Errorf("off-chart label %q at y %.1f, below the plot's top third (y %.1f)", s.Text, y, T+(H-T-B)/3)
			}
		case "off":
			markers++
		case "offhidden":
			hidden = s.Text
		}
	}
	if markers != 40 {
		t.Errorf("%d off-chart markers, want 40", markers)
	}
	if shown == 0 || shown == 40 {
		t.Fatalf("%d of 40 off-chart labels shown, want some left out", shown)
	}
	if want := fmt.Sprintf("%d of their labels left out: no room", 40-shown); hidden != want {
		t.Errorf("legend says %q, want %q", hidden, want)
	}
}

func containsPart(xs []string, part string) bool {
	for _, x := range xs {
		if strings.Contains(x, part) {
			return true
		}
	}
	return false
}

func TestCostAxis(t *testing.T) {
	for _, tt := range []struct {
		lo, hi         float64
		from, to, step float64
	}{
		{169900, 173400, 169000, 174000, 1000},
		{38000, 40500, 38000, 40500, 500},
		{100, 5000, 0, 5000, 1000},        // near $0: from $0
		{0, 0, 0, 1, 0.25},                // nothing paid
		{50000, 50000, 49700, 50300, 100}, // one cost: ±0.5% around it
		{math.Inf(1), 0, 0, 1, 0.25},      // every point off the chart
	} {
		from, to, step := costAxis(tt.lo, tt.hi)
		if from != tt.from || to != tt.to || step != tt.step {
			t.Errorf("costAxis(%v, %v) = %v, %v, %v; want %v, %v, %v", tt.lo, tt.hi, from, to, step, tt.from, tt.to, tt.step)
		}
		if n := (to - from) / step; n < 1 || n > 10 {
			t.Errorf("costAxis(%v, %v): %v ticks", tt.lo, tt.hi, n)
		}
	}
}

func TestFrontierText(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{dollars(171000), "$171,000"},
		{dollars(1234567.4), "$1,234,567"},
		{dollars(999), "$999"},
		{dollars(38.5), "$38.50"},
		{dollars(0), "$0"},
		{dollars(1234.5), "$1,234"}, // as the table's cents-less amounts round
		{dollars(-2500), "-$2,500"},
		{thousands("55650"), "55,650"},
		{thousands("-1234567"), "-1,234,567"},
		{thousands("999"), "999"},
		{hours(4229.4), "4,229"},
		{money(170676.2), "170,676"},
		{money(56.9), "56.90"},
		{waitTick(0), "0s"},
		{waitTick(30), "30s"},
		{waitTick(300), "5m"},
		{waitTick(5400), "1h30m"},
		{waitTick(7200), "2h"},
		{waitTick(2 * 86400), "2d"},
		{waitStepText(250), "1m"},
		{waitStepText(1000), "5m"},
		{waitStepText(20), "10s"},
		{settingValue(SweepPoint{Setting: "per-job.suspend=60s"}), "60s"},
		{settingValue(SweepPoint{}), ""},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func waitStepText(maxS float64) string { return waitTick(waitStep(maxS)) }
