package command

import (
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/signalstest"

	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

func program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: %v", name, err)
	}
	return p
}

func newSource(t testing.TB, cfg Config, opts ...Option) *Source {
	t.Helper()
	s, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDemandFromCommand(t *testing.T) {
	sh := program(t, "sh")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		script  string
		number  string
		env     []string
		jobs    int
		gpus    int
		known   bool
		jobGPUs []int
		wait    time.Duration
		perJob  int // gpus_per_job
	}{
		{"bare number is GPUs", "echo 12", "", nil, 0, 12, true, nil, 0, 0},
		{"bare number as jobs", "printf ' 5\\n\\n'", NumberPendingJobs, nil, 5, 0, false, nil, 0, 0},
		{"a fraction as bc prints it (.50) rounds up", "echo .50", NumberPendingJobs, nil, 1, 0, false, nil, 0, 0},
		{"fraction rounds up", "echo 2.25", "", nil, 0, 3, true, nil, 0, 0},
		{"JSON object", `echo '{"pending_jobs": 3, "pending_gpus": 10, "oldest_wait_s": 95.5}'`, "", nil, 3, 10, true, nil, 95500 * time.Millisecond, 0},
		{"JSON with job_gpus", `echo '{"job_gpus": [8, 1, 1], "oldest_wait_s": 0}'`, "", nil, 3, 10, true, []int{8, 1, 1}, 0, 0},
		{"JSON with job_gpus and counts that agree", `echo '{"pending_jobs": 3, "pending_gpus": 9.5, "job_gpus": [8, 1, 1]}'`, "", nil, 3, 10, true, []int{8, 1, 1}, 0, 0},
		{"JSON after a byte order mark", `printf '\357\273\277{"pending_jobs": 3}\r\n'`, "", nil, 3, 0, false, nil, 0, 0},
		{"a number after a byte order mark", `printf '\357\273\2775\r\n'`, "", nil, 0, 5, true, nil, 0, 0},
		{"env reaches the program", `echo "$QUEUE_DEPTH"`, "", []string{"QUEUE_DEPTH=7"}, 0, 7, true, nil, 0, 0},
		{"stderr alone does not fail a read", "echo warming up >&2; echo 4", "", nil, 0, 4, true, nil, 0, 0},
		{"bare number as jobs of 8 GPUs", "echo 3", NumberPendingJobs, nil, 3, 24, true, []int{8, 8, 8}, 0, 8},
		{"bare number as GPUs in jobs of 8", "echo 12", "", nil, 2, 16, true, []int{8, 8}, 0, 8},
		{"JSON jobs of 4 GPUs", `echo '{"pending_jobs": 2}'`, "", nil, 2, 8, true, []int{4, 4}, 0, 4},
		{"job_gpus win over gpus_per_job", `echo '{"job_gpus": [8, 1, 1], "oldest_wait_s": 0}'`, "", nil, 3, 10, true, []int{8, 1, 1}, 0, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, Config{Name: "command:depth", Command: []string{sh, "-c", tt.script}, Number: tt.number, Env: tt.env, GPUsPerJob: tt.perJob}, WithNow(func() time.Time { return now }))
			d, err := s.Demand(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantWaitKnown := strings.Contains(tt.script, "oldest_wait_s")
			if d.PendingJobs != tt.jobs || d.PendingGPUs != tt.gpus || d.PendingGPUsKnown != tt.known || !slices.Equal(d.JobGPUs, tt.jobGPUs) || d.OldestWait != tt.wait || d.OldestWaitKnown != wantWaitKnown {
				t.Errorf("read %+v; want jobs %d GPUs %d (known %v) per job %v oldest %v (known %v)", d, tt.jobs, tt.gpus, tt.known, tt.jobGPUs, tt.wait, wantWaitKnown)
			}
			if d.Source != "command:depth" || !d.Time.Equal(now) {
				t.Errorf("source %q time %v", d.Source, d.Time)
			}
		})
	}
}

func TestDemandArgsWithoutShell(t *testing.T) {
	// A shell would expand $HOME and split the words; the program must get them as written.
	d, err := newSource(t, Config{Command: []string{program(t, "echo"), `{"pending_jobs": 1, "job_gpus": [2], "x": "$HOME"}`}}).Demand(ctx)
	if err == nil || !strings.Contains(err.Error(), `unknown field "x"`) || !strings.Contains(err.Error(), `$HOME`) {
		t.Errorf("read %+v, error %v; want the unknown field x reported with $HOME unexpanded", d, err)
	}
}

func TestDemandErrors(t *testing.T) {
	sh := program(t, "sh")
	long := strings.Repeat("x", 500)
	tests := []struct {
		name      string
		cmd       []string
		timeout   time.Duration
		permanent bool
		exit      int
		want      []string
		notWant   string
	}{
		{"non-numeric output", []string{sh, "-c", "echo lots of jobs"}, 0, true, 0,
			[]string{`command source "command:sh"`, `printed "lots of jobs", want a bare number (of pending_gpus) or a JSON object`}, ""},
		{"long output is truncated", []string{sh, "-c", "yes x | head -n 500 | tr -d '\\n'"}, 0, true, 0,
			[]string{`printed "` + long[:200] + `…"`}, long[:201]},
		{"negative number", []string{sh, "-c", "echo -3"}, 0, true, 0, []string{`printed "-3": is -3, out of range: want a count from 0 to 2147483647`}, ""},
		{"bad JSON", []string{sh, "-c", `echo '{"pending_jobs": "three"}'`}, 0, true, 0, []string{"not a JSON object with pending_jobs"}, ""},
		{"empty JSON", []string{sh, "-c", `echo '{}'`}, 0, true, 0, []string{"the object has none of pending_jobs, pending_gpus, job_gpus"}, ""},
		{"wait beyond a year", []string{sh, "-c", `echo '{"pending_jobs": 1, "oldest_wait_s": 1e300}'`}, 0, true, 0,
			[]string{"oldest_wait_s: wait 1e+300 s is out of range: want seconds from 0 to 31536000"}, ""},
		{"negative wait", []string{sh, "-c", `echo '{"pending_jobs": 1, "oldest_wait_s": -1}'`}, 0, true, 0,
			[]string{"oldest_wait_s: wait -1 s is out of range"}, ""},
		{"count beyond int32", []string{sh, "-c", `echo 1e300`}, 0, true, 0, []string{`printed "1e300": is 1e+300, out of range: want a count from 0 to 2147483647`}, ""},
		{"Go's hexadecimal float", []string{sh, "-c", "echo 0x1p4"}, 0, true, 0, []string{`printed "0x1p4", want a bare number`}, ""},
		{"digits with underscores", []string{sh, "-c", "echo 1_000"}, 0, true, 0, []string{`printed "1_000", want a bare number`}, ""},
		{"empty output", []string{sh, "-c", "true"}, 0, true, 0, []string{`printed "", want a bare number`}, ""},
		{"non-zero exit", []string{sh, "-c", "echo 5; echo 'scheduler unreachable' >&2; exit 3"}, 0, false, 3,
			[]string{"failed: exit status 3", `stderr: "scheduler unreachable"`}, ""},
		{"missing program", []string{"/nonexistent/queue-depth", "--gpus"}, 0, true, -1,
			[]string{`command source "command:queue-depth": /nonexistent/queue-depth --gpus: cannot run the program`}, ""},
		{"timeout kills the process group", []string{sh, "-c", "sleep 30 & sleep 30; echo 1"}, 200 * time.Millisecond, false, -1,
			[]string{"did not finish: context deadline exceeded"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newSource(t, Config{Command: tt.cmd, Timeout: tt.timeout}).Demand(ctx)
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %v, want a *command.Error", err)
			}
			if cerr.Permanent() != tt.permanent || cerr.ExitCode != tt.exit {
				t.Errorf("permanent %v exit %d, want %v %d", cerr.Permanent(), cerr.ExitCode, tt.permanent, tt.exit)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error quotes the whole output: %.80q…", err)
			}
		})
	}
}

// TestBackgroundJobEndsWithTheRead: a program that leaves a job running
// in the background, holding its output open, is read when it exits (it
// failed after a second, "WaitDelay expired"), and the job is killed with
// it rather than outliving every read; one started in a session of its
// own fails the read saying what holds the output.
func TestBackgroundJobEndsWithTheRead(t *testing.T) {
	sh := program(t, "sh")
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := fmt.Sprintf("sleep 600 & echo $! > %s; echo 5", pidFile)
	d, err := newSource(t, Config{Command: []string{sh, "-c", script}}).Demand(ctx)
	if err != nil || d.PendingGPUs != 5 {
		t.Fatalf("read %+v, error %v; want 5 GPUs", d, err)
	}
	pid := signalstest.ReadPid(t, pidFile)
	signalstest.WaitGone(t, pid, "the background job")

	if _, err := exec.LookPath("setsid"); err != nil {
		t.Fatalf("setsid not found: %v", err)
	}
	// It writes its pid once in its own session; the program waits for it.
	pidFile = filepath.Join(t.TempDir(), "pid")
	script = fmt.Sprintf(`setsid sh -c 'echo $$ > %[1]s.tmp; mv %[1]s.tmp %[1]s; exec sleep 600' & while [ ! -s %[1]s ]; do sleep 0.01; done; echo 5`, pidFile)
	_, err = newSource(t, Config{Command: []string{sh, "-c", script}}).Demand(ctx)
	if b, rerr := os.ReadFile(pidFile); rerr == nil {
		if pid, aerr := strconv.Atoi(strings.TrimSpace(string(b))); aerr == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "a process it started outside its process group (setsid, a daemon) still held its output open") {
		t.Errorf("error %v, want one saying a process outside the group holds the output", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "command is empty"},
		{Config{Command: []string{"x"}, Number: "gpus"}, `number "gpus" is not pending_gpus or pending_jobs`},
		{Config{Command: []string{"x"}, Timeout: -time.Second}, "timeout -1s is negative"},
		{Config{Command: []string{"x"}, Env: []string{"NOEQUALS"}}, `env entry "NOEQUALS" is not KEY=VALUE`},
		{Config{Command: []string{"x"}, GPUsPerJob: 1<<20 + 1}, "gpus_per_job 1048577 is out of range (want 1 to 1048576"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func BenchmarkDemand(b *testing.B) {
	s := newSource(b, Config{Command: []string{program(b, "echo"), `{"pending_jobs": 3, "job_gpus": [4, 2, 2], "oldest_wait_s": 30}`}})
	for b.Loop() {
		if _, err := s.Demand(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// A program that prints each job's wait gives the engine what it needs to
// hold young jobs for on-prem; the oldest wait, when not printed, is the
// longest of them.
func TestJobWaitsFromCommand(t *testing.T) {
	for _, tt := range []struct {
		name, out string
		waits     []time.Duration
		oldest    time.Duration
	}{
		{"waits give the oldest", `{"job_gpus": [8, 1], "job_wait_s": [30, 612.5]}`, []time.Duration{30 * time.Second, 612500 * time.Millisecond}, 612500 * time.Millisecond},
		{"a printed oldest wait stands", `{"job_gpus": [2], "job_wait_s": [10], "oldest_wait_s": 20}`, []time.Duration{10 * time.Second}, 20 * time.Second},
		{"no jobs, no waits", `{"job_gpus": [], "job_wait_s": []}`, []time.Duration{}, 0},
	} {
		d, err := newSource(t, Config{Command: []string{program(t, "echo"), tt.out}}).Demand(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(d.JobWaits, tt.waits) || d.OldestWait != tt.oldest || len(d.JobWaits) != len(d.JobGPUs) {
			t.Errorf("%s: job waits %v oldest %v (jobs %v); want %v and %v", tt.name, d.JobWaits, d.OldestWait, d.JobGPUs, tt.waits, tt.oldest)
		}
	}
}

// TestShapesFromCommand: with the pool's shapes, job_cpus and
// job_memory_gib count each job as the smallest shape that holds it.
func TestShapesFromCommand(t *testing.T) {
	shapes := []policy.Shape{{GPUs: 1, VCPUs: 4, MemMiB: 16 << 10}, {GPUs: 4, VCPUs: 48, MemMiB: 192 << 10}}
	out := `{"job_gpus": [1, 1, 1, 2], "job_wait_s": [40, 30, 20, 10], "job_cpus": [2, 32, 100, 0], "job_memory_gib": [8, 8, 8, 100]}`
	d, err := newSource(t, Config{Command: []string{program(t, "echo"), out}, Shapes: shapes}).Demand(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The 2-GPU job counts as 2: the smallest shape for its GPUs holds
	// its memory, and may take another such job.
	if !slices.Equal(d.JobGPUs, []int{1, 4, 2}) || d.PendingJobs != 3 || d.PendingGPUs != 7 || d.Larger != 1 ||
		!slices.Equal(d.JobWaits, []time.Duration{40 * time.Second, 30 * time.Second, 10 * time.Second}) {
		t.Errorf("read %+v, want jobs 1 4 2 (7 GPUs, 1 counted larger), waits 40s 30s 10s", d)
	}
	if want := []signals.LeftOut{{Why: "asking for 100 CPUs on one node, more than any instance the pool rents with its GPUs has", Jobs: 1}}; !slices.Equal(d.LeftOut, want) {
		t.Errorf("left out %+v, want %+v", d.LeftOut, want)
	}
}

// maxErrLen bounds a parse error, whatever the program printed.
const maxErrLen = 1500

// hostileOutputs are outputs that must not read as demand; their errors
// say why in at most maxErrLen bytes.
var hostileOutputs = []struct{ name, out, want string }{
	{"job beyond MaxJobGPUs", `{"job_gpus": [1, 2000000]}`, "job_gpus[1] is 2000000 GPUs, want at most 1048576 for a job"},
	{"fewer waits than jobs", `{"job_gpus": [1, 2], "job_wait_s": [5]}`, "job_wait_s has 1 waits for 2 jobs in job_gpus (want one wait per job, in the same order)"},
	{"waits without jobs", `{"pending_jobs": 1, "job_wait_s": [5]}`, "job_wait_s has 1 waits for 0 jobs in job_gpus"},
	{"negative wait", `{"job_gpus": [1, 2], "job_wait_s": [5, -1]}`, "job_wait_s[1]: wait -1 s is out of range: want seconds from 0 to 31536000"},
	{"more CPU counts than jobs", `{"job_gpus": [1], "job_cpus": [5, 6]}`, "job_cpus has 2 CPU counts for 1 jobs in job_gpus (want one CPU count per job, in the same order)"},
	{"negative memory", `{"job_gpus": [1], "job_memory_gib": [-4]}`, "job_memory_gib[0] is -4, out of range: want GiB from 0 to 1048576"},
	{"huge CPUs", `{"job_gpus": [1], "job_cpus": [1e300]}`, "job_cpus[0] is 1e+300, out of range: want a count from 0 to"},
	{"more after the object", `{"pending_gpus": 3} {"pending_gpus": 5}`, "more after the JSON object at byte 19 (want one object)"},
	{"junk after the object", `{"pending_jobs": 1}` + "\nwarning: stale", "more after the JSON object at byte 19"},
	{"counts that contradict the list", `{"pending_jobs": 1, "pending_gpus": 100, "job_gpus": [1,2]}`,
		"pending_jobs is 1 but job_gpus lists 2 jobs; pending_gpus is 100 but job_gpus sums to 3 GPUs (want pending_jobs the jobs listed and pending_gpus their GPUs, or leave them out"},
	{"GPUs that contradict the list", `{"pending_gpus": 4, "job_gpus": [1,2]}`, "pending_gpus is 4 but job_gpus sums to 3 GPUs"},
	{"a list past 2^20 jobs", `{"job_gpus": [` + strings.Repeat("0,", 1<<20) + `0]}`, "job_gpus lists 1048577 jobs, want at most 1048576"},
	{"a count twice", `{"pending_jobs": 5, "pending_jobs": 500}`, `: the document has the key "pending_jobs" twice (which one counts? want each key once)`},
	{"a list twice", `{"job_gpus": [1], "pending_gpus": 1, "job_gpus": [8, 8]}`, `the document has the key "job_gpus" twice`},
	{"long unknown key", `{"` + strings.Repeat("x", 1e5) + `": 1}`, `json: unknown field "xxxx`},
	{"long number", `{"pending_jobs": 1` + strings.Repeat("0", 1e5) + `}`, "json: cannot unmarshal number 1000"},
}

func TestParseHostileOutput(t *testing.T) {
	for _, tt := range hostileOutputs {
		t.Run(tt.name, func(t *testing.T) {
			d, err := (&Source{cfg: Config{Number: NumberPendingGPUs}}).parse(tt.out)
			if err == nil || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > maxErrLen {
				t.Errorf("read %+v, error %.2000v; want an error containing %q of at most %d bytes", d, err, tt.want, maxErrLen)
			}
		})
	}
}

// TestOutputIsBounded: a program that prints far more than MaxOutput fails
// the read naming the limit, one printing without end as soon as it is
// past it, and neither its output nor its standard error is held whole.
func TestOutputIsBounded(t *testing.T) {
	sh := program(t, "sh")
	const big = 4 * MaxOutput
	tests := []struct {
		name   string
		script string
		want   string // in the error; "" for a read that succeeds
		// allocs bounds what the read allocates, short of what was
		// printed: MaxOutput kept and as much again as its buffer grew
		// (470 MB, when a bytes.Buffer grew past it); standard error's
		// 4 KiB (the bound leaves room for the race detector's own
		// allocations, 4.2 MiB under -race).
		allocs uint64
		// timeout is the source's; the read must fail well before it.
		timeout time.Duration
	}{
		{"standard output", fmt.Sprintf("head -c %d /dev/zero", big), "printed more than 134217728 bytes (128 MiB), the most of its output read: room for a JSON object listing 1048576 jobs", 2*MaxOutput + 8<<20, 0},
		{"standard output just past the limit", fmt.Sprintf("yes 1 | head -c %d", MaxOutput+1), "printed more than 134217728 bytes", 2*MaxOutput + 8<<20, 0},
		// Without end: the read failed at its timeout as one that "did
		// not finish", not saying it printed too much.
		{"standard output without end", "cat /dev/zero", "printed more than 134217728 bytes", 2*MaxOutput + 8<<20, 2 * time.Minute},
		{"standard error, then a number", fmt.Sprintf("head -c %d /dev/zero >&2; echo 3", big), "", 8 << 20, 0},
		{"standard error, then a failure", fmt.Sprintf("head -c %d /dev/zero | tr '\\0' e >&2; exit 1", big), "failed: exit status 1", 8 << 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, Config{Command: []string{sh, "-c", tt.script}, Timeout: tt.timeout})
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := s.Demand(ctx)
			runtime.ReadMemStats(&after)
			if tt.want == "" && err != nil {
				t.Fatalf("error %v, want a reading", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("error %.300v, want one containing %q", err, tt.want)
			}
			if err != nil && len(err.Error()) > maxErrLen {
				t.Errorf("error of %d bytes, want at most %d", len(err.Error()), maxErrLen)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > tt.allocs {
				t.Errorf("the read allocated %d bytes for a program that printed %d; want at most %d", n, big, tt.allocs)
			}
		})
	}
}

// TestOutputHoldsEveryListedJob: an object listing signals.MaxListedJobs
// jobs, each with its GPUs, wait, CPUs and memory written at their
// longest and indented (75 MiB; 1 MiB refused a list of 2^20 jobs' GPUs
// alone, 2 MiB), is read whole; one job more fails the read naming the
// bound on jobs, and an object that would decode into more than
// MaxValues values fails before it is decoded, naming that bound.
func TestOutputHoldsEveryListedJob(t *testing.T) {
	var full, gpus bytes.Buffer
	full.WriteString("{\n")
	signalstest.LongestJobList(&full, "  ", "job_wait_s", signals.MaxListedJobs)
	full.WriteString("}\n")
	gpus.WriteString("{\n")
	signalstest.JSONList(&gpus, "  ", "job_gpus", "1", signals.MaxListedJobs, true)
	gpus.WriteString("}\n")
	over := append([]byte(`{"job_gpus": [1`), bytes.Repeat([]byte(",1"), signals.MaxListedJobs)...)
	over = append(over, "]}"...)
	values := append([]byte(`{"pending_jobs": 1, "job_gpus": [0`), bytes.Repeat([]byte(",0"), MaxValues)...)
	values = append(values, "]}"...)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"full": full.Bytes(), "gpus": gpus.Bytes(), "over": over, "values": values} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if full.Len() <= 64<<20 || gpus.Len() <= 1<<20 {
		t.Fatalf("outputs of %d and %d bytes: want one past 64 MiB and one past the 1 MiB once read", full.Len(), gpus.Len())
	}
	cat := program(t, "cat")
	for _, tt := range []struct {
		file      string
		jobs, sum int
		waits     bool
	}{
		{"full", signals.MaxListedJobs, 2047 * signals.MaxListedJobs, true},
		{"gpus", signals.MaxListedJobs, signals.MaxListedJobs, false},
	} {
		d, err := newSource(t, Config{Command: []string{cat, filepath.Join(dir, tt.file)}}).Demand(ctx)
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if d.PendingJobs != tt.jobs || len(d.JobGPUs) != tt.jobs || d.PendingGPUs != tt.sum || (len(d.JobWaits) == tt.jobs) != tt.waits {
			t.Errorf("%s: read %d jobs, %d sizes, %d waits, %d GPUs; want %d jobs, %d GPUs, each job's wait %v",
				tt.file, d.PendingJobs, len(d.JobGPUs), len(d.JobWaits), d.PendingGPUs, tt.jobs, tt.sum, tt.waits)
		}
	}
	for _, tt := range []struct{ file, want string }{
		{"over", "job_gpus lists 1048577 jobs, want at most 1048576"},
		{"values", "more than 5242880 JSON values and keys, the most this source decodes"},
	} {
		_, err := newSource(t, Config{Command: []string{cat, filepath.Join(dir, tt.file)}}).Demand(ctx)
		var cerr *Error
		if !errors.As(err, &cerr) || !cerr.Permanent() || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > maxErrLen {
			t.Errorf("%s: error %.500v, want a permanent *command.Error containing %q", tt.file, err, tt.want)
		}
	}
}
