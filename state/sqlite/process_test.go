package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// The tests here run the test binary again as a helper process (see
// TestMain) that opens the database and writes, to check what survives
// other processes and a SIGKILL.

const (
	helperDBEnv   = "SPILLWAY_STATE_HELPER_DB"
	helperModeEnv = "SPILLWAY_STATE_HELPER_MODE"
	helperNameEnv = "SPILLWAY_STATE_HELPER_NAME"
)

// runHelper is the helper process: it returns the exit code.
func runHelper(path, mode, name string) int {
	ctx := context.Background()
	var opts []Option
	if mode == "server" || mode == "hold" { // as spillway server opens it
		opts = append(opts, WithServerLock())
	}
	s, err := Open(ctx, path, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: open:", err)
		if errors.Is(err, state.ErrNoWrites) && state.NoWrites(err) != nil {
			fmt.Fprintln(os.Stderr, "helper: the error is state.ErrNoWrites")
		}
		return 2
	}
	defer s.Close()
	switch mode {
	case "open", "server":
		err = s.CreateIntent(ctx, state.Intent{ID: name, Pool: "train", Provider: "aws", CreatedAt: testT0})
	case "write":
		err = writeUntilKilled(ctx, s, name)
	case "hold": // a server that runs until its stdin closes
		fmt.Println("holding")
		_, _ = io.Copy(io.Discard, os.Stdin)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

// writeUntilKilled writes intents, their outcomes, decisions and a growing
// spend, printing each write once it returned: the parent may rely on
// every printed write.
func writeUntilKilled(ctx context.Context, s *Store, name string) error {
	out := bufio.NewWriter(os.Stdout)
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", name, i)
		in := state.Intent{ID: id, Pool: "train", Provider: "aws", Count: 1, ClientToken: "spw-" + id, CreatedAt: testT0.Add(time.Duration(i) * time.Second)}
		if err := s.CreateIntent(ctx, in); err != nil {
			return err
		}
		fmt.Fprintln(out, "intent", id)
		out.Flush()
		if err := s.FinishIntent(ctx, id, state.IntentDone, []string{"i-" + id}, "", in.CreatedAt.Add(time.Second)); err != nil {
			return err
		}
		fmt.Fprintln(out, "finished", id)
		out.Flush()
		d, err := s.AddDecision(ctx, state.Decision{Pool: "train", Time: in.CreatedAt, Summary: id})
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "decision", d)
		out.Flush()
		amount := float64(i + 1)
		if err := s.RecordSpend(ctx, state.SpendEntry{Pool: "train", Provider: "aws", InstanceID: "i-" + name, PeriodStart: month, Amount: amount}); err != nil {
			return err
		}
		fmt.Fprintln(out, "spend", amount)
		out.Flush()
	}
}

func helperCmd(t *testing.T, path, mode, name string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperDBEnv+"="+path, helperModeEnv+"="+mode, helperNameEnv+"="+name)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestProcessesRaceToMigrate opens a fresh database from several processes
// at once: each succeeds, and the migrations are applied once.
func TestProcessesRaceToMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	const procs = 4
	var wg sync.WaitGroup
	errs := make([]error, procs)
	for i := range procs {
		wg.Go(func() { errs[i] = helperCmd(t, path, "open", fmt.Sprint("p", i)).Run() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
	// Each made the new database at a name of its own and linked it: none
	// is left behind.
	if left, _ := filepath.Glob(path + ".new-*"); len(left) > 0 {
		t.Errorf("files left from making the database: %v", left)
	}
	s := openFileStore(t, path)
	defer s.Close()
	ms, err := s.Migrations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != SchemaVersion() {
		t.Errorf("%d migrations recorded after %d processes raced, want %d (each once): %+v", len(ms), procs, SchemaVersion(), ms)
	}
	ins, err := s.Intents(t.Context(), state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != procs {
		t.Errorf("%d intents after %d processes each wrote one, want %d", len(ins), procs, procs)
	}
}

// TestAcknowledgedWritesSurviveSIGKILL kills a writing process at random
// points, several times over one database: every write the process saw
// succeed is there afterwards, and the database is intact.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spillway.db")
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for round := range 5 {
		name := fmt.Sprint("r", round)
		killAfter := 20 + rng.IntN(200) // acknowledged writes
		cmd := helperCmd(t, path, "write", name)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []string
		sc := bufio.NewScanner(stdout)
		for len(acked) < killAfter && sc.Scan() {
			acked = append(acked, sc.Text())
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() { // writes acknowledged before the kill landed
			acked = append(acked, sc.Text())
		}
		cmd.Wait()
		if len(acked) < killAfter {
			t.Fatalf("round %d: the helper stopped after %d writes, before the kill", round, len(acked))
		}
		checkAcknowledged(t, path, name, acked, month)
	}
}

func checkAcknowledged(t *testing.T, path, name string, acked []string, month time.Time) {
	t.Helper()
	s := openFileStore(t, path)
	defer s.Close()
	var ok string
	if err := s.read.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check after SIGKILL: %q, %v", ok, err)
	}
	ins, err := s.Intents(t.Context(), state.IntentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]state.IntentStatus{}
	for _, in := range ins {
		status[in.ID] = in.Status
	}
	ds, err := s.Decisions(t.Context(), state.DecisionFilter{Limit: state.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	decisions := map[string]bool{}
	for _, d := range ds {
		decisions[strconv.FormatInt(d.ID, 10)] = true
	}
	spent, err := s.Spend(t.Context(), "train", month) // earlier rounds' instances included
	if err != nil {
		t.Fatal(err)
	}
	var lastSpend float64
	for _, line := range acked {
		kind, arg, _ := strings.Cut(line, " ")
		switch kind {
		case "intent":
			if _, found := status[arg]; !found {
				t.Errorf("acknowledged intent %s is missing after SIGKILL", arg)
			}
		case "finished":
			if status[arg] != state.IntentDone {
				t.Errorf("intent %s acknowledged done is %q after SIGKILL", arg, status[arg])
			}
		case "decision":
			if !decisions[arg] {
				t.Errorf("acknowledged decision %s is missing after SIGKILL", arg)
			}
		case "spend":
			lastSpend, _ = strconv.ParseFloat(arg, 64)
		default:
			t.Fatalf("helper printed %q", line)
		}
	}
	var own float64
	err = s.read.QueryRowContext(t.Context(), `SELECT COALESCE(SUM(amount), 0) FROM spend WHERE instance_id = ?`, "i-"+name).Scan(&own)
	if err != nil {
		t.Fatal(err)
	}
	if own < lastSpend || spent < own {
		t.Errorf("spend of %s is %v (pool %v) after SIGKILL, want at least the acknowledged %v", name, own, spent, lastSpend)
	}
}
