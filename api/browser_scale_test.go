package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// TestPageAtScaleInChromium: with 50 pools at a 10 s tick, 2,000 bursts and
// 5,000 instances, the page a real Chromium loads shows every pool, each
// pool's floors table its newest 20 floors and what it left out, each
// chart its four lines, and stays as wide as the window; a refresh swaps
// it in again.
func TestPageAtScaleInChromium(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnvWith(t, api.Options{Backend: scene{pools: 50, bursts: 2000, instances: 5000, tick: 10 * time.Second}.backend(t), PageRefresh: 2 * time.Second})
	ctx := chromium(t, bin)
	start := time.Now()
	if err := chromedp.Do(ctx,
		logIn(e.url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.ID("pool-pool-49"))),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	t.Logf("logged in and shown in %v", time.Since(start).Round(time.Millisecond))
	if n := len(run(t, ctx, chromedp.Nodes(chromedp.CSSAll("section.pool"), chromedp.AtLeast(0)))); n != 50 {
		t.Errorf("%d pools shown, want 50", n)
	}
	if n := len(run(t, ctx, chromedp.Nodes(chromedp.CSSAll("#pool-pool-00 tr.floor"), chromedp.AtLeast(0)))); n != 21 {
		t.Errorf("pool-00's floors table: %d rows, want 21: its schedule's and 20 bursts'", n)
	}
	if more := run(t, ctx, chromedp.Text(chromedp.ID("more-floors-pool-00"))); !strings.HasPrefix(more, "… and 1980 older manual bursts: spillway burst list --pool pool-00 lists them all") {
		t.Errorf("pool-00 says %q about the floors it left out", more)
	}
	if n := len(run(t, ctx, chromedp.Nodes(chromedp.CSSAll("svg polyline"), chromedp.AtLeast(0)))); n != 200 {
		t.Errorf("%d chart lines, want 4 in each of 50 pools", n)
	}
	width := run(t, ctx, chromedp.Evaluate[float64](`window.innerWidth`))
	if w := run(t, ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); w > width {
		t.Errorf("the page is %.0f pixels wide in a %.0f-pixel window", w, width)
	}
	// A refresh (every 2 s here) swaps the page in: the marker set on
	// the old body goes, and no banner says the figures are stale.
	run(t, ctx, chromedp.Evaluate[bool](`document.body.dataset.old = "1"; true`))
	if err := chromedp.Do(ctx, chromedp.WaitNotPresent(chromedp.CSS(`body[data-old]`))); err != nil {
		t.Fatalf("waiting for a refresh: %v", err)
	}
	if stale := run(t, ctx, chromedp.Nodes(chromedp.CSSAll("#stale"), chromedp.AtLeast(0))); len(stale) != 0 {
		t.Errorf("after a refresh the page says its figures are stale")
	}
}
