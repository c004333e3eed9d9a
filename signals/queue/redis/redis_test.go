package redis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/signals"
)

// server is the redis-server every test here shares.
var server *fixture.Redis

func TestMain(m *testing.M) {
	r, err := fixture.StartRedis()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: starting redis-server: %v\n", err)
		os.Exit(1)
	}
	server = r
	code := m.Run()
	r.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// client is a plain go-redis client for filling keys. The server is shared
// by every test (and every -count iteration): it starts each test empty.
func client(t testing.TB) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: server.Addr, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	must(t, c.FlushAll(ctx).Err())
	return c
}

func newSource(t testing.TB, cfg Config, opts ...Option) *Source {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = server.Addr
	}
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var ctx = context.Background()

func TestDemandFromRedis(t *testing.T) {
	c := client(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	// Keys: a list of 3 jobs, a zset of 4 jobs enqueued 10..40 minutes
	// ago, a stream of 5 entries the first 90 s old, a hash.
	must(t, c.RPush(ctx, "t:list", "a", "b", "c").Err())
	for i := range 4 {
		must(t, c.ZAdd(ctx, "t:zset", goredis.Z{Score: float64(now.Add(-time.Duration(10*(i+1)) * time.Minute).Unix()), Member: fmt.Sprint(i)}).Err())
	}
	for i := range 5 {
		id := fmt.Sprintf("%d-0", now.Add(-90*time.Second+time.Duration(i)*time.Second).UnixMilli())
		must(t, c.XAdd(ctx, &goredis.XAddArgs{Stream: "t:stream", ID: id, Values: []string{"job", fmt.Sprint(i)}}).Err())
	}
	// A consumer group whose worker has taken 2 of them and acknowledged
	// the first (its job done): XLEN 5, XPENDING 1, and 3 waiting (lag 3).
	must(t, c.XGroupCreate(ctx, "t:stream", "workers", "0").Err())
	taken, err := c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "w1", Streams: []string{"t:stream", ">"}, Count: 2}).Result()
	must(t, err)
	must(t, c.XAck(ctx, "t:stream", "workers", taken[0].Messages[0].ID).Err())
	// The same, with the 4th entry deleted: Redis no longer knows the
	// group's lag (nil), and 2 entries wait (1 pending).
	for i := range 5 {
		id := fmt.Sprintf("%d-0", now.Add(-90*time.Second+time.Duration(i)*time.Second).UnixMilli())
		must(t, c.XAdd(ctx, &goredis.XAddArgs{Stream: "t:holes", ID: id, Values: []string{"job", fmt.Sprint(i)}}).Err())
	}
	must(t, c.XGroupCreate(ctx, "t:holes", "workers", "0").Err())
	taken, err = c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "w1", Streams: []string{"t:holes", ">"}, Count: 2}).Result()
	must(t, err)
	must(t, c.XAck(ctx, "t:holes", "workers", taken[0].Messages[0].ID).Err())
	must(t, c.XDel(ctx, "t:holes", fmt.Sprintf("%d-0", now.Add(-87*time.Second).UnixMilli())).Err())
	for key, want := range map[string]int64{"t:stream": 3, "t:holes": -1} {
		if g, err := c.XInfoGroups(ctx, key).Result(); err != nil || len(g) != 1 || g[0].Lag != want {
			t.Fatalf("fixture %s: groups %+v (%v), want lag %d", key, g, err, want)
		}
	}

	tests := []struct {
		name      string
		cfg       Config
		jobs      int
		gpus      int
		gpusKnown bool
		wait      time.Duration
		waitKnown bool
		// streamWaits, for a stream read with enqueue times and
		// gpus_per_job, is each job's wait.
		streamWaits []time.Duration
	}{
		{"list auto", Config{Key: "t:list"}, 3, 0, false, 0, false, nil},
		{"list typed with gpus_per_job", Config{Key: "t:list", Type: TypeList, GPUsPerJob: 4}, 3, 12, true, 0, false, nil},
		{"zset auto", Config{Key: "t:zset"}, 4, 0, false, 0, false, nil},
		{"zset with enqueue times", Config{Key: "t:zset", Type: TypeZSet, WaitFromTimestamp: true, GPUsPerJob: 1}, 4, 4, true, 40 * time.Minute, true, nil},
		{"stream XLEN", Config{Key: "t:stream"}, 5, 0, false, 0, false, nil},
		{"stream XLEN with ID times", Config{Key: "t:stream", Type: TypeStream, WaitFromTimestamp: true}, 5, 0, false, 90 * time.Second, true, nil},
		// A group's jobs are the entries none of its workers has taken
		// yet; the one taken and not acknowledged runs.
		{"stream group waiting", Config{Key: "t:stream", Group: "workers"}, 3, 0, false, 0, false, nil},
		{"stream group waiting with ID times", Config{Key: "t:stream", Group: "workers", WaitFromTimestamp: true}, 3, 0, false, 88 * time.Second, true, nil},
		{"stream group waiting with ID times and gpus_per_job", Config{Key: "t:stream", Group: "workers", GroupCount: GroupWaiting, WaitFromTimestamp: true, GPUsPerJob: 2}, 3, 6, true, 88 * time.Second, true, secs(88, 87, 86)},
		{"stream group without lag", Config{Key: "t:holes", Group: "workers", Type: TypeStream}, 2, 0, false, 0, false, nil},
		{"stream group without lag with ID times", Config{Key: "t:holes", Group: "workers", WaitFromTimestamp: true}, 2, 0, false, 88 * time.Second, true, nil},
		{"stream group without lag with ID times and gpus_per_job", Config{Key: "t:holes", Group: "workers", WaitFromTimestamp: true, GPUsPerJob: 1}, 2, 2, true, 88 * time.Second, true, secs(88, 86)},
		{"stream group pending", Config{Key: "t:stream", Group: "workers", GroupCount: GroupPending, WaitFromTimestamp: true}, 1, 0, false, 89 * time.Second, true, nil},
		{"stream group pending with ID times and gpus_per_job", Config{Key: "t:stream", Group: "workers", GroupCount: GroupPending, WaitFromTimestamp: true, GPUsPerJob: 2}, 1, 2, true, 89 * time.Second, true, secs(89)},
		{"stream with ID times and gpus_per_job", Config{Key: "t:stream", WaitFromTimestamp: true, GPUsPerJob: 8}, 5, 40, true, 90 * time.Second, true, secs(90, 89, 88, 87, 86)},
		// Redis deletes a list or sorted set when it empties: a missing
		// key is an empty queue, unless it is declared a stream.
		{"missing key is an empty queue", Config{Key: "t:nothing", WaitFromTimestamp: true, GPUsPerJob: 2}, 0, 0, true, 0, true, nil},
		{"missing list", Config{Key: "t:nothing", Type: TypeList}, 0, 0, false, 0, false, nil},
		{"missing zset", Config{Key: "t:nothing", Type: TypeZSet, WaitFromTimestamp: true, GPUsPerJob: 2}, 0, 0, true, 0, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newSource(t, tt.cfg, WithNow(func() time.Time { return now })).Demand(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.PendingJobs != tt.jobs || d.PendingGPUs != tt.gpus || d.PendingGPUsKnown != tt.gpusKnown || d.OldestWait != tt.wait || d.OldestWaitKnown != tt.waitKnown {
				t.Errorf("read jobs %d GPUs %d (known %v) oldest %v (known %v); want %d, %d (%v), %v (%v)",
					d.PendingJobs, d.PendingGPUs, d.PendingGPUsKnown, d.OldestWait, d.OldestWaitKnown,
					tt.jobs, tt.gpus, tt.gpusKnown, tt.wait, tt.waitKnown)
			}
			if d.Source != "redis:"+tt.cfg.Key || !d.Time.Equal(now) {
				t.Errorf("source %q time %v", d.Source, d.Time)
			}
			// With gpus_per_job each job is listed as asking that many, so
			// the engine packs whole jobs (not one-GPU pieces) into instances.
			var want []int
			if g := tt.cfg.GPUsPerJob; g > 0 {
				want = slices.Repeat([]int{g}, tt.jobs)
			}
			if !slices.Equal(d.JobGPUs, want) || (want != nil && len(d.JobGPUs) != d.PendingJobs) {
				t.Errorf("job GPUs %v, want %v", d.JobGPUs, want)
			}
			// A sorted set of enqueue times or a stream of timed IDs, with
			// gpus_per_job, gives each job's wait, oldest first; other
			// keys the oldest at most.
			var waits []time.Duration
			if tt.cfg.WaitFromTimestamp && tt.cfg.GPUsPerJob > 0 {
				switch tt.cfg.Key {
				case "t:zset":
					waits = []time.Duration{40 * time.Minute, 30 * time.Minute, 20 * time.Minute, 10 * time.Minute}
				default:
					waits = tt.streamWaits
				}
			}
			if !slices.Equal(d.JobWaits, waits) {
				t.Errorf("job waits %v, want %v", d.JobWaits, waits)
			}
		})
	}
}

// TestDemandFollowsQueue: the source reads the queue as it is now, not as it was.
func TestDemandFollowsQueue(t *testing.T) {
	c := client(t)
	s := newSource(t, Config{Key: "t:moving"})
	for want := 1; want <= 3; want++ {
		must(t, c.RPush(ctx, "t:moving", "job").Err())
		d, err := s.Demand(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.PendingJobs != want {
			t.Fatalf("after %d pushes read %d jobs", want, d.PendingJobs)
		}
	}
}

// TestDemandMissingKey: a declared stream that does not exist (Redis keeps
// a stream when it empties) fails the read, naming the key, the db and
// what to do: a mistyped key read as an empty queue for ever.
func TestDemandMissingKey(t *testing.T) {
	client(t)
	const typo = "the key's name (a mistyped key would read as an empty queue for ever)"
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"stream", Config{Key: "t:jbos", Type: TypeStream}, []string{`redis source "redis:t:jbos": EXISTS t:jbos on ` + server.Addr + `: key "t:jbos" does not exist in db 0, and a stream is kept when it empties`, typo}},
		{"stream with enqueue times", Config{Key: "t:jbos", DB: 3, Type: TypeStream, WaitFromTimestamp: true, GPUsPerJob: 1}, []string{`key "t:jbos" does not exist in db 3, and a stream is kept`}},
		{"stream group", Config{Key: "t:jbos", Group: "workers", Type: TypeStream}, []string{"XINFO GROUPS t:jbos", "no such key"}},
		{"stream group pending", Config{Key: "t:jbos", Group: "workers", GroupCount: GroupPending, Type: TypeStream}, []string{"XPENDING t:jbos workers", "NOGROUP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newSource(t, tt.cfg).Demand(ctx)
			if err == nil {
				t.Fatalf("read %+v, want an error naming the missing key", d)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var rerr *Error
			if !errors.As(err, &rerr) || !rerr.Permanent() {
				t.Errorf("error %v should be a permanent *redis.Error: retrying cannot make the key", err)
			}
		})
	}
}

// TestDemandEmptiedKey: Redis deletes a list or sorted set when its last
// job is taken, so a missing key is that empty queue, not an error, with
// type auto or the type declared; an empty stream stays a stream, so a
// declared stream that is deleted fails the read.
func TestDemandEmptiedKey(t *testing.T) {
	c := client(t)
	for _, tt := range []struct {
		name         string
		typ          string
		push, remove func() error
		fails        bool
	}{
		{"list", TypeList, func() error { return c.RPush(ctx, "t:q", "job").Err() }, func() error { return c.LPop(ctx, "t:q").Err() }, false},
		{"list auto", TypeAuto, func() error { return c.RPush(ctx, "t:q", "job").Err() }, func() error { return c.LPop(ctx, "t:q").Err() }, false},
		{"zset", TypeZSet, func() error { return c.ZAdd(ctx, "t:q", goredis.Z{Score: 1, Member: "job"}).Err() }, func() error { return c.ZPopMin(ctx, "t:q").Err() }, false},
		{"zset auto", TypeAuto, func() error { return c.ZAdd(ctx, "t:q", goredis.Z{Score: 1, Member: "job"}).Err() }, func() error { return c.ZPopMin(ctx, "t:q").Err() }, false},
		{"stream", TypeStream, func() error { return c.XAdd(ctx, &goredis.XAddArgs{Stream: "t:q", Values: []string{"j", "1"}}).Err() }, func() error { return c.Del(ctx, "t:q").Err() }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, Config{Key: "t:q", Type: tt.typ})
			must(t, tt.push())
			if d, err := s.Demand(ctx); err != nil || d.PendingJobs != 1 {
				t.Fatalf("with one job: %d jobs (%v), want 1", d.PendingJobs, err)
			}
			must(t, tt.remove())
			if n, err := c.Exists(ctx, "t:q").Result(); err != nil || n != 0 {
				t.Fatalf("the emptied %s is still a key (%d, %v)", tt.typ, n, err)
			}
			d, err := s.Demand(ctx)
			switch {
			case tt.fails && err == nil:
				t.Errorf("the deleted stream read as %d jobs, want an error naming the key", d.PendingJobs)
			case !tt.fails && (err != nil || d.PendingJobs != 0):
				t.Errorf("the emptied %s: %d jobs (%v), want an empty queue", tt.name, d.PendingJobs, err)
			}
		})
	}
}

func TestDemandBadKeys(t *testing.T) {
	c := client(t)
	must(t, c.HSet(ctx, "t:hash", "a", "1").Err())
	must(t, c.ZAdd(ctx, "t:badscore", goredis.Z{Score: 1e15, Member: "x"}).Err())
	must(t, c.XAdd(ctx, &goredis.XAddArgs{Stream: "t:stream2", Values: []string{"a", "1"}}).Err())
	must(t, c.XGroupCreate(ctx, "t:stream2", "workers", "0").Err())
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"hash auto", Config{Key: "t:hash"}, []string{`redis source "redis:t:hash"`, `key "t:hash" holds a hash, want a list, stream or zset`}},
		{"hash as list", Config{Key: "t:hash", Type: TypeList}, []string{`redis source "redis:t:hash"`, "LLEN t:hash", "WRONGTYPE"}},
		{"missing group", Config{Key: "t:stream2", Group: "nobody"}, []string{"XINFO GROUPS t:stream2", `stream "t:stream2" has no consumer group "nobody" (it has "workers"): check group, or create it (XGROUP CREATE t:stream2 nobody 0)`}},
		{"missing group pending", Config{Key: "t:stream2", Group: "nobody", GroupCount: GroupPending}, []string{"XPENDING t:stream2 nobody", "NOGROUP"}},
		{"score not a time", Config{Key: "t:badscore", Type: TypeZSet, WaitFromTimestamp: true}, []string{`score 1e+15 of member "x" is not a Unix time in seconds`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newSource(t, tt.cfg).Demand(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var rerr *Error
			if !errors.As(err, &rerr) || !rerr.Permanent() {
				t.Errorf("error %v should be a permanent *redis.Error: retrying cannot fix the key", err)
			}
		})
	}
}

func TestDemandUnreachable(t *testing.T) {
	port, err := fixture.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	_, err = newSource(t, Config{Name: "redis:jobs", Addr: addr, Key: "jobs"}).Demand(ctx)
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Permanent() {
		t.Fatalf("error %v, want a retryable *redis.Error", err)
	}
	for _, w := range []string{`redis source "redis:jobs"`, "TYPE jobs on " + addr, "connection refused"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	env := func(k string) (string, bool) { return "", false }
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Key: "q"}, "addr is empty"},
		{Config{Addr: "x:1"}, "key is empty"},
		{Config{Addr: "x:1", Key: "q", Type: "set"}, `type "set" is not one of auto, list, stream, zset`},
		{Config{Addr: "x:1", Key: "q", Type: TypeList, Group: "g"}, `group "g" is only for streams`},
		{Config{Addr: "x:1", Key: "q", Type: TypeList, WaitFromTimestamp: true}, "a list holds no enqueue times"},
		{Config{Addr: "x:1", Key: "q", Group: "g", GroupCount: "lag"}, `group_count "lag" is not one of waiting (entries not yet delivered, the default) or pending (delivered and not acknowledged)`},
		{Config{Addr: "x:1", Key: "q", GroupCount: GroupPending}, `group_count "pending" needs a group`},
		{Config{Addr: "x:1", Key: "q", ClaimIdle: time.Minute}, "claim_idle 1m0s needs a group"},
		{Config{Addr: "x:1", Key: "q", Group: "g", ClaimIdle: -time.Second}, "claim_idle -1s is out of range (want 1ms to 8760h0m0s"},
		{Config{Addr: "x:1", Key: "q", Group: "g", ClaimIdle: time.Microsecond}, "claim_idle 1µs is out of range"},
		{Config{Addr: "x:1", Key: "q", Group: "g", GroupCount: GroupPending, ClaimIdle: time.Minute}, "claim_idle 1m0s is for group_count waiting"},
		{Config{Addr: "x:1", Key: "q", GPUsPerJob: -1}, "gpus_per_job -1 is out of range (want 1 to 1048576, or 0 when unknown)"},
		{Config{Addr: "x:1", Key: "q", GPUsPerJob: 1 << 40}, "gpus_per_job 1099511627776 is out of range"},
		{Config{Addr: "x:1", Key: "q", PasswordEnv: "QUEUE_PW"}, "password_env QUEUE_PW is not set"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, WithLookupEnv(env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestPasswordFromEnv(t *testing.T) {
	c := client(t)
	must(t, c.RPush(ctx, "q", "job").Err())
	must(t, c.ConfigSet(ctx, "requirepass", "s3cret").Err())
	t.Cleanup(func() {
		a := goredis.NewClient(&goredis.Options{Addr: server.Addr, Password: "s3cret", DisableIdentity: true})
		defer a.Close()
		must(t, a.ConfigSet(ctx, "requirepass", "").Err())
	})
	env := func(k string) (string, bool) {
		return map[string]string{"PW": "s3cret", "BAD": "nope", "FROM_FILE": "s3cret\n"}[k], true
	}
	if _, err := newSource(t, Config{Key: "q", PasswordEnv: "PW"}, WithLookupEnv(env)).Demand(ctx); err != nil {
		t.Errorf("with the password: %v", err)
	}
	_, err := newSource(t, Config{Key: "q", PasswordEnv: "BAD"}, WithLookupEnv(env)).Demand(ctx)
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "line break") {
		t.Errorf("with a wrong password: error %v, want WRONGPASS", err)
	}
	// Refused as any wrong password, with no hint of why.
	_, err = newSource(t, Config{Key: "q", PasswordEnv: "FROM_FILE"}, WithLookupEnv(env)).Demand(ctx)
	if want := "(the password from FROM_FILE ends with a line break, as a secret made from a file keeps its last one"; err == nil || !strings.Contains(err.Error(), "WRONGPASS") || !strings.Contains(err.Error(), want) {
		t.Errorf("with the password and a line break: error %v, want WRONGPASS and %q", err, want)
	}
}

func BenchmarkDemandList(b *testing.B) {
	c := client(b)
	must(b, c.RPush(ctx, "b:list", "a", "b").Err())
	for _, typ := range []string{TypeList, TypeAuto} {
		b.Run(typ, func(b *testing.B) {
			s := newSource(b, Config{Key: "b:list", Type: typ})
			for b.Loop() {
				if _, err := s.Demand(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// secs lists waits in seconds.
func secs(s ...int) []time.Duration {
	d := make([]time.Duration, len(s))
	for i, v := range s {
		d[i] = time.Duration(v) * time.Second
	}
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWaitsBounded: past MaxListedWaits members or entries only the
// oldest wait is read (each job's would be too many to fetch at every
// tick), and a time from long ago reads as signals.MaxWait, as Slurm's held
// jobs do.
func TestWaitsBounded(t *testing.T) {
	c := client(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	zs := make([]goredis.Z, MaxListedWaits+1)
	for i := range zs {
		zs[i] = goredis.Z{Score: float64(now.Add(-time.Hour).Unix() + int64(i)), Member: fmt.Sprint(i)}
	}
	for i := 0; i < len(zs); i += 10000 {
		must(t, c.ZAdd(ctx, "t:deep", zs[i:min(i+10000, len(zs))]...).Err())
	}
	// The same depth as a stream, every entry taken by a consumer group.
	_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range MaxListedWaits + 1 {
			id := fmt.Sprintf("%d-%d", now.Add(-time.Hour).UnixMilli(), i)
			p.XAdd(ctx, &goredis.XAddArgs{Stream: "t:deepstream", ID: id, Values: []string{"j", "1"}})
		}
		return nil
	})
	must(t, err)
	must(t, c.XGroupCreate(ctx, "t:deepstream", "workers", "0").Err())
	must(t, c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "w1", Streams: []string{"t:deepstream", ">"}, Count: MaxListedWaits + 1}).Err())
	// A group none of whose workers has read yet: every entry waits.
	must(t, c.XGroupCreate(ctx, "t:deepstream", "idle", "0").Err())
	must(t, c.ZAdd(ctx, "t:old", goredis.Z{Score: 0, Member: "from-1970"}, goredis.Z{Score: float64(now.Unix()), Member: "new"}).Err())
	must(t, c.XAdd(ctx, &goredis.XAddArgs{Stream: "t:oldstream", ID: "1-1", Values: []string{"j", "1"}}).Err())
	must(t, c.XAdd(ctx, &goredis.XAddArgs{Stream: "t:oldstream", ID: fmt.Sprintf("%d-0", now.UnixMilli()), Values: []string{"j", "2"}}).Err())
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"zset", Config{Key: "t:deep", Type: TypeZSet}},
		{"stream", Config{Key: "t:deepstream", Type: TypeStream}},
		{"stream group pending", Config{Key: "t:deepstream", Group: "workers", GroupCount: GroupPending}},
		{"stream group waiting", Config{Key: "t:deepstream", Group: "idle"}},
	} {
		cfg := tt.cfg
		cfg.WaitFromTimestamp, cfg.GPUsPerJob = true, 8
		d, err := newSource(t, cfg, WithNow(func() time.Time { return now })).Demand(ctx)
		if err != nil || d.PendingJobs != MaxListedWaits+1 || len(d.JobGPUs) != MaxListedWaits+1 || d.JobWaits != nil || d.OldestWait != time.Hour {
			t.Errorf("deep %s: jobs %d, %d sizes, %d waits, oldest %v (%v); want %d jobs and sizes, no waits, oldest 1h",
				tt.name, d.PendingJobs, len(d.JobGPUs), len(d.JobWaits), d.OldestWait, err, MaxListedWaits+1)
		}
	}
	for _, key := range []string{"t:old", "t:oldstream"} {
		d, err := newSource(t, Config{Key: key, WaitFromTimestamp: true, GPUsPerJob: 8}, WithNow(func() time.Time { return now })).Demand(ctx)
		if err != nil || d.OldestWait != signals.MaxWait || !slices.Equal(d.JobWaits, []time.Duration{signals.MaxWait, 0}) {
			t.Errorf("%s from 1970: oldest %v, waits %v (%v); want %v and [%v 0]", key, d.OldestWait, d.JobWaits, err, signals.MaxWait, signals.MaxWait)
		}
	}
}

// TestDemandCountsAbandonedEntries: entries a consumer took with
// XREADGROUP and never acknowledged, because it died, count as waiting
// once idle for claim_idle, the time past which the group's workers claim
// them again; entries taken lately run. Without claim_idle they ran for
// ever: jobs lost with a crashed worker were no demand at all.
func TestDemandCountsAbandonedEntries(t *testing.T) {
	c := client(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	// 8 entries enqueued 100..93 s ago in each stream. Consumer "dead"
	// took the first 3 an hour ago and died (their idle set so with
	// XCLAIM ... IDLE, as if it had); "busy" took the 4th just now and
	// runs it; 4 wait. In t:holes the 7th entry is deleted, so Redis
	// knows no lag and the waiting entries are counted with XRANGE.
	for _, key := range []string{"t:jobs", "t:holes"} {
		var ids []string
		for i := range 8 {
			id := fmt.Sprintf("%d-0", now.Add(-100*time.Second+time.Duration(i)*time.Second).UnixMilli())
			must(t, c.XAdd(ctx, &goredis.XAddArgs{Stream: key, ID: id, Values: []string{"job", fmt.Sprint(i)}}).Err())
			ids = append(ids, id)
		}
		must(t, c.XGroupCreate(ctx, key, "workers", "0").Err())
		must(t, c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "dead", Streams: []string{key, ">"}, Count: 3}).Err())
		must(t, c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "busy", Streams: []string{key, ">"}, Count: 1}).Err())
		must(t, c.Do(ctx, "XCLAIM", key, "workers", "dead", 0, ids[0], ids[1], ids[2], "IDLE", time.Hour.Milliseconds()).Err())
		if key == "t:holes" {
			must(t, c.XDel(ctx, key, ids[6]).Err())
		}
	}
	tests := []struct {
		name  string
		cfg   Config
		jobs  int
		wait  time.Duration
		waits []time.Duration // with gpus_per_job
	}{
		{"without claim_idle the dead consumer's entries run", Config{Key: "t:jobs", Group: "workers", WaitFromTimestamp: true}, 4, 96 * time.Second, nil},
		{"idle past claim_idle", Config{Key: "t:jobs", Group: "workers", ClaimIdle: 10 * time.Minute}, 7, 0, nil},
		{"idle past claim_idle with ID times", Config{Key: "t:jobs", Group: "workers", ClaimIdle: 10 * time.Minute, WaitFromTimestamp: true}, 7, 100 * time.Second, nil},
		{"idle past claim_idle with each job's wait", Config{Key: "t:jobs", Group: "workers", ClaimIdle: 10 * time.Minute, WaitFromTimestamp: true, GPUsPerJob: 2}, 7, 100 * time.Second, secs(100, 99, 98, 96, 95, 94, 93)},
		{"idle short of claim_idle", Config{Key: "t:jobs", Group: "workers", ClaimIdle: 2 * time.Hour, WaitFromTimestamp: true}, 4, 96 * time.Second, nil},
		{"idle past claim_idle without lag", Config{Key: "t:holes", Group: "workers", ClaimIdle: 10 * time.Minute, WaitFromTimestamp: true, GPUsPerJob: 1}, 6, 100 * time.Second, secs(100, 99, 98, 96, 95, 93)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := newSource(t, tt.cfg, WithNow(func() time.Time { return now })).Demand(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.PendingJobs != tt.jobs || d.OldestWait != tt.wait || d.OldestWaitKnown != tt.cfg.WaitFromTimestamp || !slices.Equal(d.JobWaits, tt.waits) {
				t.Errorf("read %d jobs, oldest wait %v (known %v), waits %v; want %d jobs, %v, %v",
					d.PendingJobs, d.OldestWait, d.OldestWaitKnown, d.JobWaits, tt.jobs, tt.wait, tt.waits)
			}
		})
	}
}

// TestDemandAfterTrimPastTheGroup: a stream capped with XADD MAXLEN (or
// XTRIM) past its group's last-delivered entry keeps the group's lag
// counting the entries trimmed away (Redis 7.0: lag 8 on a stream of 3):
// 8 waiting jobs were read, 5 of which no worker will ever be given. The
// entries waiting are at most the stream's length.
func TestDemandAfterTrimPastTheGroup(t *testing.T) {
	c := client(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	// 10 entries enqueued 100..91 s ago; the group's worker took the first
	// 2; the stream is capped at 3 entries as the 3rd to 10th are added.
	for i := range 10 {
		args := &goredis.XAddArgs{Stream: "t:capped", ID: fmt.Sprintf("%d-0", now.Add(-100*time.Second+time.Duration(i)*time.Second).UnixMilli()), Values: []string{"job", fmt.Sprint(i)}}
		if i >= 2 {
			args.MaxLen = 3
		}
		must(t, c.XAdd(ctx, args).Err())
		if i == 1 {
			must(t, c.XGroupCreate(ctx, "t:capped", "workers", "0").Err())
			must(t, c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "w", Streams: []string{"t:capped", ">"}, Count: 2}).Err())
		}
	}
	for _, tt := range []struct {
		name  string
		cfg   Config
		wait  time.Duration
		waits []time.Duration
	}{
		{"count", Config{}, 0, nil},
		{"with the oldest wait", Config{WaitFromTimestamp: true}, 93 * time.Second, nil},
		{"with each job's wait", Config{WaitFromTimestamp: true, GPUsPerJob: 1}, 93 * time.Second, secs(93, 92, 91)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Key, cfg.Group = "t:capped", "workers"
			d, err := newSource(t, cfg, WithNow(func() time.Time { return now })).Demand(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d.PendingJobs != 3 || d.OldestWait != tt.wait || !slices.Equal(d.JobWaits, tt.waits) {
				t.Errorf("read %d jobs, oldest wait %v, waits %v; want 3 jobs (the stream's length), %v, %v", d.PendingJobs, d.OldestWait, d.JobWaits, tt.wait, tt.waits)
			}
		})
	}
}

// TestAbandonedEntriesTrimmedAreNoJobs: with claim_idle, a dead
// consumer's entries count as waiting, as its group's workers claim them
// again; but one trimmed from the stream (XTRIM, XADD MAXLEN) stays in
// the group's pending list while XAUTOCLAIM drops it (Redis 7), and no
// worker will run it. It was counted as a waiting job.
func TestAbandonedEntriesTrimmedAreNoJobs(t *testing.T) {
	c := client(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	abandonedEntries(t, c, now, 3)
	// The first 2, taken by the dead consumer, are trimmed: its 3rd and
	// the 5 never delivered remain.
	must(t, c.XTrimMaxLen(ctx, "t:jobs", 6).Err())
	cfg := Config{Key: "t:jobs", Group: "workers", ClaimIdle: 10 * time.Minute, WaitFromTimestamp: true, GPUsPerJob: 1}
	d, err := newSource(t, cfg, WithNow(func() time.Time { return now })).Demand(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := secs(98, 97, 96, 95, 94, 93); d.PendingJobs != 6 || !slices.Equal(d.JobWaits, want) {
		t.Errorf("read %d jobs, waits %v; want 6, %v", d.PendingJobs, d.JobWaits, want)
	}
	// Trimmed to nothing, the stream holds no job.
	must(t, c.XTrimMaxLen(ctx, "t:jobs", 0).Err())
	if d, err := newSource(t, cfg, WithNow(func() time.Time { return now })).Demand(ctx); err != nil || d.PendingJobs != 0 {
		t.Errorf("stream trimmed empty: read %d jobs (%v), want 0", d.PendingJobs, err)
	}
	// XAUTOCLAIM, as the workers run it, gives them the same entries.
	claimed, _, err := c.XAutoClaim(ctx, &goredis.XAutoClaimArgs{Stream: "t:jobs", Group: "workers", Consumer: "w", MinIdle: 10 * time.Minute, Start: "0"}).Result()
	if err != nil || len(claimed) != 0 {
		t.Errorf("XAUTOCLAIM gave %d entries (%v), want none", len(claimed), err)
	}
}

// TestAbandonedEntriesDeletedAreNoJobs: with claim_idle, an entry a dead
// consumer took and that was deleted since (XDEL: the job cancelled, a
// producer's clean-up) stays in the group's pending list, which XPENDING
// lists, but XCLAIM gives no entry for it and XAUTOCLAIM drops it, so no
// worker will run it. It was counted as a waiting job.
func TestAbandonedEntriesDeletedAreNoJobs(t *testing.T) {
	c := client(t)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ids := abandonedEntries(t, c, now, 4)
	// The dead consumer's 2nd and 4th are deleted, and the 6th, never
	// delivered: its 1st and 3rd and 4 never delivered remain.
	must(t, c.XDel(ctx, "t:jobs", ids[1], ids[3], ids[5]).Err())
	pending, err := c.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: "t:jobs", Group: "workers", Start: "-", End: "+", Count: 10}).Result()
	if err != nil || len(pending) != 4 {
		t.Fatalf("XPENDING lists %d entries (%v), want the 4 the dead consumer took, deleted or not", len(pending), err)
	}
	cfg := Config{Key: "t:jobs", Group: "workers", ClaimIdle: 10 * time.Minute, WaitFromTimestamp: true, GPUsPerJob: 1}
	d, err := newSource(t, cfg, WithNow(func() time.Time { return now })).Demand(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := secs(100, 98, 96, 94, 93); d.PendingJobs != 5 || !slices.Equal(d.JobWaits, want) {
		t.Errorf("read %d jobs, waits %v; want 5, %v", d.PendingJobs, d.JobWaits, want)
	}
	// Without each job's wait, the count is the same.
	cfg.GPUsPerJob = 0
	if d, err := newSource(t, cfg, WithNow(func() time.Time { return now })).Demand(ctx); err != nil || d.PendingJobs != 5 || d.OldestWait != 100*time.Second {
		t.Errorf("count only: read %d jobs, oldest wait %v (%v), want 5, 1m40s", d.PendingJobs, d.OldestWait, err)
	}
	// XCLAIM, as a worker runs it, gives the 2 left and nothing for the
	// deleted ones.
	claimed, err := c.XClaim(ctx, &goredis.XClaimArgs{Stream: "t:jobs", Group: "workers", Consumer: "w", MinIdle: 10 * time.Minute, Messages: []string{ids[0], ids[1], ids[2], ids[3]}}).Result()
	if err != nil || len(messageIDs(claimed)) != 2 || claimed[0].ID != ids[0] || claimed[1].ID != ids[2] {
		t.Errorf("XCLAIM gave %v (%v), want %s and %s", messageIDs(claimed), err, ids[0], ids[2])
	}
}

// abandonedEntries adds 8 jobs to t:jobs, submitted 100 to 93 seconds
// before now, and a group "workers" whose consumer "dead" took the first
// taken of them an hour ago: their ids, in order.
func abandonedEntries(t *testing.T, c *goredis.Client, now time.Time, taken int) []string {
	t.Helper()
	var ids []string
	for i := range 8 {
		id := fmt.Sprintf("%d-0", now.Add(-100*time.Second+time.Duration(i)*time.Second).UnixMilli())
		must(t, c.XAdd(ctx, &goredis.XAddArgs{Stream: "t:jobs", ID: id, Values: []string{"job", fmt.Sprint(i)}}).Err())
		ids = append(ids, id)
	}
	must(t, c.XGroupCreate(ctx, "t:jobs", "workers", "0").Err())
	must(t, c.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "dead", Streams: []string{"t:jobs", ">"}, Count: int64(taken)}).Err())
	args := []any{"XCLAIM", "t:jobs", "workers", "dead", 0}
	for _, id := range ids[:taken] {
		args = append(args, id)
	}
	must(t, c.Do(ctx, append(args, "IDLE", time.Hour.Milliseconds())...).Err())
	return ids
}
