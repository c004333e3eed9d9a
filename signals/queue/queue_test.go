package queue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/spillway-io/spillway/signals"
	httpsource "github.com/spillway-io/spillway/signals/queue/http"
	"github.com/spillway-io/spillway/signals/queue/prometheus"
	"github.com/spillway-io/spillway/signals/queue/slurm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeClock records the waits asked of it and lets them pass at once.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// blockingClock never lets a wait pass.
type blockingClock struct{ fakeClock }

func (c *blockingClock) After(d time.Duration) <-chan time.Time {
	c.fakeClock.After(d)
	return nil
}

// scripted is a DemandSource answering from a list of errors, then succeeding.
type scripted struct {
	errs  []error
	calls int
	// block makes a call wait for its context instead of answering.
	block       bool
	hadDeadline []bool
}

type permanentErr struct{ msg string }

func (e permanentErr) Error() string   { return e.msg }
func (e permanentErr) Permanent() bool { return true }

func (s *scripted) Name() string { return "fake:q" }

func (s *scripted) Demand(ctx context.Context) (signals.Demand, error) {
	s.calls++
	_, ok := ctx.Deadline()
	s.hadDeadline = append(s.hadDeadline, ok)
	if s.block {
		<-ctx.Done()
		return signals.Demand{}, fmt.Errorf("fake source %q: %w", s.Name(), ctx.Err())
	}
	if s.calls <= len(s.errs) {
		return signals.Demand{}, s.errs[s.calls-1]
	}
	return signals.Demand{PendingJobs: 4, PendingGPUs: 9, PendingGPUsKnown: true}, nil
}

var (
	ctx   = context.Background()
	epoch = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
)

func half() float64 { return 0.5 }

func TestWrapRetriesWithCappedBackoff(t *testing.T) {
	errDown := errors.New(`fake source "fake:q": connection refused`)
	tests := []struct {
		name      string
		errs      []error
		attempts  int
		wantCalls int
		wantWaits []time.Duration
		wantErr   string
	}{
		{"first read works", nil, 4, 1, nil, ""},
		{"works on the third", []error{errDown, errDown}, 4, 3, []time.Duration{75 * time.Millisecond, 150 * time.Millisecond}, ""},
		// base 100ms doubling, capped at 300ms; equal jitter at 0.5 gives ¾ of each.
		{"gives up", []error{errDown, errDown, errDown, errDown, errDown}, 5, 5,
			[]time.Duration{75 * time.Millisecond, 150 * time.Millisecond, 225 * time.Millisecond, 225 * time.Millisecond},
			`fake source "fake:q": connection refused (gave up after 5 attempts)`},
		{"permanent error is not retried", []error{permanentErr{`fake source "fake:q": field path x not found`}}, 5, 1, nil,
			`fake source "fake:q": field path x not found`},
		{"one attempt", []error{errDown}, 1, 1, nil, `fake source "fake:q": connection refused`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &scripted{errs: tt.errs}
			clock := &fakeClock{now: epoch}
			w := Wrap(src, WithAttempts(tt.attempts), WithBackoff(100*time.Millisecond, 300*time.Millisecond), WithClock(clock), WithJitter(half))
			d, err := w.Demand(ctx)
			if src.calls != tt.wantCalls {
				t.Errorf("%d reads, want %d", src.calls, tt.wantCalls)
			}
			if fmt.Sprint(clock.waits) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waited %v, want %v", clock.waits, tt.wantWaits)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if d.Source != "fake:q" || !d.Time.Equal(clock.Now()) || d.PendingGPUs != 9 {
					t.Errorf("reading %+v: want source fake:q, time from the clock, 9 GPUs", d)
				}
				return
			}
			var qerr *Error
			if !errors.As(err, &qerr) || err.Error() != tt.wantErr || qerr.Source != "fake:q" || qerr.Attempts != tt.wantCalls {
				t.Errorf("error %v (%#v), want %q after %d attempts", err, qerr, tt.wantErr, tt.wantCalls)
			}
		})
	}
}

func TestWrapJitterSpreadsDelays(t *testing.T) {
	for _, tt := range []struct {
		jitter float64
		want   time.Duration
	}{{0, 50 * time.Millisecond}, {0.999, 99950 * time.Microsecond}} {
		clock := &fakeClock{now: epoch}
		w := Wrap(&scripted{errs: []error{errors.New("x")}}, WithBackoff(100*time.Millisecond, time.Second), WithClock(clock), WithJitter(func() float64 { return tt.jitter }))
		if _, err := w.Demand(ctx); err != nil {
			t.Fatal(err)
		}
		if len(clock.waits) != 1 || clock.waits[0] != tt.want {
			t.Errorf("jitter %v: waited %v, want [%v]", tt.jitter, clock.waits, tt.want)
		}
	}
}

func TestWrapTimesOutEachAttempt(t *testing.T) {
	src := &scripted{block: true}
	w := Wrap(src, WithTimeout(20*time.Millisecond), WithAttempts(2), WithClock(&fakeClock{now: epoch}))
	_, err := w.Demand(ctx)
	var qerr *Error
	if !errors.As(err, &qerr) || qerr.Timeout != 20*time.Millisecond || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a timed-out *queue.Error wrapping context.DeadlineExceeded", err)
	}
	want := `fake source "fake:q": context deadline exceeded (attempt timed out after 20ms) (gave up after 2 attempts)`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if src.calls != 2 || !src.hadDeadline[0] || !src.hadDeadline[1] {
		t.Errorf("%d calls, deadlines %v; want 2 calls each with a deadline", src.calls, src.hadDeadline)
	}
}

func TestWrapStopsWhenCallerGivesUp(t *testing.T) {
	src := &scripted{errs: []error{errors.New(`fake source "fake:q": down`)}}
	cctx, cancel := context.WithCancel(ctx)
	clock := &blockingClock{fakeClock{now: epoch}}
	done := make(chan error)
	go func() {
		_, err := Wrap(src, WithClock(clock)).Demand(cctx)
		done <- err
	}()
	// The wrapper is now waiting out its backoff on a clock that never fires.
	for {
		clock.mu.Lock()
		n := len(clock.waits)
		clock.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "down") || src.calls != 1 {
		t.Errorf("after cancel: error %v after %d calls; want the last error after 1", err, src.calls)
	}
}

// TestWrapHTTPRetriesRealServer: a server that fails the first GET with 503
// is read on the second attempt.
func TestWrapHTTPRetriesRealServer(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"pending_gpus": 16}`)
	}))
	defer srv.Close()
	src, err := httpsource.New(httpsource.Config{Name: "http:q", URL: srv.URL, PendingGPUs: "pending_gpus"})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: epoch}
	w := Wrap(src, WithClock(clock), WithJitter(half))
	defer w.Close()
	d, err := w.Demand(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.PendingGPUs != 16 || hits.Load() != 2 || len(clock.waits) != 1 {
		t.Errorf("read %d GPUs after %d requests and waits %v; want 16 after 2 with one wait", d.PendingGPUs, hits.Load(), clock.waits)
	}
}

func TestNewFromYAML(t *testing.T) {
	raw, err := os.ReadFile("testdata/sources.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfgs []Config
	if err := yaml.Unmarshal(raw, &cfgs); err != nil {
		t.Fatal(err)
	}
	srcs := make([]*Source, len(cfgs))
	for i, cfg := range cfgs {
		if srcs[i], err = New(cfg, WithClock(&fakeClock{now: epoch}), WithJitter(half)); err != nil {
			t.Fatalf("source %d: %v", i, err)
		}
		defer srcs[i].Close()
	}
	if cfgs[0].Timeout != 2*time.Second || srcs[0].opts.timeout != 2*time.Second || srcs[0].opts.attempts != 2 || srcs[0].opts.baseDelay != 10*time.Millisecond {
		t.Errorf("command source options %+v from %+v", srcs[0].opts, cfgs[0])
	}
	if got := cfgs[4].Redis.ClaimIdle; got != 10*time.Minute {
		t.Errorf("redis claim_idle %v, want 10m", got)
	}
	if srcs[3].opts.timeout != DefaultSlurmTimeout || srcs[2].opts.timeout != DefaultTimeout {
		t.Errorf("timeouts: slurm %v, http %v; want %v, %v", srcs[3].opts.timeout, srcs[2].opts.timeout, DefaultSlurmTimeout, DefaultTimeout)
	}
	if sl, ok := srcs[3].Unwrap().(*slurm.Source); !ok || sl.Name() != "slurm:gpu" || !strings.Contains(strings.Join(sl.Args(), " "), "--account=ml") {
		t.Errorf("slurm source %#v", srcs[3].Unwrap())
	}

	d, err := srcs[0].Demand(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Source != "depth" || d.PendingJobs != 2 || d.PendingGPUs != 6 {
		t.Errorf("command read %+v", d)
	}
	// Nothing listens on port 1: both fail, naming the source and cause.
	_, err = srcs[1].Demand(ctx)
	if err == nil || !strings.Contains(err.Error(), `redis source "redis:jobs": LLEN jobs on 127.0.0.1:1`) || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "gave up") {
		t.Errorf("redis with attempts 1: %v", err)
	}
	_, err = srcs[2].Demand(ctx)
	if err == nil || !strings.Contains(err.Error(), `http source "http:127.0.0.1:1"`) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "(gave up after 3 attempts)") {
		t.Errorf("http with default attempts: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Type: "kafka"}, `demand source type "kafka" is not one of slurm, redis, http, command`},
		{Config{Type: TypeRedis}, "demand source of type redis has no redis: settings"},
		{Config{Type: TypeRedis, Slurm: &slurm.Config{}}, `has slurm: settings but type is "redis"`},
		{Config{Type: TypeSlurm, Slurm: &slurm.Config{}, Timeout: -time.Second, Attempts: -1}, "timeout -1s is negative; attempts -1 is negative"},
		{Config{Type: TypeHTTP, HTTP: &httpsource.Config{URL: "http://x"}}, "none of pending_jobs, pending_gpus, job_gpus is set"},
		{Config{Type: TypeSlurm, Slurm: &slurm.Config{SkipReasons: []string{"QOS*", "QOS["}}}, `skip_reasons[1] "QOS[" is not a reason or a pattern of reasons`},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func BenchmarkWrapOverhead(b *testing.B) {
	w := Wrap(&scripted{})
	for b.Loop() {
		if _, err := w.Demand(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWrapHonoursRetryAfter: an endpoint that answers 429 or 503 with a
// Retry-After is not asked again before it: within the read's deadline the
// retry waits that long (not the shorter backoff); past the deadline the
// read fails at once, saying when the endpoint asked to be retried, and
// later reads before then fail without asking it (they asked it at each
// backoff, three times a tick). The http source and the Prometheus one
// follow the same rule.
func TestWrapHonoursRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name string
		// answer is the body of a successful read of 16 pending GPUs.
		answer string
		source func(url string, clock *fakeClock) (signals.DemandSource, error)
	}{
		{"http", `{"pending_gpus": 16}`, func(url string, _ *fakeClock) (signals.DemandSource, error) {
			return httpsource.New(httpsource.Config{Name: "http:q", URL: url, PendingGPUs: "pending_gpus"})
		}},
		{"prometheus", `{"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "16"]}}`, func(url string, clock *fakeClock) (signals.DemandSource, error) {
			return prometheus.New(prometheus.Config{Name: "q", URL: url, Query: "sum(queue_pending_gpus)", Measure: prometheus.PendingGPUs, Clock: clock})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			var retryAfter atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n := hits.Add(1); n == 1 || n == 3 {
					w.Header().Set("Retry-After", retryAfter.Load().(string))
					http.Error(w, "slow down", http.StatusTooManyRequests)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, tt.answer)
			}))
			defer srv.Close()
			clock := &fakeClock{now: epoch}
			src, err := tt.source(srv.URL, clock)
			if err != nil {
				t.Fatal(err)
			}
			w := Wrap(src, WithClock(clock), WithJitter(half))
			defer w.Close()
			read := func() (signals.Demand, error) {
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				return w.Demand(ctx)
			}

			// Within the deadline: one retry, after the 5 s asked.
			retryAfter.Store("5")
			d, err := read()
			if err != nil || d.PendingGPUs != 16 || hits.Load() != 2 || fmt.Sprint(clock.waits) != "[5s]" {
				t.Fatalf("read %d GPUs (%v) after %d requests and waits %v; want 16 after 2, having waited 5s", d.PendingGPUs, err, hits.Load(), clock.waits)
			}

			// Past the deadline: no retry, no wait.
			retryAfter.Store("300")
			asked := clock.Now()
			_, err = read()
			var qerr *Error
			want := fmt.Sprintf("answered 429 Too Many Requests (want 2xx): \"slow down\", asking to be retried after 5m0s (not retried: it asked to be retried at %s, past this read's deadline)", asked.Add(5*time.Minute).Format(time.RFC3339))
			if !errors.As(err, &qerr) || !strings.Contains(err.Error(), want) || hits.Load() != 3 || len(clock.waits) != 1 {
				t.Fatalf("error %v after %d requests and waits %v; want one more request and %q", err, hits.Load(), clock.waits, want)
			}

			// Before then, later reads do not ask; after, they do.
			clock.mu.Lock()
			clock.now = asked.Add(5*time.Minute - time.Second)
			clock.mu.Unlock()
			_, err = read()
			want = fmt.Sprintf("(not read again before %s, as it asked)", asked.Add(5*time.Minute).Format(time.RFC3339))
			if !errors.As(err, &qerr) || qerr.Attempts != 0 || !strings.Contains(err.Error(), want) || hits.Load() != 3 {
				t.Fatalf("error %v after %d requests; want none more and %q", err, hits.Load(), want)
			}
			clock.mu.Lock()
			clock.now = asked.Add(5 * time.Minute)
			clock.mu.Unlock()
			if d, err := read(); err != nil || d.PendingGPUs != 16 || hits.Load() != 4 {
				t.Fatalf("read %d GPUs (%v) after %d requests; want 16 once the wait is up", d.PendingGPUs, err, hits.Load())
			}
		})
	}
}
