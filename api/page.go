package api

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/api/tokens"
)

//go:embed web
var webFS embed.FS

var pageTmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"whenS":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"money":   func(v float64) string { return fmt.Sprintf("$%.2f", v) },
	"states":  func() []string { return instanceStates },
	"pct":     budgetPercent,
	"age":     func(now, t time.Time) string { return max(now.Sub(t), 0).Round(time.Second).String() },
	"counted": counted,
}).ParseFS(webFS, "web/*.html"))

// counted is n with its noun, one or many: "1 GPU", "8 GPUs", "0 jobs".
func counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// budgetPercent is spend a of budget b as a percentage, rounded down to a
// tenth: rounded to the nearest, 99.6% read "100%" while launches still
// went through. It says 100% only once the budget is spent.
func budgetPercent(a, b float64) string {
	if b <= 0 {
		return "no budget"
	}
	// The tiny slack keeps 99.6 (995.9999… per mille in floats) 99.6.
	return fmt.Sprintf("%.1f%%", math.Floor(1000*a/b+1e-9)/10)
}

const sessionCookie = "spillway_session"

// Bounds of the page.
const (
	pageDecisions = 10
	pageInstances = 50
	pageTimeline  = 6 * time.Hour
)

// viewer is who is looking at the page.
type viewer struct {
	tokens.Principal
	sessionID string
	csrf      string
}

func (v *viewer) CanOperate() bool { return v.Role.Allows(tokens.Operator) }

// pageViewer returns the page's caller from the session cookie, or the
// anonymous reader, or nil when the caller must log in. An error means the
// tokens file is unusable.
func (s *Server) pageViewer(r *http.Request) (*viewer, error) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if sess, ok := s.sessions.get(c.Value, s.clock.Now()); ok {
			p, err := s.tokens.LookupHash(sess.hash)
			if err == nil {
				return &viewer{Principal: p, sessionID: c.Value, csrf: sess.csrf}, nil
			}
			if !errors.Is(err, tokens.ErrUnknown) {
				return nil, err
			}
			s.sessions.delete(c.Value) // the token was revoked
		}
	}
	if s.anon && anonymousHostOK(r) {
		return &viewer{Principal: anonymous}, nil
	}
	return nil, nil
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	// Not the API's no-referrer: under it a browser posts the page's own
	// forms with "Origin: null", which sameOrigin must refuse, as a
	// sandboxed frame on any site sends it too. same-origin sends the
	// page's address to this server alone.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// pageData is what the page template renders.
type pageData struct {
	Viewer  *viewer
	Cluster string
	Now     time.Time
	DryRun  bool
	Notice  string
	Error   string
	Pools   []poolPage
	// Leader is who leads when several servers share a state (nil with
	// one): a follower's page says so, as its pools are not evaluated
	// here.
	Leader *LeaderInfo
	// MixedConfigs warns of this server's pools the leader's config
	// lacks (LeaderInfo.MixedConfigs), as spillway status does.
	MixedConfigs string
	// RefreshMS is how often refresh.js reloads the page, in milliseconds.
	RefreshMS int64
	// Unconfigured, UnconfiguredOmitted and UnconfiguredUnknown are the
	// Status's: instances billing with no pool to drain or end them.
	Unconfigured        []UnconfiguredInstance
	UnconfiguredOmitted int
	UnconfiguredUnknown string
}

type poolPage struct {
	PoolDetail
	// Summary is the pool's line of the status: its counts of instances
	// and GPUs, those terminating apart, as /v1/status and spillway
	// status give them.
	Summary PoolSummary
	Groups  []instanceGroup
	Shown   []Instance
	Hidden  int
	// Draining is the instances draining, those whose drain hook runs
	// first, then the longest draining first (at most pageInstances):
	// listed above the instances, so that a long drain is seen waiting.
	Draining  []Instance
	Decisions []Decision
	Chart     chart
	Form      CreateBurstRequest
	// FormKey is the burst form's idempotency key, new at each render: a
	// form posted twice (a double click) opens one burst.
	FormKey string
	// Late says the figures are older than three evaluation intervals
	// and a tick's length (Snapshot.LateAfter); Age is how old they are.
	// Overdue says an evaluation was due and has not come; WaitingOn what
	// the tick waits on, when known; TickWait how long it may.
	Late, Overdue       bool
	Age                 Duration
	WaitingOn, TickWait string
	// Attention says, for the overview, what about the pool is wrong:
	// figures unknown or old, signals stale.
	Attention []string
	// LeaderLacks says the leader's config lacks the pool: no server
	// evaluates it.
	LeaderLacks bool
}

type instanceGroup struct {
	Offering string
	Spot     bool
	Counts   map[string]int
	GPUs     int
}

// instanceStates are the columns of the page's instance table.
var instanceStates = []string{"booting", "running", "draining", "terminating"}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	v, err := s.pageViewer(r)
	if err != nil {
		s.pageFail(w, r, nil, http.StatusServiceUnavailable, "The server cannot read its tokens file; its log names the problem.")
		return
	}
	if v == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	notice := ""
	q := r.URL.Query()
	if id := q.Get("created"); idRE.MatchString(id) {
		notice = "Burst " + id + " created."
	} else if id := q.Get("cancelled"); idRE.MatchString(id) {
		notice = cancelledNotice(r.Context(), s.be, id)
	} else if id := q.Get("ended"); idRE.MatchString(id) {
		notice = endedNotice(r.Context(), s.be, id)
	}
	s.renderPage(w, r, v, http.StatusOK, notice, "", nil)
}

// CancelledDrains says what a cancel of a burst that holds n instances
// launched for it (Burst.Instances, once cancelled) drains: those, and
// not the ones it only kept from scale-in, which it listed as held too.
func CancelledDrains(n int) string {
	const kept = " (those it only kept from scale-in, launched for the queue or a schedule, scale in as usual)"
	switch n {
	case 0:
		return "no instance was launched for it, so none drains" + kept
	case 1:
		return "the instance launched for it drains, then terminates" + kept
	}
	return fmt.Sprintf("the %d instances launched for it drain, then terminate", n) + kept
}

// cancelledNotice says that burst id was cancelled, and what drains.
func cancelledNotice(ctx context.Context, be Backend, id string) string {
	b, err := be.Burst(ctx, id)
	if err != nil {
		return "Burst " + id + " cancelled."
	}
	return "Burst " + id + " cancelled: " + CancelledDrains(b.Instances) + "."
}

// endedScalesIn says what becomes of the n instances launched for a burst
// whose time ran out (Burst.Instances, once ended): no longer held, they
// scale in as usual, none drained for the burst's end.
func endedScalesIn(n int) string {
	const how = " as usual (drained once idle past scale_in.idle and the break-even)"
	switch n {
	case 0:
		return "no instance launched for it is left"
	case 1:
		return "the instance launched for it is held no longer and scales in" + how
	}
	return fmt.Sprintf("the %d instances launched for it are held no longer and scale in", n) + how
}

// endedNotice says that burst id, which a cancel found ended, had ended,
// how and when, and what becomes of the instances launched for it.
func endedNotice(ctx context.Context, be Backend, id string) string {
	b, err := be.Burst(ctx, id)
	if err != nil || b.State == "active" {
		return "Burst " + id + " had already ended: nothing was cancelled."
	}
	how, what := "had already ended ("+b.State+")", endedScalesIn(b.Instances)
	switch {
	case b.State == "cancelled":
		how, what = "was already cancelled", CancelledDrains(b.Instances)
		if b.CancelledBy != "" {
			how += ", by " + b.CancelledBy
		}
	case b.State == "ended":
		how = "had already ended when its time ran out"
	}
	if !b.EndedAt.IsZero() {
		how += " at " + b.EndedAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	return "Burst " + id + " " + how + ": " + what + "."
}

// renderPage renders the status page; form, when set, refills the burst
// form of its pool after a refusal.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, notice, problem string, form *CreateBurstRequest) {
	d, err := s.buildPage(r, v)
	if err != nil {
		s.log.Error("status page failed", "err", err)
		s.pageFail(w, r, v, http.StatusInternalServerError, "The server failed to gather the status; its log says why.")
		return
	}
	d.Notice, d.Error, d.RefreshMS = notice, problem, s.refresh.Milliseconds()
	if form != nil {
		for i := range d.Pools {
			if d.Pools[i].Name == form.Pool {
				d.Pools[i].Form = *form
			}
		}
	}
	setPageHeaders(w)
	w.WriteHeader(status)
	if err := pageTmpl.ExecuteTemplate(w, "page.html", d); err != nil {
		s.log.Error("status page template", "err", err)
	}
}

func (s *Server) buildPage(r *http.Request, v *viewer) (*pageData, error) {
	ctx := r.Context()
	st, err := s.be.Status(ctx)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	d := &pageData{Viewer: v, Cluster: st.Cluster, Now: now, DryRun: st.DryRun, Leader: st.Leader,
		Unconfigured: st.Unconfigured, UnconfiguredOmitted: st.UnconfiguredOmitted, UnconfiguredUnknown: st.UnconfiguredUnknown,
		MixedConfigs: st.Leader.MixedConfigs(st.Pools)}
	for _, ps := range st.Pools {
		det, err := s.be.Pool(ctx, ps.Name)
		if err != nil {
			return nil, fmt.Errorf("pool %s: %w", ps.Name, err)
		}
		decs, err := s.be.Decisions(ctx, DecisionQuery{Pool: ps.Name, Limit: pageDecisions})
		if err != nil {
			return nil, fmt.Errorf("pool %s decisions: %w", ps.Name, err)
		}
		tl, err := s.be.Timeline(ctx, ps.Name, now.Add(-pageTimeline))
		if err != nil {
			return nil, fmt.Errorf("pool %s timeline: %w", ps.Name, err)
		}
		pp := poolPage{PoolDetail: det, Decisions: decs, Chart: newChart(tl, now.Add(-pageTimeline), now),
			Form: CreateBurstRequest{Pool: ps.Name, GPUs: min(max(det.Manual.MaxGPUs, 1), 8), For: Duration(2 * time.Hour)}, FormKey: randomID()}
		pp.Late, pp.Overdue, pp.Age = det.Snapshot.Late(now), det.Snapshot.Overdue(now), Duration(now.Sub(det.Snapshot.Time).Round(time.Second))
		pp.WaitingOn, pp.TickWait = det.Snapshot.WaitingOn(now), det.Snapshot.TickWait()
		pp.Attention = attention(det.Snapshot, pp.Late, pp.Age)
		pp.LeaderLacks = st.Leader.Lacks(ps.Name)
		pp.Groups = groupInstances(det.Instances)
		pp.Summary = ps
		pp.Draining, _ = draining(det.Instances, pageInstances)
		pp.Floors, pp.FloorsOmitted = newestFloors(det.Floors, pageFloors)
		pp.Shown = det.Instances
		if len(pp.Shown) > pageInstances {
			pp.Shown, pp.Hidden = pp.Shown[:pageInstances], len(pp.Shown)-pageInstances
		}
		d.Pools = append(d.Pools, pp)
	}
	return d, nil
}

// draining is the instances of ins draining: those whose drain hook runs
// first, then the longest draining first, at most n, with how many more
// there are.
func draining(ins []Instance, n int) ([]Instance, int) {
	var out []Instance
	for _, i := range ins {
		if i.State == "draining" {
			out = append(out, i)
		}
	}
	slices.SortStableFunc(out, func(a, b Instance) int {
		if ar, br := a.DrainHook == DrainHookRunning, b.DrainHook == DrainHookRunning; ar != br {
			if ar {
				return -1
			}
			return 1
		}
		return a.DrainingSince.Compare(b.DrainingSince)
	})
	return out[:min(len(out), n)], max(len(out)-n, 0)
}

// attention lists what the overview flags about a pool.
func attention(s Snapshot, late bool, age Duration) []string {
	var out []string
	switch {
	case s.Time.IsZero():
		out = append(out, "not evaluated")
	case s.Error != "":
		out = append(out, "evaluation failed")
	case late && s.Waiting != "":
		out = append(out, "not evaluated for "+age.String()+", waiting on a call to "+s.Waiting)
	case late:
		out = append(out, "not evaluated for "+age.String())
	}
	if len(s.Stale) > 0 {
		out = append(out, "signals stale")
	}
	if s.OnPremUnhealthy > 0 && s.Known() {
		out = append(out, counted(s.OnPremUnhealthy, "on-prem GPU", "on-prem GPUs")+" unhealthy")
	}
	return out
}

func groupInstances(in []Instance) []instanceGroup {
	idx := map[string]int{}
	var gs []instanceGroup
	for _, i := range in {
		k := i.Offering
		n, ok := idx[k]
		if !ok {
			n = len(gs)
			idx[k] = n
			gs = append(gs, instanceGroup{Offering: i.Offering, Spot: i.Spot, Counts: map[string]int{}})
		}
		gs[n].Counts[i.State]++
		gs[n].GPUs += i.GPUs
	}
	sort.Slice(gs, func(a, b int) bool { return gs[a].Offering < gs[b].Offering })
	return gs
}

func (s *Server) pageFail(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	setPageHeaders(w)
	w.WriteHeader(status)
	_ = pageTmpl.ExecuteTemplate(w, "error.html", struct {
		Viewer  *viewer
		Message string
	}{v, msg})
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, status int, problem string) {
	setPageHeaders(w)
	w.WriteHeader(status)
	_ = pageTmpl.ExecuteTemplate(w, "login.html", struct{ Error string }{problem})
}

// sameOrigin refuses page POSTs that a browser marks as coming from another
// site (defence in depth beside the SameSite cookie and the CSRF token, and
// the only defence of the login form, which has neither): net/http's
// cross-origin protection, which goes by Sec-Fetch-Site and, from a browser
// without it, by Origin, refusing "Origin: null" (a sandboxed frame's, on
// any site).
func sameOrigin(r *http.Request) bool {
	return crossOrigin.Check(r) == nil
}

var crossOrigin = http.NewCrossOriginProtection()

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	rec := &auditRecorder{ResponseWriter: w}
	var p tokens.Principal
	defer func() { s.writeAudit(r.Context(), r, p, nil, rec) }()
	if !sameOrigin(r) {
		rec.outcome = "login refused: cross-site request"
		s.renderLogin(rec, http.StatusForbidden, "This login came from another site and was refused.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	tok := strings.TrimSpace(r.PostFormValue("token"))
	if tok == "" {
		rec.outcome = "login refused: no token"
		s.renderLogin(rec, http.StatusUnauthorized, "Paste a token made with `spillway token create`.")
		return
	}
	found, err := s.tokens.Lookup(tok)
	if err != nil {
		e := s.lookupError(err)
		rec.outcome = "login refused: " + e.Message
		msg := "Unknown token: it is not in this server's tokens file (revoked, mistyped, or made for another server)."
		if e.Status != http.StatusUnauthorized {
			msg = "The server cannot read its tokens file; its log names the problem."
		}
		s.renderLogin(rec, e.Status, msg)
		return
	}
	p = found
	id, _ := s.sessions.create(tokens.Hash(tok), s.clock.Now())
	http.SetCookie(rec, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/",
		MaxAge: int(s.sessions.ttl / time.Second), HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	rec.outcome = "logged in to the status page"
	http.Redirect(rec, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	rec := &auditRecorder{ResponseWriter: w}
	var p tokens.Principal
	defer func() { s.writeAudit(r.Context(), r, p, nil, rec) }()
	v, _ := s.pageViewer(r)
	if v == nil || v.sessionID == "" || !sameOrigin(r) || !s.csrfOK(r, v) {
		// A forged logout changes nothing.
		rec.outcome = "logout ignored: no session, or a missing CSRF token"
		http.Redirect(rec, r, "/", http.StatusSeeOther)
		return
	}
	s.sessions.delete(v.sessionID)
	p, rec.outcome = v.Principal, "logged out of the status page"
	http.SetCookie(rec, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(rec, r, "/login", http.StatusSeeOther)
}

func (s *Server) csrfOK(r *http.Request, v *viewer) bool {
	got := r.PostFormValue("csrf")
	return v.csrf != "" && subtle.ConstantTimeCompare([]byte(got), []byte(v.csrf)) == 1
}

// pageMutation authenticates a form POST from the page by its session, its
// CSRF token and its role, and audits it like an API call.
func (s *Server) pageMutation(w http.ResponseWriter, r *http.Request, act func(rec *auditRecorder, v *viewer) error) {
	rec := &auditRecorder{ResponseWriter: w}
	var p tokens.Principal
	defer func() { s.writeAudit(r.Context(), r, p, []byte(auditForm(r.PostForm)), rec) }()
	// The session is checked before the form is read, as the API checks
	// the token before the body (mutating).
	v, err := s.pageViewer(r)
	switch {
	case err != nil:
		leaveBody(w, r)
		rec.outcome = "refused: tokens file unusable"
		s.pageFail(rec, r, nil, http.StatusServiceUnavailable, "The server cannot read its tokens file; its log names the problem.")
		return
	case v == nil || v.sessionID == "":
		leaveBody(w, r)
		rec.outcome = "refused: not logged in"
		s.pageFail(rec, r, v, http.StatusUnauthorized, "Log in with an operator token to change anything.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	formErr := r.ParseForm()
	p = v.Principal
	// The form may take up to the server's read timeout to come: the
	// session's token, revoked or lowered meanwhile, must not act.
	switch now, err := s.pageViewer(r); {
	case err != nil:
		rec.outcome = "refused: tokens file unusable"
		s.pageFail(rec, r, nil, http.StatusServiceUnavailable, "The server cannot read its tokens file; its log names the problem.")
		return
	case now == nil || now.sessionID != v.sessionID:
		rec.outcome = "refused: the session's token was revoked while the form was sent"
		s.pageFail(rec, r, nil, http.StatusUnauthorized, "Your token was revoked while the form was sent, so nothing was done. Log in with an operator token to change anything.")
		return
	default:
		v = now
	}
	if formErr != nil || !sameOrigin(r) || !s.csrfOK(r, v) {
		rec.outcome = "refused: missing or wrong CSRF token, or a cross-site request"
		s.pageFail(rec, r, v, http.StatusForbidden, "This form was stale or came from another site, so it was refused. Reload the page and try again.")
		return
	}
	if err := act(rec, v); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			if e = backendError(err); e == nil {
				s.log.Error("page action failed", "path", r.URL.Path, "err", err)
				e = errf(http.StatusInternalServerError, CodeInternal, "the server failed; its log says why")
			}
		}
		rec.outcome = e.Message
		var form *CreateBurstRequest
		if strings.HasSuffix(r.URL.Path, "/bursts") {
			form = formBurst(r.PostForm)
		}
		s.renderPage(rec, r, v, e.Status, "", "Refused: "+e.Message, form)
	}
}

// auditForm is a form as an audit row records it, without the CSRF token.
func auditForm(f url.Values) string {
	c := url.Values{}
	for k, vs := range f {
		if k != "csrf" && k != "token" {
			c[k] = vs
		}
	}
	return c.Encode()
}

// formFields refuses a query string, a form field other than those named
// (the first is the CSRF token), or one
// given twice, as the JSON API refuses unknown fields: the page's own forms
// send each once, so anything else is a request built by hand.
func formFields(r *http.Request, fields ...string) error {
	if err := checkQuery(r, nil); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(r.PostForm)) {
		switch {
		case !slices.Contains(fields, k):
			want := "it takes none but the CSRF token"
			if len(fields) > 1 {
				want = "it takes " + strings.Join(fields[1:], ", ")
			}
			return errf(http.StatusBadRequest, CodeInvalid, "unknown form field %q for %s %s: %s", clip(k), r.Method, r.URL.Path, want)
		case len(r.PostForm[k]) > 1:
			return errf(http.StatusBadRequest, CodeInvalid, "form field %q is given %d times: give it once", clip(k), len(r.PostForm[k]))
		}
	}
	return nil
}

func formBurst(f url.Values) *CreateBurstRequest {
	req := &CreateBurstRequest{Pool: f.Get("pool"), Reason: f.Get("reason"), Offering: f.Get("offering")}
	req.GPUs, _ = strconv.Atoi(f.Get("gpus"))
	if d, err := time.ParseDuration(f.Get("for")); err == nil {
		req.For = Duration(d)
	}
	return req
}

func (s *Server) pageCreateBurst(w http.ResponseWriter, r *http.Request) {
	s.pageMutation(w, r, func(rec *auditRecorder, v *viewer) error {
		if err := authorize(v.Principal, tokens.Operator, "creating a burst"); err != nil {
			return err
		}
		f := r.PostForm
		if err := formFields(r, "csrf", "pool", "gpus", "for", "reason", "offering", "key"); err != nil {
			return err
		}
		// strconv.Atoi reads +16 and 016 as 16: only decimal digits, as
		// the form's number field sends them, are a count of GPUs.
		gv := strings.TrimSpace(f.Get("gpus"))
		if !plainDecimal(gv) {
			return errf(http.StatusBadRequest, CodeInvalid, "gpus %q is not a whole number: use 1 to %d, in decimal digits alone (no sign, leading zero or 0x)", clip(f.Get("gpus")), maxBurstGPUs)
		}
		gpus, err := strconv.Atoi(gv)
		if err != nil {
			return errf(http.StatusBadRequest, CodeInvalid, "gpus %q is out of range: ask for 1 to %d GPUs (the pool's manual.max_gpus may allow fewer)", clip(f.Get("gpus")), maxBurstGPUs)
		}
		fv := strings.TrimSpace(f.Get("for"))
		d, err := time.ParseDuration(fv)
		if err != nil {
			return errf(http.StatusBadRequest, CodeInvalid, "for %q is not a duration: use e.g. 2h or 90m", clip(f.Get("for")))
		}
		if strings.HasPrefix(fv, "+") { // time.ParseDuration reads +2h as 2h
			return errf(http.StatusBadRequest, CodeInvalid, "for %q is a duration with a sign: write it without one, e.g. 2h or 90m", clip(f.Get("for")))
		}
		req := CreateBurstRequest{Pool: f.Get("pool"), GPUs: gpus, For: Duration(d), Reason: strings.TrimSpace(f.Get("reason")), Offering: strings.TrimSpace(f.Get("offering"))}
		if err := validateBurst(req); err != nil {
			return err
		}
		// A page loaded before the form had a key posts none.
		if k := f.Get("key"); k != "" {
			if !isIdempotencyKey(k) {
				return errf(http.StatusBadRequest, CodeInvalid, "the form's key %q is not one the page makes: reload the page and try again", clip(k))
			}
			req.IdempotencyKey = k
		}
		b, err := s.createBurst(r.Context(), v.Principal, req)
		var e *Error
		if errors.As(err, &e) && e.Code == CodeKeyReused {
			// The form was posted again with other values (after the
			// browser's Back): its key belongs to the burst it made.
			return errf(e.Status, e.Code, "this form already created a burst, with other values: reload the page for a new form to create another")
		}
		if err != nil {
			return err
		}
		if b.Replayed {
			rec.outcome = fmt.Sprintf("replayed burst %s: the form was posted again; nothing new opened", b.ID)
			http.Redirect(rec, r, "/?created="+url.QueryEscape(b.ID)+"#pool-"+b.Pool, http.StatusSeeOther)
			return nil
		}
		rec.outcome = createdOutcome(b)
		http.Redirect(rec, r, "/?created="+url.QueryEscape(b.ID)+"#pool-"+b.Pool, http.StatusSeeOther)
		return nil
	})
}

func (s *Server) pageCancelBurst(w http.ResponseWriter, r *http.Request) {
	s.pageMutation(w, r, func(rec *auditRecorder, v *viewer) error {
		if err := authorize(v.Principal, tokens.Operator, "cancelling a burst"); err != nil {
			return err
		}
		if err := formFields(r, "csrf"); err != nil {
			return err
		}
		b, err := s.cancelBurst(r.Context(), v.Principal, r.PathValue("id"))
		if errors.Is(err, ErrConflict) {
			// Cancelled from another tab or by someone else, or its time
			// ran out: what the cancel asked for holds. It read "Refused:",
			// as if the burst still ran.
			if ended, gerr := s.be.Burst(r.Context(), r.PathValue("id")); gerr == nil && ended.State != "active" {
				rec.outcome = fmt.Sprintf("burst %s in pool %s had already ended (%s): nothing cancelled", ended.ID, ended.Pool, ended.State)
				http.Redirect(rec, r, "/?ended="+url.QueryEscape(ended.ID)+"#pool-"+ended.Pool, http.StatusSeeOther)
				return nil
			}
		}
		if err != nil {
			return err
		}
		rec.outcome = fmt.Sprintf("cancelled burst %s in pool %s: %s", b.ID, b.Pool, CancelledDrains(b.Instances))
		http.Redirect(rec, r, "/?cancelled="+url.QueryEscape(b.ID)+"#pool-"+b.Pool, http.StatusSeeOther)
		return nil
	})
}

func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	var ctype string
	switch name {
	case "style.css":
		ctype = "text/css; charset=utf-8"
	case "refresh.js":
		ctype = "text/javascript; charset=utf-8"
	default:
		s.pageNotFound(w, r)
		return
	}
	f, err := webFS.Open("web/" + name)
	if err != nil {
		s.pageNotFound(w, r)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = io.Copy(w, f)
}

// CSRF is the session's CSRF token, for the page's forms ("" when anonymous).
func (v *viewer) CSRF() string { return v.csrf }
