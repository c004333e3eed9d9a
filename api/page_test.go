package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t *testing.T
	e *env
	c *http.Client
}

func newBrowser(e *env) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.e.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) login(role tokens.Role) string {
	b.t.Helper()
	resp, body := b.post("/login", url.Values{"token": {b.e.tok[role]}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		b.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	_, page := b.get("/")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("page has no CSRF token:\n%s", page)
	}
	return m[1]
}

func TestPageLogin(t *testing.T) {
	e := newEnv(t, false)
	b := newBrowser(e)
	resp, _ := b.get("/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("anonymous page: %d → %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := b.post("/login", url.Values{"token": {"spw_nope"}})
	if resp.StatusCode != 401 || !strings.Contains(body, "Unknown token") {
		t.Errorf("bad login: %d %s", resp.StatusCode, body)
	}
	resp, _ = b.post("/login", url.Values{"token": {e.tok[tokens.Viewer]}})
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "spillway_session" {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Value == "" || strings.Contains(sc.Value, e.tok[tokens.Viewer]) {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not the token", sc)
	}
	resp, body = b.get("/")
	if resp.StatusCode != 200 {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	for _, want := range []string{"Pool training", "Pool inference", "30 / 32 GPUs busy", "2 allocated but idle (waste)", "6 jobs, 24 GPUs",
		// Unhealthy GPUs counted busy are told apart, in the pool and in
		// the overview.
		`<p class="error" id="unhealthy-training">8 of them unhealthy: they take no job until their node is rebooted (their agent's /healthz says why)</p>`,
		"<td>8 on-prem GPUs unhealthy</td>",
		"i-0a1b2c3d4e5f60001", "weekday-peak", "<td>b-0001 (alice)</td>", `<tr class="floor"><td>manual</td><td>b-0001 (<bdi>alice</bdi>)</td>`, "INC-4211: eval backlog before the release", "$1234.56 of $20000.00",
		"capacity: aws-p5-ondemand in us-east-1a is out of stock", "<svg", "<polyline",
		// A floor short of its GPUs says what holds it back.
		`<span class="waiting">Waits (max_cost_per_hour): floor &#34;weekday-peak&#34; wants 8 more burst GPUs (1 × aws-p5-ondemand): launching 0; limit max_cost_per_hour $100.00`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "Create burst") || strings.Contains(body, "Cancel burst") {
		t.Errorf("a viewer sees the burst forms")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// Logins are audited, failed ones too; the token never is.
	rows := e.be.AuditRows()
	if len(rows) != 2 || rows[0].Status != 401 || rows[1].Principal != "vera" || rows[1].Status != 303 {
		t.Errorf("login audit rows: %+v", rows)
	}
	for _, r := range rows {
		if strings.Contains(r.Request+r.Outcome, "spw_") {
			t.Errorf("audit row holds a token: %+v", r)
		}
	}
}

func TestPageAnonymousRead(t *testing.T) {
	e := newEnv(t, true)
	b := newBrowser(e)
	resp, body := b.get("/")
	if resp.StatusCode != 200 || !strings.Contains(body, "anonymous (viewer)") || strings.Contains(body, "Create burst") {
		t.Errorf("anonymous page: %d", resp.StatusCode)
	}
	resp, _ = b.post("/bursts", url.Values{"pool": {"training"}, "gpus": {"1"}, "for": {"1h"}, "reason": {"x"}})
	if resp.StatusCode != 401 {
		t.Errorf("anonymous burst: %d, want 401", resp.StatusCode)
	}
}

// TestPageShowsHeldOfferings: what the policy does not launch now, and
// why, is on the pool's section; a pool holding nothing says nothing.
func TestPageShowsHeldOfferings(t *testing.T) {
	e := newEnv(t, true)
	_, body := newBrowser(e).get("/")
	if want := `<p class="held" id="held-training">Not launched now: aws-p5-ondemand (out of stock until `; !strings.Contains(body, want) {
		t.Errorf("page lacks %q", want)
	}
	if strings.Contains(body, `id="held-inference"`) {
		t.Error("pool inference holds nothing, yet the page says it does")
	}
}

// TestPageShowsJobsNotCounted: the queued jobs the sources left out of
// demand, and those counted as a larger shape, are on the pool's section.
func TestPageShowsJobsNotCounted(t *testing.T) {
	e := newEnv(t, true)
	_, body := newBrowser(e).get("/")
	for _, want := range []string{
		`<p class="held" id="left-out-training">Not counted as demand: slurm:gpu: 2 jobs pending for QOSMaxGRESPerUser.</p>`,
		`<p class="held" id="larger-training">Counted as a larger shape, for their CPUs or memory: 1 job.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="left-out-inference"`) || strings.Contains(body, `id="larger-inference"`) {
		t.Error("pool inference leaves nothing out, yet the page says it does")
	}
}

// TestPageCSRF: a form post without the session's CSRF token, or from
// another site, is refused and audited; with it, it works.
func TestPageCSRF(t *testing.T) {
	e := newEnv(t, false)
	b := newBrowser(e)
	csrf := b.login(tokens.Operator)
	form := url.Values{"pool": {"training"}, "gpus": {"4"}, "for": {"1h"}, "reason": {"INC-9"}}
	resp, body := b.post("/bursts", form)
	if resp.StatusCode != 403 || !strings.Contains(body, "stale or came from another site") {
		t.Errorf("no CSRF token: %d", resp.StatusCode)
	}
	form.Set("csrf", "wrong")
	if resp, _ = b.post("/bursts", form); resp.StatusCode != 403 {
		t.Errorf("wrong CSRF token: %d", resp.StatusCode)
	}
	form.Set("csrf", csrf)
	if resp, _ = b.post("/bursts", form, "Origin", "http://evil.example"); resp.StatusCode != 403 {
		t.Errorf("cross-site origin: %d", resp.StatusCode)
	}
	resp, body = b.post("/bursts", form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/?created=b-0002") {
		t.Fatalf("good form: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	rows := e.be.AuditRows()
	refused := 0
	for _, r := range rows {
		if r.Status == 403 && r.Principal == "alice" && strings.Contains(r.Outcome, "CSRF") {
			refused++
		}
		if strings.Contains(r.Request, csrf) {
			t.Errorf("audit row holds the CSRF token: %+v", r)
		}
	}
	if refused != 3 {
		t.Errorf("%d refused form posts audited, want 3: %+v", refused, rows)
	}
	// A field the form does not have, or one given twice, is refused on
	// the page as the JSON API refuses them, and creates nothing.
	for _, tc := range []struct {
		path, add, want string
	}{
		{"/bursts", "bogus", "unknown form field &#34;bogus&#34; for POST /bursts: it takes pool, gpus, for, reason, offering, key"},
		{"/bursts", "gpus", "form field &#34;gpus&#34; is given 2 times: give it once"},
		{"/bursts?dryrun=1", "", "unknown parameter &#34;dryrun&#34; for POST /bursts: it takes no parameters"},
		{"/bursts/b-0001/cancel", "force", "unknown form field &#34;force&#34; for POST /bursts/b-0001/cancel: it takes none but the CSRF token"},
	} {
		f := url.Values{"csrf": {csrf}}
		if tc.path == "/bursts" || strings.HasPrefix(tc.path, "/bursts?") {
			f = url.Values{"csrf": {csrf}, "pool": {"training"}, "gpus": {"4"}, "for": {"1h"}, "reason": {"INC-9"}}
		}
		if tc.add != "" {
			f.Add(tc.add, "16")
		}
		before := len(e.be.AuditRows())
		resp, body := b.post(tc.path, f)
		if resp.StatusCode != 400 || !strings.Contains(body, "Refused: "+tc.want) {
			t.Errorf("%s with %s: %d, want 400 with %q", tc.path, tc.add, resp.StatusCode, tc.want)
		}
		if rows := e.be.AuditRows(); len(rows) != before+1 || rows[len(rows)-1].Status != 400 {
			t.Errorf("%s with %s: want one audit row with status 400", tc.path, tc.add)
		}
	}
	// strconv.Atoi read +16 and 016 as 16: the form's gpus is decimal
	// digits alone, as its number field sends them.
	for _, tc := range []struct{ gpus, want string }{
		{"+16", "gpus &#34;&#43;16&#34; is not a whole number: use 1 to 100000, in decimal digits alone (no sign, leading zero or 0x)"},
		{"016", "gpus &#34;016&#34; is not a whole number: use 1 to 100000"},
		{"0x10", "gpus &#34;0x10&#34; is not a whole number"},
		{"-4", "gpus &#34;-4&#34; is not a whole number"},
		{"99999999999999999999", "gpus &#34;99999999999999999999&#34; is out of range: ask for 1 to 100000 GPUs"},
		// time.ParseDuration read for=+2h as 2h.
		{"", "for &#34;&#43;2h&#34; is a duration with a sign: write it without one, e.g. 2h or 90m"},
	} {
		f := url.Values{"csrf": {csrf}, "pool": {"training"}, "gpus": {tc.gpus}, "for": {"1h"}, "reason": {"INC-9"}}
		if tc.gpus == "" { // the case is about for
			f.Set("gpus", "4")
			f.Set("for", "+2h")
		}
		if resp, body := b.post("/bursts", f); resp.StatusCode != 400 || !strings.Contains(body, "Refused: "+tc.want) {
			t.Errorf("gpus=%s: %d, want 400 with %q", tc.gpus, resp.StatusCode, tc.want)
		}
	}
	// A reason that is not UTF-8 (a form posted in Latin-1) is refused,
	// not stored with each bad byte turned into U+FFFD.
	f := url.Values{"csrf": {csrf}, "pool": {"training"}, "gpus": {"4"}, "for": {"1h"}, "reason": {"INC-9 \xe9t\xe9"}}
	if resp, body := b.post("/bursts", f); resp.StatusCode != 400 || !strings.Contains(body, "Refused: reason is not valid UTF-8") {
		t.Errorf("reason in Latin-1: %d, want 400 saying it is not UTF-8", resp.StatusCode)
	}
	if bs, _ := e.client(tokens.Viewer).Bursts(context.Background(), "", true); len(bs) != 2 || bs[0].State != "active" {
		t.Errorf("after the refused forms: bursts %+v, want b-0001 still active and b-0002 only", bs)
	}
	// Over the manual limit: the page says which limit, and keeps the form.
	form.Set("gpus", "40")
	resp, body = b.post("/bursts", form)
	if resp.StatusCode != 403 || !strings.Contains(body, "40 GPUs is over pool training&#39;s manual limit max_gpus = 32") || !strings.Contains(body, `value="INC-9"`) {
		t.Errorf("over the limit: %d", resp.StatusCode)
	}
}

func TestPageLogout(t *testing.T) {
	e := newEnv(t, false)
	b := newBrowser(e)
	csrf := b.login(tokens.Viewer)
	// Without the CSRF token a logout does nothing to the session.
	b.post("/logout", url.Values{})
	if resp, _ := b.get("/"); resp.StatusCode != 200 {
		t.Fatalf("a logout without CSRF token ended the session: %d", resp.StatusCode)
	}
	u, _ := url.Parse(e.url)
	old := b.c.Jar.Cookies(u)
	if resp, _ := b.post("/logout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("page after logout: %d, want 303 to /login", resp.StatusCode)
	}
	// The old cookie, replayed, no longer opens a session.
	b.c.Jar.SetCookies(u, old)
	if resp, _ := b.get("/"); len(old) != 1 || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed session cookie after logout: %d (%d cookies), want 303 to /login", resp.StatusCode, len(old))
	}
	rows := e.be.AuditRows()
	last := rows[len(rows)-1]
	if last.Path != "/logout" || last.Principal != "vera" || last.Outcome != "logged out of the status page" {
		t.Errorf("logout audit row %+v", last)
	}
}

func TestPageViewerCannotMutate(t *testing.T) {
	e := newEnv(t, false)
	b := newBrowser(e)
	csrf := b.login(tokens.Viewer)
	resp, body := b.post("/bursts/b-0001/cancel", url.Values{"csrf": {csrf}})
	if resp.StatusCode != 403 || !strings.Contains(body, "cancelling a burst needs role operator") {
		t.Errorf("viewer cancel: %d", resp.StatusCode)
	}
}

// TestPageSessionEndsWithToken: deleting a token from the file ends the
// page sessions it opened.
func TestPageSessionEndsWithToken(t *testing.T) {
	e := newEnv(t, false)
	b := newBrowser(e)
	b.login(tokens.Viewer)
	f, err := tokens.Read(e.tokens)
	if err != nil {
		t.Fatal(err)
	}
	var kept []tokens.Entry
	for _, en := range f.Entries {
		if en.Role != tokens.Viewer {
			kept = append(kept, en)
		}
	}
	f.Entries = kept
	writeFile(t, e.tokens, f.Marshal())
	if resp, _ := b.get("/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("page after revoking the token: %d, want 303 to /login", resp.StatusCode)
	}
}

// TestPageFormPostedTwiceOpensOneBurst: the burst form posted twice (a
// double click on Create at 3 a.m., a browser resending it) opened two
// bursts, doubling the spend; its key, new at each render, makes the
// second post return the first burst. The form posted again with other
// values is refused, and a reloaded page's form creates another.
func TestPageFormPostedTwiceOpensOneBurst(t *testing.T) {
	e := newEnv(t, false)
	b := newBrowser(e)
	csrf := b.login(tokens.Operator)
	formKey := func() string {
		_, page := b.get("/")
		m := regexp.MustCompile(`id="burst-form-training">\s*<input type="hidden" name="csrf" value="[^"]*">\s*<input type="hidden" name="pool" value="training">\s*<input type="hidden" name="key" value="([^"]+)">`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the training pool's burst form has no key:\n%s", page)
		}
		return m[1]
	}
	key := formKey()
	form := url.Values{"csrf": {csrf}, "pool": {"training"}, "gpus": {"4"}, "for": {"1h"}, "reason": {"INC-11"}, "key": {key}}
	var created []string
	for range 2 {
		resp, body := b.post("/bursts", form)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("form post: %d %s", resp.StatusCode, body)
		}
		created = append(created, resp.Header.Get("Location"))
	}
	if created[0] != created[1] {
		t.Fatalf("the form posted twice redirected to %q, want the same burst twice", created)
	}
	form.Set("gpus", "8")
	if resp, body := b.post("/bursts", form); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(body, "this form already created a burst, with other values: reload the page for a new form to create another") {
		t.Fatalf("the form posted again with other values: %d, want 422 saying to reload", resp.StatusCode)
	}
	if next := formKey(); next == key {
		t.Fatalf("a reloaded page's form has the same key %q", key)
	} else {
		form.Set("key", next)
	}
	if resp, body := b.post("/bursts", form); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") == created[0] {
		t.Fatalf("a reloaded form: %d %q %s, want a new burst", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	bs, err := e.client(tokens.Viewer).Bursts(t.Context(), "training", false)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range bs {
		if b.Reason == "INC-11" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d bursts for INC-11, want 2 (the double post's one, the reloaded form's one)", n)
	}
}

// TestPageCancelOfABurstAlreadyEnded: cancelling from the page a burst
// that was cancelled meanwhile (from another tab, or by someone else)
// says it was already cancelled, by whom and when: what the cancel asked
// for holds. The page answered "Refused: burst … already cancelled" with
// a 409, which at 3 a.m. reads as the burst still running. It says what
// becomes of the instances launched for it, as a cancel's notice does:
// it said "its instances drain, then terminate" even of a burst whose
// time had run out, whose instance is not drained but scales in as
// usual.
func TestPageCancelOfABurstAlreadyEnded(t *testing.T) {
	for _, tc := range []struct {
		name, want, state string
		end               func(e *env)
	}{
		{
			name: "cancelled by root",
			end: func(e *env) {
				if _, err := e.client(tokens.Admin).CancelBurst(context.Background(), "b-0001"); err != nil {
					t.Fatal(err)
				}
			},
			want:  "Burst b-0001 was already cancelled, by root at 2026-11-29 09:00 UTC: the instance launched for it drains, then terminates (those it only kept from scale-in, launched for the queue or a schedule, scale in as usual).",
			state: "cancelled",
		},
		{
			name:  "its time ran out",
			end:   func(e *env) { e.clock.Advance(2*time.Hour + time.Minute) },
			want:  "Burst b-0001 had already ended when its time ran out at 2026-11-29 11:00 UTC: the instance launched for it is held no longer and scales in as usual (drained once idle past scale_in.idle and the break-even).",
			state: "ended",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false)
			tc.end(e)
			b := newBrowser(e)
			csrf := b.login(tokens.Operator)
			resp, body := b.post("/bursts/b-0001/cancel", url.Values{"csrf": {csrf}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?ended=b-0001#pool-training" {
				t.Fatalf("cancelling from the page a burst ended meanwhile: %d %q %s, want 303 to /?ended=b-0001#pool-training", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			_, page := b.get("/?ended=b-0001")
			if want := `<p class="notice" role="status" id="notice">` + tc.want + `</p>`; !strings.Contains(page, want) {
				t.Errorf("the page after the cancel lacks %s", want)
			}
			if strings.Contains(page, "Refused") {
				t.Errorf("the page after the cancel says Refused")
			}
			rows := e.be.AuditRows()
			if last := rows[len(rows)-1]; last.Principal != "alice" || last.Outcome != "burst b-0001 in pool training had already ended ("+tc.state+"): nothing cancelled" {
				t.Errorf("last audit row %+v, want alice's cancel saying the burst had already ended", last)
			}
		})
	}
}

// TestPageBudgetPercentIsNeverRoundedUp: the spend meter rounded to the
// nearest percent, so a pool at 99.6% of its budget read "100%" while its
// launches still went through (and 0.4% read "0%" as if nothing were
// spent); it now shows a tenth, rounded down, and 100% once spent.
func TestPageBudgetPercentIsNeverRoundedUp(t *testing.T) {
	m := apitest.NewMemory("acme", func() time.Time { return apitest.FixtureTime })
	for _, p := range []struct {
		name           string
		accrued, total float64
	}{
		{"nearly", 19920, 20000},  // 99.6%
		{"cent", 19999.99, 20000}, // 99.99995%
		{"spent", 20000, 20000},   // 100%
		{"little", 80, 20000},     // 0.4%
		{"third", 1000, 3000},     // 33.333…%
		{"none", 500, 0},          // no budget
	} {
		m.AddPool(api.PoolDetail{Name: p.name, Spend: api.Spend{Accrued: p.accrued, Budget: p.total}}, nil)
	}
	e := newEnvWith(t, api.Options{Backend: m, AnonymousRead: true})
	_, body := newBrowser(e).get("/")
	for pool, want := range map[string]string{"nearly": "99.6%", "cent": "99.9%", "spent": "100.0%", "little": "0.4%", "third": "33.3%"} {
		re := regexp.MustCompile(`id="spend-` + pool + `">[^<]*</p>\s*<meter [^>]*title="([^"]*)"`)
		if got := re.FindStringSubmatch(body); got == nil || got[1] != want {
			t.Errorf("pool %s's meter: %q, want %q", pool, got, want)
		}
		if shown := `id="pct-` + pool + `">` + want + ` spent</span>`; !strings.Contains(body, shown) {
			t.Errorf("pool %s's spend card lacks %q", pool, shown)
		}
	}
	if strings.Contains(body, `id="spend-none">$500.00</p>`+"\n<meter") {
		t.Error("a pool without a budget shows a meter")
	}
}

// TestPageSaysWhenFiguresAreUnknownOrOld: a pool this server has not
// evaluated (just restarted, or it follows the leader), or whose last
// evaluation failed, showed "0 / 0 GPUs busy" and "0 jobs, 0 GPUs", read at
// 3 a.m. as an idle pool with an empty queue; and a pool whose
// evaluations had stopped showed hours-old figures under the header's
// current time. The page now says which: unknown figures as unknown, with
// why, and old ones with their time and age; a follower's header says so.
func TestPageSaysWhenFiguresAreUnknownOrOld(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	for _, s := range []api.Snapshot{
		{},
		{Time: t0.Add(-10 * time.Second), Interval: api.Duration(10 * time.Second), Error: "pool train: listing instances: RequestLimitExceeded"},
		{Time: t0.Add(-47 * time.Minute), Interval: api.Duration(30 * time.Second), OnPremTotal: 32, OnPremBusy: 30},
		{Time: t0.Add(-20 * time.Second), Interval: api.Duration(10 * time.Second), OnPremTotal: 32, OnPremBusy: 12},
	} {
		name := map[bool]string{true: "fresh"}[s.Time.IsZero()] + map[bool]string{true: "failing"}[s.Error != ""]
		switch {
		case name != "":
		case s.OnPremBusy == 30:
			name = "late"
		default:
			name = "current"
		}
		m.AddPool(api.PoolDetail{Name: name, Snapshot: s}, nil)
	}
	e := newEnvWith(t, api.Options{Backend: m, AnonymousRead: true})
	_, body := newBrowser(e).get("/")
	for _, want := range []string{
		`<p class="error" id="eval-fresh">Not evaluated by this server yet: the on-prem and queue figures are unknown.</p>`,
		`<p class="error" id="eval-failing">The last evaluation, at 2026-11-29 08:59:50 UTC, failed: pool train: listing instances: RequestLimitExceeded. The on-prem and queue figures are unknown until one succeeds.</p>`,
		`<p class="error" id="eval-late">Not evaluated since 2026-11-29 08:13:00 UTC, 47m ago (it is evaluated every 30s): the figures below are out of date.</p>`,
		`<p class="hint" id="eval-current">Evaluated at 2026-11-29 08:59:40 UTC, every 10s.</p>`,
		`id="onprem-fresh">unknown</p>`, `id="onprem-failing">unknown</p>`,
		`id="onprem-late">30 / 32 GPUs busy</p>`, `id="onprem-current">12 / 32 GPUs busy</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(body, `id="onprem-fresh">0 / 0`) || strings.Contains(body, `id="onprem-failing">0 / 0`) {
		t.Error("a pool whose figures are unknown shows them as zeros")
	}
	if strings.Contains(body, `id="follower"`) {
		t.Error("a single server's page says it follows")
	}
	// A follower: its pools are the leader's to evaluate.
	m.SetLeader(&api.LeaderInfo{Holder: "spw-a", Epoch: 7, This: "spw-b"})
	_, body = newBrowser(e).get("/")
	for _, want := range []string{
		`<span id="follower">answered by follower spw-b, leader spw-a</span>`,
		`<p class="error" id="eval-fresh">Not evaluated by this server yet (it follows: the leader reads the on-prem GPUs and the queue): the on-prem and queue figures are unknown.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("a follower's page lacks %s", want)
		}
	}
	// A leader whose renewals failed stops acting while the database
	// still holds its term: it said it was its own follower.
	m.SetLeader(&api.LeaderInfo{Holder: "spw-b", Epoch: 7, This: "spw-b"})
	_, body = newBrowser(e).get("/")
	if want := `<span id="follower">no leader acting now: spw-b, which answered, holds the lease but stopped acting as it could not renew it</span>`; !strings.Contains(body, want) {
		t.Errorf("the page of a server that stopped acting in its term lacks %s", want)
	}
}

// TestPageWarnsOfMixedConfigs: with the configs rolled out to one server
// only (the leader's with pool train, the follower's with train and
// train2), spillway status on the follower warned of mixed configs and
// its page did not: it said the leader read train2's GPUs and queue,
// though no server evaluates the pool. The page warns as the CLI does,
// and says so at the pool; a leader that recorded no pools (an older
// version) or has them all draws no warning.
func TestPageWarnsOfMixedConfigs(t *testing.T) {
	m := apitest.NewMemory("acme", func() time.Time { return apitest.FixtureTime })
	m.AddPool(api.PoolDetail{Name: "train"}, nil)
	m.AddPool(api.PoolDetail{Name: "train2"}, nil)
	e := newEnvWith(t, api.Options{Backend: m, AnonymousRead: true})
	m.SetLeader(&api.LeaderInfo{Holder: "spw-a", Epoch: 7, This: "spw-b", Pools: []string{"train"}})
	_, body := newBrowser(e).get("/")
	for _, want := range []string{
		`<p class="error" role="alert" id="mixed-configs">mixed configs: the leader, spw-a, runs a config without pool train2, which this server&#39;s has: no server evaluates it, launches for its floors or ends its instances until one whose config has it leads; roll the config out to every server.</p>`,
		`<p class="error" id="eval-train2">Not evaluated by this server yet (it follows, and the leader, spw-a, runs a config without pool train2: no server evaluates it): the on-prem and queue figures are unknown.</p>`,
		`<p class="error" id="eval-train">Not evaluated by this server yet (it follows: the leader reads the on-prem GPUs and the queue): the on-prem and queue figures are unknown.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page of a follower whose leader lacks train2 lacks %s", want)
		}
	}
	for _, pools := range [][]string{nil, {"train", "train2"}} {
		m.SetLeader(&api.LeaderInfo{Holder: "spw-a", Epoch: 7, This: "spw-b", Pools: pools})
		if _, body := newBrowser(e).get("/"); strings.Contains(body, `id="mixed-configs"`) || strings.Contains(body, "runs a config without") {
			t.Errorf("with the leader's pools %q the page warns of mixed configs", pools)
		}
	}
}

// TestPageOverviewFlagsPools: with 50 pools the on-call scrolled through
// 50 sections, each a screen or more, to find the one in trouble. A page
// of several pools opens with one row a pool, linking to its section,
// with its on-prem, queue, cloud and spend figures, and what needs
// attention: figures unknown or old, stale signals.
func TestPageOverviewFlagsPools(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	m.AddPool(api.PoolDetail{Name: "fresh", Spend: api.Spend{Accrued: 19920, Budget: 20000}}, nil)
	m.AddPool(api.PoolDetail{Name: "failing", Snapshot: api.Snapshot{Time: t0.Add(-10 * time.Second), Error: "boom"}}, nil)
	m.AddPool(api.PoolDetail{Name: "late", Snapshot: api.Snapshot{Time: t0.Add(-47 * time.Minute), Interval: api.Duration(30 * time.Second), OnPremTotal: 32, OnPremBusy: 30, Stale: []string{"queue: down"}}}, nil)
	m.AddPool(api.PoolDetail{Name: "current", Snapshot: api.Snapshot{Time: t0.Add(-20 * time.Second), OnPremTotal: 32, OnPremBusy: 12, PendingGPUs: 24}, Spend: api.Spend{Accrued: 12.5}}, nil)
	e := newEnvWith(t, api.Options{Backend: m, AnonymousRead: true})
	_, body := newBrowser(e).get("/")
	for _, want := range []string{
		`<tr class="attention"><td><a href="#pool-fresh">fresh</a></td><td>?</td><td>?</td><td>0</td><td>99.6%</td><td>not evaluated</td></tr>`,
		`<tr class="attention"><td><a href="#pool-failing">failing</a></td><td>?</td><td>?</td><td>0</td><td>$0.00</td><td>evaluation failed</td></tr>`,
		`<tr class="attention"><td><a href="#pool-late">late</a></td><td>30 / 32</td><td>0</td><td>0</td><td>$0.00</td><td>not evaluated for 47m, signals stale</td></tr>`,
		`<tr><td><a href="#pool-current">current</a></td><td>12 / 32</td><td>24</td><td>0</td><td>$12.50</td><td></td></tr>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
	if _, one := newBrowser(newEnv(t, true)).get("/"); !strings.Contains(one, `id="overview"`) {
		t.Error("the fixture's two pools have no overview")
	}
}

// TestPageLateAllowsForTheTickLength: a pool whose tick waited on a slow
// cloud (a 10-minute call_timeout: a tick may take 20 minutes) read "Not
// evaluated since …: the figures below are out of date" and was flagged
// in the overview after three intervals and a minute, as if the server
// were stuck. The figures are out of date once older than that and a
// tick's length; meanwhile the page says what the tick is waiting on
// when the server knows, and once late, how long a tick may wait.
func TestPageLateAllowsForTheTickLength(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	minute, tick := api.Duration(time.Minute), api.Duration(20*time.Minute)
	for _, p := range []struct {
		name string
		s    api.Snapshot
	}{
		{"waiting", api.Snapshot{Time: t0.Add(-9 * time.Minute), Interval: minute, TickLength: tick, Waiting: "aws-use1", WaitingSince: t0.Add(-8*time.Minute - 30*time.Second)}},
		{"slow", api.Snapshot{Time: t0.Add(-9 * time.Minute), Interval: minute, TickLength: tick}},
		{"stuck", api.Snapshot{Time: t0.Add(-24 * time.Minute), Interval: minute, TickLength: tick}},
		{"stuck-waiting", api.Snapshot{Time: t0.Add(-31 * time.Minute), Interval: minute, TickLength: tick, Waiting: "ali-hz", WaitingSince: t0.Add(-30 * time.Minute)}},
	} {
		m.AddPool(api.PoolDetail{Name: p.name, Snapshot: p.s}, nil)
	}
	e := newEnvWith(t, api.Options{Backend: m, AnonymousRead: true})
	_, body := newBrowser(e).get("/")
	for _, want := range []string{
		`<p class="hint" id="eval-waiting">Evaluated at 2026-11-29 08:51:00 UTC, 9m ago, every 1m: the next evaluation is waiting on a call to aws-use1 since 08:51:30 UTC, 8m30s ago (a tick may wait up to 20m on its cloud calls).</p>`,
		`<p class="hint" id="eval-slow">Evaluated at 2026-11-29 08:51:00 UTC, every 1m.</p>`,
		`<p class="error" id="eval-stuck">Not evaluated since 2026-11-29 08:36:00 UTC, 24m ago (it is evaluated every 1m, and a tick may wait up to 20m on its cloud calls): the figures below are out of date.</p>`,
		`<p class="error" id="eval-stuck-waiting">Not evaluated since 2026-11-29 08:29:00 UTC, 31m ago (it is evaluated every 1m, and a tick may wait up to 20m on its cloud calls): the figures below are out of date. Its tick is waiting on a call to ali-hz since 08:30:00 UTC, 30m ago.</p>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	ov := body[strings.Index(body, `id="overview"`):strings.Index(body, `</table>`)]
	for _, p := range []string{"waiting", "slow"} {
		if row := ov[strings.Index(ov, `href="#pool-`+p+`"`)-30:]; strings.HasPrefix(row[:strings.Index(row, "<td>")], `<tr class="attention">`) || strings.Contains(row[:strings.Index(row, "</tr>")], "not evaluated") {
			t.Errorf("the overview flags pool %s, whose tick may still be waiting on its calls: %s", p, row[:strings.Index(row, "</tr>")])
		}
	}
	for _, want := range []string{"not evaluated for 24m</td>", "not evaluated for 31m, waiting on a call to ali-hz</td>"} {
		if !strings.Contains(ov, want) {
			t.Errorf("the overview lacks %s", want)
		}
	}
	var st api.Status
	e.get("/v1/status", &st)
	if p := st.Pools[0]; p.TickLength != tick || p.Waiting != "aws-use1" || !p.WaitingSince.Equal(t0.Add(-8*time.Minute-30*time.Second)) {
		t.Errorf("/v1/status's pool waiting: tick_length %s, waiting %q since %s; want 20m, aws-use1 since 08:51:30", p.TickLength, p.Waiting, p.WaitingSince)
	}
}

// TestDrainingInstancesAreShown: an instance whose drain hook runs, or
// that drains while its jobs end, is named in its pool's section and in
// GET /v1/pools/{pool}, with since when and the hook's state: during a
// long drain hook (a tick waits up to a minute on it, and it may run on
// past) the instance read running, and a draining one only "draining",
// so an on-call engineer saw nothing waiting on the hook nor for how long.
func TestDrainingInstancesAreShown(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme-research", func() time.Time { return t0 })
	in := func(id, state, hook string, since, hookSince time.Time) api.Instance {
		return api.Instance{ID: id, Pool: "training", Provider: "aws-use1", Offering: "aws-p5-spot", InstanceType: "p5.48xlarge", GPUs: 8, BusyGPUs: 2,
			State: state, LaunchedAt: t0.Add(-time.Hour), DrainingSince: since, DrainHook: hook, DrainHookSince: hookSince}
	}
	m.AddPool(api.PoolDetail{Name: "training", Snapshot: api.Snapshot{Time: t0}, Instances: []api.Instance{
		in("i-0busy", "running", "", time.Time{}, time.Time{}),
		in("i-0done", "draining", api.DrainHookDone, t0.Add(-10*time.Minute), t0.Add(-10*time.Minute)),
		in("i-0hook", "draining", api.DrainHookRunning, t0.Add(-150*time.Second), t0.Add(-150*time.Second)),
		in("i-0none", "draining", "", t0.Add(-20*time.Minute), time.Time{}),
	}}, nil)
	e := newEnvWith(t, api.Options{Backend: m, AnonymousRead: true})

	code, body := e.do(http.MethodGet, "/v1/pools/training", e.tok[tokens.Viewer], "")
	for _, want := range []string{
		`"id": "i-0hook",`, `"state": "draining",`, `"draining_since": "2026-11-29T08:57:30Z",`, `"drain_hook": "running",`, `"drain_hook_since": "2026-11-29T08:57:30Z"`,
		`"drain_hook": "done",`,
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET /v1/pools/training: %d, lacks %s:\n%.3000s", code, want, body)
		}
	}
	if strings.Contains(body[:strings.Index(body, `"i-0done"`)], `"drain_hook"`) {
		t.Errorf("the running instance i-0busy carries a drain hook:\n%.2000s", body)
	}

	_, page := newBrowser(e).get("/")
	i := strings.Index(page, `<ul class="draining">`)
	if i < 0 {
		t.Fatalf("the page has no list of draining instances:\n%s", page)
	}
	list := page[i : i+strings.Index(page[i:], "</ul>")]
	for _, want := range []string{
		`<li id="draining-i-0hook">i-0hook (aws-p5-spot, 2/8 GPUs busy): the drain hook has been running for 2m30s, since 2026-11-29 08:57:30 UTC; the instance is recorded as draining once it returns</li>`,
		`<li id="draining-i-0none">i-0none (aws-p5-spot, 2/8 GPUs busy): draining for 20m0s, since 2026-11-29 08:40:00 UTC</li>`,
		`<li id="draining-i-0done">i-0done (aws-p5-spot, 2/8 GPUs busy): draining for 10m0s, since 2026-11-29 08:50:00 UTC; its drain hook ran</li>`,
	} {
		if !strings.Contains(list, want) {
			t.Errorf("the draining list lacks %s:\n%s", want, list)
		}
	}
	if strings.Contains(list, "i-0busy") {
		t.Errorf("the draining list names the running instance i-0busy:\n%s", list)
	}
	if h, n, d := strings.Index(list, "i-0hook"), strings.Index(list, "i-0none"), strings.Index(list, "i-0done"); h > n || n > d {
		t.Errorf("the draining list is not hook running first, then longest draining first:\n%s", list)
	}
	if !strings.Contains(page, `<td>draining (drain hook running)</td>`) {
		t.Errorf("the instances table does not say i-0hook's drain hook is running")
	}
}

// TestPageCountsOne: a pool with one job of one GPU queued, one cloud
// instance of one GPU, one unhealthy on-prem GPU and manual bursts of at
// most one GPU read "1 jobs, 1 GPUs", "1 instances, 1 GPUs", "1 of them
// unhealthy: they take no job", "1 on-prem GPUs unhealthy" and "At most
// 1 GPUs"; and an operator's burst of one GPU was audited "1 GPUs".
func TestPageCountsOne(t *testing.T) {
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	m.AddPool(api.PoolDetail{Name: "one",
		Snapshot:  api.Snapshot{Time: t0.Add(-10 * time.Second), Interval: api.Duration(30 * time.Second), OnPremTotal: 8, OnPremBusy: 8, OnPremUnhealthy: 1, PendingJobs: 1, PendingGPUs: 1},
		Manual:    api.ManualLimits{MaxGPUs: 1, MaxTTL: api.Duration(4 * time.Hour)},
		Instances: []api.Instance{{ID: "i-1", Pool: "one", Provider: "aws", Offering: "aws-g5", GPUs: 1, State: "running", LaunchedAt: t0.Add(-time.Hour)}},
	}, nil)
	m.AddPool(api.PoolDetail{Name: "other", Snapshot: api.Snapshot{Time: t0.Add(-10 * time.Second), Interval: api.Duration(30 * time.Second), OnPremTotal: 8}}, nil)
	e := newEnvWith(t, api.Options{Backend: m})
	b := newBrowser(e)
	csrf := b.login(tokens.Operator)
	_, body := b.get("/")
	for _, want := range []string{
		`<p class="big">1 job, 1 GPU</p>`,
		`<p class="big" id="cloud-one">1 instance, 1 GPU</p>`,
		`1 of them is unhealthy: it takes no job until its node is rebooted (its agent's /healthz says why)</p>`,
		`<td>1 on-prem GPU unhealthy</td>`,
		`At most 1 GPU for at most 4h (`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	b.post("/bursts", url.Values{"csrf": {csrf}, "pool": {"one"}, "gpus": {"1"}, "for": {"1h"}, "reason": {"INC-1"}, "key": {"k-one"}})
	if rows := m.AuditRows(); len(rows) == 0 || !strings.Contains(rows[len(rows)-1].Outcome, ": 1 GPU in pool one until ") {
		t.Errorf("audit rows %+v, want the burst created \"1 GPU in pool one\"", rows)
	}
}
