package api_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spillway-io/spillway/api/tokens"
)

// gate serves the page, or stands in for a server in trouble: a proxy
// answering 502 while the server restarts, or a server too slow to
// answer. It notes when each GET / came.
type gate struct {
	h    http.Handler
	mu   sync.Mutex
	mode string // "", "502", "hang", "hold"
	gets []time.Time
	// dropped counts the requests held that the client gave up on.
	dropped int
	// release ends the requests hanging, and serves those held.
	release chan struct{}
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	mode, release := g.mode, g.release
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		g.gets = append(g.gets, time.Now())
	}
	g.mu.Unlock()
	switch mode {
	case "502":
		http.Error(w, "bad gateway", http.StatusBadGateway)
	case "hang":
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "too late", http.StatusServiceUnavailable)
	case "hold":
		select {
		case <-release:
			g.h.ServeHTTP(w, r)
		case <-r.Context().Done():
			g.mu.Lock()
			g.dropped++
			g.mu.Unlock()
		}
	default:
		g.h.ServeHTTP(w, r)
	}
}

func (g *gate) set(mode string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mode == "hang" || g.mode == "hold" {
		close(g.release)
	}
	g.mode, g.release = mode, make(chan struct{})
}

// getsSince returns when the GETs of / since i came.
func (g *gate) getsSince(i int) []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]time.Time(nil), g.gets[min(i, len(g.gets)):]...)
}

// restartable serves h on one loopback address, and can stop and start
// again there, as a server restarting does.
type restartable struct {
	t    *testing.T
	h    http.Handler
	addr string
	srv  *http.Server
	done chan error
}

func (s *restartable) start() {
	s.t.Helper()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan error, 1)
	go func() { s.done <- s.srv.Serve(ln) }()
}

// stop stops it, if it is serving.
func (s *restartable) stop() {
	s.t.Helper()
	if s.done == nil {
		return
	}
	s.srv.Close()
	err := <-s.done
	s.done = nil
	if !errors.Is(err, http.ErrServerClosed) {
		s.t.Fatal(err)
	}
}

// TestPageSaysItsFiguresAreStale: the page open in a browser while the
// server restarts, answers 502 through a proxy, or is too slow keeps its
// figures under a banner saying how old they are and why, tries again
// less and less often, and comes back by itself once the server answers.
// It reloaded itself: a restart left Chromium's own error page, which
// never tried again, so an on-call engineer's page stayed dead after the
// server was back; a 502 left the proxy's page; a slow server left the
// old figures with nothing saying so.
func TestPageSaysItsFiguresAreStale(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnvRefresh(t, time.Second)
	g := &gate{h: e.handler, release: make(chan struct{})}
	srv := &restartable{t: t, h: g}
	srv.start()
	t.Cleanup(func() { g.set(""); srv.stop() })
	url := "http://" + srv.addr
	ctx := chromium(t, bin)
	if err := chromedp.Do(ctx,
		logIn(url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.ID("pool-training"))),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	stale := func(what string, want *regexp.Regexp) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("stale"))); err != nil {
			t.Fatalf("%s: no banner saying the figures are stale: %v", what, err)
		}
		// The banner is written once a try has failed; its text says why.
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var text string
		for {
			text = run(t, ctx, chromedp.Evaluate[string](`(document.getElementById("stale") || {}).textContent || ""`))
			if want.MatchString(text) {
				break
			}
			select {
			case <-tctx.Done():
				t.Fatalf("%s: the banner says %q, want it to match %s", what, text, want)
			case <-tick.C:
			}
		}
		if !regexp.MustCompile(`the figures below are \d+ s old \(fetched at \d\d:\d\d:\d\d UTC\)`).MatchString(text) {
			t.Errorf("%s: the banner says %q, want how old the figures are and when they were fetched (UTC)", what, text)
		}
		if !strings.Contains(run(t, ctx, chromedp.Text(chromedp.CSS("main"))), "Burst instances") {
			t.Errorf("%s: the page's figures are gone, want them kept under the banner", what)
		}
	}
	recovered := func(what string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.WaitNotPresent(chromedp.ID("stale")), chromedp.WaitVisible(chromedp.ID("pool-training"))); err != nil {
			t.Fatalf("%s, then answering again: the page did not come back by itself: %v", what, err)
		}
		if loc := run(t, ctx, chromedp.Location()); loc != url+"/" {
			t.Fatalf("%s, then answering again: the page is at %s, want %s/", what, loc, url)
		}
	}

	// Restarting: nothing listens for a while.
	srv.stop()
	stale("the server stopped", regexp.MustCompile(`could not be reached`))
	srv.start()
	recovered("the server restarting")

	// A proxy answering 502: each try waits twice as long as the last.
	from := len(g.getsSince(0))
	g.set("502")
	stale("a proxy answering 502", regexp.MustCompile(`The server answered 502 Bad Gateway\. Trying again at \d\d:\d\d:\d\d UTC\.`))
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var gets []time.Time
	for gets = g.getsSince(from); len(gets) < 4; gets = g.getsSince(from) {
		select {
		case <-tctx.Done():
			t.Fatalf("%d tries in 30 s while the proxy answered 502, want 4 (1, 2 and 4 s apart)", len(gets))
		case <-tick.C:
		}
	}
	for i := 2; i < len(gets); i++ {
		if prev, gap := gets[i-1].Sub(gets[i-2]), gets[i].Sub(gets[i-1]); gap < prev*3/2 {
			t.Errorf("tries %d s and then %d s apart while the server failed, want each wait about twice the last", prev.Milliseconds()/1000, gap.Milliseconds()/1000)
		}
	}
	g.set("")
	recovered("a proxy answering 502")

	// A server too slow: a try gives up after its timeout (2 s here).
	g.set("hang")
	stale("a server too slow to answer", regexp.MustCompile(`did not answer within 2 s`))
	g.set("")
	recovered("a server too slow")

	// The session ended: the next refresh goes to the login page.
	e.clock.Advance(13 * time.Hour)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatalf("the session ended: the page did not go to the login page: %v", err)
	}
}

// TestPageRefreshesOnceAFormIsLeft: the page does not refresh while a
// form is being filled in (that would lose what was typed) and says so,
// but refreshes again once the form is left as the page drew it. One
// keystroke in a form stopped the refreshes until the page was reloaded
// by hand, with nothing saying its figures were getting old.
func TestPageRefreshesOnceAFormIsLeft(t *testing.T) {
	bin := chromiumPath(t)
	e := newEnvRefresh(t, time.Second)
	ctx := chromium(t, bin)
	reason := `#burst-form-training input[name="reason"]`
	if err := chromedp.Do(ctx,
		logIn(e.url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.CSS(reason))),
		// Focused and typed into in the page, as a reader does: a
		// refresh between finding the field and focusing it (SendKeys)
		// would leave the keys on a field no longer shown.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+reason+`').focus()`),
		chromedp.KeyEvent("INC-7"),
		chromedp.Evaluate[chromedp.Void](`document.body.appendChild(Object.assign(document.createElement("i"), {id: "mark"}))`),
		// The banner may already say a refresh failed (one given up
		// after 2 s on a loaded machine): the next refresh, not made,
		// says the form holds them.
		chromedp.Poll[chromedp.Void](`/not refreshed while a form/.test((document.getElementById("stale") || {}).textContent || "")`, chromedp.WithPollingTimeout(30*time.Second)),
	); err != nil {
		t.Fatalf("typing a reason: no banner saying the figures are not refreshed while a form is filled in: %v", err)
	}
	if text := run(t, ctx, chromedp.Text(chromedp.ID("stale"))); !strings.Contains(text, "not refreshed while a form is being filled in") {
		t.Errorf("the banner while a form is filled in says %q, want it to say the figures are not refreshed meanwhile", text)
	}
	if got := run(t, ctx, chromedp.Evaluate[string](`document.querySelector('`+reason+`').value`)); got != "INC-7" {
		t.Fatalf("the reason typed is %q, want it kept (INC-7)", got)
	}
	// The reason cleared and the field left: refreshes go on.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(f => { f.value = ""; f.blur(); })(document.querySelector('`+reason+`'))`),
		chromedp.WaitNotPresent(chromedp.ID("mark")),
		chromedp.WaitNotPresent(chromedp.ID("stale")),
		chromedp.WaitVisible(chromedp.ID("pool-training")),
	); err != nil {
		t.Fatalf("the form left as drawn: the page did not refresh again: %v", err)
	}
}

// TestPageKeepsWhatIsTypedDuringARefresh: a refresh already fetching
// the page when the reader begins filling in a form does not swap the
// page in when it comes: that would lose what they typed. The page
// swapped it in (the reason typed gone, the field no longer focused),
// which a slow server (or a loaded browser) made likely at each refresh.
func TestPageKeepsWhatIsTypedDuringARefresh(t *testing.T) {
	bin := chromiumPath(t)
	// A refresh gives up after a period (at least 2 s): 10 s leaves
	// time to type while one is held, however loaded the machine.
	e := newEnvRefresh(t, 10*time.Second)
	g := &gate{h: e.handler, release: make(chan struct{})}
	srv := &restartable{t: t, h: g}
	srv.start()
	t.Cleanup(func() { g.set(""); srv.stop() })
	url := "http://" + srv.addr
	ctx := chromium(t, bin)
	reason := `#burst-form-training input[name="reason"]`
	if err := chromedp.Do(ctx,
		logIn(url, e.tok[tokens.Operator], chromedp.WaitVisible(chromedp.CSS(reason))),
	); err != nil {
		t.Fatalf("logging in: %v", err)
	}
	// The next refresh is held until the reader has typed.
	from := len(g.getsSince(0))
	g.set("hold")
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(g.getsSince(from)) == 0 {
		select {
		case <-tctx.Done():
			t.Fatal("no refresh within 30 s")
		case <-tick.C:
		}
	}
	// A refresh is fetching: the page as it is now is marked.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.body.appendChild(Object.assign(document.createElement("i"), {id: "mark"}))`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+reason+`').focus()`),
		chromedp.KeyEvent("INC-7"),
	); err != nil {
		t.Fatalf("typing a reason: %v", err)
	}
	g.mu.Lock()
	dropped := g.dropped
	g.mu.Unlock()
	if dropped != 0 {
		t.Fatal("the page gave up on the refresh held before the reason was typed")
	}
	g.set("")
	// The held page has come: swapped in (the mark gone) or not, and
	// then the banner says the page waits for the form.
	if err := chromedp.Do(ctx,
		chromedp.Poll[chromedp.Void](`!document.getElementById("mark") || document.getElementById("stale")`, chromedp.WithPollingTimeout(20*time.Second)),
	); err != nil {
		t.Fatalf("the held refresh: %v", err)
	}
	if got := run(t, ctx, chromedp.Evaluate[string](`(document.querySelector('`+reason+`') || {}).value`)); got != "INC-7" {
		t.Errorf("the reason typed while the page was fetched is %q, want it kept (INC-7)", got)
	}
	if n := run(t, ctx, chromedp.Nodes(chromedp.ID("mark"), chromedp.AtLeast(0))); len(n) != 1 {
		t.Errorf("the page fetched while the reader typed was swapped in")
	}
	if focused := run(t, ctx, chromedp.Evaluate[bool](`document.activeElement === document.querySelector('`+reason+`')`)); !focused {
		t.Errorf("the reason field lost the focus while the reader typed")
	}
	if text := run(t, ctx, chromedp.Evaluate[string](`(document.getElementById("stale") || {}).textContent || ""`)); !strings.Contains(text, "not refreshed while a form is being filled in") {
		t.Errorf("the banner says %q, want it to say the figures are not refreshed while a form is filled in", text)
	}
}
