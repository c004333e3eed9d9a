package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spillway-io/spillway/api/tokens"
)

// maxToken bounds a bearer token (those made by `spillway token create`
// are far shorter).
const maxToken = 512

// anonymous is the principal of a tokenless read when AnonymousRead is on.
var anonymous = tokens.Principal{Name: "anonymous", Role: tokens.Viewer}

// authenticate returns the caller of an API request from its bearer token,
// and checks that its role allows need.
func (s *Server) authenticate(r *http.Request, need tokens.Role, what string) (tokens.Principal, *Error) {
	if n := len(r.Header.Values("Authorization")); n > 1 {
		// Which one counts would depend on who reads the request (this
		// server reads the first, a proxy in front may check the last).
		return tokens.Principal{}, errf(http.StatusUnauthorized, CodeUnauthenticated,
			"the Authorization header is given %d times: send one, \"Authorization: Bearer TOKEN\"", n)
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		if s.anon && need == tokens.Viewer {
			if anonymousHostOK(r) {
				return anonymous, nil
			}
			return tokens.Principal{}, errf(http.StatusUnauthorized, CodeUnauthenticated,
				"no token, and anonymous reads on a loopback address are answered only to a Host naming this machine (localhost or a loopback address), not %q: a page on another site may have made its name point here; open the server as http://localhost:PORT or send a token", clip(r.Host))
		}
		return tokens.Principal{}, errf(http.StatusUnauthorized, CodeUnauthenticated,
			"no token: %s needs a token with role %s or above, sent as \"Authorization: Bearer TOKEN\" (an admin creates one with `spillway token create`)", what, need)
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if ok && strings.EqualFold(scheme, "Bearer") && len(tok) > maxToken {
		return tokens.Principal{}, errf(http.StatusUnauthorized, CodeUnauthenticated,
			"the bearer token is %d bytes, over the limit of %d: send the token from `spillway token create` as it was printed", len(tok), maxToken)
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || !utf8.ValidString(tok) {
		return tokens.Principal{}, errf(http.StatusUnauthorized, CodeUnauthenticated,
			"the Authorization header is not \"Bearer TOKEN\": send the token from `spillway token create` as a bearer token")
	}
	p, err := s.tokens.Lookup(strings.TrimSpace(tok))
	if err != nil {
		return tokens.Principal{}, s.lookupError(err)
	}
	return p, authorize(p, need, what)
}

func (s *Server) lookupError(err error) *Error {
	if errors.Is(err, tokens.ErrUnknown) {
		return errf(http.StatusUnauthorized, CodeUnauthenticated,
			"unknown token: it is not in this server's tokens file (revoked, mistyped, or made for another server); ask an admin for a token made with `spillway token create`")
	}
	s.log.Error("tokens file unusable", "err", err)
	return errf(http.StatusServiceUnavailable, CodeUnavailable,
		"the server cannot read its tokens file, so it accepts no token until an admin fixes it; the server's log names the problem")
}

func authorize(p tokens.Principal, need tokens.Role, what string) *Error {
	if p.Role.Allows(need) {
		return nil
	}
	alt := ""
	if need == tokens.Operator {
		alt = " or admin"
	}
	return errf(http.StatusForbidden, CodeForbidden,
		"%s %q has role %s, and %s needs role %s%s: ask an admin for such a token", whoKind(p), p.Name, p.Role, what, need, alt)
}

func whoKind(p tokens.Principal) string {
	if p == anonymous {
		return "the anonymous reader"
	}
	return "token"
}

// read wraps a read-only endpoint: viewer or above (or anonymous when
// AnonymousRead is on).
func (s *Server) read(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return s.readAs(tokens.Viewer, h)
}

func (s *Server) readAs(need tokens.Role, h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		what := r.Method + " " + r.URL.Path
		if _, e := s.authenticate(r, need, what); e != nil {
			s.fail(w, r, e)
			return
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// maxAuditRequest bounds the request text kept in an audit row.
const maxAuditRequest = 4 << 10

// auditRecorder records the status and outcome of a mutating call.
type auditRecorder struct {
	http.ResponseWriter
	status  int
	outcome string
}

func (a *auditRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

type mutationFunc func(w *auditRecorder, r *http.Request, p tokens.Principal, body []byte) error

// mutating wraps an endpoint that changes something: it authenticates and
// authorises the caller, refuses a body that is not declared JSON (see
// jsonBody) and query parameters other than params (as takes does for
// reads: ?dryrun=true must not create a real burst), and writes an audit
// row for the call whatever its outcome, refusals included. An
// unauthenticated call is answered before its body is read: an audit row
// of a 401 keeps no body, and a client without a token cannot hold a
// handler for the server's read timeout by sending its body slowly.
func (s *Server) mutating(need tokens.Role, h mutationFunc, params ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &auditRecorder{ResponseWriter: w}
		var p tokens.Principal
		var body []byte
		defer func() { s.writeAudit(r.Context(), r, p, body, rec) }()
		what := describe(r)
		p, e := s.authenticate(r, need, what)
		if e != nil && e.Status == http.StatusUnauthorized {
			leaveBody(w, r)
			s.fail(rec, r, e)
			return
		}
		body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if e != nil { // p is set: the token was known but its role too low
			s.fail(rec, r, e)
			return
		}
		if readErr != nil {
			s.fail(rec, r, bodyError(readErr))
			return
		}
		// The body may take up to the server's read timeout to come: a
		// token revoked or lowered meanwhile must not act (the audit row
		// names whom it was).
		if _, e := s.authenticate(r, need, what); e != nil {
			s.fail(rec, r, e)
			return
		}
		if err := jsonBody(r, body); err != nil {
			s.fail(rec, r, err)
			return
		}
		if err := checkQuery(r, params); err != nil {
			s.fail(rec, r, err)
			return
		}
		if err := h(rec, r, p, body); err != nil {
			s.fail(rec, r, err)
		}
	}
}

// leftBodyWait is how long the rest of a body left unread is read (and
// dropped) once its request is answered, before its connection is closed.
const leftBodyWait = 100 * time.Millisecond

// leaveBody makes the answer to r close its connection when r's body is
// left unread: net/http would otherwise read the rest of it (up to 256
// KiB) before it sends the answer, and wait as long as its client takes
// to send it. Once the answer is sent net/http still reads the rest,
// dropping it (a client that has sent its body whole then reads the
// answer, not a reset), and would wait for it up to the server's read
// timeout, 30 s, the connection holding its place of max_connections
// meanwhile: a client without a token sending bodies that stop half-way
// held every place, and an operator's request waited behind it. The rest
// is read for leftBodyWait at most.
func leaveBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
		// Not every connection has a deadline to set (a test's
		// recorder): such a body is read as net/http would.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(leftBodyWait))
	}
}

// jsonBody refuses a body sent with a Content-Type other than
// application/json (415). A browser sends a cross-site form post
// (application/x-www-form-urlencoded, multipart/form-data or text/plain,
// which may hold JSON) or a fetch without a type without asking the
// server first; it asks (a CORS preflight, which this server does not
// grant) before it sends application/json. Behind a proxy that logs a
// browser in and adds its Authorization header, accepting such a body
// would let any web page its user opens create bursts.
//
// A body sent with a Content-Encoding (gzip, deflate, …) is refused (415)
// saying so: it was read as it came, compressed, and refused as not JSON,
// naming bytes the client never wrote; the server inflates nothing a
// client sends (no decompression bomb to bound).
func jsonBody(r *http.Request, body []byte) *Error {
	if ce := r.Header.Values("Content-Encoding"); len(body) > 0 && len(ce) > 0 && !(len(ce) == 1 && strings.EqualFold(strings.TrimSpace(ce[0]), "identity")) {
		return errf(http.StatusUnsupportedMediaType, CodeUnsupportedType,
			"the body was sent with Content-Encoding %q: %s takes its JSON body as it is, not compressed; send it without Content-Encoding", clip(strings.Join(ce, ", ")), r.Method+" "+r.URL.Path)
	}
	ct := r.Header.Get("Content-Type")
	if r.Method != http.MethodPost || len(body) == 0 && ct == "" {
		return nil // an empty body is refused as such (DecodeCreateBurst)
	}
	mt, params, err := mime.ParseMediaType(ct)
	cs, hasCS := params["charset"]
	if err == nil && mt == "application/json" && (!hasCS || strings.EqualFold(cs, "utf-8")) {
		return nil
	}
	got := "no Content-Type"
	if ct != "" {
		got = fmt.Sprintf("Content-Type %q", clip(ct))
	}
	return errf(http.StatusUnsupportedMediaType, CodeUnsupportedType,
		"the body was sent with %s: %s takes a JSON body, sent with \"Content-Type: application/json\" (curl: -H 'Content-Type: application/json'; the charset, if given, utf-8)", got, r.Method+" "+r.URL.Path)
}

// bodyError words a request body that could not be read: one over maxBody
// is too large (413); one sent too slowly for the server's read timeout
// (408) or cut short before its Content-Length (400) is not.
func bodyError(err error) *Error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return errf(http.StatusRequestEntityTooLarge, CodeInvalid, "the request body is over the limit of %d bytes", maxBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errf(http.StatusRequestTimeout, CodeInvalid, "the request body came too slowly for the server's read timeout; send it again")
	}
	return errf(http.StatusBadRequest, CodeInvalid, "the request body could not be read (%v): it ended before its Content-Length, or its chunked encoding is broken; send it again", err)
}

func describe(r *http.Request) string {
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/bursts"):
		return "creating a burst"
	case r.Method == http.MethodDelete || strings.HasSuffix(r.URL.Path, "/cancel"):
		return "cancelling a burst"
	}
	return r.Method + " " + r.URL.Path
}

// writeAudit records a call. An unauthenticated one (401) is recorded
// without its body, at most once a minute per source (an IPv4 address or
// an IPv6 /64), the others counted into that source's next 401 row, and
// in all at most anonAuditRows a minute, the rest counted into a summary
// row (anonAudit).
func (s *Server) writeAudit(ctx context.Context, r *http.Request, p tokens.Principal, body []byte, rec *auditRecorder) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	now := s.clock.Now().UTC()
	outcome := rec.outcome
	if status == http.StatusUnauthorized {
		v := s.anonAudit.admit(r.RemoteAddr, describe(r), now)
		if v.summary != "" {
			s.addAudit(ctx, anonSummaryEntry(now, v.summary))
		}
		if !v.row {
			return
		}
		body, outcome = nil, outcome+v.note
	}
	req := string(body)
	if len(req) > maxAuditRequest {
		req = req[:maxAuditRequest] + "…"
	}
	if !utf8.ValidString(req) {
		req = strings.ToValidUTF8(req, "�")
	}
	e := AuditEntry{
		Time:      now,
		Principal: p.Name,
		Role:      string(p.Role),
		Source:    r.RemoteAddr,
		Method:    r.Method,
		Path:      r.URL.Path,
		Request:   req,
		Status:    status,
		Outcome:   outcome,
	}
	s.addAudit(ctx, e)
}

func (s *Server) addAudit(ctx context.Context, e AuditEntry) {
	if _, err := s.be.AddAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit row lost", "err", err, "principal", e.Principal, "method", e.Method, "path", e.Path, "status", e.Status, "outcome", e.Outcome)
	}
}
