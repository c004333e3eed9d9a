package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

// TestPageLongNamesOnAPhone: at 3 a.m. the page is read on a phone. Names
// as long as the config and the clouds allow (a pool of 63 characters and
// an offering of 128 without a break, a long instance ID) and a reason in
// Chinese must keep the page as wide as the screen, its Cancel buttons and
// burst form on it.
func TestPageLongNamesOnAPhone(t *testing.T) {
	bin := chromiumPath(t)
	t0 := apitest.FixtureTime
	m := apitest.NewMemory(strings.Repeat("research-cluster-", 8), func() time.Time { return t0 })
	pool := strings.Repeat("p", 56) + "-gpu.a1"
	offering := "aws/ap-southeast-1/" + strings.Repeat("x", 100) + "/spot"
	m.AddPool(api.PoolDetail{Name: pool, Manual: api.ManualLimits{MaxGPUs: 8},
		Snapshot: api.Snapshot{Time: t0.Add(-10 * time.Second), OnPremTotal: 8, OnPremBusy: 8,
			Held:    []api.Held{{What: offering, Why: "out of stock", Until: t0.Add(time.Minute)}},
			LeftOut: []string{strings.Repeat("slurm:", 40) + " 3 jobs"}},
		Spend: api.Spend{Accrued: 10, Budget: 100},
		Instances: []api.Instance{{ID: "i-" + strings.Repeat("0", 60), Pool: pool, Provider: "aws", Offering: offering,
			InstanceType: strings.Repeat("p5.", 20) + "48xlarge", Zone: "ap-southeast-1a", GPUs: 8, State: "running", LaunchedAt: t0.Add(-time.Hour), PricePerHour: 31.04}},
	}, []api.TimelinePoint{{Time: t0.Add(-time.Hour), OnPremBusy: 8}, {Time: t0, OnPremBusy: 8}})
	m.AddDecision(api.Decision{Pool: pool, Time: t0, Kind: "launch", Offering: offering, Count: 1, Reason: strings.Repeat("调度", 200)})
	e := newEnvWith(t, api.Options{Backend: m})
	b, err := e.client(tokens.Operator).CreateBurst(context.Background(), api.CreateBurstRequest{Pool: pool, GPUs: 1, For: api.Duration(time.Hour),
		Offering: offering, Reason: strings.Repeat("紧急事件", 125)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := chromium(t, bin)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		logIn(e.url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.ID("cancel-"+b.ID))),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	width := run(t, ctx, chromedp.Evaluate[float64](`window.innerWidth`))
	if w := run(t, ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); w > width {
		wide := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("main *, header *")).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !Array.from(e.children).some(c => c.getBoundingClientRect().right > window.innerWidth + 1)).slice(0, 8).map(e => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className + ": " + Math.round(e.getBoundingClientRect().right))`))
		t.Errorf("the page is %.0f pixels wide on a %.0f-pixel screen; past its edge: %s", w, width, strings.Join(wide, "; "))
	}
	for _, id := range []string{"cancel-" + b.ID, "burst-form-" + pool} {
		if right := run(t, ctx, chromedp.Evaluate[float64](`document.getElementById("`+id+`").getBoundingClientRect().right`)); right > width {
			t.Errorf("#%.40s… ends at %.0f pixels, past the screen's %.0f", id, right, width)
		}
	}
}

// TestPageReasonsOnAPhoneNeedNoSideScroll: on a phone the floors and
// decisions tables, wider than the screen, scrolled within themselves,
// and a reason, their last column, began past the screen's edge: the
// on-call read why a burst holds GPUs by scrolling the table sideways line
// by line. On a narrow screen each floor and decision is a block, its
// cells labelled, and its reason wraps within the screen. Names in markup
// or right-to-left script (a schedule's name may be either) show as text.
func TestPageReasonsOnAPhoneNeedNoSideScroll(t *testing.T) {
	bin := chromiumPath(t)
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	const pool = "training"
	words := strings.Repeat("the queue for the llm pretraining run is backed up since the on-prem rack lost power ", 6)[:500]
	schedule := `<b id="markup">night</b> جدولة الليل 2`
	m.AddPool(api.PoolDetail{Name: pool, Manual: api.ManualLimits{MaxGPUs: 8},
		Snapshot: api.Snapshot{Time: t0.Add(-10 * time.Second), OnPremTotal: 8, OnPremBusy: 8},
		Floors:   []api.Floor{{Kind: "schedule", Owner: schedule, Reason: "cron 0 22 * * * — " + words[:300], GPUs: 16, Until: t0.Add(8 * time.Hour)}},
	}, []api.TimelinePoint{{Time: t0.Add(-time.Hour), OnPremBusy: 8}, {Time: t0, OnPremBusy: 8}})
	m.AddDecision(api.Decision{Pool: pool, Time: t0, Kind: "launch", Offering: "aws/us-east-1/p5.48xlarge/spot", Count: 1, Reason: words})
	e := newEnvWith(t, api.Options{Backend: m})
	b, err := e.client(tokens.Operator).CreateBurst(context.Background(), api.CreateBurstRequest{Pool: pool, GPUs: 1, For: api.Duration(time.Hour), Reason: words})
	if err != nil {
		t.Fatal(err)
	}
	ctx := chromium(t, bin)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844),
		logIn(e.url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.ID("cancel-"+b.ID))),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	width := run(t, ctx, chromedp.Evaluate[float64](`window.innerWidth`))
	cells := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.floors td, table.decisions td")).map(e => { const r = e.getBoundingClientRect(); return e.parentElement.className + " " + (e.className || e.cellIndex) + " " + Math.round(r.left) + " " + Math.round(r.right) })`))
	if len(cells) != 2*6+5 {
		t.Fatalf("%d cells in the floors and decisions tables, want 17", len(cells))
	}
	for _, c := range cells {
		var row, cell string
		var left, right float64
		if _, err := fmt.Sscan(c, &row, &cell, &left, &right); err != nil {
			t.Fatalf("%q: %v", c, err)
		}
		if left < 0 || right > width {
			t.Errorf("a %s's cell %s spans %.0f to %.0f pixels, past the %.0f-pixel screen: it is read by scrolling sideways", row, cell, left, right, width)
		}
	}
	for _, sel := range []string{"table.floors", "table.decisions"} {
		if over := run(t, ctx, chromedp.Evaluate[float64](`(e => e.scrollWidth - e.clientWidth)(document.querySelector("`+sel+`"))`)); over > 0 {
			t.Errorf("%s scrolls %.0f pixels sideways", sel, over)
		}
	}
	if text := run(t, ctx, chromedp.Text(chromedp.CSS("table.floors"))); !strings.Contains(text, schedule) {
		t.Errorf("the floors table does not show the schedule's name as text:\n%s", text)
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#markup").length`)); n != 0 {
		t.Errorf("the schedule's name became markup")
	}
}
