package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/api/tokens"
)

// TestPageRefusesAnOpaqueOrigin: a page POST carrying "Origin: null" and
// no Sec-Fetch-Site, what a sandboxed frame on any site sends from a
// browser without Sec-Fetch-* headers, was taken as same-origin, so a
// login form posted from such a frame logged the victim in with the
// attacker's token (login CSRF: the login form has no CSRF token). Each
// page POST refuses it; one from the server's own origin is taken.
func TestPageRefusesAnOpaqueOrigin(t *testing.T) {
	e := newEnv(t, false)
	b := newBrowser(e)
	resp, body := b.post("/login", url.Values{"token": {e.tok[tokens.Admin]}}, "Origin", "null")
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 || !strings.Contains(body, "This login came from another site and was refused.") {
		t.Errorf("login with Origin: null: %d, cookies %v: %.300s\nwant 403 and no session", resp.StatusCode, resp.Cookies(), body)
	}
	csrf := b.login(tokens.Operator)
	form := url.Values{"pool": {"training"}, "gpus": {"4"}, "for": {"1h"}, "reason": {"INC-null"}, "csrf": {csrf}}
	for path, f := range map[string]url.Values{"/bursts": form, "/bursts/b-0001/cancel": {"csrf": {csrf}}} {
		if resp, body := b.post(path, f, "Origin", "null"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "came from another site") {
			t.Errorf("%s with Origin: null: %d %q: %.300s\nwant 403", path, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	b.post("/logout", url.Values{"csrf": {csrf}}, "Origin", "null")
	if resp, body := b.post("/bursts", form, "Origin", e.url); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/?created=") {
		t.Errorf("a burst from the page's own origin after a logout with Origin: null: %d %q: %.300s\nwant 303 to the created burst (the logout ignored)", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	refused := 0
	for _, r := range e.be.AuditRows() {
		if r.Status == http.StatusForbidden && strings.Contains(r.Outcome, "cross-site") {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d audit rows of cross-site refusals, want 3 (login, burst, cancel)", refused)
	}
}
