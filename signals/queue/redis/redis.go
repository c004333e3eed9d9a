// Package redis reads queue demand from the length of a Redis list, stream
// or sorted set, with github.com/redis/go-redis/v9.
package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/spillway-io/spillway/signals"
)

// Key types the source reads.
const (
	TypeAuto   = "auto"
	TypeList   = "list"
	TypeStream = "stream"
	TypeZSet   = "zset"
)

// What a stream's consumer group counts (Config.GroupCount).
const (
	// GroupWaiting counts the entries not yet delivered to the group.
	GroupWaiting = "waiting"
	// GroupPending counts the entries delivered and not acknowledged.
	GroupPending = "pending"
)

// Config says which key holds the queue and how to read it.
type Config struct {
	// Name identifies the source; "redis:<key>" when empty.
	Name string `yaml:"name,omitempty"`
	// Addr is the server's host:port.
	Addr     string `yaml:"addr"`
	Username string `yaml:"username,omitempty"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `yaml:"password_env,omitempty"`
	DB          int    `yaml:"db,omitempty"`
	// Key is the queue's key.
	Key string `yaml:"key"`
	// Type is list, stream, zset, or auto (the default): ask the server
	// with TYPE on every read. A missing key is an empty queue, as Redis
	// deletes a list or sorted set when it empties, except for a declared
	// stream: Redis keeps an empty stream, so a missing one fails the read,
	// naming it (a mistyped key would read as an empty queue for ever).
	Type string `yaml:"type,omitempty"`
	// Group, for a stream, names the consumer group that takes the jobs:
	// the source counts the entries waiting for it, which none of its
	// consumers has read yet, and those idle past ClaimIdle (GroupCount
	// says otherwise), instead of the stream's length (XLEN).
	Group string `yaml:"group,omitempty"`
	// GroupCount says which of a group's entries are demand: waiting (the
	// default), those not yet delivered to any of its consumers, the
	// group's lag; or pending, those delivered and not yet acknowledged
	// (XPENDING), for consumers that read every entry at once and
	// acknowledge it when its job starts.
	GroupCount string `yaml:"group_count,omitempty"`
	// ClaimIdle, with a group counting waiting entries, is the idle time
	// past which the group's workers take again (XAUTOCLAIM, XCLAIM) an
	// entry a consumer was given and never acknowledged: its consumer
	// died with it, or stalled. Such entries count as waiting, as they
	// are once a worker claims them; without ClaimIdle they count as
	// running, however long ago they were taken. Redis cannot tell a
	// consumer that died from one still running a long job (it forgets a
	// consumer only on XGROUP DELCONSUMER, which drops its entries too),
	// so an entry's idle time, at least its consumer's, is the measure:
	// set ClaimIdle to the workers' min-idle-time, longer than any job
	// runs without acknowledging or claiming its entry again.
	ClaimIdle time.Duration `yaml:"claim_idle,omitempty"`
	// WaitFromTimestamp reports the oldest wait: for a sorted set from its
	// lowest score read as the enqueue time in Unix seconds, for a stream
	// from its first entry's (or, with a group, first waiting or pending
	// entry's) ID, whose first part is the enqueue time in Unix
	// milliseconds. With GPUsPerJob, a sorted set or stream also gives each
	// job's wait, from every member's score or every counted entry's ID, up
	// to MaxListedWaits of them.
	WaitFromTimestamp bool `yaml:"wait_from_timestamp,omitempty"`
	// GPUsPerJob, when set, makes pending GPUs = pending jobs × GPUsPerJob,
	// and lists each job as asking that many (JobGPUs, up to
	// signals.MaxListedJobs jobs), so that the engine packs whole jobs
	// into instances instead of reading the GPUs as one-GPU jobs.
	GPUsPerJob int `yaml:"gpus_per_job,omitempty"`
}

// Option changes a Source.
type Option func(*Source)

// WithNow injects the clock used for reading times and waits.
func WithNow(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// WithTimeout sets the source's timeout (the demand source's timeout:),
// which bounds a read whose context has no deadline (DefaultTimeout
// otherwise) and each dial: go-redis's own bound on a dial (its
// DialTimeout, 5 s) cut a longer one short, failing at 5 s as "i/o
// timeout" where connecting takes longer (a SYN lost and sent again).
func WithTimeout(d time.Duration) Option { return func(s *Source) { s.timeout = d } }

// WithLookupEnv injects the environment lookup used for PasswordEnv.
func WithLookupEnv(f func(string) (string, bool)) Option {
	return func(s *Source) { s.lookupEnv = f }
}

// Source reads one Redis key. Close it when done.
type Source struct {
	cfg       Config
	name      string
	client    *goredis.Client
	now       func() time.Time
	timeout   time.Duration
	dials     dials
	lookupEnv func(string) (string, bool)
	// passwordBreak is set when the password from PasswordEnv ends with a
	// line break, as a secret made from a file does: the likely reason
	// the server refuses it.
	passwordBreak bool
}

var _ signals.DemandSource = (*Source)(nil)

// New checks cfg and returns a Source; it does not connect yet.
func New(cfg Config, opts ...Option) (*Source, error) {
	s := &Source{cfg: cfg, now: time.Now, lookupEnv: os.LookupEnv, timeout: DefaultTimeout}
	for _, o := range opts {
		o(s)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.cfg.Type == "" {
		s.cfg.Type = TypeAuto
	}
	s.name = cfg.Name
	if s.name == "" {
		s.name = "redis:" + cfg.Key
	}
	var problems []string
	if cfg.Addr == "" {
		problems = append(problems, "addr is empty (want host:port)")
	}
	if cfg.Key == "" {
		problems = append(problems, "key is empty (want the queue's key)")
	}
	if !slices.Contains([]string{TypeAuto, TypeList, TypeStream, TypeZSet}, s.cfg.Type) {
		problems = append(problems, fmt.Sprintf("type %q is not one of auto, list, stream, zset", cfg.Type))
	}
	if cfg.Group != "" && s.cfg.Type != TypeAuto && s.cfg.Type != TypeStream {
		problems = append(problems, fmt.Sprintf("group %q is only for streams, but type is %s", cfg.Group, s.cfg.Type))
	}
	switch {
	case s.cfg.GroupCount == "" && cfg.Group != "":
		s.cfg.GroupCount = GroupWaiting
	case s.cfg.GroupCount == "":
	case cfg.Group == "":
		problems = append(problems, fmt.Sprintf("group_count %q needs a group (the stream's consumer group)", cfg.GroupCount))
	case s.cfg.GroupCount != GroupWaiting && s.cfg.GroupCount != GroupPending:
		problems = append(problems, fmt.Sprintf("group_count %q is not one of waiting (entries not yet delivered, the default) or pending (delivered and not acknowledged)", cfg.GroupCount))
	}
	switch {
	case cfg.ClaimIdle == 0:
	case cfg.ClaimIdle < time.Millisecond || cfg.ClaimIdle > MaxClaimIdle:
		problems = append(problems, fmt.Sprintf("claim_idle %s is out of range (want 1ms to %s, the idle time past which the workers claim an entry again, or unset)", cfg.ClaimIdle, MaxClaimIdle))
	case cfg.Group == "":
		problems = append(problems, fmt.Sprintf("claim_idle %s needs a group (the stream's consumer group, whose entries idle past it count as waiting)", cfg.ClaimIdle))
	case s.cfg.GroupCount == GroupPending:
		problems = append(problems, fmt.Sprintf("claim_idle %s is for group_count waiting: group_count pending counts every entry delivered and not acknowledged, however idle", cfg.ClaimIdle))
	}
	if cfg.WaitFromTimestamp && s.cfg.Type == TypeList {
		problems = append(problems, "wait_from_timestamp needs a stream or zset; a list holds no enqueue times")
	}
	if cfg.GPUsPerJob < 0 || cfg.GPUsPerJob > signals.MaxJobGPUs {
		problems = append(problems, fmt.Sprintf("gpus_per_job %d is out of range (want 1 to %d, or 0 when unknown)", cfg.GPUsPerJob, signals.MaxJobGPUs))
	}
	password := ""
	if cfg.PasswordEnv != "" {
		var ok bool
		if password, ok = s.lookupEnv(cfg.PasswordEnv); !ok {
			problems = append(problems, fmt.Sprintf("password_env %s is not set in the environment", cfg.PasswordEnv))
		}
		s.passwordBreak = strings.HasSuffix(password, "\n") || strings.HasSuffix(password, "\r")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("redis source %q: %s", s.name, strings.Join(problems, "; "))
	}
	copts := &goredis.Options{
		Addr:     cfg.Addr,
		Username: cfg.Username,
		Password: password,
		DB:       cfg.DB,
		// The queue wrapper retries with backoff; one attempt here.
		MaxRetries:            -1,
		DialerRetries:         1,
		DialTimeout:           s.timeout, // a read's deadline, shorter, still bounds its dial
		ContextTimeoutEnabled: true,
		ReadTimeout:           -1, // the read's deadline bounds each command (Demand)
		WriteTimeout:          -1,
		PoolSize:              2,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
	copts.Dialer = boundedDialer(goredis.NewDialer(copts), &s.dials)
	quietGoRedis.Do(func() { goredis.SetLogger(silent{}) })
	s.client = goredis.NewClient(copts)
	return s, nil
}

// quietGoRedis silences go-redis's own logger, which printed each failed
// dial to standard error ("redis: 2026/12/02 16:00:03 pool.go:770: redis:
// connection pool: failed to dial after 1 attempts: …"), a line apart
// from the server's log and its format, which reports the read's error
// itself. go-redis has one logger for the process: the redis source is
// its only user here.
var quietGoRedis sync.Once

// silent is a go-redis logger that prints nothing.
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

// Name identifies the source.
func (s *Source) Name() string { return s.name }

// Close closes the connections.
func (s *Source) Close() error { return s.client.Close() }

// Error is a failed read.
type Error struct {
	Source string
	Addr   string
	// Op is the Redis command that failed ("LLEN jobs").
	Op  string
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("redis source %q: %s on %s: %v", e.Source, e.Op, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot help: the server answered with
// an error (a wrong type, a missing consumer group, a refused password)
// other than a transient one.
func (e *Error) Permanent() bool {
	var rerr goredis.Error
	if errors.As(e.Err, &rerr) {
		msg := rerr.Error()
		for _, transient := range []string{"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN"} {
			if strings.HasPrefix(msg, transient) {
				return false
			}
		}
		return true
	}
	var derr *dataError
	return errors.As(e.Err, &derr)
}

// dataError is a key whose type or contents this source cannot read.
type dataError struct{ msg string }

func (e *dataError) Error() string { return e.msg }

func dataErrorf(format string, args ...any) error {
	return &dataError{msg: fmt.Sprintf(format, args...)}
}

func (s *Source) fail(op string, err error) error {
	var rerr goredis.Error
	if s.passwordBreak && errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "WRONGPASS") {
		err = fmt.Errorf("%w (the password from %s ends with a line break, as a secret made from a file keeps its last one: remove it, e.g. with tr -d '\\n')", err, s.cfg.PasswordEnv)
	}
	return &Error{Source: s.name, Addr: s.cfg.Addr, Op: op, Err: err}
}

// Demand reads the queue's length (and oldest enqueue time when configured),
// each dial and command's reply waited for until ctx's deadline, or for
// the source's timeout (WithTimeout, DefaultTimeout) when ctx has none.
func (s *Source) Demand(ctx context.Context) (signals.Demand, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	start := s.now()
	d, err := s.demand(ctx)
	var e *Error
	var op *net.OpError
	if !errors.As(err, &e) {
		return d, err
	}
	dl, _ := ctx.Deadline()
	switch {
	case errors.As(e.Err, &op) && op.Op == "read" && op.Timeout():
		e.Err = &NoReplyError{Addr: s.cfg.Addr, Within: dl.Sub(start), Err: e.Err}
	case errors.As(e.Err, &op) && op.Op == "dial" && op.Timeout(),
		errors.Is(e.Err, context.DeadlineExceeded) && s.dials.unreached():
		e.Err = &NotReachedError{Addr: s.cfg.Addr, Within: dl.Sub(start), Err: e.Err}
	}
	return d, err
}

// NotReachedError is a dial that nothing answered in time: a host that
// is down, a firewall that drops packets, a full accept queue. Go's
// words for it, "i/o timeout", said none of this.
type NotReachedError struct {
	Addr string
	// Within is how long the connection was waited for.
	Within time.Duration
	Err    error
}

func (e *NotReachedError) Error() string {
	return fmt.Sprintf("nothing at %s accepted the connection within the read's deadline, %s: is the host up, and its port open to this server (not behind a firewall that drops packets)? (%v)", e.Addr, e.Within.Round(time.Millisecond), e.Err)
}

// Unwrap returns the cause.
func (e *NotReachedError) Unwrap() error { return e.Err }

// DefaultTimeout bounds a read whose context has no deadline. go-redis's
// own bound on each command's reply (its ReadTimeout, 5s) is off: it cut
// a read given a longer timeout short, every command failing at 5s as
// "i/o timeout".
const DefaultTimeout = 5 * time.Second

// NoReplyError is a command that the server took the connection for and
// did not answer in time: a port that is not Redis's (a TLS one, which
// waits for a handshake), a proxy whose backend hangs, a stopped process.
// Go's words for it, "i/o timeout", said none of this.
type NoReplyError struct {
	Addr string
	// Within is how long the reply was waited for.
	Within time.Duration
	Err    error
}

func (e *NoReplyError) Error() string {
	return fmt.Sprintf("the server at %s took the connection and sent no whole reply within the read's deadline, %s: is it a Redis server (not a TLS port, nor a proxy whose backend hangs)? (%v)", e.Addr, e.Within.Round(time.Millisecond), e.Err)
}

// Unwrap returns the cause.
func (e *NoReplyError) Unwrap() error { return e.Err }

func (s *Source) demand(ctx context.Context) (signals.Demand, error) {
	key := s.cfg.Key
	typ := s.cfg.Type
	if typ == TypeAuto {
		t, err := s.client.Type(ctx, key).Result()
		if err != nil {
			return signals.Demand{}, s.fail("TYPE "+key, err)
		}
		typ = t
	}
	var (
		n        int64
		oldest   time.Time
		enqueued []time.Time // each job's enqueue time, when known
		err      error
		op       string
	)
	switch typ {
	case "none":
		// Redis deletes a list or sorted set when it empties. With type
		// auto a mistyped key reads so too: the server cannot tell it from
		// a queue that emptied, and an error would hold idle instances
		// (no scale-in on stale signals) until the first job arrived.
	case TypeList:
		op = "LLEN " + key
		n, err = s.client.LLen(ctx, key).Result()
	case TypeZSet:
		op = "ZCARD " + key
		n, oldest, enqueued, err = s.zset(ctx)
	case TypeStream:
		switch {
		case s.cfg.GroupCount == GroupPending:
			op = "XPENDING " + key + " " + s.cfg.Group
		case s.cfg.Group != "":
			op = "XINFO GROUPS " + key
		default:
			op = "XLEN " + key
		}
		n, oldest, enqueued, err = s.stream(ctx, &op)
		if err == nil && n == 0 && s.cfg.Group == "" {
			// XLEN reads a missing key as empty; Redis keeps an empty
			// stream (a group's XPENDING fails on a missing one).
			op = "EXISTS " + key
			var exists int64
			if exists, err = s.client.Exists(ctx, key).Result(); err == nil && exists == 0 {
				err = dataErrorf("key %q does not exist in db %d, and a stream is kept when it empties: check the key's name (a mistyped key would read as an empty queue for ever), or create the stream (XADD, or XGROUP CREATE with MKSTREAM)", key, s.cfg.DB)
			}
		}
	default:
		return signals.Demand{}, s.fail("TYPE "+key, dataErrorf("key %q holds a %s, want a list, stream or zset", key, signals.Shorten(typ, 40)))
	}
	if err != nil {
		return signals.Demand{}, s.fail(op, err)
	}
	if n < 0 || n > signals.MaxCount {
		// Not a queue's length: a server that is not Redis, or a broken
		// one. Read as it is, it made negative demand, or overflowed
		// with gpus_per_job.
		return signals.Demand{}, s.fail(op, dataErrorf("answered %d jobs, out of range: want a count from 0 to %d", n, signals.MaxCount))
	}
	now := s.now()
	d := signals.SameSizeJobs(signals.Demand{Source: s.name, Time: now, PendingJobs: int(n)}, s.cfg.GPUsPerJob)
	if s.cfg.WaitFromTimestamp {
		d.OldestWaitKnown = true
		if !oldest.IsZero() {
			d.OldestWait = signals.WaitSince(now, oldest)
		}
		if len(d.JobGPUs) == len(enqueued) && len(enqueued) > 0 {
			d.JobWaits = make([]time.Duration, len(enqueued))
			for i, t := range enqueued {
				d.JobWaits[i] = signals.WaitSince(now, t)
			}
		}
	}
	return d, nil
}

// MaxListedWaits bounds the sorted-set members or stream entries read for
// each job's wait: a longer queue gives its oldest wait only.
const MaxListedWaits = 100_000

// MaxClaimIdle bounds Config.ClaimIdle.
const MaxClaimIdle = 365 * 24 * time.Hour

// zset reads a sorted set's length and, with wait_from_timestamp, its
// lowest score as the oldest enqueue time; with gpus_per_job too, and at
// most MaxListedWaits members, every member's score (enqueues, oldest
// first), so that each job's wait is known.
func (s *Source) zset(ctx context.Context) (int64, time.Time, []time.Time, error) {
	if !s.cfg.WaitFromTimestamp {
		n, err := s.client.ZCard(ctx, s.cfg.Key).Result()
		return n, time.Time{}, nil, err
	}
	var card *goredis.IntCmd
	var first *goredis.ZSliceCmd
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		card = p.ZCard(ctx, s.cfg.Key)
		first = p.ZRangeWithScores(ctx, s.cfg.Key, 0, 0)
		return nil
	})
	if err != nil {
		return 0, time.Time{}, nil, err
	}
	n, zs := card.Val(), first.Val()
	if s.cfg.GPUsPerJob > 0 && n > 0 && n <= MaxListedWaits {
		// Every member, to time each job: the list may have changed
		// since ZCARD, so it is the count.
		if zs, err = s.client.ZRangeWithScores(ctx, s.cfg.Key, 0, -1).Result(); err != nil {
			return 0, time.Time{}, nil, err
		}
		n = int64(len(zs))
	}
	oldest, enqueued, err := enqueues(zs, n, enqueueTime)
	if err != nil {
		return 0, time.Time{}, nil, err
	}
	return n, oldest, enqueued, nil
}

// enqueues reads the enqueue time of each of items (the queue's first
// jobs, oldest first) with at. It returns the oldest and, when items are
// all n jobs of the queue, every one (else nil: the oldest only).
func enqueues[T any](items []T, n int64, at func(T) (time.Time, error)) (oldest time.Time, enqueued []time.Time, err error) {
	for _, it := range items {
		t, err := at(it)
		if err != nil {
			return time.Time{}, nil, err
		}
		enqueued = append(enqueued, t)
	}
	if len(enqueued) > 0 {
		oldest = enqueued[0]
	}
	if int64(len(enqueued)) != n {
		enqueued = nil
	}
	return oldest, enqueued, nil
}

// enqueueTime reads a member's score as its enqueue time in Unix seconds.
func enqueueTime(z goredis.Z) (time.Time, error) {
	if math.IsNaN(z.Score) || math.IsInf(z.Score, 0) || z.Score < 0 || z.Score > 1e11 {
		member := signals.Shorten(fmt.Sprint(z.Member), 100)
		return time.Time{}, dataErrorf("score %v of member %q is not a Unix time in seconds (wait_from_timestamp is set)", z.Score, member)
	}
	sec, frac := math.Modf(z.Score)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}

// stream reads a stream's length (or, with a group, its entries waiting
// for the group, or delivered and not acknowledged) and, with
// wait_from_timestamp, the first of those entries' ID as the oldest
// enqueue time; with gpus_per_job too, and at most MaxListedWaits
// entries, every one's ID (enqueues, oldest first), so that each job's
// wait is known. It sets *op to each command it sends, so that a failure
// names the one that failed.
func (s *Source) stream(ctx context.Context, op *string) (int64, time.Time, []time.Time, error) {
	key, group := s.cfg.Key, s.cfg.Group
	each := s.cfg.WaitFromTimestamp && s.cfg.GPUsPerJob > 0
	var (
		n   int64
		ids []string
	)
	switch {
	case s.cfg.GroupCount == GroupWaiting:
		var err error
		if n, ids, err = s.waiting(ctx, op); err != nil {
			return 0, time.Time{}, nil, err
		}
		if s.cfg.ClaimIdle > 0 {
			m, idle, err := s.abandoned(ctx, op)
			if err != nil {
				return 0, time.Time{}, nil, err
			}
			// Taken before any entry still waiting: the oldest first.
			n, ids = n+m, append(idle, ids...)
		}
	case group != "":
		p, err := s.client.XPending(ctx, key, group).Result()
		if err != nil {
			return 0, time.Time{}, nil, err
		}
		n = p.Count
		if n > 0 && p.Lower != "" {
			ids = []string{p.Lower}
		}
		if each && n > 0 && n <= MaxListedWaits {
			// Every pending entry, to time each job: the count may have
			// changed since XPENDING, so the entries are the count.
			ext, err := s.client.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: key, Group: group, Start: "-", End: "+", Count: n}).Result()
			if err != nil {
				return 0, time.Time{}, nil, err
			}
			ids = ids[:0]
			for _, e := range ext {
				ids = append(ids, e.ID)
			}
			n = int64(len(ids))
		}
	case !s.cfg.WaitFromTimestamp:
		n, err := s.client.XLen(ctx, key).Result()
		return n, time.Time{}, nil, err
	default:
		var xlen *goredis.IntCmd
		var first *goredis.XMessageSliceCmd
		_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			xlen = p.XLen(ctx, key)
			first = p.XRangeN(ctx, key, "-", "+", 1)
			return nil
		})
		if err != nil {
			return 0, time.Time{}, nil, err
		}
		n = xlen.Val()
		msgs := first.Val()
		if each && n > 0 && n <= MaxListedWaits {
			// Every entry, to time each job (as above, they are the count).
			if msgs, err = s.client.XRange(ctx, key, "-", "+").Result(); err != nil {
				return 0, time.Time{}, nil, err
			}
			n = int64(len(msgs))
		}
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
	}
	if !s.cfg.WaitFromTimestamp {
		return n, time.Time{}, nil, nil
	}
	oldest, enqueued, err := enqueues(ids, n, idTime)
	if err != nil {
		return 0, time.Time{}, nil, err
	}
	return n, oldest, enqueued, nil
}

// waiting reads how many of the stream's entries wait for the group, not
// yet delivered to any of its consumers, and, with wait_from_timestamp,
// the first one's ID (with gpus_per_job, and at most MaxListedWaits of
// them, every one's). The count is the group's lag (XINFO GROUPS, Redis
// 7); where Redis cannot tell it (after an XDEL or XSETID past the group,
// or before Redis 7), the entries after the group's last-delivered ID
// are counted with XRANGE, MaxListedWaits+1 at most: a queue longer than
// that reads as MaxListedWaits+1 jobs.
func (s *Source) waiting(ctx context.Context, op *string) (int64, []string, error) {
	key, group := s.cfg.Key, s.cfg.Group
	// XLEN with the groups, in one round trip: a lag past it is bounded
	// by it (below).
	var info *goredis.XInfoGroupsCmd
	var xlen *goredis.IntCmd
	if _, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		info = p.XInfoGroups(ctx, key)
		xlen = p.XLen(ctx, key)
		return nil
	}); err != nil {
		return 0, nil, err
	}
	groups := info.Val()
	i := slices.IndexFunc(groups, func(g goredis.XInfoGroup) bool { return g.Name == group })
	if i < 0 {
		var names []string
		for _, g := range groups[:min(len(groups), 10)] {
			names = append(names, strconv.Quote(signals.Shorten(g.Name, 100)))
		}
		have := "it has none"
		switch {
		case len(groups) > len(names):
			have = fmt.Sprintf("it has %s and %d more", strings.Join(names, ", "), len(groups)-len(names))
		case len(names) > 0:
			have = "it has " + strings.Join(names, ", ")
		}
		return 0, nil, dataErrorf("stream %q has no consumer group %q (%s): check group, or create it (XGROUP CREATE %s %s 0)", key, group, have, key, group)
	}
	g := groups[i]
	after := "(" + g.LastDeliveredID
	if g.Lag > 0 {
		// Redis 7 knows the lag; the entries are read only to time them.
		// A stream trimmed past the group's last-delivered entry (XADD
		// MAXLEN, XTRIM) keeps its lag counting the trimmed entries
		// (entries added less entries read: 8 on a stream of 3, Redis
		// 7.0), jobs that no worker will ever be given; every entry
		// left is then after the last-delivered one, so the entries
		// waiting are the stream's length.
		n := min(g.Lag, xlen.Val())
		if !s.cfg.WaitFromTimestamp || n <= 0 {
			return n, nil, nil
		}
		want := int64(1)
		if s.cfg.GPUsPerJob > 0 && n <= MaxListedWaits {
			want = n
		}
		*op = "XRANGE " + key + " " + after + " + COUNT " + strconv.FormatInt(want, 10)
		msgs, err := s.client.XRangeN(ctx, key, after, "+", want).Result()
		if err != nil {
			return 0, nil, err
		}
		if want > 1 || int64(len(msgs)) < want {
			// Every waiting entry, or fewer than the lag said: the
			// entries read are the count (some were delivered since).
			n = int64(len(msgs))
		}
		return n, messageIDs(msgs), nil
	}
	// No lag (nil after an XDEL or XSETID past the group, absent before
	// Redis 7), or none: count the entries after the last delivered.
	*op = "XRANGE " + key + " " + after + " + COUNT " + strconv.Itoa(MaxListedWaits+1)
	msgs, err := s.client.XRangeN(ctx, key, after, "+", MaxListedWaits+1).Result()
	if err != nil {
		return 0, nil, err
	}
	n := int64(len(msgs))
	if n > MaxListedWaits || s.cfg.GPUsPerJob == 0 {
		msgs = msgs[:min(len(msgs), 1)] // the oldest wait only
	}
	return n, messageIDs(msgs), nil
}

// abandoned reads how many of the group's entries were delivered and not
// acknowledged for ClaimIdle or longer (XPENDING with IDLE, Redis 6.2),
// which the group's workers claim again, and their IDs (the first only,
// when there are more than MaxListedWaits or no job's wait is wanted).
// Like the entries after the last-delivered ID, they are counted up to
// MaxListedWaits+1.
func (s *Source) abandoned(ctx context.Context, op *string) (int64, []string, error) {
	key, group := s.cfg.Key, s.cfg.Group
	idle := s.cfg.ClaimIdle.Truncate(time.Millisecond)
	*op = fmt.Sprintf("XPENDING %s %s IDLE %d - + %d", key, group, idle.Milliseconds(), MaxListedWaits+1)
	ext, err := s.client.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: key, Group: group, Idle: idle, Start: "-", End: "+", Count: MaxListedWaits + 1}).Result()
	if err != nil {
		return 0, nil, err
	}
	// An entry trimmed away (XADD MAXLEN, XTRIM) or deleted (XDEL: the
	// job cancelled) while pending stays in the group's pending list, but
	// XCLAIM and XAUTOCLAIM give no entry for it (Redis 7 drops it from
	// the list; 6.2 gives nil) and no worker runs it again: it is no
	// job. Each is looked up, in one round trip.
	if len(ext) > 0 {
		*op = fmt.Sprintf("XRANGE %s ID ID, for each of the %d entries XPENDING listed", key, len(ext))
		found := make([]*goredis.XMessageSliceCmd, len(ext))
		if _, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, e := range ext {
				found[i] = p.XRangeN(ctx, key, e.ID, e.ID, 1)
			}
			return nil
		}); err != nil {
			return 0, nil, err
		}
		kept := ext[:0]
		for i, e := range ext {
			if len(found[i].Val()) > 0 {
				kept = append(kept, e)
			}
		}
		ext = kept
	}
	n := int64(len(ext))
	if n > MaxListedWaits || s.cfg.GPUsPerJob == 0 {
		ext = ext[:min(len(ext), 1)] // the oldest wait only
	}
	ids := make([]string, len(ext))
	for i, e := range ext {
		ids[i] = e.ID
	}
	return n, ids, nil
}

// messageIDs lists the entries' IDs, in their order.
func messageIDs(msgs []goredis.XMessage) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// idTime reads a stream entry ID's first part as its enqueue time in Unix
// milliseconds.
func idTime(id string) (time.Time, error) {
	ms, _, _ := strings.Cut(id, "-")
	v, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, dataErrorf("stream entry ID %q does not start with a Unix time in milliseconds (wait_from_timestamp is set)", id)
	}
	return time.UnixMilli(v), nil
}
