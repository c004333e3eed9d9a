package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/state"
)

func openStore(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pollUntil calls cond every 20ms until it holds, for at most d (the
// database's clock, not a fake one, ends terms and locks); it says
// whether cond held.
func pollUntil(t *testing.T, d time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return cond()
		case <-tick.C:
		}
	}
	return true
}

func lease(t *testing.T, s *Store, holder string, ttl time.Duration) *Lease {
	t.Helper()
	l, err := s.Lease("leader", holder, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// expire ends the lease's current term by the database's clock, as if its
// holder had stopped renewing TTL ago.
func expire(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), `UPDATE leader_lease SET expires_at = clock_timestamp() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseOneHolderAtATime(t *testing.T) {
	s := openStore(t, newDB(t))
	a, b := lease(t, s, "a", time.Minute), lease(t, s, "b", time.Minute)
	ctx := t.Context()

	e1, ok, err := a.Acquire(ctx)
	if err != nil || !ok || e1 != 1 {
		t.Fatalf("a.Acquire on a free lease: epoch %d, %v, %v; want 1, true", e1, ok, err)
	}
	if e, ok, err := b.Acquire(ctx); err != nil || ok {
		t.Fatalf("b.Acquire while a holds the lease: epoch %d, %v, %v; want refused", e, ok, err)
	}
	if e, ok, err := a.Acquire(ctx); err != nil || !ok || e != e1 {
		t.Fatalf("a.Acquire again while its own term runs: epoch %d, %v, %v; want its term, %d, renewed", e, ok, err, e1)
	}
	if ok, err := a.Renew(ctx, e1); err != nil || !ok {
		t.Fatalf("a.Renew(%d): %v, %v", e1, ok, err)
	}
	if ok, err := b.Renew(ctx, e1); err != nil || ok {
		t.Fatalf("b.Renew of a's term: %v, %v; want refused", ok, err)
	}
	if err := a.Release(ctx, e1); err != nil {
		t.Fatal(err)
	}
	e2, ok, err := b.Acquire(ctx)
	if err != nil || !ok || e2 != e1+1 {
		t.Fatalf("b.Acquire after a released: epoch %d, %v, %v; want %d, true", e2, ok, err, e1+1)
	}
	if ok, err := a.Renew(ctx, e1); err != nil || ok {
		t.Fatalf("a.Renew of its ended term: %v, %v; want refused", ok, err)
	}
	expire(t, s)
	if ok, err := b.Renew(ctx, e2); err != nil || ok {
		t.Fatalf("b.Renew of an expired term: %v, %v; want refused (an expired term is never revived)", ok, err)
	}
	e3, ok, err := a.Acquire(ctx)
	if err != nil || !ok || e3 != e2+1 {
		t.Fatalf("a.Acquire after b's term expired: epoch %d, %v, %v; want %d, true", e3, ok, err, e2+1)
	}
	info, err := s.LeaseInfo(ctx, "leader")
	if err != nil || info.Holder != "a" || info.Epoch != e3 || !info.Live {
		t.Fatalf("LeaseInfo: %+v, %v; want a at epoch %d, live", info, err, e3)
	}
	terms, err := s.Terms(ctx, "leader")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tm := range terms {
		got = append(got, fmt.Sprintf("%d:%s", tm.Epoch, tm.Holder))
	}
	if strings.Join(got, " ") != "1:a 2:b 3:a" {
		t.Fatalf("terms %v, want 1:a 2:b 3:a", got)
	}
}

func TestLeaseRefusesBadValues(t *testing.T) {
	s := openStore(t, newDB(t))
	for _, c := range []struct {
		name, holder string
		ttl          time.Duration
		want         string
	}{
		{"", "a", time.Second, "lease name"},
		{"leader", "", time.Second, "lease holder"},
		{"leader", "a", time.Millisecond, "lease ttl"},
		{"leader", "a", 2 * time.Hour, "lease ttl"},
	} {
		_, err := s.Lease(c.name, c.holder, c.ttl)
		if !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Lease(%q, %q, %s): %v, want an invalid %s", c.name, c.holder, c.ttl, err, c.want)
		}
	}
}

func TestFencedWritesFailOnceDeposed(t *testing.T) {
	s := openStore(t, newDB(t))
	ctx := t.Context()
	a, b := lease(t, s, "a", time.Minute), lease(t, s, "b", time.Minute)
	e1, _, err := a.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	aView := s.FencedBy("leader", func() (int64, bool) { return e1, true })
	in := state.Intent{ID: "i-1", Pool: "train", Provider: "aws", Offering: "o", Count: 1, ClientToken: "spw-i-1", CreatedAt: time.Unix(1, 0)}
	if err := aView.CreateIntent(ctx, in); err != nil {
		t.Fatalf("CreateIntent by the leader: %v", err)
	}
	expire(t, s)
	// Expired but not taken: a's writes are fenced already.
	in2 := in
	in2.ID = "i-2"
	err = aView.CreateIntent(ctx, in2)
	var fe *state.FencedError
	if !errors.Is(err, state.ErrFenced) || !errors.As(err, &fe) || fe.Epoch != e1 || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("CreateIntent after the term expired: %v, want a FencedError of epoch %d saying it expired", err, e1)
	}
	e2, ok, err := b.Acquire(ctx)
	if err != nil || !ok {
		t.Fatalf("b.Acquire: %v %v", ok, err)
	}
	bView := s.FencedBy("leader", func() (int64, bool) { return e2, true })
	for name, call := range map[string]func(st state.Store) error{
		"CreateIntent": func(st state.Store) error { return st.CreateIntent(ctx, in2) },
		"FinishIntent": func(st state.Store) error {
			return st.FinishIntent(ctx, "i-1", state.IntentDone, []string{"x"}, "", time.Unix(2, 0))
		},
		"PutInstances": func(st state.Store) error {
			return st.PutInstances(ctx, []state.Instance{{ID: "x", Provider: "aws", Pool: "train", State: state.InstanceRunning, LaunchedAt: time.Unix(1, 0)}})
		},
		"RecordSpends": func(st state.Store) error {
			return st.RecordSpends(ctx, []state.SpendEntry{{Pool: "train", Provider: "aws", InstanceID: "x", PeriodStart: time.Unix(3600, 0), Amount: 1, At: time.Unix(1, 0)}})
		},
		"AddDecision": func(st state.Store) error {
			_, err := st.AddDecision(ctx, state.Decision{Pool: "train", Time: time.Unix(1, 0), Summary: "s"})
			return err
		},
	} {
		if err := call(aView); !errors.Is(err, state.ErrFenced) || !strings.Contains(err.Error(), fmt.Sprintf("at epoch %d", e2)) {
			t.Errorf("%s by the deposed leader: %v, want fenced (the lease is at epoch %d)", name, err, e2)
		}
		if err := call(bView); err != nil {
			t.Errorf("%s by the new leader: %v", name, err)
		}
	}
	notHeld := s.FencedBy("leader", func() (int64, bool) { return 0, false })
	if err := notHeld.CreateIntent(ctx, in); !errors.Is(err, state.ErrFenced) {
		t.Errorf("CreateIntent by a follower: %v, want fenced", err)
	}
	ins, err := s.Intents(ctx, state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || ins[0].ID != "i-1" || ins[0].Status != state.IntentDone || ins[1].ID != "i-2" {
		t.Fatalf("intents %+v: want i-1 (done by the new leader) and i-2 (by the new leader) only", ins)
	}
	// Reads and operator writes (floors, audit) work on any server.
	if _, err := notHeld.Floors(ctx, state.FloorFilter{}); err != nil {
		t.Errorf("Floors through a follower's view: %v", err)
	}
	if err := aView.CreateFloor(ctx, state.Floor{ID: "f", Pool: "train", Kind: state.FloorManual, GPUs: 8, Start: time.Unix(1, 0)}); err != nil {
		t.Errorf("CreateFloor (an operator's burst) through a deposed server's view: %v", err)
	}
	if err := notHeld.EndFloor(ctx, "f", time.Unix(2, 0), "cancelled"); err != nil {
		t.Errorf("EndFloor through a follower's view: %v", err)
	}
	if _, err := notHeld.AddAudit(ctx, state.AuditEntry{Time: time.Unix(2, 0), Principal: "alice"}); err != nil {
		t.Errorf("AddAudit through a follower's view: %v", err)
	}
	if err := aView.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("the store after closing a fenced view: %v", err)
	}
}

// TestTermsNeverInterleave runs three electors on a lease with a short TTL
// while a chaos loop keeps expiring it, and a writer per elector records
// decisions through its fenced view, each naming the epoch it acted under.
// Decision IDs come from a sequence inside the fenced transaction, so
// ordered by ID the epochs must never go down, and every decision's epoch
// must be one its writer held.
func TestTermsNeverInterleave(t *testing.T) {
	s := openStore(t, newDB(t))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var fenced sync.Map
	for i := range 3 {
		holder := "s" + strconv.Itoa(i)
		el := NewElector(lease(t, s, holder, 400*time.Millisecond), 50*time.Millisecond, nil, nil)
		view := s.FencedBy("leader", el.Acting)
		wg.Go(func() { el.Run(ctx) })
		wg.Go(func() {
			idle := time.NewTicker(5 * time.Millisecond)
			defer idle.Stop()
			for ctx.Err() == nil {
				epoch, ok := el.Acting()
				if !ok {
					select {
					case <-ctx.Done():
					case <-idle.C:
					}
					continue
				}
				_, err := view.AddDecision(ctx, state.Decision{Pool: "p", Time: time.Unix(1, 0), Summary: fmt.Sprintf("%s %d", holder, epoch)})
				if errors.Is(err, state.ErrFenced) {
					fenced.Store(holder, true)
				}
			}
		})
	}
	wg.Go(func() {
		defer cancel()
		chaos := time.NewTicker(150 * time.Millisecond)
		defer chaos.Stop()
		for range 12 {
			select {
			case <-ctx.Done():
				return
			case <-chaos.C:
			}
			_, _ = s.pool.Exec(ctx, `UPDATE leader_lease SET expires_at = clock_timestamp()`)
		}
	})
	wg.Wait()

	terms, err := s.Terms(t.Context(), "leader")
	if err != nil {
		t.Fatal(err)
	}
	holderOf := map[int64]string{}
	for _, tm := range terms {
		holderOf[tm.Epoch] = tm.Holder
	}
	rows, err := s.pool.Query(t.Context(), `SELECT id, summary FROM decisions ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var last int64
	n := 0
	epochs := map[int64]bool{}
	for rows.Next() {
		var id int64
		var summary, holder string
		var epoch int64
		if err := rows.Scan(&id, &summary); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscanf(summary, "%s %d", &holder, &epoch); err != nil {
			t.Fatal(err)
		}
		if epoch < last {
			t.Fatalf("decision %d was written at epoch %d after one at epoch %d: terms interleaved", id, epoch, last)
		}
		if holderOf[epoch] != holder {
			t.Fatalf("decision %d by %s at epoch %d, which %q held", id, holder, epoch, holderOf[epoch])
		}
		last, epochs[epoch] = epoch, true
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(terms) < 4 || len(epochs) < 3 {
		t.Fatalf("%d terms, decisions under %d epochs: the chaos did not move the lease enough to prove anything", len(terms), len(epochs))
	}
	_, sawFenced := fenced.Load("s0")
	t.Logf("%d terms, %d decisions under %d epochs (s0 was fenced at least once: %v)", len(terms), n, len(epochs), sawFenced)
}

// TestElectorStopsActingWhenCutOff cuts a leader from the database: it must
// stop acting by itself, and a follower takes the lease only once the term
// has ended.
func TestElectorStopsActingWhenCutOff(t *testing.T) {
	dsn := newDB(t)
	proxy, err := fixture.StartProxy(pg.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	viaProxy := openStore(t, strings.Replace(dsn, pg.Addr, proxy.Addr, 1)+"&connect_timeout=1")
	direct := openStore(t, dsn)
	const ttl = 600 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	leader := NewElector(lease(t, viaProxy, "cut", ttl), 100*time.Millisecond, nil, nil)
	follower := NewElector(lease(t, direct, "ok", ttl), 100*time.Millisecond, nil, nil)
	leader.Step(ctx)
	e1, ok := leader.Acting()
	if !ok {
		t.Fatal("the first elector did not take a free lease")
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { leader.Run(ctx) })
	proxy.Cut()
	cutAt := time.Now()
	var stopped time.Duration
	tookOver := pollUntil(t, 20*ttl, func() bool {
		follower.Step(ctx)
		e2, followerActs := follower.Acting()
		_, leaderActs := leader.Acting()
		if followerActs && leaderActs {
			t.Fatalf("the follower took epoch %d while the cut-off leader still acts at epoch %d", e2, e1)
		}
		if !leaderActs && stopped == 0 {
			stopped = time.Since(cutAt)
		}
		if followerActs && e2 <= e1 {
			t.Fatalf("the follower took epoch %d, not above the cut leader's %d", e2, e1)
		}
		return followerActs
	})
	if !tookOver {
		t.Fatalf("the follower did not take over within %s of the cut (the leader stopped acting after %s)", 20*ttl, stopped)
	}
	t.Logf("cut-off leader stopped acting %s after the cut; the follower took over %s after it (ttl %s)",
		stopped.Round(time.Millisecond), time.Since(cutAt).Round(time.Millisecond), ttl)
	if _, ok := leader.Acting(); ok {
		t.Fatal("the cut-off leader acts again")
	}
}

func TestRedactHidesThePassword(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://spw:s3cret@db:5432/spillway?sslmode=require", "postgres://spw:xxxxx@db:5432/spillway?sslmode=require"},
		{"postgres://spw@db/spillway?password=s3cret", "postgres://spw@db/spillway?password=xxxxx"},
		{"host=db user=spw password=s3cret dbname=spillway", "host=db user=spw password=xxxxx dbname=spillway"},
		{"postgres://spw@db/spillway", "postgres://spw@db/spillway"},
	} {
		if got := Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A failed Open names the database without the password.
	_, err := Open(t.Context(), "postgres://spw:s3cret@127.0.0.1:1/spillway?connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Open of an unreachable database: %v; want an error naming it without the password", err)
	}
}

func TestPasswordFromFileOrEnvironment(t *testing.T) {
	dsn := newDB(t)
	name := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	bare := pg.DSNWithoutPassword(name)
	t.Setenv("PGPASSWORD", "")
	if s, err := Open(t.Context(), bare); err == nil {
		s.Close()
		t.Fatal("Open without a password succeeded on a server that asks for one")
	}
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(fixture.PostgresPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), bare, WithPasswordFile(file))
	if err != nil {
		t.Fatalf("Open with the password from a file: %v", err)
	}
	s.Close()
	if _, err := Open(t.Context(), bare, WithPasswordFile(file+".missing")); err == nil || !strings.Contains(err.Error(), "password.missing") {
		t.Fatalf("Open with a missing password file: %v, want an error naming the file", err)
	}
	t.Setenv("PGPASSWORD", fixture.PostgresPassword)
	s, err = Open(t.Context(), bare)
	if err != nil {
		t.Fatalf("Open with PGPASSWORD: %v", err)
	}
	s.Close()
	// A wrong password is refused, and the error does not show it.
	wrong := strings.Replace(bare, "postgres@", "postgres:not-the-Pa55word@", 1)
	_, err = Open(t.Context(), wrong)
	if err == nil || strings.Contains(err.Error(), "not-the-Pa55word") {
		t.Fatalf("Open with a wrong password: %v; want a refusal that does not show the password", err)
	}
}

// TestFrozenLeaderInsideAWriteDoesNotBlockTakeover: a leader frozen in the
// middle of a fenced write holds a share lock of the lease row; the
// database ends its idle session, and a follower takes the expired lease.
func TestFrozenLeaderInsideAWriteDoesNotBlockTakeover(t *testing.T) {
	dsn := newDB(t)
	frozen, err := Open(t.Context(), dsn, WithTxIdleTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	other := openStore(t, dsn)
	ctx := t.Context()
	e1, _, err := lease(t, frozen, "a", time.Minute).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := frozen.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if err := checkFence(ctx, tx, "leader", e1); err != nil {
		t.Fatalf("the fence of the leader's own write: %v", err)
	}
	// ... and the leader freezes here, its transaction open.
	expire(t, other)
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	e2, ok, err := lease(t, other, "b", time.Minute).Acquire(actx)
	if err != nil || !ok || e2 != e1+1 {
		t.Fatalf("takeover while the frozen leader's transaction is open: epoch %d, %v, %v; want %d", e2, ok, err, e1+1)
	}
	if err := tx.Commit(ctx); err == nil {
		t.Fatal("the frozen leader's transaction committed after the takeover")
	}
}
