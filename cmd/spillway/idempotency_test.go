package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// TestAPIIdempotencyKeySurvivesRestart: a burst created with an
// Idempotency-Key, then a restart of the server on its SQLite state, and
// the client's retry with the key gets that burst back instead of a second
// (which would double the GPUs and the spend); the key with another
// request is refused.
func TestAPIIdempotencyKeySurvivesRestart(t *testing.T) {
	s := startAPIServer(t)
	op := s.token(t, "alice", tokens.Operator)
	req := api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "INC-77", IdempotencyKey: "cli-7f3a9c"}
	first, err := s.client(t, op).CreateBurst(t.Context(), req)
	if err != nil || first.Replayed {
		t.Fatalf("first create: %+v, %v", first, err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, loadConfig(t, s.config))
	s.url = "http://" + srv.addr
	c := s.client(t, op)
	again, err := c.CreateBurst(t.Context(), req)
	if err != nil || again.ID != first.ID || !again.Replayed {
		t.Fatalf("retry after the restart: %+v, %v; want burst %s replayed", again, err, first.ID)
	}
	bs, err := c.Bursts(t.Context(), "train", true)
	if err != nil || len(bs) != 1 {
		t.Fatalf("bursts after the retry: %+v, %v; want only %s", bs, err, first.ID)
	}
	req.GPUs = 16
	if _, err := c.CreateBurst(t.Context(), req); apiStatus(err) != 422 {
		t.Fatalf("the key with another request: %v, want 422", err)
	}
}

// TestBurstCreateSendsIdempotencyKey: each `spillway burst create` sends a
// key of its own (the client's retries of one run are then safe), and
// --idempotency-key sends the one given, so that running the command again
// after a timeout returns the burst the first run made; when the answer
// is lost, the error says which key to run it again with.
func TestBurstCreateSendsIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	lose := false
	state := "active"
	reused := false
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		lostAnswer, st, keyReused := lose, state, reused
		mu.Unlock()
		if keyReused {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(w, `{"error":{"code":"idempotency_key_reused","message":"Idempotency-Key \"INC-9-burst\" was used for burst b-1 by a request that asked otherwise"}}`)
			return
		}
		if lostAnswer { // the burst is made, the answer never comes
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"b-1","pool":"train","gpus":8,"reason":"x","owner":"alice","state":%q,"replayed":true}`, st)
	}))
	defer ts.Close()
	t.Setenv("SPILLWAY_SERVER", ts.URL)
	t.Setenv("SPILLWAY_TOKEN", "spw_test")
	create := []string{"burst", "create", "--pool", "train", "--gpus", "8", "--for", "1h", "--reason", "x"}
	for range 2 {
		if _, _, err := runCLI(t, create...); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := runCLI(t, append(create, "--idempotency-key", "INC-9-burst")...)
	if err != nil || !strings.Contains(out, "burst b-1 was created earlier with idempotency key INC-9-burst; nothing new was opened") {
		t.Fatalf("a replayed create printed %q, %v", out, err)
	}
	if !strings.Contains(out, "cancel it early with: spillway burst cancel b-1") {
		t.Fatalf("a replayed active burst printed %q, want how to cancel it", out)
	}
	mu.Lock()
	state = "cancelled"
	mu.Unlock()
	out, _, err = runCLI(t, append(create, "--idempotency-key", "INC-9-burst")...)
	if err != nil || !strings.Contains(out, "It is cancelled") || strings.Contains(out, "cancel it early") ||
		!strings.Contains(out, "to open a new burst, run the command without --idempotency-key") {
		t.Fatalf("a replayed cancelled burst printed %q, %v; want how to open a new one, not how to cancel it", out, err)
	}
	mu.Lock()
	reused = true
	mu.Unlock()
	_, _, err = runCLI(t, append(create, "--idempotency-key", "INC-9-burst")...)
	if err == nil || !strings.Contains(err.Error(), "To open a new burst, run the command without --idempotency-key") {
		t.Fatalf("a key used with other flags: %v, want how to open a new burst", err)
	}
	mu.Lock()
	reused = false
	keys = keys[:3]
	if len(keys) != 3 || keys[0] == "" || keys[1] == "" || keys[0] == keys[1] || keys[2] != "INC-9-burst" {
		t.Fatalf("keys sent %q: want a new one for each of two runs, then INC-9-burst", keys)
	}
	lose = true
	mu.Unlock()
	_, _, err = runCLI(t, append(create, "--idempotency-key", "INC-9-burst")...)
	if err == nil || !strings.Contains(err.Error(), "The burst may have been created. Run the same command with --idempotency-key INC-9-burst") {
		t.Fatalf("a lost answer: %v, want the key to retry with", err)
	}
	// A request that never left created nothing: no key to retry with.
	_, _, err = runCLI(t, append(create, "--server", "http://127.0.0.1:1")...)
	if err == nil || strings.Contains(err.Error(), "may have been created") {
		t.Fatalf("no server listening: %v, want no word of a burst that may exist", err)
	}
	_, _, err = runCLI(t, append(create, "--idempotency-key", "has space")...)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), `--idempotency-key "has space" is not a key: use 1 to 255 printable ASCII characters without spaces (see spillway burst create --help)`) {
		t.Fatalf("a bad key: %v, want a usage error naming it", err)
	}
}

// TestBurstCancelSaysALaunchIsUnderWay: a burst cancelled while its launch
// is in flight gets instances after the cancel (they are then drained); the
// cancel said only that its instances drain, so they looked like a burst
// that did not stop. A launch of one GPU is "1 GPU" (it was "1 GPUs").
func TestBurstCancelSaysALaunchIsUnderWay(t *testing.T) {
	for gpus, want := range map[int]string{8: "a launch of 8 GPUs", 1: "a launch of 1 GPU"} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"b-20261201t072604-250f5dc3e9bd","pool":"train","gpus":8,"reason":"x","owner":"alice","state":"cancelled","instances":0,"launching_gpus":%d}`, gpus)
		}))
		t.Cleanup(ts.Close)
		t.Setenv("SPILLWAY_SERVER", ts.URL)
		t.Setenv("SPILLWAY_TOKEN", "spw_test")
		out, _, err := runCLI(t, "burst", "cancel", "b-20261201t072604-250f5dc3e9bd")
		if want += " for it was already under way: its instances appear, then drain and terminate too"; err != nil || !strings.Contains(out, want) {
			t.Errorf("cancel during a launch of %d GPUs printed %q, %v; want %q", gpus, out, err, want)
		}
	}
}

// TestAPIIdempotencyKeyConcurrentOnSQLite: 40 requests with one
// Idempotency-Key sent at once to a server on its SQLite state (a client
// retrying from several threads, a proxy replaying) open one burst, and
// each is answered with it, never a 500 or a second burst.
func TestAPIIdempotencyKeyConcurrentOnSQLite(t *testing.T) {
	s := startAPIServer(t)
	c := s.client(t, s.token(t, "alice", tokens.Operator))
	req := api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "INC-78", IdempotencyKey: "cli-concurrent"}
	var wg sync.WaitGroup
	bursts := make([]api.Burst, 40)
	errs := make([]error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bursts[i], errs[i] = c.CreateBurst(t.Context(), req)
		}()
	}
	wg.Wait()
	created := 0
	for i, b := range bursts {
		if errs[i] != nil || b.ID != bursts[0].ID {
			t.Errorf("request %d: burst %q, %v; want burst %s", i, b.ID, errs[i], bursts[0].ID)
		}
		if !b.Replayed {
			created++
		}
	}
	bs, err := c.Bursts(t.Context(), "train", true)
	if err != nil || len(bs) != 1 || created != 1 {
		t.Fatalf("after 40 requests with one key: %d bursts (%v), %d answered as created; want 1 and 1", len(bs), err, created)
	}
}
