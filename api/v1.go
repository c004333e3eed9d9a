package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/spillway-io/spillway/api/tokens"
)

// Paging bounds.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// MaxBurstGPUs bounds a manual burst's GPUs, whatever the pool allows.
const MaxBurstGPUs = maxBurstGPUs

// Bounds on a manual burst, whatever the pool allows.
const (
	maxBurstGPUs   = 100000
	maxBurstFor    = 720 * time.Hour
	minBurstFor    = time.Minute
	maxReasonLen   = 500
	maxOfferingLen = 128
)

var (
	idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	// nameRE is what a pool's name may be, as config.CheckName has it: a
	// name no config can give names no pool.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

// nameRule says what nameRE takes, in config.CheckName's words.
const nameRule = "use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit"

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	st, err := s.be.Status(r.Context())
	if err != nil {
		return err
	}
	st.Pools = nonNil(st.Pools)
	for i, p := range st.Pools {
		st.Pools[i] = boundSummary(p)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) getPools(w http.ResponseWriter, r *http.Request) error {
	st, err := s.be.Status(r.Context())
	if err != nil {
		return err
	}
	for i, p := range st.Pools {
		st.Pools[i] = boundSummary(p)
	}
	writeJSON(w, http.StatusOK, Page[PoolSummary]{Items: nonNil(st.Pools)})
	return nil
}

func (s *Server) getPool(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("pool")
	if !nameRE.MatchString(name) {
		return errf(http.StatusNotFound, CodeNotFound, "no pool %q: bad name: %s; GET /v1/pools lists them", clip(name), nameRule)
	}
	d, err := s.be.Pool(r.Context(), name)
	if err != nil {
		return noPool(name, err)
	}
	writeJSON(w, http.StatusOK, boundPool(d))
	return nil
}

// takes wraps h, which reads the query parameters named, so that a request
// with another parameter (a mistyped filter such as ?pol=train would
// otherwise list everything), one given twice, or a query string that does
// not parse, is refused before h runs.
func takes(h func(http.ResponseWriter, *http.Request) error, params ...string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := checkQuery(r, params); err != nil {
			return err
		}
		return h(w, r)
	}
}

// checkQuery refuses a query string that does not parse, a parameter not in
// params, or one given twice.
func checkQuery(r *http.Request, params []string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errf(http.StatusBadRequest, CodeInvalid, "the query string %q does not parse: %v", clip(r.URL.RawQuery), err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(params, k):
			want := "it takes no parameters"
			if len(params) > 0 {
				want = "it takes " + strings.Join(params, ", ")
			}
			return errf(http.StatusBadRequest, CodeInvalid, "unknown parameter %q for %s %s: %s", clip(k), r.Method, r.URL.Path, want)
		case len(q[k]) > 1:
			return errf(http.StatusBadRequest, CodeInvalid, "parameter %q is given %d times: give it once", clip(k), len(q[k]))
		}
	}
	return nil
}

// listQuery is what every list endpoint reads from its query string.
type listQuery struct {
	limit  int
	pool   string
	cursor string
	// before is the cursor as an ID, for lists ordered newest first.
	before int64
}

// cursorKind says what a list endpoint's cursor is.
type cursorKind int

const (
	// cursorNumber: a decision or audit row ID (newest first).
	cursorNumber cursorKind = iota
	// cursorBurst: a burst ID ("b-…").
	cursorBurst
	// cursorInstance: an instance ID.
	cursorInstance
)

func parseList(q url.Values, kind cursorKind) (listQuery, error) {
	var l listQuery
	var err error
	if q.Has("limit") && q.Get("limit") == "" {
		// limit=$N with N unset listed the default 100 as if asked.
		return l, errf(http.StatusBadRequest, CodeInvalid, "limit= is empty: use 1 to %d, or leave the parameter out for %d", maxLimit, defaultLimit)
	}
	if l.limit, err = parseLimit(q.Get("limit")); err != nil {
		return l, err
	}
	if q.Has("pool") && q.Get("pool") == "" {
		return l, errf(http.StatusBadRequest, CodeInvalid, "pool= is empty: name a pool (GET /v1/pools lists them), or leave the parameter out for every pool")
	}
	if l.pool, err = poolParam(q.Get("pool")); err != nil {
		return l, err
	}
	l.cursor = q.Get("cursor")
	switch kind {
	case cursorNumber:
		l.before, err = parseCursorID(l.cursor)
	case cursorBurst:
		err = checkCursor(l.cursor, IsBurstID)
	case cursorInstance:
		err = checkCursor(l.cursor, idRE.MatchString)
	}
	return l, err
}

// IsBurstID says whether s is shaped as the ID of a manual burst:
// b-20260302t090000-1a2b3c.
func IsBurstID(s string) bool { return strings.HasPrefix(s, "b-") && idRE.MatchString(s) }

// checkCursor refuses a cursor of a list ordered by ID that is not shaped
// like one of its IDs (a garbled one would end the listing early or start
// it again). A well-formed ID is a position in that order: an item that
// ended between two pages does not break the paging.
func checkCursor(v string, isID func(string) bool) error {
	if v != "" && !isID(v) {
		return notCursor(v)
	}
	return nil
}

func notCursor(v string) error {
	return errf(http.StatusBadRequest, CodeInvalid, "cursor=%q is not a cursor: pass the \"next\" value of the previous page", clip(v))
}

// writeList answers a list endpoint from items fetched with limit+1.
func writeList[T any](w http.ResponseWriter, l listQuery, items []T, err error, key func(T) string) error {
	if err != nil {
		return noPool(l.pool, err)
	}
	writeJSON(w, http.StatusOK, pageOf(items, l.limit, key))
	return nil
}

func (s *Server) getInstances(w http.ResponseWriter, r *http.Request) error {
	l, err := parseList(r.URL.Query(), cursorInstance)
	if err != nil {
		return err
	}
	items, err := s.be.Instances(r.Context(), InstanceQuery{Pool: l.pool, After: l.cursor, Limit: l.limit + 1})
	return writeList(w, l, items, err, func(i Instance) string { return i.ID })
}

func (s *Server) getBursts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	l, err := parseList(q, cursorBurst)
	if err != nil {
		return err
	}
	all := false
	if q.Has("all") {
		v := q.Get("all")
		if v == "" {
			// ?all, written as a flag, listed only the active bursts.
			return errf(http.StatusBadRequest, CodeInvalid, "all= is empty: use all=true to include ended bursts, or leave the parameter out for the active ones")
		}
		// strconv.ParseBool also reads 1, t, T, TRUE and True: only the two
		// words the CLI and the docs write are a value of all=.
		switch v {
		case "true":
			all = true
		case "false":
		default:
			return errf(http.StatusBadRequest, CodeInvalid, "all=%q is not a boolean: use all=true to include ended bursts, or all=false (or leave it out) for the active ones", clip(v))
		}
	}
	items, err := s.be.Bursts(r.Context(), BurstQuery{Pool: l.pool, All: all, After: l.cursor, Limit: l.limit + 1})
	return writeList(w, l, items, err, func(b Burst) string { return b.ID })
}

// getBurst is GET /v1/bursts/{id}, where POST /v1/bursts's Location
// points: one burst, ended or not, with its instances and launching GPUs.
func (s *Server) getBurst(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !IsBurstID(id) {
		return errf(http.StatusNotFound, CodeNotFound, "no burst %q: burst IDs look like b-20260302t090000-1a2b3c; `spillway burst list` shows them", clip(id))
	}
	b, err := s.be.Burst(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		return errf(http.StatusNotFound, CodeNotFound, "no burst %q: `spillway burst list --all` shows the bursts", id)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (s *Server) getDecisions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	l, err := parseList(q, cursorNumber)
	if err != nil {
		return err
	}
	var since time.Time
	if v := q.Get("since"); v != "" {
		if since, err = parseSince(v, s.clock.Now()); err != nil {
			return err
		}
	}
	items, err := s.be.Decisions(r.Context(), DecisionQuery{Pool: l.pool, Since: since, Before: l.before, Limit: l.limit + 1})
	if err != nil {
		return noPool(l.pool, err)
	}
	p := pageOf(items, l.limit, func(d Decision) string { return strconv.FormatInt(d.ID, 10) })
	p.Since = since
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) getAudit(w http.ResponseWriter, r *http.Request) error {
	l, err := parseList(r.URL.Query(), cursorNumber)
	if err != nil {
		return err
	}
	items, err := s.be.Audit(r.Context(), AuditQuery{Before: l.before, Limit: l.limit + 1})
	return writeList(w, l, items, err, func(a AuditEntry) string { return strconv.FormatInt(a.ID, 10) })
}

// createdOutcome is the audit log's outcome of a burst created: "created
// burst b-…: 1 GPU in pool train until …".
func createdOutcome(b Burst) string {
	return fmt.Sprintf("created burst %s: %s in pool %s until %s", b.ID, counted(b.GPUs, "GPU", "GPUs"), b.Pool, b.Until.UTC().Format(time.RFC3339))
}

func (s *Server) postBurst(w *auditRecorder, r *http.Request, p tokens.Principal, body []byte) error {
	key, err := idempotencyKey(r.Header)
	if err != nil {
		return err
	}
	req, err := DecodeCreateBurst(body)
	if err != nil {
		return err
	}
	req.IdempotencyKey = key
	b, err := s.createBurst(r.Context(), p, req)
	if err != nil {
		return err
	}
	if b.Replayed {
		w.outcome = fmt.Sprintf("replayed burst %s for Idempotency-Key %q: an earlier request with the key created it; nothing new opened", b.ID, key)
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Location", "/v1/bursts/"+b.ID)
		writeJSON(w, http.StatusOK, b)
		return nil
	}
	w.outcome = createdOutcome(b)
	w.Header().Set("Location", "/v1/bursts/"+b.ID)
	writeJSON(w, http.StatusCreated, b)
	return nil
}

func (s *Server) deleteBurst(w *auditRecorder, r *http.Request, p tokens.Principal, _ []byte) error {
	b, err := s.cancelBurst(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	w.outcome = fmt.Sprintf("cancelled burst %s in pool %s: %s", b.ID, b.Pool, CancelledDrains(b.Instances))
	writeJSON(w, http.StatusOK, b)
	return nil
}

// DecodeCreateBurst reads a POST /v1/bursts body strictly: one JSON object
// with known fields only, each within its range.
func DecodeCreateBurst(body []byte) (CreateBurstRequest, error) {
	var req CreateBurstRequest
	if len(body) > maxBody {
		return req, errf(http.StatusRequestEntityTooLarge, CodeInvalid, "the request body is %d bytes, over the limit of %d", len(body), maxBody)
	}
	if bytes.HasPrefix(body, []byte("\uFEFF")) {
		// Written by some Windows editors and PowerShell's Out-File;
		// encoding/json would say "invalid character 'ï'".
		return req, errf(http.StatusBadRequest, CodeInvalid, "the body starts with a byte order mark (EF BB BF): send the JSON without it (save the file as UTF-8 without BOM)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if de := (*DurationError)(nil); errors.As(err, &de) {
			// The request's one duration.
			return req, errf(http.StatusBadRequest, CodeInvalid, "for %v (from %s to %s)", de, Duration(minBurstFor), Duration(maxBurstFor))
		}
		if n, ok := gpusPastInt(err); ok {
			return req, errf(http.StatusBadRequest, CodeInvalid, "gpus %s is out of range: ask for 1 to %d GPUs (the pool's manual.max_gpus may allow fewer)", clip(n), maxBurstGPUs)
		}
		return req, errf(http.StatusBadRequest, CodeInvalid,
			"the body is not a burst request: %v; send {\"pool\": \"P\", \"gpus\": N, \"for\": \"2h\", \"reason\": \"…\"} with an optional \"offering\"", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, errf(http.StatusBadRequest, CodeInvalid, "the body holds more than one JSON value: send one burst request")
	}
	if err := checkKeys(body, burstFields); err != nil {
		return req, err
	}
	if !utf8.Valid(body) {
		// encoding/json would read each bad byte as U+FFFD.
		return req, errf(http.StatusBadRequest, CodeInvalid, "the body is not valid UTF-8: send the burst request as UTF-8 JSON")
	}
	return req, validateBurst(req)
}

// burstFields are the JSON keys of CreateBurstRequest.
var burstFields = []string{"pool", "gpus", "for", "reason", "offering"}

// checkKeys refuses, in a JSON object that has decoded, what encoding/json
// lets through: a key given twice, of which it keeps the last (a proxy or
// a log that reads the first would see another request: {"gpus": 8,
// "gpus": 800}), and a key spelt in another case than its field ("GPUS"),
// which it matches to the field.
func checkKeys(body []byte, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: null, which decodes to no field
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil // the body has decoded: it cannot be cut short
		}
		k, _ := t.(string)
		if !slices.Contains(fields, k) {
			i := slices.IndexFunc(fields, func(f string) bool { return strings.EqualFold(f, k) })
			if i < 0 {
				return errf(http.StatusBadRequest, CodeInvalid, "the body is not a burst request: unknown field %q: the fields are %s", clip(k), strings.Join(fields, ", "))
			}
			return errf(http.StatusBadRequest, CodeInvalid, "the body is not a burst request: field %q is spelt %q: write it in lower case", fields[i], clip(k))
		}
		if seen[k] {
			return errf(http.StatusBadRequest, CodeInvalid, "the body is not a burst request: field %q is given twice: give it once", k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		if esc := loneSurrogate(v); esc != "" {
			return errf(http.StatusBadRequest, CodeInvalid, "the body is not a burst request: field %q holds %s, half of a UTF-16 surrogate pair without its other half (JSON reads it as U+FFFD, another text than sent): send the character whole, as UTF-8 or as both halves", k, esc)
		}
	}
	return nil
}

// loneSurrogate returns the first \uXXXX escape in the JSON value v that
// is half of a UTF-16 surrogate pair without its other half, or "".
// encoding/json decodes one as U+FFFD without a word.
func loneSurrogate(v []byte) string {
	half := func(i int) (rune, bool) { // the escape at v[i:], if any
		if i+6 > len(v) || v[i] != '\\' || v[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(v[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			continue
		}
		r, ok := half(i)
		switch {
		case !ok:
			i++ // an escape of one character: \\, \", \n …
		case utf16.IsSurrogate(r) && r < 0xDC00:
			if lo, ok := half(i + 6); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 11 // the pair
				continue
			}
			return string(v[i : i+6])
		case utf16.IsSurrogate(r):
			return string(v[i : i+6])
		default:
			i += 5
		}
	}
	return ""
}

func jsonProblem(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Field != "" {
		return fmt.Sprintf("field %q must be a %s, not a JSON %s", ute.Field, jsonKind(ute.Type.Kind().String()), ute.Value)
	}
	if errors.As(err, &ute) { // the body itself: not the Go type it missed
		return fmt.Sprintf("the body is a JSON %s, not an object", ute.Value)
	}
	if errors.Is(err, io.EOF) {
		return "the body is empty"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// gpusPastInt is the gpus of a body refused by encoding/json for a whole
// number past what an int holds (99999999999999999999), which is out of
// range, not "not a whole number" as jsonProblem would say.
func gpusPastInt(err error) (string, bool) {
	var ute *json.UnmarshalTypeError
	if !errors.As(err, &ute) || ute.Field != "gpus" {
		return "", false
	}
	n, ok := strings.CutPrefix(ute.Value, "number ")
	return n, ok && wholeLiteral.MatchString(n)
}

// wholeLiteral is a JSON number written as a whole number.
var wholeLiteral = regexp.MustCompile(`^-?[0-9]+$`)

func jsonKind(k string) string {
	switch k {
	case "int":
		return "whole number"
	case "string":
		return "string"
	}
	return k
}

// CheckCreateBurst checks a burst request as POST /v1/bursts does before it
// asks the pool, so that a client can refuse a bad value without a call.
// The error's message begins with the field it names (pool, gpus, for,
// reason or offering).
func CheckCreateBurst(req CreateBurstRequest) error { return validateBurst(req) }

func validateBurst(req CreateBurstRequest) error {
	bad := func(format string, a ...any) error {
		return errf(http.StatusBadRequest, CodeInvalid, format, a...)
	}
	switch {
	case req.Pool == "":
		return bad("pool is missing: name the pool to burst (GET /v1/pools lists them)")
	case !nameRE.MatchString(req.Pool):
		return bad("pool %q is not a pool name: %s", clip(req.Pool), nameRule)
	case req.GPUs < 1 || req.GPUs > maxBurstGPUs:
		return bad("gpus %d is out of range: ask for 1 to %d GPUs (the pool's manual.max_gpus may allow fewer)", req.GPUs, maxBurstGPUs)
	case time.Duration(req.For) < minBurstFor || time.Duration(req.For) > maxBurstFor:
		return bad("for %s is out of range: a burst lasts from %s to %s (the pool's manual.max_ttl may allow less)", req.For, Duration(minBurstFor), Duration(maxBurstFor))
	case strings.TrimSpace(req.Reason) == "":
		return bad("reason is missing: say why the burst is needed (e.g. the incident), so others know who to ask")
	case utf8.RuneCountInString(req.Reason) > maxReasonLen:
		// Characters, as the page's form counts them (maxlength).
		return bad("reason is %d characters: keep it to %d", utf8.RuneCountInString(req.Reason), maxReasonLen)
	case !utf8.ValidString(req.Reason):
		return bad("reason is not valid UTF-8: use plain text")
	case strings.ContainsFunc(req.Reason, unicode.IsControl):
		return bad("reason contains control characters: use one line of plain text")
	case strings.ContainsFunc(req.Reason, isLineSeparator):
		r := firstRune(req.Reason, isLineSeparator)
		return bad("reason contains %U (%s), which breaks the line on screens: use one line of plain text", r, lineSeparatorNames[r])
	case strings.ContainsFunc(req.Reason, isBidiControl):
		r := firstRune(req.Reason, isBidiControl)
		return bad("reason contains %U (%s), a bidirectional formatting character that changes how the line reads on screens: use plain text", r, bidiNames[r])
	case strings.ContainsFunc(req.Reason, isInvisible):
		return bad("reason contains %U, an invisible formatting character (two reasons that look the same would differ): use plain text", firstRune(req.Reason, isInvisible))
	case len(req.Offering) > maxOfferingLen || !utf8.ValidString(req.Offering) ||
		strings.ContainsFunc(req.Offering, unicode.IsControl) || strings.ContainsFunc(req.Offering, isBidiControl):
		// An offering's name is its config name, or provider/region[/zone]/type/market.
		return bad("offering %q is not an offering name: name one of the pool's offerings as `spillway status` and GET /v1/pools/{pool} show them, such as aws/us-east-1/p5.48xlarge/spot, in at most %d bytes (or leave it out to let the policy choose)", clip(req.Offering), maxOfferingLen)
	}
	return nil
}

// bidiNames are the Unicode bidirectional formatting characters, which can
// make text display in an order other than the one stored (Trojan Source).
var bidiNames = map[rune]string{
	'\u061C': "ARABIC LETTER MARK", '\u200E': "LEFT-TO-RIGHT MARK", '\u200F': "RIGHT-TO-LEFT MARK",
	'\u202A': "LEFT-TO-RIGHT EMBEDDING", '\u202B': "RIGHT-TO-LEFT EMBEDDING", '\u202C': "POP DIRECTIONAL FORMATTING",
	'\u202D': "LEFT-TO-RIGHT OVERRIDE", '\u202E': "RIGHT-TO-LEFT OVERRIDE",
	'\u2066': "LEFT-TO-RIGHT ISOLATE", '\u2067': "RIGHT-TO-LEFT ISOLATE", '\u2068': "FIRST STRONG ISOLATE",
	'\u2069': "POP DIRECTIONAL ISOLATE",
}

func isBidiControl(r rune) bool {
	_, ok := bidiNames[r]
	return ok
}

// lineSeparatorNames are the line breaks that are not control characters.
var lineSeparatorNames = map[rune]string{'\u2028': "LINE SEPARATOR", '\u2029': "PARAGRAPH SEPARATOR"}

func isLineSeparator(r rune) bool {
	_, ok := lineSeparatorNames[r]
	return ok
}

// isInvisible reports a formatting character (Unicode category Cf: zero
// width space U+200B, word joiner U+2060, byte order mark U+FEFF, soft
// hyphen U+00AD, the tag characters U+E0000 to U+E007F...), which shows as
// nothing, other than the zero width joiner and non-joiner (U+200D, U+200C)
// that emoji and some scripts are written with.
func isInvisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) && r != '\u200C' && r != '\u200D'
}

// firstRune is the first rune of s for which f holds (s holds one).
func firstRune(s string, f func(rune) bool) rune {
	return []rune(s)[slices.IndexFunc([]rune(s), f)]
}

// maxIdempotencyKey bounds an Idempotency-Key (as Stripe's).
const maxIdempotencyKey = 255

// idempotencyKey reads the Idempotency-Key header: none, or one value of
// 1 to maxIdempotencyKey printable ASCII characters.
func idempotencyKey(h http.Header) (string, error) {
	vs := h.Values("Idempotency-Key")
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", errf(http.StatusBadRequest, CodeInvalid, "the Idempotency-Key header is given %d times: send it once", len(vs))
	}
	if !isIdempotencyKey(vs[0]) {
		return "", errf(http.StatusBadRequest, CodeInvalid,
			"the Idempotency-Key header %q is not a key: use 1 to %d printable ASCII characters without spaces, such as a UUID, new for each burst and the same on each retry of its request", clip(vs[0]), maxIdempotencyKey)
	}
	return vs[0], nil
}

func isIdempotencyKey(k string) bool {
	return k != "" && len(k) <= maxIdempotencyKey && !strings.ContainsFunc(k, func(r rune) bool { return r < '!' || r > '~' })
}

// createBurst checks the caller against the pool's manual limits, then asks
// the backend. Operators are bound by the limits; admins are not (the pool's
// own limits still apply in the backend). A request whose idempotency key
// the caller has used already returns that burst (Replayed) if it asks the
// same, before any limit is applied again.
func (s *Server) createBurst(ctx context.Context, p tokens.Principal, req CreateBurstRequest) (Burst, error) {
	if req.IdempotencyKey != "" {
		if b, err := s.replay(ctx, p, req); b.Replayed || err != nil {
			return b, err
		}
	}
	b, err := s.createNewBurst(ctx, p, req)
	if errors.Is(err, ErrKeyUsed) { // a concurrent request with the key won
		b, err = s.replay(ctx, p, req)
		if err == nil && !b.Replayed {
			return Burst{}, fmt.Errorf("burst with Idempotency-Key %q was refused as a duplicate, then not found", req.IdempotencyKey)
		}
	}
	return b, err
}

// replay returns the caller's burst made with req's idempotency key,
// Replayed, or a zero Burst when the key is new; a key used with another
// request is refused.
func (s *Server) replay(ctx context.Context, p tokens.Principal, req CreateBurstRequest) (Burst, error) {
	b, digest, err := s.be.BurstByKey(ctx, p.Name, req.IdempotencyKey)
	switch {
	case errors.Is(err, ErrNotFound):
		return Burst{}, nil
	case err != nil:
		return Burst{}, err
	case digest != req.Digest():
		return Burst{}, errf(http.StatusUnprocessableEntity, CodeKeyReused,
			"Idempotency-Key %q was used for burst %s (%s in pool %s, created %s) by a request that asked otherwise: send a new key for a new burst, or that request unchanged to get its burst",
			req.IdempotencyKey, b.ID, counted(b.GPUs, "GPU", "GPUs"), b.Pool, b.CreatedAt.UTC().Format(time.RFC3339))
	}
	b.Replayed = true
	return b, nil
}

func (s *Server) createNewBurst(ctx context.Context, p tokens.Principal, req CreateBurstRequest) (Burst, error) {
	lim, err := s.be.ManualLimits(ctx, req.Pool)
	if err != nil {
		return Burst{}, noPool(req.Pool, err)
	}
	if p.Role != tokens.Admin {
		if e := checkManualLimits(p, req, lim); e != nil {
			return Burst{}, e
		}
	}
	return s.be.CreateBurst(ctx, req, p.Name)
}

func checkManualLimits(p tokens.Principal, req CreateBurstRequest, lim ManualLimits) *Error {
	switch {
	case lim.MaxGPUs == 0:
		return &Error{Status: http.StatusForbidden, Code: CodeLimit, Limit: "max_gpus", Value: "0",
			Message: fmt.Sprintf("pool %s refuses manual bursts (its manual.max_gpus is 0): ask an admin, or raise the limit in the config", req.Pool)}
	case req.GPUs > lim.MaxGPUs:
		return &Error{Status: http.StatusForbidden, Code: CodeLimit, Limit: "max_gpus", Value: strconv.Itoa(lim.MaxGPUs),
			Message: fmt.Sprintf("%d GPUs is over pool %s's manual limit max_gpus = %d: operator %s may ask for at most %d", req.GPUs, req.Pool, lim.MaxGPUs, p.Name, lim.MaxGPUs)}
	case lim.MaxTTL > 0 && req.For > lim.MaxTTL:
		return &Error{Status: http.StatusForbidden, Code: CodeLimit, Limit: "max_ttl", Value: lim.MaxTTL.String(),
			Message: fmt.Sprintf("for %s is over pool %s's manual limit max_ttl = %s: operator %s may ask for at most %s", req.For, req.Pool, lim.MaxTTL, p.Name, lim.MaxTTL)}
	}
	return nil
}

func (s *Server) cancelBurst(ctx context.Context, p tokens.Principal, id string) (Burst, error) {
	if !idRE.MatchString(id) {
		return Burst{}, errf(http.StatusNotFound, CodeNotFound, "no burst %q: burst IDs are letters, digits, '.', '_', ':' and '-'; `spillway burst list` shows them", clip(id))
	}
	b, err := s.be.CancelBurst(ctx, id, p.Name)
	if errors.Is(err, ErrNotFound) {
		return Burst{}, errf(http.StatusNotFound, CodeNotFound, "no burst %q: `spillway burst list --all` shows the bursts", id)
	}
	return b, err
}

// noPool words a backend's not-found for a pool the caller named.
func noPool(pool string, err error) error {
	if pool != "" && errors.Is(err, ErrNotFound) {
		return errf(http.StatusNotFound, CodeNotFound, "no pool %q: GET /v1/pools (or `spillway status`) lists the pools", pool)
	}
	return err
}

func parseLimit(v string) (int, error) {
	if v == "" {
		return defaultLimit, nil
	}
	if !plainDecimal(v) {
		// strconv.Atoi reads "+5" as 5, and "05" is no number a client
		// writes: both were listed as if limit=5 was sent.
		return 0, errf(http.StatusBadRequest, CodeInvalid, "limit=%q is not a whole number: use 1 to %d (default %d), in decimal digits alone (no sign, space, leading zero or 0x)", clip(v), maxLimit, defaultLimit)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, errf(http.StatusBadRequest, CodeInvalid, "limit=%q is out of range: use 1 to %d (default %d)", clip(v), maxLimit, defaultLimit)
	}
	return n, nil
}

func parseCursorID(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	if !plainDecimal(v) { // "+5" and "05" named row 5
		return 0, notCursor(v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, notCursor(v)
	}
	return n, nil
}

// plainDecimal says whether v is a number written as a server writes one:
// decimal digits, the first not 0 unless it is the only one. A sign, a
// space, a leading zero or a 0x prefix is not.
func plainDecimal(v string) bool {
	if v == "" || (v[0] == '0' && len(v) > 1) {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

func poolParam(v string) (string, error) {
	if v != "" && !nameRE.MatchString(v) {
		return "", errf(http.StatusBadRequest, CodeInvalid, "pool=%q is not a pool name: %s", clip(v), nameRule)
	}
	return v, nil
}

// parseSince reads since= as a duration back from now ("1h"), an RFC 3339
// time or a date (midnight UTC).
func parseSince(v string, now time.Time) (time.Time, error) {
	t, err := ParseSince(v, now)
	if err != nil {
		return time.Time{}, errf(http.StatusBadRequest, CodeInvalid, "since=%q %v", clip(v), err)
	}
	return t, nil
}

// The range of an RFC 3339 since: the store keeps times after the Unix
// epoch and within int64 nanoseconds of it (2262-04-11T23:47:16.854775807Z).
var (
	minSince = time.Unix(0, 0).UTC()
	maxSince = time.Unix(0, math.MaxInt64).UTC().Truncate(time.Second)
)

// ParseSince reads a decisions query's since: a duration back from now
// (0s to 366 days), an RFC 3339 time from 1970-01-01T00:00:00Z to
// 2262-04-11T23:47:16Z, or a date alone (2026-11-30), read as its midnight
// in UTC, the zone every time the API and the CLI show is in. The epoch
// itself asks for every decision and is returned as the zero time (no
// filter). The error completes "since=V ".
func ParseSince(v string, now time.Time) (time.Time, error) {
	if strings.HasPrefix(v, "+") && durationShape.MatchString(v) {
		// time.ParseDuration reads +1h as 1h; a sign is no part of a
		// duration back from now, and -1h is refused as out of range.
		return time.Time{}, errors.New("is a duration with a sign: write it without one (1h, back from now: 0s to 8784h)")
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 || d > 366*24*time.Hour {
			return time.Time{}, errSinceRange
		}
		return now.Add(-d), nil
	} else if durationShape.MatchString(v) {
		// Written as a duration, too long for one (100000000h).
		return time.Time{}, errSinceRange
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		var derr error
		if t, derr = time.Parse(time.DateOnly, v); derr != nil {
			for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"} {
				if w, err := time.Parse(layout, v); err == nil {
					return time.Time{}, fmt.Errorf("has no time zone: write it in RFC 3339 with Z for UTC (%s) or an offset (%s)",
						w.Format(time.RFC3339), w.Format("2006-01-02T15:04:05")+"+01:00")
				}
			}
			return time.Time{}, errors.New("is neither a duration (1h) nor an RFC 3339 time (2026-11-29T07:00:00Z) nor a date (2026-11-29, from midnight UTC)")
		}
	}
	if t.Before(minSince) || t.After(maxSince) {
		return time.Time{}, fmt.Errorf("is out of range: use an RFC 3339 time from %s to %s, or a duration from 0s to 8784h",
			minSince.Format(time.RFC3339), maxSince.Format(time.RFC3339))
	}
	if t.Equal(minSince) {
		return time.Time{}, nil
	}
	return t, nil
}

var errSinceRange = errors.New("is out of range: use a duration from 0s to 8784h (366 days), an RFC 3339 time or a date")

// durationShape is what time.ParseDuration reads (a sign, then numbers
// each with a unit), whatever their size.
var durationShape = regexp.MustCompile(`^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// pageOf trims items fetched with limit+1 to limit and sets the cursor when
// there were more.
func pageOf[T any](items []T, limit int, key func(T) string) Page[T] {
	p := Page[T]{Items: nonNil(items)}
	if len(items) > limit {
		p.Items = items[:limit]
		p.Next = key(items[limit-1])
	}
	return p
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
