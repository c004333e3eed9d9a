package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is the body of every error response, and what Client returns for
// one: a code a program can branch on and a message a person can act on.
// For a refusal by a manual limit, Limit names it (max_gpus, max_ttl) and
// Value is its value.
type Error struct {
	// Status is the HTTP status (not part of the JSON body).
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Limit   string `json:"limit,omitempty"`
	Value   string `json:"value,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Error codes.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeLimit           = "limit_exceeded"
	CodeNotFound        = "not_found"
	CodeInvalid         = "invalid"
	CodeConflict        = "conflict"
	CodeMethod          = "method_not_allowed"
	CodeUnavailable     = "unavailable"
	// CodeUnsupportedType: a body sent with a Content-Type the endpoint
	// does not take (415).
	CodeUnsupportedType = "unsupported_media_type"
	CodeInternal        = "internal"
	// CodeKeyReused: an Idempotency-Key sent again with another request.
	CodeKeyReused = "idempotency_key_reused"
)

type errorBody struct {
	Error *Error `json:"error"`
}

func errf(status int, code, format string, a ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// backendError maps a Backend error to a response, keeping the backend's
// message for the errors a caller can act on.
func backendError(err error) *Error {
	switch {
	case errors.Is(err, ErrNotFound):
		return errf(http.StatusNotFound, CodeNotFound, "%s", withoutKind(err, ErrNotFound))
	case errors.Is(err, ErrInvalid):
		return errf(http.StatusBadRequest, CodeInvalid, "%s", withoutKind(err, ErrInvalid))
	case errors.Is(err, ErrConflict):
		return errf(http.StatusConflict, CodeConflict, "%s", withoutKind(err, ErrConflict))
	}
	return nil
}

// withoutKind is err's message without the ": conflict" (or other kind)
// that wrapping kind with %w leaves at its end: the code says it.
func withoutKind(err, kind error) string {
	return strings.TrimSuffix(err.Error(), ": "+kind.Error())
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if e = backendError(err); e == nil {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			e = errf(http.StatusInternalServerError, CodeInternal, "the server failed to answer %s %s; its log says why", r.Method, r.URL.Path)
		}
	}
	if rec, ok := w.(*auditRecorder); ok {
		rec.outcome = e.Message
	}
	switch e.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="spillway"`)
	case http.StatusUnsupportedMediaType:
		w.Header().Set("Accept-Post", "application/json")
		w.Header().Set("Accept-Encoding", "identity") // no Content-Encoding (RFC 7694)
	}
	writeJSON(w, e.Status, errorBody{e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// As the CLI's -o json: &, < and > as they are. No answer is read as
	// HTML (application/json, nosniff; the page is html/template's).
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(inUTC(v))
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path { // an item path without its item
	case "/v1/pools/":
		s.fail(w, r, errf(http.StatusNotFound, CodeNotFound, "%s %s names no pool: GET /v1/pools lists them, GET /v1/pools/{pool} shows one", r.Method, r.URL.Path))
		return
	case "/v1/bursts/":
		s.fail(w, r, errf(http.StatusNotFound, CodeNotFound, "%s %s names no burst: GET /v1/bursts lists them, GET /v1/bursts/{id} shows one, DELETE /v1/bursts/{id} cancels one", r.Method, r.URL.Path))
		return
	}
	// The path is clipped: it may be as long as the request line (1 MB).
	path := clip(r.URL.Path)
	if allow := allowedMethods(r.URL.Path); allow != "" {
		w.Header().Set("Allow", allow)
		s.fail(w, r, errf(http.StatusMethodNotAllowed, CodeMethod, "%s %s is not an endpoint: %s takes %s", clip(r.Method), path, path, allow))
		return
	}
	s.fail(w, r, errf(http.StatusNotFound, CodeNotFound, "no API endpoint %s %s: see GET /v1/status, /v1/pools, /v1/instances, /v1/decisions, /v1/bursts, /v1/audit", clip(r.Method), path))
}

// pageNotFound answers a path outside the API that is no page, or a page
// asked with a method it does not take, with a small HTML page (a browser
// shows it; the API's own paths answer JSON, notFound). Its message
// clips the path, as notFound does.
func (s *Server) pageNotFound(w http.ResponseWriter, r *http.Request) {
	path := clip(r.URL.Path)
	if allow := pageMethods(r.URL.Path); allow != "" {
		w.Header().Set("Allow", allow)
		s.pageFail(w, r, nil, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not a page: %s takes %s.", clip(r.Method), path, path, allow))
		return
	}
	s.pageFail(w, r, nil, http.StatusNotFound, fmt.Sprintf("There is no page at %s: the status page is at /, the API under /v1/.", path))
}

// pageMethods returns the methods a path of the page takes, or "" for a
// path that is no page (the routes in Server.routes).
func pageMethods(path string) string {
	switch {
	case path == "/", path == "/static/style.css", path == "/static/refresh.js":
		return "GET, HEAD"
	case path == "/login":
		return "GET, HEAD, POST"
	case path == "/logout", path == "/bursts":
		return "POST"
	}
	if id, ok := strings.CutSuffix(strings.TrimPrefix(path, "/bursts/"), "/cancel"); ok && strings.HasPrefix(path, "/bursts/") && id != "" && !strings.Contains(id, "/") {
		return "POST"
	}
	return ""
}

// allowedMethods returns the methods an API path takes, or "" for a path
// that is no endpoint (the routes in Server.routes). A GET route answers
// HEAD too (net/http's ServeMux), so HEAD is named with GET.
func allowedMethods(path string) string {
	switch {
	case path == "/v1/bursts":
		return "GET, HEAD, POST"
	case itemPath(path, "/v1/bursts/"):
		return "GET, HEAD, DELETE"
	case path == "/v1/status", path == "/v1/pools", path == "/v1/instances", path == "/v1/decisions", path == "/v1/audit",
		itemPath(path, "/v1/pools/"):
		return "GET, HEAD"
	}
	return ""
}

// itemPath says whether path is prefix followed by one non-empty segment.
func itemPath(path, prefix string) bool {
	item, ok := strings.CutPrefix(path, prefix)
	return ok && item != "" && !strings.Contains(item, "/")
}
