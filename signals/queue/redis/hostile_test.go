package redis

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
)

// hostile serves the Redis protocol on loopback, answering each command
// (its name upper-cased, then its arguments) with answer's raw RESP, or an
// error when answer has none: a server that is not Redis, or a broken
// one, which a real redis-server cannot play.
func hostile(t *testing.T, answer map[string]string) string {
	t.Helper()
	return slowHostile(t, answer, func(string, <-chan struct{}) {})
}

// slowHostile is hostile calling hold with each command's name, and a
// channel closed when the test ends, before it answers.
func slowHostile(t *testing.T, answer map[string]string, hold func(cmd string, done <-chan struct{})) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := serving(t, ln)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.keep(c) {
				c.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					var n int
					if _, err := fmt.Fscanf(r, "*%d\r\n", &n); err != nil {
						return
					}
					var args []string
					for range n {
						var size int
						if _, err := fmt.Fscanf(r, "$%d\r\n", &size); err != nil {
							return
						}
						b := make([]byte, size+2)
						if _, err := io.ReadFull(r, b); err != nil {
							return
						}
						args = append(args, string(b[:size]))
					}
					hold(strings.ToUpper(args[0]), s.done)
					reply, ok := answer[strings.ToUpper(args[0])]
					if !ok {
						reply = "-ERR unknown command\r\n"
					}
					if _, err := c.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// served is what a test's server holds: its connections, closed when the
// test ends after done is closed and the listener, and its goroutines
// (wg), waited for then.
type served struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
	ended bool
	done  chan struct{}
}

// serving is the served of ln, ended when t ends.
func serving(t *testing.T, ln net.Listener) *served {
	s := &served{done: make(chan struct{})}
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.ended = true
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// keep holds conns to be closed when the test ends: false once it has.
func (s *served) keep(conns ...net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.conns = append(s.conns, conns...)
	return true
}

// TestDemandCountOutOfRange: a server answering a count no queue has,
// negative or past signals.MaxCount, fails the read naming the command,
// the count and the range (it was read as -5 pending jobs, and a huge one
// overflowed into negative GPUs with gpus_per_job).
func TestDemandCountOutOfRange(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    Config
		answer map[string]string
		want   string
	}{
		{"negative list length", Config{Key: "q"}, map[string]string{"TYPE": "+list\r\n", "LLEN": ":-5\r\n"},
			"LLEN q on %s: answered -5 jobs, out of range: want a count from 0 to 2147483647"},
		{"huge list length, gpus_per_job", Config{Key: "q", GPUsPerJob: 8}, map[string]string{"TYPE": "+list\r\n", "LLEN": ":9223372036854775807\r\n"},
			"LLEN q on %s: answered 9223372036854775807 jobs, out of range"},
		{"negative sorted set", Config{Key: "q", Type: TypeZSet}, map[string]string{"ZCARD": ":-1\r\n"},
			"ZCARD q on %s: answered -1 jobs, out of range"},
		{"huge lag", Config{Key: "q", Group: "g"}, map[string]string{"TYPE": "+stream\r\n", "XINFO": "*1\r\n*6\r\n$4\r\nname\r\n$1\r\ng\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$3\r\nlag\r\n:9223372036854775807\r\n", "XLEN": ":9223372036854775807\r\n"},
			"XINFO GROUPS q on %s: answered 9223372036854775807 jobs, out of range"},
		{"negative pending entries", Config{Key: "q", Group: "g", GroupCount: GroupPending}, map[string]string{"TYPE": "+stream\r\n", "XPENDING": "*4\r\n:-7\r\n$3\r\n1-0\r\n$3\r\n2-0\r\n*0\r\n"},
			"XPENDING q g on %s: answered -7 jobs, out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Addr = hostile(t, tt.answer)
			d, err := newSource(t, tt.cfg).Demand(ctx)
			var rerr *Error
			want := fmt.Sprintf(tt.want, tt.cfg.Addr)
			if !errors.As(err, &rerr) || !rerr.Permanent() || !strings.Contains(err.Error(), want) {
				t.Errorf("read %+v, error %v; want a permanent *redis.Error containing %q", d, err, want)
			}
		})
	}
}

// TestDemandReplyTooLarge: a reply announcing a string or an aggregate
// past MaxReplyString or MaxReplyElements fails the read, naming the
// command and what was announced, before anything is allocated for it
// (go-redis made a terabyte for "$999999999999": a fatal out-of-memory);
// so does a line past MaxReplyLine.
func TestDemandReplyTooLarge(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    Config
		answer map[string]string
		want   string
	}{
		{"a terabyte string", Config{Key: "q"}, map[string]string{"TYPE": "$999999999999\r\n"},
			"TYPE q on %s: the reply announces a string of 999999999999 bytes, more than the 67108864 this source reads: is addr a Redis server?"},
		{"a string past the bound", Config{Key: "q"}, map[string]string{"TYPE": fmt.Sprintf("$%d\r\n", MaxReplyString+1)},
			"the reply announces a string of 67108865 bytes"},
		{"an array of 10^12", Config{Key: "q", Type: TypeZSet, WaitFromTimestamp: true}, map[string]string{"ZCARD": ":1\r\n", "ZRANGE": "*999999999999\r\n"},
			"ZCARD q on %s: the reply announces 999999999999 elements, more than the 4194304 this source reads"},
		{"a map of 10^30 pairs", Config{Key: "q"}, map[string]string{"TYPE": "%1000000000000000000000000000000\r\n"},
			"the reply announces over 1000000000000000 elements"},
		// A line without end was read until the deadline ("i/o
		// timeout"), and an error line whole into the message (50 MB).
		{"a status line of 50 MB", Config{Key: "q"}, map[string]string{"TYPE": "+" + strings.Repeat("x", 50<<20) + "\r\n"},
			"TYPE q on %s: a reply line (type '+') runs past 65536 bytes, the most this source reads of one: is addr a Redis server?"},
		{"an error line of 50 MB", Config{Key: "q"}, map[string]string{"TYPE": "-ERR " + strings.Repeat("x", 50<<20) + "\r\n"},
			"a reply line (type '-') runs past 65536 bytes"},
		{"the strings and arrays before it pass", Config{Key: "q", Type: TypeZSet, WaitFromTimestamp: true},
			map[string]string{"ZCARD": ":1\r\n", "ZRANGE": "*2\r\n$5\r\n$9999\r\n$1\r\n1\r\n"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Addr = hostile(t, tt.answer)
			d, err := newSource(t, tt.cfg).Demand(ctx)
			if tt.want == "" {
				if err != nil || d.PendingJobs != 1 {
					t.Errorf("read %+v, error %v; want 1 job", d, err)
				}
				return
			}
			var tooLarge *ReplyTooLargeError
			want := tt.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, tt.cfg.Addr)
			}
			if !errors.As(err, &tooLarge) || !strings.Contains(err.Error(), want) {
				t.Errorf("read %+v, error %v; want a ReplyTooLargeError containing %q", d, err, want)
			}
		})
	}
}

// TestConnectionClosedWhileIdleIsDialedAgain: a pooled connection the
// server closed while it was idle (Redis's timeout, a restart, a proxy) is
// found closed when the pool hands it out, and the read dials again. The
// bounded connection hid its socket from go-redis's health check, so the
// next read took the dead connection and failed.
func TestConnectionClosedWhileIdleIsDialedAgain(t *testing.T) {
	c := client(t)
	must(t, c.RPush(ctx, "t:idle", "a", "b").Err())
	s := newSource(t, Config{Key: "t:idle", Type: TypeList})
	if d, err := s.Demand(ctx); err != nil || d.PendingJobs != 2 {
		t.Fatalf("first read: %+v, %v; want 2 jobs", d, err)
	}
	// Close the source's connection on the server's side, then wait
	// until the server lists only the filling client.
	must(t, c.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err())
	for deadline := time.Now().Add(10 * time.Second); ; {
		list, err := c.ClientList(ctx).Result()
		must(t, err)
		if strings.Count(strings.TrimSpace(list), "\n") == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the source's connection is still open on the server: %s", list)
		}
	}
	if d, err := s.Demand(ctx); err != nil || d.PendingJobs != 2 {
		t.Errorf("read after the server closed the idle connection: %+v, %v; want 2 jobs", d, err)
	}
}

// TestDemandGroupWithoutLag: Redis before 7 answers XINFO GROUPS without
// a lag (nor entries-read), which go-redis reads as 0; the entries after
// the group's last-delivered ID are counted instead, and the oldest wait
// is the first of them, not read as an empty queue.
func TestDemandGroupWithoutLag(t *testing.T) {
	entry := func(id string) string {
		return "*2\r\n$" + fmt.Sprint(len(id)) + "\r\n" + id + "\r\n*2\r\n$1\r\nj\r\n$1\r\n1\r\n"
	}
	addr := hostile(t, map[string]string{
		"XINFO":  "*1\r\n*8\r\n$4\r\nname\r\n$7\r\nworkers\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:1\r\n$17\r\nlast-delivered-id\r\n$15\r\n1700000000000-0\r\n",
		"XRANGE": "*2\r\n" + entry("1700000001000-0") + entry("1700000002000-0"),
		"XLEN":   ":3\r\n",
	})
	now := time.UnixMilli(1700000061000)
	d, err := newSource(t, Config{Addr: addr, Key: "q", Type: TypeStream, Group: "workers", WaitFromTimestamp: true}, WithNow(func() time.Time { return now })).Demand(ctx)
	if err != nil || d.PendingJobs != 2 || d.OldestWait != time.Minute {
		t.Errorf("read %d jobs, oldest %v (%v); want the 2 entries after the last delivered, the oldest 1m old", d.PendingJobs, d.OldestWait, err)
	}
}

// TestServerThatAnswersNothing: a server that takes the connection and
// never answers (a TLS port, a proxy whose backend hangs, a stopped
// process) failed as "i/o timeout", saying nothing of what happened.
func TestServerThatAnswersNothing(t *testing.T) {
	addr := hostile(t, map[string]string{"TYPE": ""}) // TYPE unanswered
	for _, tt := range []struct {
		name     string
		deadline time.Duration // 0: none, DefaultTimeout bounds it
		want     string
	}{
		{"under a deadline of 2s", 2 * time.Second, `(1\.9[0-9]*|2)s`},
		{"under no deadline", 0, `5s`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rctx, cancel := ctx, context.CancelFunc(func() {})
			if tt.deadline > 0 {
				rctx, cancel = context.WithTimeout(ctx, tt.deadline)
			}
			defer cancel()
			_, err := newSource(t, Config{Addr: addr, Key: "q"}).Demand(rctx)
			var noReply *NoReplyError
			want := regexp.MustCompile(`TYPE q on ` + regexp.QuoteMeta(addr) + `: the server at ` + regexp.QuoteMeta(addr) + ` took the connection and sent no whole reply within the read's deadline, ` + tt.want + `: is it a Redis server \(not a TLS port, nor a proxy whose backend hangs\)\? \(read tcp .*: i/o timeout\)$`)
			if !errors.As(err, &noReply) || !want.MatchString(err.Error()) {
				t.Errorf("error %v; want a NoReplyError matching %s", err, want)
			}
		})
	}
}

// TestReplySlowerThanGoRedisReadTimeout: go-redis bounds each command's
// reply by its ReadTimeout (5s) whatever the read's deadline, so a source
// given a timeout of 12s failed at 5s, "i/o timeout", for a server that
// answers in 6s (a large ZRANGE over a slow link).
func TestReplySlowerThanGoRedisReadTimeout(t *testing.T) {
	const slow = 6 * time.Second
	addr := slowHostile(t, map[string]string{"TYPE": "+list\r\n", "LLEN": ":3\r\n"}, func(cmd string, done <-chan struct{}) {
		if cmd == "TYPE" {
			select { // a server slower than go-redis's 5s
			case <-time.After(slow):
			case <-done:
			}
		}
	})
	rctx, cancel := context.WithTimeout(ctx, 2*slow)
	defer cancel()
	d, err := newSource(t, Config{Addr: addr, Key: "q"}).Demand(rctx)
	if err != nil || d.PendingJobs != 3 {
		t.Errorf("read %+v, error %v; want 3 jobs, read under a deadline of %s", d, err, 2*slow)
	}
}

// blackholed is a loopback port whose listener accepts nothing until
// open is closed: its accept queue (of one) is full, so the kernel drops
// a connection's SYNs and its dial waits, as behind a firewall that
// drops packets or a host that is down. Once open, the connections that
// come (a dial's SYN is sent again 1 s, 3 s, 7 s… after it began) are
// passed to target.
func blackholed(t *testing.T, open <-chan struct{}, target string) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "blackholed")
	defer f.Close()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	s := serving(t, ln)
	full, err := net.Dial("tcp", addr) // the queue's one place, taken
	if err != nil {
		t.Fatal(err)
	}
	s.keep(full)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-open:
		case <-s.done:
			return
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			if !s.keep(c, up) {
				c.Close()
				up.Close()
				return
			}
			s.wg.Add(2)
			go func() { defer s.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer s.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	return addr
}

// TestDialHonoursTheTimeout: go-redis bounds each dial by its
// DialTimeout (5 s) whatever the source's timeout, so a source given 20 s
// behind a link where connecting takes 7 s (a SYN lost, sent again)
// failed at 5 s, "i/o timeout"; a dial is bounded by the source's timeout
// (WithTimeout, the demand source's timeout:), and one that passes it
// says that nothing accepted the connection. A real redis-server behind
// a port that accepts nothing for its first 5.5 s, and one that never
// does.
func TestDialHonoursTheTimeout(t *testing.T) {
	must(t, client(t).RPush(ctx, "q", "a", "b", "c").Err())
	t.Run("connecting takes 7s", func(t *testing.T) {
		t.Parallel()
		open := make(chan struct{})
		addr := blackholed(t, open, server.Addr)
		opening := time.AfterFunc(5500*time.Millisecond, func() { close(open) })
		defer opening.Stop()
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		d, err := newSource(t, Config{Addr: addr, Key: "q"}, WithTimeout(20*time.Second)).Demand(rctx)
		if err != nil || d.PendingJobs != 3 {
			t.Errorf("read %+v, error %v; want 3 jobs, read under a deadline of 20s", d, err)
		}
	})
	t.Run("nothing accepts", func(t *testing.T) {
		t.Parallel()
		addr := blackholed(t, nil, server.Addr)
		rctx, cancel := context.WithTimeout(ctx, 7*time.Second)
		defer cancel()
		deadline, _ := rctx.Deadline()
		_, err := newSource(t, Config{Addr: addr, Key: "q"}, WithTimeout(7*time.Second)).Demand(rctx)
		if time.Now().Before(deadline) {
			t.Errorf("failed before the deadline of 7s: %v", err)
		}
		want := regexp.MustCompile(`TYPE q on ` + regexp.QuoteMeta(addr) + `: nothing at ` + regexp.QuoteMeta(addr) + ` accepted the connection within the read's deadline, (6\.9[0-9]*|7)s: is the host up, and its port open to this server \(not behind a firewall that drops packets\)\? \((dial tcp .*: i/o timeout|context deadline exceeded)\)$`)
		var notReached *NotReachedError
		if !errors.As(err, &notReached) || !want.MatchString(err.Error()) {
			t.Errorf("error %v; want a NotReachedError matching %s", err, want)
		}
	})
}

// quietChildEnv, set to an address, makes TestGoRedisPrintsNothing read
// a source there, in a child process whose output the test reads.
const quietChildEnv = "SPILLWAY_REDIS_QUIET_CHILD"

// TestGoRedisPrintsNothing: go-redis's own logger printed each failed
// dial to standard error ("redis: 2026/12/02 16:00:03 pool.go:770: redis:
// connection pool: failed to dial after 1 attempts: … connection
// refused"), a line apart from the server's log and its format, every
// read of a Redis that is down. The source's error says it; go-redis
// says nothing.
func TestGoRedisPrintsNothing(t *testing.T) {
	if addr := os.Getenv(quietChildEnv); addr != "" {
		_, err := newSource(t, Config{Addr: addr, Key: "q"}).Demand(ctx)
		if err == nil {
			t.Fatal("read a Redis that is down")
		}
		return
	}
	port, err := fixture.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGoRedisPrintsNothing$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=127.0.0.1:%d", quietChildEnv, port))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if printed := regexp.MustCompile(`(?m)^redis: .*$`).FindString(string(out)); printed != "" {
		t.Errorf("go-redis printed %q", printed)
	}
}
