package api_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// TestAuthorizationGivenTwice: a request with two Authorization headers
// was authenticated by the first, whichever the other said (a proxy in
// front that checks the last one would let another token through); it is
// refused as unauthenticated, for reads and for mutations, and creates
// nothing.
func TestAuthorizationGivenTwice(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/status", ""},
		{http.MethodPost, "/v1/bursts", `{"pool":"training","gpus":8,"for":"2h","reason":"INC-3"}`},
	} {
		req, err := http.NewRequest(tc.method, e.url+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Add("Authorization", "Bearer "+e.tok[tokens.Operator])
		req.Header.Add("Authorization", "Bearer spw_someone-else")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "the Authorization header is given 2 times: send one") {
			t.Errorf("%s %s with two Authorization headers: %d %s, want 401 naming them", tc.method, tc.path, resp.StatusCode, b)
		}
	}
	bs, err := e.client(tokens.Viewer).Bursts(t.Context(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Reason == "INC-3" {
			t.Fatalf("burst %s was created with two Authorization headers", b.ID)
		}
	}
}

// TestBurstLocationIsGettable: POST /v1/bursts answers with the Location
// of the burst it made, and GET on that Location answered 405 (the path
// took DELETE only), so a client that follows it, or polls it for the
// burst's instances, failed. It now answers the burst.
func TestBurstLocationIsGettable(t *testing.T) {
	e := newEnv(t, false)
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/bursts", strings.NewReader(`{"pool":"training","gpus":4,"for":"1h","reason":"INC-12"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.tok[tokens.Operator])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || loc == "" {
		t.Fatalf("create: %d, Location %q", resp.StatusCode, loc)
	}
	code, body := e.do(http.MethodGet, loc, e.tok[tokens.Viewer], "")
	if code != http.StatusOK || !strings.Contains(body, `"id": "`+strings.TrimPrefix(loc, "/v1/bursts/")+`"`) || !strings.Contains(body, `"reason": "INC-12"`) {
		t.Fatalf("GET %s: %d %s, want the burst", loc, code, body)
	}
	b, err := e.client(tokens.Viewer).Burst(t.Context(), strings.TrimPrefix(loc, "/v1/bursts/"))
	if err != nil || b.Reason != "INC-12" || b.State != "active" {
		t.Fatalf("Client.Burst: %+v, %v", b, err)
	}
}

// TestReasonInvisibleCharacters: a burst's reason says who asked and why
// in the audit log, the page and `spillway burst list`. Characters that
// show as nothing or reorder or break the line were let through: U+061C
// (ARABIC LETTER MARK, a bidirectional mark the other eleven of which were
// refused), U+2028 and U+2029 (line breaks, where one line is asked for),
// and formatting characters such as a zero width space (two reasons that
// look the same would differ). Each is refused with a 400 naming it, and
// no burst is created; the joiners that emoji and some scripts need pass.
func TestReasonInvisibleCharacters(t *testing.T) {
	e := newEnv(t, false)
	before, err := e.client(tokens.Viewer).Bursts(t.Context(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		reason string
		want   string // "" for a reason that is fine
	}{
		{"INC-7 \u061Cdisk", "reason contains U+061C (ARABIC LETTER MARK), a bidirectional formatting character"},
		{"INC-7\u2028approved by bob", "reason contains U+2028 (LINE SEPARATOR), which breaks the line on screens: use one line of plain text"},
		{"INC-7\u2029", "reason contains U+2029 (PARAGRAPH SEPARATOR)"},
		{"INC\u200B-7", "reason contains U+200B, an invisible formatting character"},
		{"\uFEFFINC-7", "reason contains U+FEFF, an invisible formatting character"},
		{"INC-7\u2060", "reason contains U+2060, an invisible formatting character"},
		{"INC-7 \U000E0069\U000E0067\U000E006E\U000E006F\U000E0072\U000E0065", "reason contains U+E0069, an invisible formatting character"},
		{"INC-7 \u00ADsoft", "reason contains U+00AD, an invisible formatting character"},
		{"INC-7 👩\u200D💻 on call", ""},
		{"INC-7 می\u200Cخواهم", ""},
	} {
		body, err := json.Marshal(map[string]any{"pool": "training", "gpus": 1, "for": "1h", "reason": tc.reason})
		if err != nil {
			t.Fatal(err)
		}
		code, resp := e.do(http.MethodPost, "/v1/bursts", e.tok[tokens.Operator], string(body))
		switch {
		case tc.want == "" && code != http.StatusCreated:
			t.Errorf("reason %+q: %d %s, want 201", tc.reason, code, resp)
		case tc.want != "" && (code != http.StatusBadRequest || !strings.Contains(resp, tc.want)):
			t.Errorf("reason %+q: %d %s\nwant a 400 saying %q", tc.reason, code, resp, tc.want)
		}
	}
	bs, err := e.client(tokens.Viewer).Bursts(t.Context(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != len(before)+2 {
		var reasons []string
		for _, b := range bs {
			reasons = append(reasons, fmt.Sprintf("%+q", b.Reason))
		}
		t.Errorf("%d bursts after the refusals, want the %d there before and the 2 accepted: %s", len(bs), len(before), strings.Join(reasons, ", "))
	}
}

// TestBurstForNotADuration: a "for" that is not a duration string was
// refused without naming the field ("a duration is a string such as
// \"2h\"": which one?), and echoed whole, so a 3,000-digit value came back
// as a 3 kB message. The answer now names "for", its range, and at most
// 80 bytes of the value.
func TestBurstForNotADuration(t *testing.T) {
	e := newEnv(t, false)
	long := strings.Repeat("9", 3000) + "h"
	for _, tc := range []struct{ value, want string }{
		{`"NaN"`, `for "NaN" is not a duration: use a Go duration such as "2h" or "90m" (from 1m to 720h)`},
		{`1e309`, `for 1e309 is not a duration: a duration is a string such as "2h" or "90m" (from 1m to 720h)`},
		{`7200`, `for 7200 is not a duration: a duration is a string such as "2h"`},
		{`["2h"]`, `for ["2h"] is not a duration`},
		{`"` + long + `"`, `for "` + long[:80] + `…" is not a duration`},
		// time.ParseDuration read "+2h" as 2h.
		{`"+2h"`, `for "+2h" is a duration with a sign: write it without one, such as "2h" or "90m" (from 1m to 720h)`},
	} {
		code, body := e.do(http.MethodPost, "/v1/bursts", e.tok[tokens.Operator], `{"pool":"training","gpus":1,"for":`+tc.value+`,"reason":"x"}`)
		var eb struct{ Error api.Error }
		if err := json.Unmarshal([]byte(body), &eb); err != nil {
			t.Fatalf("for %.40s: %d %.500s: %v", tc.value, code, body, err)
		}
		if code != http.StatusBadRequest || !strings.Contains(eb.Error.Message, tc.want) || len(body) > 400 {
			t.Errorf("for %.40s: %d %.500s (%d bytes)\nwant a 400 of at most 400 bytes saying %s", tc.value, code, eb.Error.Message, len(body), tc.want)
		}
	}
}

// TestBurstBodyNotAnObject: a body that is JSON but no object was refused
// with encoding/json's words, naming a Go type ("cannot unmarshal array
// into Go value of type api.CreateBurstRequest"); it now says what the
// body is and what to send.
func TestBurstBodyNotAnObject(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct{ body, want string }{
		{`[]`, "the body is not a burst request: the body is a JSON array, not an object; send {"},
		{`"training"`, "the body is a JSON string, not an object"},
		{`8`, "the body is a JSON number, not an object"},
		{`true`, "the body is a JSON bool, not an object"},
	} {
		code, body := e.do(http.MethodPost, "/v1/bursts", e.tok[tokens.Operator], tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) || strings.Contains(body, "Go value") {
			t.Errorf("body %s: %d %s\nwant a 400 saying %q", tc.body, code, body, tc.want)
		}
	}
}

// TestLongPathAnswersShort: the API's 404 and 405 answers echoed the
// request's path whole (twice for a 405), so a 100 kB path came back as a
// 200 kB error; they now name at most 80 bytes of it, and still the
// methods the path takes.
func TestLongPathAnswersShort(t *testing.T) {
	e := newEnv(t, false)
	long := strings.Repeat("a", 100_000)
	for _, tc := range []struct {
		method, path string
		code         int
		want         string
	}{
		{http.MethodGet, "/v1/" + long, http.StatusNotFound, "no API endpoint GET /v1/aaaa"},
		{http.MethodPut, "/v1/bursts/" + long, http.StatusMethodNotAllowed, "takes GET, HEAD, DELETE"},
		{strings.Repeat("X", 10_000), "/v1/status", http.StatusMethodNotAllowed, "/v1/status takes GET"},
	} {
		code, body := e.do(tc.method, tc.path, e.tok[tokens.Viewer], "")
		if code != tc.code || !strings.Contains(body, tc.want) || len(body) > 1000 {
			t.Errorf("%.20s %.30s…: %d, %d bytes: %.300s\nwant a %d of at most 1000 bytes saying %q", tc.method, tc.path, code, len(body), body, tc.code, tc.want)
		}
	}
}

// TestBurstBodyWithByteOrderMark: a body saved by a Windows editor or
// PowerShell's Out-File starts with a UTF-8 byte order mark, and was
// refused as "invalid character 'ï' looking for beginning of value"; the
// 400 now says what the bytes are and how to send the file.
func TestBurstBodyWithByteOrderMark(t *testing.T) {
	e := newEnv(t, false)
	code, body := e.do(http.MethodPost, "/v1/bursts", e.tok[tokens.Operator], "\uFEFF"+`{"pool":"training","gpus":1,"for":"1h","reason":"INC-9"}`)
	if want := "the body starts with a byte order mark (EF BB BF): send the JSON without it"; code != http.StatusBadRequest || !strings.Contains(body, want) {
		t.Errorf("a body with a byte order mark: %d %s\nwant a 400 saying %q", code, body, want)
	}
}

// TestPageRoutesAnswerHTML: a path outside the API that is no page, or a
// page asked with a method it does not take, was answered with Go's plain
// "404 page not found" or "Method Not Allowed" (no Allow for a static
// file), while the API answers JSON; a browser now gets a small HTML page
// that names the path, clipped, and what it takes, and /v1 (no slash)
// answers the API's JSON 404.
func TestPageRoutesAnswerHTML(t *testing.T) {
	e := newEnv(t, false)
	long := "/" + strings.Repeat("a", 100_000)
	for _, tc := range []struct {
		method, path string
		code         int
		ctype, allow string
		want         string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, "text/html", "", "There is no page at /nope: the status page is at /, the API under /v1/."},
		{http.MethodGet, long, http.StatusNotFound, "text/html", "", "There is no page at /aaaa"},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "text/html", "GET, HEAD", "POST / is not a page: / takes GET, HEAD."},
		{http.MethodPut, "/login", http.StatusMethodNotAllowed, "text/html", "GET, HEAD, POST", "PUT /login is not a page"},
		{http.MethodGet, "/logout", http.StatusMethodNotAllowed, "text/html", "POST", "/logout takes POST."},
		{http.MethodGet, "/bursts", http.StatusMethodNotAllowed, "text/html", "POST", "/bursts takes POST."},
		{http.MethodGet, "/bursts/b-1/cancel", http.StatusMethodNotAllowed, "text/html", "POST", "/bursts/b-1/cancel takes POST."},
		{http.MethodDelete, "/static/style.css", http.StatusMethodNotAllowed, "text/html", "GET, HEAD", "/static/style.css takes GET, HEAD."},
		{http.MethodGet, "/static/nope.css", http.StatusNotFound, "text/html", "", "There is no page at /static/nope.css"},
		// Only the page's own files are served, whatever the path says.
		{http.MethodGet, "/static/..%2fpage.go", http.StatusNotFound, "text/html", "", "There is no page at /static/../page.go"},
		{http.MethodGet, "/static/..%2f..%2fgo.mod", http.StatusNotFound, "text/html", "", "There is no page"},
		{http.MethodGet, "/static/web%2fstyle.css", http.StatusNotFound, "text/html", "", "There is no page"},
		{http.MethodGet, "/v1", http.StatusNotFound, "application/json", "", `"code":"not_found","message":"no API endpoint GET /v1: see GET /v1/status`},
		{http.MethodGet, "/static/style.css", http.StatusOK, "text/css", "", ""},
	} {
		req, err := http.NewRequest(tc.method, e.url+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || resp.Header.Get("Allow") != tc.allow ||
			!strings.Contains(string(b), tc.want) || (tc.code != http.StatusOK && len(b) > 2000) {
			t.Errorf("%s %.40s: %d %q Allow %q, %d bytes: %.300s\nwant %d %s Allow %q, at most 2000 bytes, saying %q",
				tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Allow"), len(b), b, tc.code, tc.ctype, tc.allow, tc.want)
		}
	}
}

// TestBurstBodyMustBeJSON: POST /v1/bursts read its body as JSON whatever
// its Content-Type, so a form post (urlencoded, multipart, or text/plain
// holding JSON) or a fetch without a type, which a browser sends from any
// web page without asking the server first, created a burst when a proxy
// in front added the browser's Authorization header. Such a body is now
// refused with a 415 naming the type sent and the one taken; the refusal
// is audited and creates nothing.
func TestBurstBodyMustBeJSON(t *testing.T) {
	e := newEnv(t, false)
	const body = `{"pool":"training","gpus":2,"for":"1h","reason":"INC-415"}`
	for _, tc := range []struct {
		ctype string
		code  int
		want  string
	}{
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, `the body was sent with Content-Type \"application/x-www-form-urlencoded\": POST /v1/bursts takes a JSON body, sent with \"Content-Type: application/json\"`},
		{"text/plain;charset=UTF-8", http.StatusUnsupportedMediaType, `Content-Type \"text/plain;charset=UTF-8\"`},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType, `Content-Type \"multipart/form-data; boundary=x\"`},
		{"", http.StatusUnsupportedMediaType, "the body was sent with no Content-Type: "},
		{"application/json; charset=iso-8859-1", http.StatusUnsupportedMediaType, "the charset, if given, utf-8"},
		{"application/jsonx", http.StatusUnsupportedMediaType, `Content-Type \"application/jsonx\"`},
		{"application/json", http.StatusCreated, `"reason": "INC-415"`},
		{"Application/JSON; charset=UTF-8", http.StatusCreated, `"reason": "INC-415"`},
	} {
		t.Run(tc.ctype, func(t *testing.T) {
			header := http.Header{"Origin": {"https://elsewhere.example"}}
			if tc.ctype != "" {
				header.Set("Content-Type", tc.ctype)
			}
			resp := postBurstExpecting(t, e, []byte(body), header, tc.code, tc.want)
			if tc.code != http.StatusUnsupportedMediaType {
				return
			}
			if got := resp.Header.Get("Accept-Post"); got != "application/json" {
				t.Errorf("Accept-Post %q, want application/json", got)
			}
			rows := e.be.AuditRows()
			if last := rows[len(rows)-1]; last.Status != http.StatusUnsupportedMediaType || last.Principal != "alice" || last.Request != body {
				t.Errorf("last audit row %+v, want the 415 refusal of alice's request", last)
			}
		})
	}
	bs, err := e.client(tokens.Viewer).Bursts(t.Context(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range bs {
		if b.Reason == "INC-415" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d bursts created, want 2 (those sent as application/json)", n)
	}
}

// TestUnauthenticatedMutationAnsweredBeforeItsBody: a mutation without a
// token (or, on the page, without a session) read its whole body before
// it was refused, so a client sending its body slowly, or never, held a
// handler until the server's read timeout (30 s), its 401 counted only
// then, possibly after a shutdown had flushed the counts. It is answered
// at once, and its connection closed.
func TestUnauthenticatedMutationAnsweredBeforeItsBody(t *testing.T) {
	e := newEnv(t, false)
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, ctype string }{
		{"/v1/bursts", "application/json"},
		{"/bursts", "application/x-www-form-urlencoded"},
		{"/bursts/b-1/cancel", "application/x-www-form-urlencoded"},
	} {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// 1000 bytes announced, one sent.
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n{", tc.path, u.Host, tc.ctype)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("POST %s without a token, its body unsent: %v, want a 401 at once", tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Errorf("POST %s without a token, its body unsent: %d (close %v), want 401 closing the connection", tc.path, resp.StatusCode, resp.Close)
		}
	}
}

// TestAllowNamesEveryMethodServed: a 405's Allow named GET where the path
// answers HEAD too (a monitor or proxy probing with HEAD, told by Allow that
// it may not, stopped probing or marked the endpoint broken); every method
// an API path's Allow names is now served there, and HEAD is named with GET.
func TestAllowNamesEveryMethodServed(t *testing.T) {
	e := newEnv(t, false)
	for _, tc := range []struct{ path, allow string }{
		{"/v1/status", "GET, HEAD"},
		{"/v1/pools", "GET, HEAD"},
		{"/v1/pools/training", "GET, HEAD"},
		{"/v1/instances", "GET, HEAD"},
		{"/v1/decisions", "GET, HEAD"},
		{"/v1/audit", "GET, HEAD"},
		{"/v1/bursts", "GET, HEAD, POST"},
		{"/v1/bursts/b-0001", "GET, HEAD, DELETE"},
	} {
		req, err := http.NewRequest(http.MethodPatch, e.url+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.tok[tokens.Admin])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("PATCH %s: %d, Allow %q; want 405, Allow %q", tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.allow)
		}
		// HEAD is served where GET is: a 200 without a body.
		req, _ = http.NewRequest(http.MethodHead, e.url+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+e.tok[tokens.Admin])
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD %s: %d, want 200 (Allow names HEAD)", tc.path, resp.StatusCode)
		}
	}
}

// TestTokenRevokedWhileTheBodyIsSent: a mutation is authenticated before
// its body is read, and the body may take the server's read timeout to
// arrive; a token revoked (or lowered to viewer) meanwhile still created
// the burst, through the API and through the page's form. The token is
// looked up again once the body is in: revoked, the call is refused (401),
// lowered, 403, and nothing is created.
func TestTokenRevokedWhileTheBodyIsSent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		page   bool
		role   tokens.Role // after the edit; "" removes the token
		status int
		want   string
	}{
		{"revoked", false, "", http.StatusUnauthorized, "unknown token"},
		{"lowered to viewer", false, tokens.Viewer, http.StatusForbidden, "role viewer"},
		{"revoked, on the page", true, "", http.StatusUnauthorized, "Log in"},
		{"lowered to viewer, on the page", true, tokens.Viewer, http.StatusForbidden, "viewer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, false)
			tok, err := tokens.Add(e.tokens, "bob", tokens.Operator, e.clock.Now(), nil)
			if err != nil {
				t.Fatal(err)
			}
			pr, pw := io.Pipe()
			var req *http.Request
			body := `{"pool":"training","gpus":4,"for":"1h","reason":"sent slowly"}`
			if tc.page {
				b := newBrowser(e)
				e.tok["bob"] = tok
				csrf := b.login("bob")
				body = url.Values{"csrf": {csrf}, "pool": {"training"}, "gpus": {"4"}, "for": {"1h"}, "reason": {"sent slowly"}}.Encode()
				req, _ = http.NewRequest(http.MethodPost, e.url+"/bursts", pr)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				u, _ := url.Parse(e.url)
				for _, c := range b.c.Jar.Cookies(u) {
					req.AddCookie(c)
				}
			} else {
				req, _ = http.NewRequest(http.MethodPost, e.url+"/v1/bursts", pr)
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Content-Type", "application/json")
			}
			req.ContentLength = int64(len(body))
			req.Header.Set("Expect", "100-continue") // answered once the handler reads the body: after the first lookup
			// A test that gives up ends the request, whose handler would
			// otherwise wait for the body forever and hold the server's
			// Close (the cleanup) until the package's timeout.
			ctx, cancel := context.WithCancel(req.Context())
			defer cancel()
			defer pw.CloseWithError(errors.New("the test gave up on the request"))
			got100 := make(chan struct{})
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got100Continue: func() { close(got100) }})
			tr := &http.Transport{ExpectContinueTimeout: time.Minute}
			defer tr.CloseIdleConnections()
			type answer struct {
				resp *http.Response
				err  error
			}
			done := make(chan answer, 1)
			go func() {
				resp, err := tr.RoundTrip(req.WithContext(ctx))
				done <- answer{resp, err}
			}()
			timeout := time.NewTimer(30 * time.Second)
			defer timeout.Stop()
			select {
			case <-got100:
			case <-timeout.C:
				t.Fatal("the server never asked for the body")
			}
			f, err := tokens.Read(e.tokens)
			if err != nil {
				t.Fatal(err)
			}
			kept := f.Entries[:0]
			for _, en := range f.Entries {
				if en.Name == "bob" && tc.role != "" {
					en.Role = tc.role
				}
				if en.Name != "bob" || tc.role != "" {
					kept = append(kept, en)
				}
			}
			f.Entries = kept
			writeFile(t, e.tokens+".new", f.Marshal())
			if err := os.Rename(e.tokens+".new", e.tokens); err != nil {
				t.Fatal(err)
			}
			fmt.Fprint(pw, body)
			pw.Close()
			var a answer
			select {
			case a = <-done:
			case <-timeout.C:
				t.Fatal("no answer")
			}
			if a.err != nil {
				t.Fatal(a.err)
			}
			got, _ := io.ReadAll(a.resp.Body)
			a.resp.Body.Close()
			if a.resp.StatusCode != tc.status || !strings.Contains(string(got), tc.want) {
				t.Errorf("a token %s while its body was sent: %d %.600s, want %d saying %q", tc.name, a.resp.StatusCode, got, tc.status, tc.want)
			}
			bs, err := e.client(tokens.Viewer).Bursts(context.Background(), "", false)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bs {
				if b.Owner == "bob" {
					t.Errorf("burst %s opened by bob's token %s", b.ID, tc.name)
				}
			}
		})
	}
}

// TestAPIJSONIsNotHTMLEscaped: the API's answers wrote &, < and > as
// \u0026, \u003c and \u003e (encoding/json's default, for JSON put inside
// HTML), so a reason "R&D <night run> -> INC-7" read
// "R\u0026D \u003cnight run\u003e -\u003e INC-7" to curl, jq -r aside, and
// to grep, an error naming a bad value read likewise, and more_floors'
// "limit=…\u0026pool=…" was no URL, while the CLI's -o json wrote them as
// they are. The API writes them as they are too; the page never reads
// the API's JSON (it is HTML from html/template), and each answer is
// application/json with nosniff, never taken as HTML.
func TestAPIJSONIsNotHTMLEscaped(t *testing.T) {
	e := newEnv(t, false)
	const reason = "R&D <night run> -> INC-7"
	code, created := e.do(http.MethodPost, "/v1/bursts", e.tok[tokens.Operator], `{"pool":"training","gpus":1,"for":"1h","reason":"`+reason+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("creating a burst: %d %s", code, created)
	}
	var b api.Burst
	if err := json.Unmarshal([]byte(created), &b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"the created burst", http.MethodPost, "", "", http.StatusCreated, `"reason": "` + reason + `"`},
		{"a burst", http.MethodGet, "/v1/bursts/" + b.ID, "", http.StatusOK, `"reason": "` + reason + `"`},
		{"the bursts", http.MethodGet, "/v1/bursts?pool=training", "", http.StatusOK, `"reason": "` + reason + `"`},
		{"the status", http.MethodGet, "/v1/status", "", http.StatusOK, `"reason": "` + reason + `"`},
		{"a pool not known", http.MethodGet, "/v1/pools/a%3Cb%3E&c", "", http.StatusNotFound, `a<b>&c`},
		{"a bad duration", http.MethodPost, "/v1/bursts", `{"pool":"training","gpus":1,"for":"<1h> & more","reason":"x"}`, http.StatusBadRequest, `for \"<1h> & more\" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := http.StatusCreated, created
			if tc.path != "" {
				code, body = e.do(tc.method, tc.path, e.tok[tokens.Operator], tc.body)
			}
			if code != tc.status || !strings.Contains(body, tc.want) || strings.Contains(body, `\u00`) {
				t.Errorf("%s %s: %d\n%.2000s\nwant %d with %s as it is", tc.method, tc.path, code, body, tc.status, tc.want)
			}
		})
	}
}

// postBurstExpecting posts body to /v1/bursts as the operator, with
// header, and fails t unless the answer has status code and its JSON,
// indented, says want. The answer's body is read and closed.
func postBurstExpecting(t *testing.T, e *env, body []byte, header http.Header, code int, want string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/bursts", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	req.Header.Set("Authorization", "Bearer "+e.tok[tokens.Operator])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ind strings.Builder
	if json.Valid(b) {
		var v any
		json.Unmarshal(b, &v)
		out, _ := json.MarshalIndent(v, "", "  ")
		ind.Write(out)
	}
	if resp.StatusCode != code || !strings.Contains(ind.String(), want) {
		t.Fatalf("%d %s\nwant %d saying %s", resp.StatusCode, b, code, want)
	}
	return resp
}

// TestCompressedBodyIsRefusedSayingSo: a burst's body sent gzipped (a
// client library compressing its requests) was read as it came and
// refused as not JSON (400), naming bytes its client never wrote; it is
// refused (415) naming the Content-Encoding and saying to send it as it
// is, with Accept-Encoding: identity, and nothing is created.
func TestCompressedBodyIsRefusedSayingSo(t *testing.T) {
	e := newEnv(t, false)
	const body = `{"pool":"training","gpus":2,"for":"1h","reason":"INC-gzip"}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(body))
	zw.Close()
	for _, tc := range []struct {
		encoding string
		body     []byte
		code     int
		want     string
	}{
		{"gzip", gz.Bytes(), http.StatusUnsupportedMediaType, `the body was sent with Content-Encoding \"gzip\": POST /v1/bursts takes its JSON body as it is, not compressed; send it without Content-Encoding`},
		{"deflate", []byte(body), http.StatusUnsupportedMediaType, `Content-Encoding \"deflate\"`},
		{"identity", []byte(body), http.StatusCreated, `"reason": "INC-gzip"`},
	} {
		t.Run(tc.encoding, func(t *testing.T) {
			header := http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {tc.encoding}}
			resp := postBurstExpecting(t, e, tc.body, header, tc.code, tc.want)
			if tc.code == http.StatusUnsupportedMediaType && resp.Header.Get("Accept-Encoding") != "identity" {
				t.Errorf("Accept-Encoding %q, want identity", resp.Header.Get("Accept-Encoding"))
			}
		})
	}
	bs, err := e.client(tokens.Viewer).Bursts(t.Context(), "", true)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range bs {
		if b.Reason == "INC-gzip" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d bursts created, want 1 (the one sent as it is)", n)
	}
}

// TestClientReadsAnAnswerNearItsSize: the client read an answer with
// io.ReadAll, whose doubling pieces took about twice its size (an error
// answer padded to 48 MiB: 2.5x), and one announced past its 64 MiB
// bound whole before refusing it. An answer is read into one buffer of
// its Content-Length, and one announced past the bound is refused unread.
func TestClientReadsAnAnswerNearItsSize(t *testing.T) {
	const size = 48 << 20
	const msg = `{"error":{"code":"busy","message":"try later"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" {
			w.Header().Set("Content-Length", fmt.Sprint(100<<20))
			w.WriteHeader(http.StatusOK)
			return // announced, never sent
		}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, msg)
		io.Copy(w, io.LimitReader(spaces{}, size-int64(len(msg))))
	}))
	t.Cleanup(srv.Close)
	c, err := api.NewClient(srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = c.Pool(context.Background(), "train")
	runtime.ReadMemStats(&after)
	t.Logf("allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	if got := after.TotalAlloc - before.TotalAlloc; err == nil || !strings.Contains(err.Error(), "try later") || got > size+size/4 {
		t.Errorf("an error answer of %d bytes: %v, %d bytes allocated; want its message, at most %d", size, err, got, size+size/4)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Status(ctx); err == nil || !strings.Contains(err.Error(), "GET /v1/status: the answer is over 67108864 bytes") {
		t.Errorf("an answer announced at 100 MiB and never sent: %v, want it refused as over the bound", err)
	}
}

// spaces reads as endless ASCII spaces (JSON's white space).
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
