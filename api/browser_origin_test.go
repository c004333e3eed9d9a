package api_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/spillway-io/spillway/api/tokens"
)

// loginWatch serves the API and page, telling posts what each POST /login
// carried and was answered. With strip, it first removes the Sec-Fetch-*
// headers Chromium sent, standing for a browser that sends none (Safari
// before 16.4, Firefox before 90), which only Origin tells apart.
type loginWatch struct {
	h     http.Handler
	strip bool
	posts chan loginPost
}

type loginPost struct {
	origin, fetchSite string
	status            int
}

func (l *loginWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.strip {
		for k := range r.Header {
			if strings.HasPrefix(k, "Sec-Fetch-") {
				r.Header.Del(k)
			}
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/login" {
		l.h.ServeHTTP(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	l.h.ServeHTTP(sw, r)
	// A post no test reads (more than posts holds) must not hold its
	// handler, and with it the server's Close, for good: it ends with
	// its request (the tab closed).
	select {
	case l.posts <- loginPost{r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"), sw.status}:
	case <-r.Context().Done():
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// nextLogin is the next POST /login the server answered.
func nextLogin(t *testing.T, ctx context.Context, l *loginWatch) loginPost {
	t.Helper()
	select {
	case p := <-l.posts:
		return p
	case <-ctx.Done():
		t.Fatal("no login reached the server")
		return loginPost{}
	}
}

// sandboxedLogin is a page on another site whose sandboxed frame posts
// the server's login form with the attacker's token as soon as it loads;
// the frame's origin is opaque, so its post carries "Origin: null".
func sandboxedLogin(server, token string) string {
	frame := fmt.Sprintf(`<form method="post" action="%s/login"><input name="token" value="%s"></form><script>document.forms[0].submit()</script>`, server, token)
	return fmt.Sprintf(`<!doctype html><title>cats</title><iframe sandbox="allow-forms allow-scripts" srcdoc="%s"></iframe>`, html.EscapeString(frame))
}

// TestLoginFromASandboxedFrameIsRefused: in a real Chromium, a victim
// logged in to the status page opens another site whose sandboxed frame
// posts the login form with the attacker's token. The server refuses it,
// as Chromium sends it (Sec-Fetch-Site: cross-site) and as a browser
// without Sec-Fetch-* headers sends it (only "Origin: null"), which the
// server took as its own origin; the page's own login still works in
// both (the page's no-referrer policy made Chromium post it with
// "Origin: null" too), and the victim's session is untouched.
func TestLoginFromASandboxedFrameIsRefused(t *testing.T) {
	bin := chromiumPath(t)
	for _, tc := range []struct {
		name  string
		strip bool
	}{{"as_Chromium_sends_it", false}, {"without_Sec-Fetch_headers", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false)
			watch := &loginWatch{h: e.handler, strip: tc.strip, posts: make(chan loginPost, 4)}
			server := httptest.NewServer(watch)
			t.Cleanup(server.Close)
			attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprint(w, sandboxedLogin(server.URL, e.tok[tokens.Admin]))
			}))
			t.Cleanup(attacker.Close)
			ctx := chromium(t, bin)

			if err := chromedp.Do(ctx, logIn(server.URL, e.tok[tokens.Viewer], chromedp.WaitVisible(chromedp.ID("pool-training")))); err != nil {
				t.Fatalf("logging in through the page: %v", err)
			}
			if p := nextLogin(t, ctx, watch); p.status != http.StatusSeeOther || p.origin != server.URL {
				t.Errorf("the page's own login: %d, Origin %q; want 303, Origin %q", p.status, p.origin, server.URL)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL)); err != nil {
				t.Fatalf("opening the other site: %v", err)
			}
			if p := nextLogin(t, ctx, watch); p.status != http.StatusForbidden || p.origin != "null" {
				t.Errorf("the sandboxed frame's login (Origin %q, Sec-Fetch-Site %q): %d, want 403", p.origin, p.fetchSite, p.status)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(server.URL+"/"), chromedp.WaitVisible(chromedp.ID("pool-training"))); err != nil {
				t.Fatalf("back to the page: %v", err)
			}
			if who := run(t, ctx, chromedp.Text(chromedp.CSS("p.who"))); !strings.HasPrefix(who, "vera (viewer)") {
				t.Errorf("after the other site, the page is seen as %q, want vera (viewer)", who)
			}
		})
	}
}
