package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// chromiumPath finds Debian's chromium (or $SPILLWAY_CHROMIUM). The browser
// test fails, never skips, without it: .ci/run installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SPILLWAY_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found (looked for chromium, chromium-browser, google-chrome on PATH, and $SPILLWAY_CHROMIUM): install Debian's chromium package (`apt-get install chromium`; .ci/run does so)")
	return ""
}

// TestStatusPageInChromium drives the page in a real headless Chromium: log
// in with an operator token through the form, see the pools, instances and
// a decision's reason, create a burst and cancel it from the page, with no
// console error on the way. A screenshot is kept and its path printed.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t, false)
	ctx := chromium(t, bin)

	var mu sync.Mutex
	var consoleErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == "error" || ev.Type == "assert" || ev.Type == "warning" {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				consoleErrors = append(consoleErrors, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			consoleErrors = append(consoleErrors, "exception: "+ev.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				consoleErrors = append(consoleErrors, fmt.Sprintf("log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	}); err != nil {
		t.Fatalf("starting Chromium (%s): %v", bin, err)
	}

	// Log in through the form.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.url+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
	); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	loginURL := run(t, ctx, chromedp.Location())
	if !strings.HasSuffix(loginURL, "/login") {
		t.Errorf("the page without a session went to %s, want /login", loginURL)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("token"), e.tok[tokens.Operator]),
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("pool-training")),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	page := run(t, ctx, chromedp.Text(chromedp.CSS("main")))
	if cookieJS := run(t, ctx, chromedp.Evaluate[string](`document.cookie`)); cookieJS != "" {
		t.Errorf("the session cookie is readable from JavaScript (%q): want HttpOnly", cookieJS)
	}
	for _, want := range []string{"Pool training", "Pool inference", "30 / 32 GPUs busy", "i-0a1b2c3d4e5f60001", "i-bp1abcdefghijk0003",
		"capacity: aws-p5-ondemand in us-east-1a is out of stock (InsufficientInstanceCapacity); skipped for 10m",
		"INC-4211: eval backlog before the release"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if lines := run(t, ctx, chromedp.Nodes(chromedp.CSSAll("#pool-training svg polyline"))); len(lines) != 4 {
		t.Errorf("timeline chart: %d lines, want 4", len(lines))
	}

	// Create a burst from the page.
	form := "#burst-form-training"
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(form+` input[name="gpus"]`), "4"),
		chromedp.SetValue(chromedp.CSS(form+` input[name="for"]`), "1h"),
		chromedp.SendKeys(chromedp.CSS(form+` input[name="reason"]`), "INC-5000: chromium drill"),
		chromedp.Submit(chromedp.CSS(form)),
		chromedp.WaitVisible(chromedp.ID("notice")),
	); err != nil {
		t.Fatalf("creating a burst: %v", err)
	}
	if notice := run(t, ctx, chromedp.Text(chromedp.ID("notice"))); notice != "Burst b-0002 created." {
		t.Errorf("notice after create: %q", notice)
	}
	// The notice is said once: the address drops ?created=, so the
	// page's reloads do not repeat it.
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`location.search === ""`, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("cancel-b-0002")),
	); err != nil {
		t.Fatalf("the address after create keeps its query (%s): %v", run(t, ctx, chromedp.Location()), err)
	}
	if loc := run(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/#pool-training") {
		t.Errorf("the address after create is %s, want the page at the pool's section", loc)
	}
	if n := run(t, ctx, chromedp.Nodes(chromedp.ID("notice"), chromedp.AtLeast(0))); len(n) != 0 {
		t.Errorf("a reload after create repeats the notice: %q", run(t, ctx, chromedp.Text(chromedp.ID("notice"))))
	}
	if page = run(t, ctx, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(page, "INC-5000: chromium drill") {
		t.Errorf("the new burst's floor is not on the page")
	}
	png := run(t, ctx, chromedp.FullScreenshot(100))
	dir := os.Getenv("SPILLWAY_ARTIFACTS") // CI may collect artifacts from there
	if dir == "" {
		dir = os.TempDir()
	}
	shot := filepath.Join(dir, "spillway-status-page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the status page: %s (%d bytes)", shot, len(png))

	// Cancel it from the page.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("cancel-b-0002")),
		chromedp.WaitNotPresent(chromedp.ID("cancel-b-0002")),
	); err != nil {
		t.Fatalf("cancelling the burst: %v", err)
	}
	if notice := run(t, ctx, chromedp.Text(chromedp.ID("notice"))); !strings.HasPrefix(notice, "Burst b-0002 cancelled") {
		t.Errorf("notice after cancel: %q", notice)
	}

	bs, err := e.client(tokens.Viewer).Bursts(context.Background(), "training", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[1].ID != "b-0002" || bs[1].State != "cancelled" || bs[1].Owner != "alice" || bs[1].CancelledBy != "alice" || bs[1].GPUs != 4 {
		t.Errorf("bursts after the page's create and cancel: %+v", bs)
	}
	var audited []string
	for _, r := range e.be.AuditRows() {
		audited = append(audited, fmt.Sprintf("%s %s %s %d", r.Principal, r.Method, r.Path, r.Status))
	}
	want := []string{"alice POST /login 303", "alice POST /bursts 303", "alice POST /bursts/b-0002/cancel 303"}
	if strings.Join(audited, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit rows:\n%s\nwant:\n%s", strings.Join(audited, "\n"), strings.Join(want, "\n"))
	}

	if err := chromedp.Cancel(ctx); err != nil {
		t.Errorf("closing Chromium: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrors) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(consoleErrors, "\n"))
	}
}

// logIn opens url's login page, logs in with token, and waits until
// shown (the page's element the test reads first) is visible.
func logIn(url, token string, shown chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(url+"/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.ID("login")),
		shown,
	)
}

// chromium gives the test a tab of its own in the package's headless
// Chromium, in a browser context of its own (an incognito profile: no
// cookie, storage or cache of another test's), closed with the test. The
// browser is started by the first test that asks for one and stopped by
// TestMain: started for each test, it took 6 to 8 s of a loaded 2-core
// machine ten times over (35 to 53 s once), most of the package's time.
// The test's steps get 90 s from the moment its tab is open: the start is
// not counted in them, but is bounded on its own.
func chromium(t *testing.T, bin string) context.Context {
	t.Helper()
	browser, err := sharedChromium.get(bin)
	if err != nil {
		t.Fatalf("starting Chromium (%s): %v", bin, err)
	}
	ctx, cancelCtx := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelCtx)
	stop := time.AfterFunc(browserStartLimit, cancelCtx)
	err = chromedp.Do(ctx)
	if !stop.Stop() {
		t.Fatalf("opening a tab in Chromium (%s): not open within %s", bin, browserStartLimit)
	}
	if err != nil {
		t.Fatalf("opening a tab in Chromium (%s): %v", bin, err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

// browserStartLimit bounds the start of the browser, and the opening of a
// test's tab in it.
const browserStartLimit = 3 * time.Minute

// sharedChromium is the package's browser (chromium).
var sharedChromium browserOnce

// browserOnce starts one headless Chromium and hands out its context; a
// browser that has died (a crash) is started again for the next test.
type browserOnce struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel func()
	dir    string
}

func (b *browserOnce) get(bin string) (context.Context, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx != nil && b.ctx.Err() == nil {
		return b.ctx, nil
	}
	b.closeLocked()
	dir, err := os.MkdirTemp("", "spillway-api-chromium-")
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 1600),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b.ctx, b.dir = ctx, dir
	b.cancel = func() { cancelCtx(); cancelAlloc() }
	// The first run starts the browser: its context must have no deadline
	// (one would stop the browser when it passed), so a timer ends a start
	// that takes too long.
	stop := time.AfterFunc(browserStartLimit, cancelCtx)
	err = chromedp.Do(ctx)
	if !stop.Stop() {
		err = fmt.Errorf("not started within %s", browserStartLimit)
	}
	if err != nil {
		b.closeLocked()
		return nil, err
	}
	return ctx, nil
}

// close stops the browser and removes its profile (TestMain).
func (b *browserOnce) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closeLocked()
}

func (b *browserOnce) closeLocked() {
	if b.cancel != nil {
		b.cancel()
	}
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
	b.ctx, b.cancel, b.dir = nil, nil, ""
}

// TestPageReloadsButNeverRepostsAForm: the page reloads itself (every
// second here), but the page answering a refused burst form, at the form's
// address, does not: a reload would post the form again.
func TestPageReloadsButNeverRepostsAForm(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnvRefresh(t, time.Second)
	ctx := chromium(t, bin)
	if err := chromedp.Do(ctx,
		logIn(e.url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.ID("pool-training"))),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	// An element added to the page is gone once it reloads.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.body.appendChild(Object.assign(document.createElement("i"), {id: "mark"}))`),
		chromedp.WaitNotPresent(chromedp.ID("mark")),
		chromedp.WaitVisible(chromedp.ID("pool-training")),
	); err != nil {
		t.Fatalf("the page did not reload itself (every second): %v", err)
	}

	// The pool allows alice 32 GPUs: asking for 40 is refused.
	form := "#burst-form-training"
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(form)),
		chromedp.SetValue(chromedp.CSS(form+` input[name="gpus"]`), "40"),
		chromedp.SetValue(chromedp.CSS(form+` input[name="for"]`), "1h"),
		chromedp.SetValue(chromedp.CSS(form+` input[name="reason"]`), "INC-5001: too big"),
		chromedp.Submit(chromedp.CSS(form)),
		chromedp.WaitVisible(chromedp.ID("error")),
		chromedp.Evaluate[chromedp.Void](`window.mark = 1`),
		// Three reload periods: that nothing happens can only be
		// waited for.
		chromedp.Sleep(3*time.Second),
	); err != nil {
		t.Fatalf("posting a refused burst: %v", err)
	}
	if mark := run(t, ctx, chromedp.Evaluate[int](`window.mark || 0`)); mark != 1 {
		t.Errorf("the page answering the refused form reloaded itself")
	}
	if loc := run(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/bursts") {
		t.Errorf("the refused form's answer is at %s, want /bursts", loc)
	}
	// Not refreshed, it says so once a period has passed, and links to
	// the status page (its figures stayed as they were with nothing
	// saying they were getting old).
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("current"))); err != nil {
		t.Fatalf("the refused form's answer, 3 periods on: no link to current figures: %v", err)
	}
	if text := run(t, ctx, chromedp.Text(chromedp.ID("stale"))); !regexp.MustCompile(`the figures below are \d+ s old .*is not refreshed \(that would send the form again\)\. Open the status page for current figures\.`).MatchString(text) {
		t.Errorf("the refused form's answer, 3 periods on, says %q, want how old its figures are and that it is not refreshed", text)
	}
	if href := run(t, ctx, chromedp.Evaluate[string](`document.getElementById("current").getAttribute("href")`)); href != "/" {
		t.Errorf("the link to current figures goes to %q, want /", href)
	}
	posts := 0
	for _, r := range e.be.AuditRows() {
		if r.Method == "POST" && r.Path == "/bursts" {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("%d posts of the burst form audited, want 1", posts)
	}
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	// A page that refreshes swaps its DOM in: a read whose query found a
	// node of the page before the swap finds it gone (-32000) and is made
	// again on the page as it is now, at most twice more.
	for i := 0; i < 2 && nodeGone(err); i++ {
		v, err = chromedp.Run(ctx, a)
	}
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// nodeGone reports whether err is Chromium's answer to a read of a node
// the page has since removed.
func nodeGone(err error) bool {
	var cerr *cdproto.Error
	return errors.As(err, &cerr) && cerr.Code == -32000 && cerr.Message == "No node with given id found"
}

// TestStatusPageHostileText: a burst whose reason is markup, and as long
// as a reason may be without a space (500 characters), shows as text, runs
// nothing, and leaves the page as wide as the window: the floors table
// grew to the reason's width, making the page 6,795 pixels wide in a
// 1,280-pixel window, with the burst's Cancel button at its far end.
func TestStatusPageHostileText(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnv(t, false)
	reason := `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">` + strings.Repeat("W", 432)
	b, err := e.client(tokens.Operator).CreateBurst(context.Background(), api.CreateBurstRequest{Pool: "training", GPUs: 1, For: api.Duration(time.Hour), Reason: reason})
	if err != nil {
		t.Fatal(err)
	}
	ctx := chromium(t, bin)
	if err := chromedp.Do(ctx,
		logIn(e.url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.ID("cancel-"+b.ID))),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	if page := run(t, ctx, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(page, reason) {
		t.Errorf("the page does not show the reason as text")
	}
	if pwned := run(t, ctx, chromedp.Evaluate[int](`window.pwned || 0`)); pwned != 0 {
		t.Errorf("the reason's markup ran (window.pwned = %d)", pwned)
	}
	width := run(t, ctx, chromedp.Evaluate[float64](`window.innerWidth`))
	if w := run(t, ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); w > width {
		t.Errorf("the page is %.0f pixels wide in a %.0f-pixel window", w, width)
	}
	if right := run(t, ctx, chromedp.Evaluate[float64](`document.getElementById("cancel-`+b.ID+`").getBoundingClientRect().right`)); right > width {
		t.Errorf("the Cancel button of burst %s ends at %.0f pixels, past the window's %.0f", b.ID, right, width)
	}
}

// TestMarkupFromTheServerIsNeverHTML: text from outside (a burst's
// reason, a decision's, a path) that is markup stays text where the
// browser shows it: on the page as refreshed (fetched, parsed and swapped
// in, not only as first loaded), and in the API's JSON opened in a tab,
// which writes <, > and & as they are. No element of the markup is made,
// so nothing relies on the Content-Security-Policy to stop it.
func TestMarkupFromTheServerIsNeverHTML(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnvRefresh(t, time.Second)
	ctx := chromium(t, bin)
	if err := chromedp.Do(ctx,
		logIn(e.url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.ID("pool-training"))),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	burst := `<img src=x id=pwn1 onerror="window.pwned=1"> & <b id=pwn2>bold</b>`
	b, err := e.client(tokens.Operator).CreateBurst(context.Background(), api.CreateBurstRequest{Pool: "training", GPUs: 1, For: api.Duration(time.Hour), Reason: burst})
	if err != nil {
		t.Fatal(err)
	}
	decision := `<svg id=pwn3 onload="window.pwned=3"></svg><a id=pwn4 href="javascript:window.pwned=4">x</a>`
	e.be.AddDecision(api.Decision{Pool: "training", Time: e.clock.Now(), Kind: "launch", Offering: "aws-p5-spot", Count: 1, Reason: decision})
	// The refresh brings them in.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("cancel-"+b.ID))); err != nil {
		t.Fatalf("the page did not refresh to show burst %s: %v", b.ID, err)
	}
	page := run(t, ctx, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{burst, decision} {
		if !strings.Contains(page, want) {
			t.Errorf("the refreshed page does not show %q as text", want)
		}
	}
	check := func(where string) {
		t.Helper()
		if made := run(t, ctx, chromedp.Evaluate[[]string](`["pwn1", "pwn2", "pwn3", "pwn4", "pwn5"].filter(id => document.getElementById(id))`)); len(made) != 0 {
			t.Errorf("%s: the markup made elements %v", where, made)
		}
		if pwned := run(t, ctx, chromedp.Evaluate[int](`window.pwned || 0`)); pwned != 0 {
			t.Errorf("%s: the markup ran (window.pwned = %d)", where, pwned)
		}
	}
	check("the refreshed page")

	// An error naming the path, opened in a tab.
	path := `/v1/pools/` + url.PathEscape(`<img src=x id=pwn5 onerror="window.pwned=5">`)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.url+path), chromedp.WaitVisible(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
	if text := run(t, ctx, chromedp.Text(chromedp.CSS("body"))); !strings.Contains(text, `<img src=x id=pwn5`) {
		t.Errorf("the API's answer to %s opened in a tab reads %q, want the path named as it is", path, text)
	}
	check("the API's answer in a tab")
}
