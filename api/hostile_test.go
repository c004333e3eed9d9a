package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

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
