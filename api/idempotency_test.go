package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// postKeyed sends POST /v1/bursts with the Idempotency-Key header values
// given and returns the status, the Idempotent-Replayed header and the body.
func (e *env) postKeyed(token, body string, keys ...string) (int, string, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/v1/bursts", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for _, k := range keys {
		req.Header.Add("Idempotency-Key", k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), string(b)
}

func burstID(t *testing.T, body string) string {
	t.Helper()
	var b api.Burst
	if err := json.Unmarshal([]byte(body), &b); err != nil || b.ID == "" {
		t.Fatalf("not a burst: %s", body)
	}
	return b.ID
}

// TestIdempotencyKey: a request retried with its Idempotency-Key (after a
// timeout, say) returns the burst the first created instead of opening a
// second; the key sent with another request is refused naming it; a key
// is the principal's own; a malformed key is refused.
func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t, false)
	op := e.tok[tokens.Operator]
	req := `{"pool":"training","gpus":8,"for":"2h","reason":"INC-1: backlog"}`
	code, replayed, body := e.postKeyed(op, req, "retry-7f3a")
	if code != http.StatusCreated || replayed != "" {
		t.Fatalf("first request: %d (replayed %q) %s, want 201 not replayed", code, replayed, body)
	}
	first := burstID(t, body)

	e.clock.Advance(time.Minute)
	code, replayed, body = e.postKeyed(op, req, "retry-7f3a")
	if code != http.StatusOK || replayed != "true" || !strings.Contains(body, `"replayed":true`) || burstID(t, body) != first {
		t.Fatalf("retry: %d (replayed %q) %s, want 200 replaying burst %s", code, replayed, body, first)
	}
	// The same, through the Go client the CLI uses.
	r := api.CreateBurstRequest{Pool: "training", GPUs: 8, For: api.Duration(2 * time.Hour), Reason: "INC-1: backlog", IdempotencyKey: "retry-7f3a"}
	b, err := e.client(tokens.Operator).CreateBurst(t.Context(), r)
	if err != nil || b.ID != first || !b.Replayed {
		t.Fatalf("client retry: %+v, %v; want burst %s replayed", b, err, first)
	}
	bs, err := e.client(tokens.Viewer).Bursts(t.Context(), "training", false)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range bs {
		if b.Reason == "INC-1: backlog" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d bursts for INC-1 after three requests with one key, want 1", n)
	}

	// The key with another request: refused, naming the key and its burst.
	code, _, body = e.postKeyed(op, `{"pool":"training","gpus":12,"for":"2h","reason":"INC-1: backlog"}`, "retry-7f3a")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `"code":"idempotency_key_reused"`) ||
		!strings.Contains(body, `Idempotency-Key \"retry-7f3a\" was used for burst `+first) {
		t.Fatalf("key reused with another request: %d %s, want 422 naming the key and burst %s", code, body, first)
	}
	// Another principal's key of the same name is its own.
	code, _, body = e.postKeyed(e.tok[tokens.Admin], req, "retry-7f3a")
	if code != http.StatusCreated || burstID(t, body) == first {
		t.Fatalf("the admin's request with the operator's key: %d %s, want a new burst", code, body)
	}
	// After a cancel, a retry still gets the (cancelled) burst, not a new one.
	if _, err := e.client(tokens.Operator).CancelBurst(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	code, _, body = e.postKeyed(op, req, "retry-7f3a")
	if code != http.StatusOK || burstID(t, body) != first || !strings.Contains(body, `"state":"cancelled"`) {
		t.Fatalf("retry after a cancel: %d %s, want burst %s, cancelled", code, body, first)
	}

	for _, tc := range []struct {
		name string
		keys []string
		want string
	}{
		{"empty", []string{""}, `the Idempotency-Key header \"\" is not a key`},
		{"space", []string{"a b"}, `the Idempotency-Key header \"a b\" is not a key: use 1 to 255 printable ASCII`},
		{"too long", []string{strings.Repeat("k", 256)}, "is not a key: use 1 to 255"},
		{"non-ASCII", []string{"clé"}, "is not a key"},
		{"twice", []string{"k1", "k2"}, "the Idempotency-Key header is given 2 times: send it once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := e.postKeyed(op, req, tc.keys...)
			if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s, want 400 with %q", code, body, tc.want)
			}
		})
	}
}

// TestIdempotencyKeyConcurrentRetries: a request and its retries arriving
// at once open one burst; each is answered with it.
func TestIdempotencyKeyConcurrentRetries(t *testing.T) {
	e := newEnv(t, false)
	req := `{"pool":"training","gpus":4,"for":"1h","reason":"INC-2"}`
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			code, _, body := e.postKeyed(e.tok[tokens.Operator], req, "same-key")
			if code != http.StatusCreated && code != http.StatusOK {
				t.Errorf("request %d: %d %s", i, code, body)
				return
			}
			var b api.Burst
			_ = json.Unmarshal([]byte(body), &b)
			ids[i] = b.ID
		})
	}
	wg.Wait()
	for i := range ids {
		if ids[i] != ids[0] || ids[i] == "" {
			t.Fatalf("bursts %q: want one burst for every request", ids)
		}
	}
}
