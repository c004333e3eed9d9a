package slurm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/internal/fixture"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/signals"
	"github.com/spillway-io/spillway/signals/signalstest"
)

// slurmCluster is the one Slurm cluster every test here shares, started
// by the first test that needs one: a run of only the parsers' tests or
// fuzz targets starts none (go test -fuzz runs this binary in each of its
// workers, and a worker it kills would leave its daemons holding the
// coordinator's output open, hanging it). It fails the test, never skips
// it, when the cluster does not start.
func slurmCluster(t testing.TB) *fixture.Slurm {
	t.Helper()
	clusterOnce.Do(func() { cluster, clusterErr = fixture.StartSlurm() })
	if clusterErr != nil {
		t.Fatalf("starting the Slurm fixture (munged, slurmctld, slurmd): %v", clusterErr)
	}
	return cluster
}

var (
	clusterOnce sync.Once
	cluster     *fixture.Slurm
	clusterErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the Slurm fixture: %v\n", err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutine leak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestParseGPUs(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"N/A", 0, false},
		{"", 0, false},
		{"gres:gpu:4", 4, false},
		{"gres/gpu:4", 4, false},
		{"gres/gpu:a100:2", 2, false},
		{"gres:gpu:a100:2", 2, false},
		{"gpu:3", 3, false},
		{"gpu", 1, false},
		{"gres/gpu=5", 5, false},
		{"gres/gpu:h100=6", 6, false},
		{"cpu=4,mem=1G,gres/gpu=2", 2, false},
		{"gres/gpu:a100:2,gres/gpu:v100:1", 3, false},
		{"gres:gpu:2(IDX:0-1)", 2, false},
		{"gres:mps:100", 0, false},
		{"gres:gpumem:10", 0, false},
		// A type without a count is one GPU (sbatch --gres=gpu:a100).
		{"gres:gpu:lots", 1, false},
		{"gres:gpu:a100", 1, false},
		{"gres/gpu:3g.20gb", 1, false},
		{"gres:gpu:a100(IDX:0)", 1, false},
		{"gres:gpu:a100,gres:gpu:v100:2", 3, false},
		{"gres:gpu:", 0, true},
		{"gres:gpu:a100:many", 0, true},
		{"gres:gpu:+", 0, true},
		{"gres/gpu:a100:-1", 0, true},
		{"gres/gpu:9223372036854775807", 0, true},
		{"gres/gpu:a100:1048576,gres/gpu:v100:1", 0, true},
		{"gres/gpu:1048576", 1048576, false},
	}
	for _, tt := range tests {
		got, err := ParseGPUs(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseGPUs(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseSqueueOutput(t *testing.T) {
	out, err := os.ReadFile("testdata/squeue.txt")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	s := New(Config{Partition: "gpu"}, WithLocation(time.UTC))
	d, err := s.parse(string(out), now)
	if err != nil {
		t.Fatal(err)
	}
	// 12 (BeginTime) and 13 (held) are not demand; 9 asks 2 per node on 3
	// nodes, 10 one per task for 4 tasks, 11 no GPUs.
	wantJobs := []int{4, 2, 6, 4, 0, 1}
	if !slices.Equal(d.JobGPUs, wantJobs) || d.PendingJobs != 6 || d.PendingGPUs != 17 || !d.PendingGPUsKnown {
		t.Errorf("got jobs %d, GPUs %d (known %v), per job %v; want 6, 17, %v", d.PendingJobs, d.PendingGPUs, d.PendingGPUsKnown, d.JobGPUs, wantJobs)
	}
	// Job 14 was submitted at 06:00 but only eligible from 09:00; job 8
	// has waited since 09:30.
	if !d.OldestWaitKnown || d.OldestWait != 3*time.Hour {
		t.Errorf("oldest wait %v (known %v), want 3h", d.OldestWait, d.OldestWaitKnown)
	}
	// Each job's wait, from when it became eligible (14: 09:00, not 06:00).
	wantWaits := []time.Duration{2 * time.Hour, 150 * time.Minute, time.Hour, 30 * time.Minute, 15 * time.Minute, 3 * time.Hour}
	if !slices.Equal(d.JobWaits, wantWaits) {
		t.Errorf("job waits %v, want %v", d.JobWaits, wantWaits)
	}
	if d.Source != "slurm:gpu" || !d.Time.Equal(now) {
		t.Errorf("source %q time %v", d.Source, d.Time)
	}

	all := New(Config{CountAll: true}, WithLocation(time.UTC))
	d, err = all.parse(string(out), now)
	if err != nil {
		t.Fatal(err)
	}
	if d.PendingJobs != 8 || d.PendingGPUs != 26 || d.OldestWait != 5*time.Hour {
		t.Errorf("count_all: jobs %d GPUs %d oldest %v; want 8, 26, 5h", d.PendingJobs, d.PendingGPUs, d.OldestWait)
	}
}

// TestParseSqueueHeterogeneous: squeue lists each component of a
// heterogeneous job (sbatch --gres=gpu:2 : --gres=gpu:3) as a job of its
// own, with the leader's id as HetJobID (testdata/squeue_het.txt is the
// real squeue's output, its times moved). Its components start together:
// it is one job asking for their GPUs in all, wherever squeue lists them.
func TestParseSqueueHeterogeneous(t *testing.T) {
	out, err := os.ReadFile("testdata/squeue_het.txt")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	// 2 and 3 are job 2's components; 7, 8 and 9 job 7's, listed around
	// job 10 and not leader first; 5 and 6 job 5's, held.
	for _, tt := range []struct {
		name     string
		countAll bool
		jobs     []int
		waits    []time.Duration
		oldest   time.Duration
		left     []signals.LeftOut
	}{
		{name: "pending", jobs: []int{5, 1, 4, 8}, waits: []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute, 15 * time.Minute}, oldest: 2 * time.Hour,
			left: []signals.LeftOut{{Why: "pending for JobHeldUser", Jobs: 1}}},
		{name: "count_all", countAll: true, jobs: []int{5, 1, 4, 8, 5}, waits: []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute, 15 * time.Minute, 3 * time.Hour}, oldest: 3 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(Config{Partition: "gpu", CountAll: tt.countAll}, WithLocation(time.UTC)).parse(string(out), now)
			if err != nil {
				t.Fatal(err)
			}
			sum := 0
			for _, g := range tt.jobs {
				sum += g
			}
			if !slices.Equal(d.JobGPUs, tt.jobs) || d.PendingJobs != len(tt.jobs) || d.PendingGPUs != sum {
				t.Errorf("jobs %d, GPUs %d, per job %v; want %d, %d, %v", d.PendingJobs, d.PendingGPUs, d.JobGPUs, len(tt.jobs), sum, tt.jobs)
			}
			if !slices.Equal(d.JobWaits, tt.waits) || d.OldestWait != tt.oldest || !d.OldestWaitKnown {
				t.Errorf("waits %v, oldest %v (known %v); want %v, %v", d.JobWaits, d.OldestWait, d.OldestWaitKnown, tt.waits, tt.oldest)
			}
			if !slices.Equal(d.LeftOut, tt.left) {
				t.Errorf("left out %+v, want %+v", d.LeftOut, tt.left)
			}
		})
	}
}

// TestHeterogeneousJobs: a heterogeneous job is demand only when each of
// its components is, since they start together; it counts by its GPUs,
// as a job on several nodes does, whatever its components' CPUs.
func TestHeterogeneousJobs(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	line := func(id int, tres, reason, cpus string, het int, feature string) string {
		h := "N/A"
		if het > 0 {
			h = fmt.Sprint(het)
		}
		return fmt.Sprintf("%d|N/A|%s|N/A|1|1|%s|2026-11-22T10:00:00|2026-11-22T10:00:00|0|cpu=%s,node=1|%s|N/A|*:*:*|%s|\n", id, tres, reason, cpus, h, feature)
	}
	for _, tt := range []struct {
		name    string
		cfg     Config
		out     string
		want    []int
		left    string
		wantErr string
	}{
		{name: "two components", out: line(1, "gres/gpu:2", "None", "1", 1, "") + line(2, "gres/gpu:3", "None", "1", 1, ""), want: []int{5}},
		{name: "beside a job of its own", out: line(1, "gres/gpu:2", "None", "1", 1, "") + line(3, "gres/gpu:1", "Priority", "1", 0, "") + line(2, "gres/gpu:3", "None", "1", 1, ""), want: []int{5, 1}},
		{name: "a component held", out: line(1, "gres/gpu:2", "None", "1", 1, "") + line(2, "gres/gpu:3", "JobHeldAdmin", "1", 1, ""), left: "pending for JobHeldAdmin"},
		{name: "a component of a GPU type not offered", cfg: Config{GPUTypes: []string{"h100"}},
			out: line(1, "gres/gpu:h100:2", "None", "1", 1, "") + line(2, "gres/gpu:a100:1", "None", "1", 1, ""), left: "asking for GPU type a100, not in gpu_types"},
		{name: "a component constrained to on-prem nodes", cfg: Config{Features: []string{"ib"}},
			out: line(1, "gres/gpu:2", "None", "1", 1, "ib") + line(2, "gres/gpu:1", "None", "1", 1, "onprem"), left: "asking for nodes with onprem, not in features"},
		// Alone, a 1-GPU job asking for 32 CPUs counts as a 4-GPU shape.
		{name: "shapes: by its GPUs", cfg: Config{Shapes: signalstest.Shapes},
			out: line(1, "gres/gpu:1", "None", "32", 1, "") + line(2, "gres/gpu:1", "None", "32", 1, ""), want: []int{2}},
		{name: "more GPUs in all than a job may ask", out: line(1, "gres/gpu:1048576", "None", "1", 1, "") + line(2, "gres/gpu:1", "None", "1", 1, ""),
			wantErr: "heterogeneous job 1: its components ask for more than 1048576 GPUs in all"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.cfg, WithLocation(time.UTC)).parse(tt.out, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse: %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.JobGPUs, tt.want) && len(d.JobGPUs)+len(tt.want) > 0 || d.PendingJobs != len(tt.want) {
				t.Errorf("jobs %v (%d), want %v", d.JobGPUs, d.PendingJobs, tt.want)
			}
			var left []signals.LeftOut
			if tt.left != "" {
				left = []signals.LeftOut{{Why: tt.left, Jobs: 1}}
			}
			if !slices.Equal(d.LeftOut, left) {
				t.Errorf("left out %+v, want %+v", d.LeftOut, left)
			}
		})
	}
}

// TestSkipReasons: a job pending for nodes (Resources, Priority) is
// demand; one held back by a limit, a license or a partition that more
// nodes would not lift is not, by default; skip_reasons replaces the list
// and takes patterns.
func TestSkipReasons(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	line := func(id int, reason string) string {
		return fmt.Sprintf("%d|N/A|gres:gpu:1|N/A|1|1|%s|2026-11-22T10:00:00|2026-11-22T10:00:00|\n", id, reason)
	}
	tests := []struct {
		reason string
		skip   []string
		demand bool
	}{
		{"Resources", nil, true},
		{"Priority", nil, true},
		{"None", nil, true},
		{"ReqNodeNotAvail", nil, true},
		{"PartitionNodeLimit", nil, true}, // also shown when the partition's nodes are down
		{"JobHeldAdmin", nil, false},
		{"Dependency", nil, false},
		{"QOSMaxGRESPerUser", nil, false},
		{"QOSGrpGRES", nil, false},
		{"AssocGrpGRES", nil, false},
		{"AssociationJobLimit", nil, false},
		{"MaxGRESPerAccount", nil, false},
		{"AccountingPolicy", nil, false},
		{"InvalidQOS", nil, false},
		{"PartitionTimeLimit", nil, false},
		{"PartitionDown", nil, false},
		{"Licenses", nil, false},
		{"BadConstraints", nil, false},
		{"PartitionConfig", nil, false},
		{"MaxMemPerLimit", nil, false},
		{"Reservation", nil, false},
		{"ReservationDeleted", nil, false},
		{"DeadLine", nil, false},
		{"JobHoldMaxRequeue", nil, false},
		{"ReqNodeNotAvail, May be reserved for other job", nil, true},
		{"QOSMaxGRESPerUser", []string{"JobHeldUser"}, true}, // the list replaces the defaults
		{"Priority", []string{"Prio*"}, false},
		{"AssocGrpGRES", []string{"Assoc[GM]*"}, false},
		{"AssocGrpGRES", []string{"QOS*"}, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.reason, tt.skip), func(t *testing.T) {
			s := New(Config{SkipReasons: tt.skip}, WithLocation(time.UTC))
			d, err := s.parse(line(1, tt.reason)+line(2, "Resources"), now)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.PendingJobs == 2; got != tt.demand {
				t.Errorf("%d jobs read; a job pending for %s is demand: %v, want %v", d.PendingJobs, tt.reason, got, tt.demand)
			}
			d, err = New(Config{SkipReasons: tt.skip, CountAll: true}, WithLocation(time.UTC)).parse(line(1, tt.reason)+line(2, "Resources"), now)
			if err != nil || d.PendingJobs != 2 {
				t.Errorf("count_all: %d jobs (%v), want 2", d.PendingJobs, err)
			}
		})
	}
	// More reasons in one read than it remembers are matched all the same.
	var many strings.Builder
	for i := range 20 {
		reason := fmt.Sprintf("Reason%d", i)
		if i%6 == 5 {
			reason = fmt.Sprintf("QOSMaxReason%d", i)
		}
		many.WriteString(line(i, reason) + line(100+i, reason))
	}
	if d, err := New(Config{}, WithLocation(time.UTC)).parse(many.String(), now); err != nil || d.PendingJobs != 34 || len(d.LeftOut) != 3 || d.LeftOut[2] != (signals.LeftOut{Why: "pending for QOSMaxReason17", Jobs: 2}) {
		t.Errorf("20 reasons, 3 of them skipped, each twice: %d jobs, left out %+v (%v), want 34, and 2 jobs each for 3 reasons", d.PendingJobs, d.LeftOut, err)
	}
	for _, bad := range []string{"QOS[", "", `Assoc\`} {
		if p := (Config{SkipReasons: []string{"Resources", bad}}).Problems(); len(p) != 1 || !strings.Contains(p[0], "skip_reasons[1]") {
			t.Errorf("skip reason %q: problems %q, want one naming skip_reasons[1]", bad, p)
		}
	}
	if p := (Config{SkipReasons: []string{"QOS*", "Max*PerAccount", "Resources"}}).Problems(); len(p) != 0 {
		t.Errorf("good skip reasons: problems %q", p)
	}
}

// TestGPUTypes: with gpu_types, a job that asks for a GPU type the burst
// instances do not offer is not demand; one that asks for a listed type,
// or for GPUs of no type, is. Without it every job counts.
func TestGPUTypes(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	lines := strings.Join([]string{
		"1|N/A|gres/gpu:h100:8|N/A|1|1|Resources|2026-11-22T10:00:00|2026-11-22T10:00:00|",
		"2|N/A|gres/gpu:a100:2(S:0)|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|",
		"3|gres/gpu:4|N/A|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|",
		"4|gres/gpu:H100=2,gres/gpu:a100=1|N/A|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|",
		"5|N/A|N/A|gres:gpu:h200:1|1|2|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|",
	}, "\n")
	for _, tt := range []struct {
		types []string
		want  []int
	}{
		{nil, []int{8, 2, 4, 3, 2}},
		{[]string{"h100"}, []int{8, 4}},
		{[]string{"H100", "a100"}, []int{8, 2, 4, 3}},
		{[]string{"h200"}, []int{4, 2}},
	} {
		d, err := New(Config{GPUTypes: tt.types}, WithLocation(time.UTC)).parse(lines, now)
		if err != nil || !slices.Equal(d.JobGPUs, tt.want) || d.PendingJobs != len(tt.want) {
			t.Errorf("gpu_types %q: jobs %v (%d, %v), want %v", tt.types, d.JobGPUs, d.PendingJobs, err, tt.want)
		}
		left := 0
		for _, l := range d.LeftOut {
			left += l.Jobs
		}
		if left != 5-len(tt.want) {
			t.Errorf("gpu_types %q: left out %+v, want %d jobs", tt.types, d.LeftOut, 5-len(tt.want))
		}
	}
	d, _ := New(Config{GPUTypes: []string{"h100"}}, WithLocation(time.UTC)).parse(lines, now)
	want := []signals.LeftOut{{Why: "asking for GPU type a100, not in gpu_types", Jobs: 2}, {Why: "asking for GPU type h200, not in gpu_types", Jobs: 1}}
	if !slices.Equal(d.LeftOut, want) {
		t.Errorf("left out %+v, want %+v", d.LeftOut, want)
	}
	for _, bad := range []string{"", "a100:2", "gpu/h100", "h 100"} {
		if p := (Config{GPUTypes: []string{"h100", bad}}).Problems(); len(p) != 1 || !strings.Contains(p[0], "gpu_types[1]") {
			t.Errorf("gpu type %q: problems %q, want one naming gpu_types[1]", bad, p)
		}
	}
}

// TestTypedGPUWithoutCount: sbatch --gres=gpu:a100 (or --gpus=a100)
// asks for one GPU of type a100, and squeue shows it as gres:gpu:a100
// (Slurm 22.05, the lines below as it printed them for a node whose
// gres.conf names Type=a100). It was read as the count "a100", not a
// whole number: one such job made every read of the queue fail, so no
// pool burst for anyone's jobs; and gpu_types did not see its type, so
// a job of a type the burst nodes lack would have counted.
func TestTypedGPUWithoutCount(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	lines := strings.Join([]string{
		"1|N/A|gres:gpu:a100|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|",
		"2|N/A|gres:gpu:a100:2|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|",
		"3|gres:gpu:a100|N/A|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|",
		"4|N/A|gres:gpu:h100|N/A|2|2|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|",
	}, "\n")
	for _, tt := range []struct {
		types []string
		want  []int
		left  []signals.LeftOut
	}{
		{nil, []int{1, 2, 1, 2}, nil},
		{[]string{"h100"}, []int{2}, []signals.LeftOut{{Why: "asking for GPU type a100, not in gpu_types", Jobs: 3}}},
		{[]string{"a100"}, []int{1, 2, 1}, []signals.LeftOut{{Why: "asking for GPU type h100, not in gpu_types", Jobs: 1}}},
	} {
		d, err := New(Config{GPUTypes: tt.types}, WithLocation(time.UTC)).parse(lines, now)
		if err != nil || !slices.Equal(d.JobGPUs, tt.want) || !slices.Equal(d.LeftOut, tt.left) {
			t.Errorf("gpu_types %q: jobs %v, left out %+v (%v); want %v, %+v", tt.types, d.JobGPUs, d.LeftOut, err, tt.want, tt.left)
		}
	}
}

func TestMeets(t *testing.T) {
	offered := []string{"ib", "H100", "cloud"}
	for _, tt := range []struct {
		constraint string
		want       bool
	}{
		{"", true}, {"(null)", true}, {"N/A", true},
		{"ib", true}, {"IB", true}, {"h100&ib", true}, {"h100,ib", true}, {"onprem", false}, {"ib&onprem", false},
		{"onprem|ib", true}, {"onprem|a100", false}, {"[rack1|rack2]", false}, {"[ib|rack2]", true},
		{"ib*2&cloud*4", true}, {"(onprem|h100)&ib", true}, {"(onprem|a100)&ib", false}, {"[(onprem&ib)*4&h100*1]", false}, {"[(cloud&ib)*4&h100*1]", true},
		{"!onprem", true}, {"ib&!onprem", true}, {"&|,", true}, {"(ib", true}, {"onprem)", true}, {strings.Repeat("(", 100) + "onprem" + strings.Repeat(")", 100), true},
	} {
		if got := meets(tt.constraint, offered); got != tt.want {
			t.Errorf("meets(%q, %v) = %v, want %v", tt.constraint, offered, got, tt.want)
		}
	}
}

// TestFeatures: with features set, a job whose constraint the burst nodes
// cannot meet is left out, saying why; without, constraints are not read.
func TestFeatures(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	const at = "|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|0|cpu=1|N/A|N/A|*:*:*|"
	lines := strings.Join([]string{
		"1|N/A|gres/gpu:8|N/A|1|1" + at + "|",
		"2|N/A|gres/gpu:2|N/A|1|1" + at + "onprem&ib|",
		"3|N/A|gres/gpu:4|N/A|1|1" + at + "ib|",
		"4|N/A|gres/gpu:1|N/A|1|1" + at + "rack7|onprem|",                            // squeue's | separates fields too
		"5|N/A|gres/gpu:1|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|", // an older format
	}, "\n")
	d, err := New(Config{Features: []string{"ib", "cloud"}}, WithLocation(time.UTC)).parse(lines, now)
	if err != nil || !slices.Equal(d.JobGPUs, []int{8, 4, 1}) {
		t.Errorf("features [ib cloud]: jobs %v (%v), want 8 4 1", d.JobGPUs, err)
	}
	want := []signals.LeftOut{{Why: "asking for nodes with onprem&ib, not in features", Jobs: 1}, {Why: "asking for nodes with rack7|onprem, not in features", Jobs: 1}}
	if !slices.Equal(d.LeftOut, want) {
		t.Errorf("left out %+v, want %+v", d.LeftOut, want)
	}
	if d, err := New(Config{}, WithLocation(time.UTC)).parse(lines, now); err != nil || len(d.JobGPUs) != 5 {
		t.Errorf("without features: jobs %v (%v), want all 5", d.JobGPUs, err)
	}
	for _, bad := range []string{"", "a&b", "rack1*2", "x y"} {
		if p := (Config{Features: []string{"ib", bad}}).Problems(); len(p) != 1 || !strings.Contains(p[0], "features[1]") {
			t.Errorf("feature %q: problems %q, want one naming features[1]", bad, p)
		}
	}
}

// TestFeaturesFromSlurm: the real Slurm's node has features onprem and ib;
// with features [ib], a job constrained to onprem is left out and one to
// ib, or to either, is demand.
func TestFeaturesFromSlurm(t *testing.T) {
	cancelAll(t)
	submit(t, "RUNNING", "--gres=gpu:8")
	submit(t, "PENDING", "--gres=gpu:1", "--constraint=onprem")
	submit(t, "PENDING", "--gres=gpu:2", "--constraint=ib")
	submit(t, "PENDING", "--gres=gpu:3", "--constraint=onprem|ib")
	submit(t, "PENDING", "--gres=gpu:4", "--constraint=onprem&ib")
	d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition, Features: []string{"ib"}}).Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.JobGPUs, []int{2, 3}) {
		t.Errorf("read jobs %v, want 2 3 (those the ib nodes can run)", d.JobGPUs)
	}
	if want := []signals.LeftOut{{Why: "asking for nodes with onprem, not in features", Jobs: 1}, {Why: "asking for nodes with onprem&ib, not in features", Jobs: 1}}; !slices.Equal(d.LeftOut, want) {
		t.Errorf("left out %+v, want %+v", d.LeftOut, want)
	}
}

// TestHeterogeneousJobFromSlurm: the real Slurm's heterogeneous jobs, two
// and three components each asking for GPUs, are one job each asking
// their sum; a held one is left out once.
func TestHeterogeneousJobFromSlurm(t *testing.T) {
	cancelAll(t)
	submit(t, "RUNNING", "--gres=gpu:8")
	submitHet(t, 2, "--gres=gpu:2", ":", "--gres=gpu:3")
	submit(t, "PENDING", "--gres=gpu:1")
	submitHet(t, 3, "--gpus=2", ":", "--gpus=1", ":", "--gres=gpu:1")
	submitHet(t, 2, "--hold", "--gres=gpu:1", ":", "--gres=gpu:4")
	d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition}).Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(d.JobGPUs))
	if want := []int{1, 4, 5}; !slices.Equal(got, want) || d.PendingJobs != 3 || d.PendingGPUs != 10 {
		t.Errorf("read %d jobs, %d GPUs, per job %v; want 3 jobs, 10 GPUs, %v in some order", d.PendingJobs, d.PendingGPUs, d.JobGPUs, want)
	}
	if want := []signals.LeftOut{{Why: "pending for JobHeldUser", Jobs: 1}}; !slices.Equal(d.LeftOut, want) {
		t.Errorf("left out %+v, want %+v", d.LeftOut, want)
	}
}

// submitHet submits a heterogeneous job (components separated by ":")
// and waits until squeue lists its n components pending.
func submitHet(t testing.TB, n int, opts ...string) {
	t.Helper()
	id, err := slurmCluster(t).Submit(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := slurmCluster(t).WaitComponents(id, "PENDING", n, 20*time.Second); err != nil {
		t.Fatalf("heterogeneous job %s: %v", id, err)
	}
}

// TestShapes: with the pool's shapes (a 1-, a 4- and an 8-GPU instance),
// a one-node job that asks for more CPUs or memory than the smallest
// shape holding its GPUs counts as the GPUs of the smallest that holds it
// all; one no shape holds is left out, saying why. Memory counts only when
// the job asked for it (MinMemory), read from its TRES, where Slurm has
// multiplied --mem-per-cpu out.
func TestShapes(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	shapes := signalstest.Shapes
	const at = "|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|"
	for _, tt := range []struct {
		name   string
		line   string
		shapes []policy.Shape
		want   []int
		left   string
	}{
		{"fits the smallest", "1|N/A|gres/gpu:1|N/A|1|1" + at + "8G|cpu=2,mem=8G,node=1|", shapes, []int{1}, ""},
		{"CPUs of a 4-GPU shape", "2|N/A|gres/gpu:1|N/A|1|1" + at + "0|cpu=32,mem=1000M,node=1|", shapes, []int{4}, ""},
		{"memory of an 8-GPU shape", "3|N/A|gres/gpu:2|N/A|1|1" + at + "500G|cpu=8,mem=500G,node=1|", shapes, []int{8}, ""},
		{"memory per CPU, multiplied out", "4|N/A|gres/gpu:1|N/A|1|1" + at + "4G|cpu=8,mem=32G,node=1|", shapes, []int{4}, ""},
		{"the on-prem node's memory, not asked for", "5|N/A|gres/gpu:1|N/A|1|1" + at + "0|cpu=1,mem=1000G,node=1|", shapes, []int{1}, ""},
		{"memory asked, none in the TRES", "6|N/A|gres/gpu:1|N/A|1|1" + at + "20G|N/A|", shapes, []int{4}, ""},
		{"more CPUs than any shape", "7|N/A|gres/gpu:1|N/A|1|1" + at + "0|cpu=500,node=1|", shapes, nil,
			"asking for 500 CPUs on one node, more than any instance the pool rents with its GPUs has"},
		{"more memory than any shape", "8|N/A|gres/gpu:1|N/A|1|1" + at + "3T|cpu=4,mem=3T,node=1|", shapes, nil,
			"asking for 3072 GiB of memory on one node, more than any instance the pool rents with its GPUs has"},
		{"larger than every shape: it spans", "9|N/A|gres/gpu:16|N/A|1|1" + at + "0|cpu=500,node=1|", shapes, []int{16}, ""},
		{"on several nodes: it spans", "10|N/A|gres/gpu:2|N/A|2|2" + at + "0|cpu=300,node=2|", shapes, []int{4}, ""},
		{"an older squeue: no CPUs or memory", "11|N/A|gres/gpu:1|N/A|1|1" + at, shapes, []int{1}, ""},
		{"fields that do not read", "12|N/A|gres/gpu:1|N/A|1|1" + at + "lots|cpu=many,mem=12X|", shapes, []int{1}, ""},
		{"no shapes", "13|N/A|gres/gpu:1|N/A|1|1" + at + "0|cpu=500,node=1|", nil, []int{1}, ""},
		{"a 2-GPU job the 4-GPU shape holds: it shares it", "15|N/A|gres/gpu:2|N/A|1|1" + at + "16G|cpu=40,mem=16G,node=1|", shapes, []int{2}, ""},
		{"shapes of unknown CPUs", "14|N/A|gres/gpu:1|N/A|1|1" + at + "0|cpu=500,node=1|", []policy.Shape{{GPUs: 1, MemMiB: 1 << 10}, {GPUs: 8}}, []int{1}, ""},
	} {
		d, err := New(Config{Shapes: tt.shapes}, WithLocation(time.UTC)).parse(tt.line+"\n", now)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !slices.Equal(d.JobGPUs, tt.want) && len(d.JobGPUs)+len(tt.want) > 0 || d.PendingJobs != len(tt.want) {
			t.Errorf("%s: jobs %v (%d), want %v", tt.name, d.JobGPUs, d.PendingJobs, tt.want)
		}
		sum := 0
		for _, g := range tt.want {
			sum += g
		}
		if d.PendingGPUs != sum {
			t.Errorf("%s: %d GPUs pending, want %d", tt.name, d.PendingGPUs, sum)
		}
		var left []signals.LeftOut
		if tt.left != "" {
			left = []signals.LeftOut{{Why: tt.left, Jobs: 1}}
		}
		if !slices.Equal(d.LeftOut, left) {
			t.Errorf("%s: left out %+v, want %+v", tt.name, d.LeftOut, left)
		}
		larger := 0
		if asked, _ := jobGPUs(strings.Split(tt.line, "|")); len(tt.want) == 1 && tt.want[0] > asked {
			larger = 1
		}
		if d.Larger != larger {
			t.Errorf("%s: %d jobs counted larger, want %d", tt.name, d.Larger, larger)
		}
	}
}

func TestParseMiB(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"500", 500, true}, {"500M", 500, true}, {"8G", 8192, true}, {"1.5G", 1536, true}, {"2T", 2 << 20, true},
		{"1024K", 1, true}, {"1K", 1, true}, {"0", 0, true}, {"1P", 1 << 30, true},
		{"2P", 0, false}, {"-1G", 0, false}, {"", 0, false}, {"G", 0, false}, {"12X", 0, false}, {"NaN", 0, false}, {"1e300", 0, false},
	} {
		got, err := parseMiB(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMiB(%q) = %d, %v; want %d (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestShapesFromSlurm: the real Slurm's squeue, with jobs asking for CPUs
// and memory (per node and per CPU) beside their GPUs, read against shapes
// the size of the fixture's node.
func TestShapesFromSlurm(t *testing.T) {
	cancelAll(t)
	submit(t, "RUNNING", "--gres=gpu:8")
	submit(t, "PENDING", "--gres=gpu:1")                                  // 1 CPU, no memory asked
	submit(t, "PENDING", "--gres=gpu:1", "--cpus-per-task=2")             // 2 CPUs: the 2-GPU shape
	submit(t, "PENDING", "--gres=gpu:1", "--mem=900M")                    // the 4-GPU shape's memory
	submit(t, "PENDING", "--gres=gpu:1", "-c", "2", "--mem-per-cpu=400M") // 800M in all: the 4-GPU shape
	submit(t, "PENDING", "--gres=gpu:2", "--mem=950M")                    // more than any shape
	shapes := []policy.Shape{{GPUs: 1, VCPUs: 1, MemMiB: 512}, {GPUs: 2, VCPUs: 2, MemMiB: 512}, {GPUs: 4, VCPUs: 2, MemMiB: 900}}
	d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition, Shapes: shapes}).Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 2, 4, 4}; !slices.Equal(d.JobGPUs, want) || d.PendingGPUs != 11 || d.Larger != 3 {
		t.Errorf("read jobs %v (%d GPUs, %d counted larger), want %v (11 GPUs, 3 larger)", d.JobGPUs, d.PendingGPUs, d.Larger, want)
	}
	if want := []signals.LeftOut{{Why: "asking for 0.9 GiB of memory on one node, more than any instance the pool rents with its GPUs has", Jobs: 1}}; !slices.Equal(d.LeftOut, want) {
		t.Errorf("left out %+v, want %+v", d.LeftOut, want)
	}
	d, err = New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition}).Demand(context.Background())
	if err != nil || !slices.Equal(d.JobGPUs, []int{1, 1, 1, 1, 2}) {
		t.Errorf("without shapes: jobs %v (%v), want each by its GPUs", d.JobGPUs, err)
	}
}

// TestLicenseHeldJobIsNotDemand: the real Slurm keeps a job pending for a
// license another job holds, beside free GPUs; no cloud node would give it
// the license, so it is not demand. A job waiting for GPUs is.
func TestLicenseHeldJobIsNotDemand(t *testing.T) {
	cancelAll(t)
	lic := "--licenses=" + fixture.SlurmLicense + ":1"
	submit(t, "RUNNING", lic, "--gres=gpu:1")
	held := submit(t, "PENDING", lic, "--gres=gpu:1")
	submit(t, "PENDING", "--gres=gpu:8")
	waitReason(t, held, "Licenses")
	d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition}).Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.PendingJobs != 1 || !slices.Equal(d.JobGPUs, []int{8}) {
		t.Errorf("read %d jobs %v, want the 8-GPU job alone", d.PendingJobs, d.JobGPUs)
	}
	if want := []signals.LeftOut{{Why: "pending for Licenses", Jobs: 1}}; !slices.Equal(d.LeftOut, want) {
		t.Errorf("left out %+v, want %+v", d.LeftOut, want)
	}
	d, err = New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition, CountAll: true}).Demand(context.Background())
	if err != nil || d.PendingJobs != 2 {
		t.Errorf("count_all: %d jobs (%v), want 2", d.PendingJobs, err)
	}
}

// TestArrayTaskLimitIsNotDemand: the real Slurm starts the tasks of
// --array=1-6%1 one at a time, however many GPUs are free; the other
// tasks pend for JobArrayTaskLimit, which no cloud node lifts, so they are
// not demand. They were counted as five 1-GPU jobs.
func TestArrayTaskLimitIsNotDemand(t *testing.T) {
	cancelAll(t)
	// Held, the array pends as one record that WaitState can read.
	array := submit(t, "PENDING", "--array=1-6%1", "--gres=gpu:1", "--hold")
	if out, err := slurmCluster(t).Run("scontrol", "release", array); err != nil {
		t.Fatalf("scontrol release %s: %v: %s", array, err, out)
	}
	submit(t, "PENDING", "--gres=gpu:8")
	waitReason(t, array+"_6", "JobArrayTaskLimit")
	for _, tc := range []struct {
		name     string
		countAll bool
		want     []int
		leftOut  []signals.LeftOut
	}{
		{"default", false, []int{8}, []signals.LeftOut{{Why: "pending for JobArrayTaskLimit", Jobs: 5}}},
		{"count_all", true, []int{1, 1, 1, 1, 1, 8}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition, CountAll: tc.countAll}).Demand(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Clone(d.JobGPUs)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) || len(d.LeftOut) != len(tc.leftOut) || (len(tc.leftOut) > 0 && !slices.Equal(d.LeftOut, tc.leftOut)) {
				t.Errorf("read jobs %v, left out %+v; want %v, left out %+v", d.JobGPUs, d.LeftOut, tc.want, tc.leftOut)
			}
		})
	}
}

// A wait longer than signals.MaxWait reads as MaxWait: a job held for
// years (counted with count_all) or a mangled date does not make the
// queue unreadable. Found by FuzzParseSqueue: year 0 read as 292 years.
func TestParseSqueueOldWaitIsBounded(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, out string
		want      time.Duration
	}{
		{"submitted in year 0", "7|N/A|gres:gpu:1|N/A|1|1|Priority|0000-01-01T00:00:00|Unknown|\n", signals.MaxWait},
		{"eligible since 2020", "7|N/A|gres:gpu:1|N/A|1|1|Priority|2020-01-01T00:00:00|2020-01-02T00:00:00|\n", signals.MaxWait},
		{"a day short of the bound", "7|N/A|gres:gpu:1|N/A|1|1|Priority|2025-11-23T12:00:00|N/A|\n", signals.MaxWait - 24*time.Hour},
		{"beside a recent job", "7|N/A|gres:gpu:1|N/A|1|1|Priority|2026-11-22T11:00:00|N/A|\n" +
			"8|N/A|gres:gpu:1|N/A|1|1|Priority|1999-01-01T00:00:00|N/A|\n", signals.MaxWait},
	} {
		d, err := New(Config{CountAll: true}, WithLocation(time.UTC)).parse(tt.out, now)
		if err != nil || !d.OldestWaitKnown || d.OldestWait != tt.want {
			t.Errorf("%s: oldest wait %v (known %v), err %v; want %v", tt.name, d.OldestWait, d.OldestWaitKnown, err, tt.want)
		}
	}
}

func TestParseSqueueOutputEmpty(t *testing.T) {
	d, err := New(Config{}).parse("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d.PendingJobs != 0 || !d.PendingGPUsKnown || d.OldestWaitKnown || d.JobGPUs == nil {
		t.Errorf("empty queue read as %+v; want 0 jobs, 0 GPUs known, no oldest wait, empty JobGPUs", d)
	}
}

func TestParseSqueueOutputBad(t *testing.T) {
	tests := []struct{ out, want string }{
		{"7|N/A|gres:gpu:4|\n", `has 4 fields, want at least 9`},
		{"7|N/A|gres:gpu:a100:x|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|\n", `job 7: tres-per-node: GPU request "gpu:a100:x"`},
		{"7|N/A|gres:gpu:1|N/A|1|1|Priority|yesterday|Unknown|\n", `job 7: SubmitTime "yesterday" is not a time`},
		// Found by FuzzParseGPUs: the error quoted a hostile field whole, three times.
		{"7|N/A|gres:gpu:a100:" + strings.Repeat("x", 1e5) + "|N/A|1|1|Priority|2026-11-22T10:00:00|N/A|\n", `job 7: tres-per-node: GPU request "gpu:a100:xxxx`},
		{"7|N/A|gres:gpu:2|N/A|" + strings.Repeat("9", 1e5) + "|1|Priority|2026-11-22T10:00:00|N/A|\n", `job 7: NumNodes "99999999999999999999…": value out of range`},
	}
	for _, tt := range tests {
		_, err := New(Config{}).parse(tt.out, time.Now())
		if err == nil || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > maxErrLen {
			t.Errorf("parse(%.100q) error %.2000v, want it to contain %q and be at most %d bytes", tt.out, err, tt.want, maxErrLen)
		}
	}
}

func TestArgs(t *testing.T) {
	args := New(Config{Partition: "gpu", Accounts: []string{"ml", "cv"}, QOS: []string{"high"}}).Args()
	for _, want := range []string{"--states=PENDING", "--array", "--partition=gpu", "--account=ml,cv", "--qos=high"} {
		if !slices.Contains(args, want) {
			t.Errorf("squeue args %q lack %q", args, want)
		}
	}
}

func squeuePath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("squeue")
	if err != nil {
		t.Fatalf("squeue not found: %v; %s", err, fixture.InstallHint)
	}
	return p
}

func cancelAll(t testing.TB) {
	t.Cleanup(func() {
		if err := slurmCluster(t).CancelAll(); err != nil {
			t.Errorf("cancelling jobs: %v", err)
		}
	})
}

// waitReason waits until job id pends for reason.
func waitReason(t testing.TB, id, reason string) {
	t.Helper()
	if err := slurmCluster(t).WaitReason(id, reason, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

func submit(t testing.TB, state string, opts ...string) string {
	t.Helper()
	id, err := slurmCluster(t).Submit(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := slurmCluster(t).WaitState(id, state, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestDemandFromSlurm fills the node's 8 GPUs with one running job, then
// submits jobs that must pend, and reads them through squeue.
func TestDemandFromSlurm(t *testing.T) {
	cancelAll(t)
	submit(t, "RUNNING", "--gres=gpu:8")
	before := time.Now().Truncate(time.Second)
	submit(t, "PENDING", "--gres=gpu:4")
	after := time.Now()
	submit(t, "PENDING", "--gpus=2")
	submit(t, "PENDING", "--gpus-per-task=1", "--ntasks=2")
	submit(t, "PENDING", "--account=research", "--gres=gpu:1")
	submit(t, "PENDING", "--hold", "--gres=gpu:8")
	submit(t, "PENDING", "--begin=now+1hour", "--gres=gpu:8")

	now := after.Add(time.Hour)
	src := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition}, WithNow(func() time.Time { return now }))
	d, err := src.Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []int{4, 2, 2, 1}
	if d.PendingJobs != 4 || d.PendingGPUs != 9 || !slices.Equal(d.JobGPUs, want) {
		t.Errorf("read %d jobs, %d GPUs, per job %v; want 4 jobs, 9 GPUs, %v (held and not-yet-begun jobs left out)", d.PendingJobs, d.PendingGPUs, d.JobGPUs, want)
	}
	if !d.OldestWaitKnown || d.OldestWait < now.Sub(after)-time.Second || d.OldestWait > now.Sub(before) {
		t.Errorf("oldest wait %v (known %v), want between %v and %v", d.OldestWait, d.OldestWaitKnown, now.Sub(after)-time.Second, now.Sub(before))
	}
	// Each job waited from its submission (in queue order: the 4-GPU job,
	// submitted first, waited longest) until the read an hour later.
	read := time.Until(now)
	if len(d.JobWaits) != len(want) || d.JobWaits[0] != d.OldestWait {
		t.Errorf("job waits %v, want %d of them, the first the oldest wait %v", d.JobWaits, len(want), d.OldestWait)
	}
	for i, w := range d.JobWaits {
		if w < read-time.Second || w > d.OldestWait {
			t.Errorf("job %d (%d GPUs) waited %v, want between %v and the oldest wait %v", i, d.JobGPUs[i], w, read-time.Second, d.OldestWait)
		}
	}
	if d.Source != "slurm:gpu" || !d.Time.Equal(now) {
		t.Errorf("source %q time %v, want slurm:gpu at %v", d.Source, d.Time, now)
	}

	acct := New(Config{SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition, Accounts: []string{"research"}})
	d, err = acct.Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.PendingJobs != 1 || d.PendingGPUs != 1 {
		t.Errorf("account research: %d jobs, %d GPUs; want 1, 1", d.PendingJobs, d.PendingGPUs)
	}

	all := New(Config{SlurmConf: slurmCluster(t).Conf, CountAll: true})
	d, err = all.Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.PendingJobs != 6 || d.PendingGPUs != 25 || d.Source != "slurm" {
		t.Errorf("count_all over all partitions (%s): %d jobs, %d GPUs; want 6, 25", d.Source, d.PendingJobs, d.PendingGPUs)
	}
}

// TestDemandEmptyQueue: a running job is not demand.
func TestDemandEmptyQueue(t *testing.T) {
	cancelAll(t)
	submit(t, "RUNNING", "--gres=gpu:2")
	d, err := New(Config{SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition}).Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.PendingJobs != 0 || d.PendingGPUs != 0 || !d.PendingGPUsKnown || d.OldestWaitKnown {
		t.Errorf("queue with only a running job read as %+v; want no demand", d)
	}
}

func TestDemandBadPartition(t *testing.T) {
	_, err := New(Config{SlurmConf: slurmCluster(t).Conf, Partition: "nosuch"}).Demand(context.Background())
	if err == nil || !strings.Contains(err.Error(), `slurm source "slurm:nosuch"`) || !strings.Contains(err.Error(), `partition "nosuch"`) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown partition: error %v, want one naming the source and scontrol's answer", err)
	}
}

// TestDemandSlurmNotRunning points squeue at a config whose controller port
// nothing listens on.
func TestDemandSlurmNotRunning(t *testing.T) {
	conf, err := os.ReadFile(slurmCluster(t).Conf)
	if err != nil {
		t.Fatal(err)
	}
	port, err := fixture.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dead := regexp.MustCompile(`(?m)^SlurmctldPort=\d+$`).ReplaceAllString(string(conf), fmt.Sprintf("SlurmctldPort=%d", port))
	dead += "MessageTimeout=1\n"
	path := filepath.Join(t.TempDir(), "slurm.conf")
	if err := os.WriteFile(path, []byte(dead), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(Config{Name: "slurm:dead", SlurmConf: path, Partition: "gpu"}).Demand(context.Background())
	t.Logf("error: %v", err)
	var serr *Error
	if !errors.As(err, &serr) || serr.Output == "" {
		t.Fatalf("error %v, want a *slurm.Error carrying squeue's stderr", err)
	}
	for _, want := range []string{`slurm source "slurm:dead"`, "Unable to contact slurm controller"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if serr.Permanent() {
		t.Error("an unreachable controller must be retryable")
	}
}

func TestDemandSqueueMissing(t *testing.T) {
	_, err := New(Config{Squeue: "/nonexistent/squeue", Partition: "gpu"}).Demand(context.Background())
	if err == nil || !strings.Contains(err.Error(), `slurm source "slurm:gpu"`) || !strings.Contains(err.Error(), `squeue program "/nonexistent/squeue" not found`) {
		t.Errorf("missing squeue: error %v", err)
	}
}

// TestDemandSqueueOutputBounded: an squeue (a wrapper gone wrong) that
// prints more than MaxOutput fails the read naming the limit (one printing
// without end as soon as it is past it), and one flooding its standard
// error is not held whole: both were read into memory however much they
// printed.
func TestDemandSqueueOutputBounded(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := script("squeue-big", fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x", MaxOutput+1))
	_, err := New(Config{Squeue: big, Partition: "gpu"}).Demand(context.Background())
	if want := fmt.Sprintf("%s printed more than %d bytes, the most of its output read", big, MaxOutput); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %.300v; want one containing %q", err, want)
	}

	// One printing without end failed only at the read's deadline, as
	// one that did not finish.
	endless := script("squeue-endless", "exec cat /dev/zero")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = New(Config{Squeue: endless, Partition: "gpu"}).Demand(ctx)
	if want := fmt.Sprintf("%s printed more than %d bytes", endless, MaxOutput); err == nil || !strings.Contains(err.Error(), want) || ctx.Err() != nil {
		t.Errorf("error %.300v (deadline: %v); want one containing %q before the deadline", err, ctx.Err(), want)
	}

	const flood = 64 << 20
	noisy := script("squeue-noisy", fmt.Sprintf("head -c %d /dev/zero | tr '\\0' e >&2; exit 1", flood))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = New(Config{Squeue: noisy, Partition: "gpu"}).Demand(context.Background())
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "eeee") {
		t.Errorf("error %.300v; want the failure with its standard error", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("the read allocated %d bytes for %d bytes of standard error; want at most %d", n, flood, 8<<20)
	}
}

// BenchmarkDemand is one squeue read of a queue with one pending job.
func BenchmarkDemand(b *testing.B) {
	cancelAll(b)
	submit(b, "RUNNING", "--gres=gpu:8")
	submit(b, "PENDING", "--gres=gpu:4")
	src := New(Config{Squeue: squeuePath(b), SlurmConf: slurmCluster(b).Conf, Partition: slurmCluster(b).Partition})
	for b.Loop() {
		d, err := src.Demand(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if d.PendingGPUs != 4 {
			b.Fatalf("read %d GPUs, want 4", d.PendingGPUs)
		}
	}
}

// BenchmarkParse is the parsing cost of 1,000 pending jobs.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&sb, "%d|N/A|gres:gpu:a100:%d|N/A|2|2|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|\n", i, i%8+1)
	}
	out := sb.String()
	s := New(Config{Partition: "gpu"})
	now := time.Now()
	for b.Loop() {
		if _, err := s.parse(out, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseShapes is BenchmarkParse with each job's CPUs and memory
// in squeue's output, matched to three shapes.
func BenchmarkParseShapes(b *testing.B) {
	var sb strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&sb, "%d|N/A|gres:gpu:a100:%d|N/A|1|1|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|%dG|cpu=%d,mem=%dG,node=1,billing=%d|\n",
			i, i%8+1, 8*(i%16+1), 4*(i%24+1), 8*(i%16+1), 4*(i%24+1))
	}
	out := sb.String()
	s := New(Config{Partition: "gpu", Shapes: signalstest.Shapes})
	now := time.Now()
	for b.Loop() {
		if _, err := s.parse(out, now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWrapperChildEndsWithTheRead: a squeue wrapper (an ssh to the login
// node, a script) that leaves a child running is read when it exits, and
// the child is killed with it: the read failed a second later with
// "WaitDelay expired", and the child outlived it, one more a tick.
func TestWrapperChildEndsWithTheRead(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	fixture, err := filepath.Abs("testdata/squeue.txt")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "squeue")
	body := fmt.Sprintf("#!/bin/sh\nsleep 600 & echo $! > %s\ncat %s\n", pidFile, fixture)
	if err := os.WriteFile(wrapper, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Squeue: wrapper, Partition: "gpu", CountAll: true}).Demand(context.Background())
	if err != nil || d.PendingJobs == 0 {
		t.Fatalf("read %+v, error %v; want the fixture's queue", d, err)
	}
	pid := signalstest.ReadPid(t, pidFile)
	signalstest.WaitGone(t, pid, "the wrapper's child")
}

// TestDemandIgnoresSqueueEnvironment: squeue reads options from SQUEUE_*
// variables and prints times as SLURM_TIME_FORMAT says, and a server or
// `signals check` run from an operator's login shell carries its profile's.
// The real squeue listed a job pending in two partitions (gpu,p2) once a
// partition under SQUEUE_PRIORITY (two jobs, twice its GPUs), nothing but
// the user's jobs under SQUEUE_USERS, one partition under SQUEUE_PARTITION
// for a source reading all, and times no read could parse under
// SLURM_TIME_FORMAT=relative; the queue read is now the config's.
func TestDemandIgnoresSqueueEnvironment(t *testing.T) {
	if out, err := slurmCluster(t).Run("scontrol", "create", "PartitionName=p2", "Nodes=localhost", "MaxTime=INFINITE", "State=UP"); err != nil {
		t.Fatalf("scontrol create partition: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := slurmCluster(t).Run("scontrol", "delete", "PartitionName=p2"); err != nil {
			t.Errorf("scontrol delete partition: %v: %s", err, out)
		}
	})
	cancelAll(t) // before the partition is deleted: cleanups run last first
	submit(t, "RUNNING", "--gres=gpu:8")
	submit(t, "PENDING", "--partition=gpu,p2", "--gres=gpu:2")
	submit(t, "PENDING", "--gres=gpu:4")
	for _, tc := range []struct{ name, key, value string }{
		{"none", "", ""},
		{"each partition a line", "SQUEUE_PRIORITY", "1"},
		{"one user's jobs", "SQUEUE_USERS", "nobody"},
		{"one partition", "SQUEUE_PARTITION", "p2"},
		{"pending jobs and others", "SQUEUE_STATES", "all"},
		{"relative times", "SLURM_TIME_FORMAT", "relative"},
		{"another cluster's config", "SLURM_CONF", "/nonexistent/slurm.conf"},
		{"another cluster's queue", "SLURM_CLUSTERS", "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.key != "" {
				t.Setenv(tc.key, tc.value)
			}
			d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf}).Demand(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(slices.Values(d.JobGPUs))
			if d.PendingJobs != 2 || d.PendingGPUs != 6 || !slices.Equal(got, []int{2, 4}) {
				t.Errorf("with %s=%s: read %d jobs, %d GPUs, %v; want 2 jobs, 6 GPUs, [2 4]", tc.key, tc.value, d.PendingJobs, d.PendingGPUs, got)
			}
		})
	}
}

// TestArrayCountsAtMostItsLimit: Slurm runs at most N tasks of
// --array=1-6%N at once, but says JobArrayTaskLimit only of the tasks
// pending once N run: until then every task pends for Resources or
// Priority, and all six were read as demand, a launch for six GPUs of
// which N could be used. Now the array's tasks count up to N less those
// running (read from the real squeue's %N), the rest are left out.
func TestArrayCountsAtMostItsLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		busy     int // GPUs a running job holds
		running  int // the array's tasks that start
		countAll bool
		want     []int
		leftOut  []signals.LeftOut
	}{
		{"none running", 8, 0, false, []int{1, 1, 4}, []signals.LeftOut{{Why: beyondArrayLimit, Jobs: 4}}},
		{"one running", 7, 1, false, []int{1, 4}, []signals.LeftOut{{Why: beyondArrayLimit, Jobs: 4}}},
		{"count_all", 8, 0, true, []int{1, 1, 1, 1, 1, 1, 4}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cancelAll(t)
			// --mem: a job asking none takes the node's whole memory.
			submit(t, "RUNNING", "--mem=100M", fmt.Sprintf("--gres=gpu:%d", tc.busy))
			array := submit(t, "PENDING", "--mem=100M", "--array=1-6%2", "--gres=gpu:1", "--hold")
			if tc.running > 0 {
				if out, err := slurmCluster(t).Run("scontrol", "release", array); err != nil {
					t.Fatalf("scontrol release %s: %v: %s", array, err, out)
				}
				if err := slurmCluster(t).WaitState(array+"_1", "RUNNING", 20*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			submit(t, "PENDING", "--mem=100M", "--gres=gpu:4")
			if tc.running == 0 {
				// No GPU is free: none of the tasks starts.
				if out, err := slurmCluster(t).Run("scontrol", "release", array); err != nil {
					t.Fatalf("scontrol release %s: %v: %s", array, err, out)
				}
			}
			d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition, CountAll: tc.countAll}).Demand(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(slices.Values(d.JobGPUs))
			if !slices.Equal(got, tc.want) || d.PendingJobs != len(tc.want) || !slices.Equal(d.LeftOut, tc.leftOut) {
				t.Errorf("read jobs %v, left out %+v; want %v, left out %+v", got, d.LeftOut, tc.want, tc.leftOut)
			}
		})
	}
}

func TestParseArrayRoom(t *testing.T) {
	out := "12|1-10%3|PD|\n12|11|R|\n13|4-9|PD|\n13|1|R|\n14|5,7,...%2|PD|\n14|1|R|\n14|2|CF|\n14|3|S|\n15|N/A|PD|\n16|1-4%x|PD|\n17|3-4%1|PD|\n17|1|R|\n17|2|R|\n"
	want := map[string]int{"12": 2, "14": 0, "17": 0}
	arr := parseArrayRoom(out)
	if !maps.Equal(arr.room, want) {
		t.Errorf("room %v, want %v", arr.room, want)
	}
	// Which of the queue's tasks still pend: those the records list; any
	// of an array whose list squeue shortened (14); none of an array
	// without a pending record (18).
	out += "18|1|R|\n19|[4-5%2]|PD|\n19|9|PD|\n19|2|PD|\n"
	arr = parseArrayRoom(out)
	for _, tc := range []struct {
		array, task string
		pends       bool
	}{
		{"12", "1", true}, {"12", "10", true}, {"12", "11", false}, {"12", "0", false},
		{"13", "3", false}, {"13", "4", true}, {"13", "9", true},
		{"14", "1", true}, {"14", "99", true},
		{"16", "3", true}, {"16", "7", false}, // its limit does not read, its tasks do
		{"17", "2", false}, {"17", "3", true},
		{"18", "2", false},
		{"19", "2", true}, {"19", "3", false}, {"19", "5", true}, {"19", "9", true}, {"19", "x", true},
	} {
		if got := arr.pends(tc.array, tc.task); got != tc.pends {
			t.Errorf("task %s_%s pends %v, want %v", tc.array, tc.task, got, tc.pends)
		}
	}
}

// TestJobsNoBurstNodeStartsAreNotDemand: the real Slurm keeps jobs pending
// for reasons no burst node lifts: Reservation (the job waits for its
// advanced reservation, whose nodes are on-prem ones), PartitionConfig
// (its request exceeds the partition's MaxCPUsPerNode, which a burst node
// in the partition has too) and MaxMemPerLimit (its MaxMemPerNode). They
// were read as demand; a job waiting for GPUs (here ReqNodeNotAvail: the
// node is reserved for later) still is.
func TestJobsNoBurstNodeStartsAreNotDemand(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := slurmCluster(t).Run("scontrol", args...); err != nil {
			t.Fatalf("scontrol %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// Cleanups run last first: the jobs are cancelled, then the
	// reservation and partition they used are deleted.
	run("create", "PartitionName=small", "Nodes=localhost", "MaxTime=INFINITE", "State=UP", "MaxCPUsPerNode=1", "MaxMemPerNode=100")
	t.Cleanup(func() { run("delete", "PartitionName=small") })
	run("create", "ReservationName=later", "StartTime=now+1hour", "Duration=60", "Nodes=localhost", "Users="+u.Username)
	t.Cleanup(func() { run("delete", "ReservationName=later") })
	cancelAll(t)
	resv := submit(t, "PENDING", "--mem=100M", "--reservation=later", "--gres=gpu:1")
	cpus := submit(t, "PENDING", "--partition=small", "--cpus-per-task=2", "--mem=100M", "--gres=gpu:1")
	mem := submit(t, "PENDING", "--partition=small", "--mem=500M", "--gres=gpu:1")
	// Free GPUs, but none before the reservation begins for a job with
	// no time limit: it waits for nodes, which a burst node gives.
	waiting := submit(t, "PENDING", "--mem=100M", "--gres=gpu:2")
	waitReason(t, resv, "Reservation")
	waitReason(t, cpus, "PartitionConfig")
	waitReason(t, mem, "MaxMemPerLimit")
	waitReason(t, waiting, "ReqNodeNotAvail, May be reserved for other job")
	d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf}).Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []signals.LeftOut{{Why: "pending for MaxMemPerLimit", Jobs: 1}, {Why: "pending for PartitionConfig", Jobs: 1}, {Why: "pending for Reservation", Jobs: 1}}
	left := slices.SortedFunc(slices.Values(d.LeftOut), func(a, b signals.LeftOut) int { return strings.Compare(a.Why, b.Why) })
	if !slices.Equal(d.JobGPUs, []int{2}) || !slices.Equal(left, want) {
		t.Errorf("read jobs %v, left out %+v; want [2], left out %+v", d.JobGPUs, left, want)
	}
}

// TestGPUsPerSocketFromSlurm: a job asking --gpus-per-socket=2 with
// --sockets-per-node=2 asks 4 GPUs, which the real squeue shows under
// tres-per-socket alone. It was read as a job asking none: pending
// beside full GPUs, it made no launch.
func TestGPUsPerSocketFromSlurm(t *testing.T) {
	cancelAll(t)
	submit(t, "RUNNING", "--mem=100M", "--gres=gpu:8")
	sockets := min(2, runtime.NumCPU()) // the fixture's node has a socket a CPU
	submit(t, "PENDING", "--mem=100M", "--gpus-per-socket=2", fmt.Sprintf("--sockets-per-node=%d", sockets))
	submit(t, "PENDING", "--mem=100M", "--gpus-per-node=3")
	d, err := New(Config{Squeue: squeuePath(t), SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition}).Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2 * sockets, 3}; !slices.Equal(slices.Sorted(slices.Values(d.JobGPUs)), slices.Sorted(slices.Values(want))) || d.PendingGPUs != 2*sockets+3 {
		t.Errorf("read jobs %v, %d GPUs; want %v", d.JobGPUs, d.PendingGPUs, want)
	}
}

// TestJobGPUs: a job is given every one of its GPU requests, so it asks
// the most of them.
func TestJobGPUs(t *testing.T) {
	const at = "|Priority|2026-11-22T10:00:00|2026-11-22T10:00:00|0|cpu=1|N/A|"
	for _, tc := range []struct {
		line string
		want int
	}{
		{"1|N/A|N/A|N/A|1|1" + at + "gres:gpu:2|2:*:*||", 4},
		{"2|N/A|N/A|N/A|2|2" + at + "gres:gpu:2|2:*:*||", 8},
		{"3|N/A|N/A|N/A|1|1" + at + "gres:gpu:2|*:*:*||", 2},
		{"4|gres:gpu:1|gres:gpu:2|N/A|2|2" + at + "N/A|*:*:*||", 4},
		{"5|gres:gpu:6|gres:gpu:2|N/A|2|2" + at + "N/A|*:*:*||", 6},
		{"6|N/A|gres:gpu:1|gres:gpu:1|1|3" + at + "N/A|*:*:*||", 3},
		{"7|N/A|gres:gpu:2|N/A|1|1" + at, 2}, // an older format
	} {
		d, err := New(Config{}, WithLocation(time.UTC)).parse(tc.line, time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
		if err != nil || !slices.Equal(d.JobGPUs, []int{tc.want}) {
			t.Errorf("%s: jobs %v (%v), want [%d]", tc.line, d.JobGPUs, err, tc.want)
		}
	}
	if _, err := New(Config{}).parse("1|N/A|N/A|N/A|1|1"+at+"gres:gpu:1024|2048:*:*||", time.Now()); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("1024 GPUs a socket on 2048 sockets: %v, want out of range", err)
	}
}

// TestDescribedReasonIsReadAsItsCode: squeue prints a job's description in
// place of its reason code where Slurm has set one: a job requeued held
// (scontrol requeuehold, as after a node failure) read "job requeued in
// held state", matched no skip_reasons and counted as demand, a launch for
// a job that cannot start. Now the real squeue's --json gives its code,
// JobHeldUser, and it is left out as any held job is.
func TestDescribedReasonIsReadAsItsCode(t *testing.T) {
	cancelAll(t)
	// 6 of the node's 8 GPUs busy, and the other 2 taken by the job to be
	// requeued: once it is, they are free, but not for the 4-GPU job.
	submit(t, "RUNNING", "--mem=100M", "--gres=gpu:6")
	requeued := submit(t, "RUNNING", "--mem=100M", "--gres=gpu:2")
	if out, err := slurmCluster(t).Run("scontrol", "requeuehold", requeued); err != nil {
		t.Fatalf("scontrol requeuehold %s: %v: %s", requeued, err, out)
	}
	waitReason(t, requeued, "job requeued in held state")
	// Completing (CG) until its processes end, and squeue lists it pending
	// only then.
	if err := slurmCluster(t).WaitState(requeued, "PENDING", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	submit(t, "PENDING", "--mem=100M", "--gres=gpu:1", "--hold")
	submit(t, "PENDING", "--mem=100M", "--gres=gpu:4")
	for _, tc := range []struct {
		name    string
		cfg     Config
		jobs    []int
		leftOut []signals.LeftOut
	}{
		{"default skip_reasons", Config{}, []int{4}, []signals.LeftOut{{Why: "pending for JobHeldUser", Jobs: 2}}},
		{"skip_reasons naming the code", Config{SkipReasons: []string{"JobHeldUser"}}, []int{4}, []signals.LeftOut{{Why: "pending for JobHeldUser", Jobs: 2}}},
		{"count_all", Config{CountAll: true}, []int{1, 2, 4}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Squeue, cfg.SlurmConf, cfg.Partition = squeuePath(t), slurmCluster(t).Conf, slurmCluster(t).Partition
			d, err := New(cfg).Demand(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(slices.Values(d.JobGPUs))
			if !slices.Equal(got, tc.jobs) || !slices.Equal(d.LeftOut, tc.leftOut) {
				t.Errorf("read jobs %v, left out %+v; want %v, left out %+v", got, d.LeftOut, tc.jobs, tc.leftOut)
			}
		})
	}
	// A source reading the held job again and again lists the whole
	// queue as JSON once, not at every read: squeue run through a wrapper
	// that counts its --json runs.
	dir := t.TempDir()
	runs := filepath.Join(dir, "json-runs")
	wrapper := filepath.Join(dir, "squeue")
	script := "#!/bin/sh\ncase \" $* \" in *\" --json\"*) echo run >> " + runs + " ;; esac\nexec " + squeuePath(t) + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	src := New(Config{Squeue: wrapper, SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition})
	for i := range 3 {
		d, err := src.Demand(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(d.JobGPUs)); !slices.Equal(got, []int{4}) {
			t.Errorf("read %d: jobs %v, want [4] (the held ones left out)", i+1, got)
		}
	}
	b, err := os.ReadFile(runs)
	if err != nil {
		t.Fatalf("squeue --json never ran: %v", err)
	}
	if n := strings.Count(string(b), "run"); n != 1 {
		t.Errorf("squeue --json ran %d times in 3 reads of an unchanged queue, want once", n)
	}
}

// TestParseReasonCodes: squeue --json's reason codes, as Slurm 22.05 and
// 23.02 write their numbers, keyed as squeue's JobArrayID prints each job;
// a state_reason that is not a code, and output that is not JSON, give
// none.
func TestParseReasonCodes(t *testing.T) {
	want := map[string]string{"1": "JobHeldUser", "2_3": "JobHeldAdmin", "2": "Priority", "4+0": "Resources", "4+1": "QOSNotAllowed"}
	for _, file := range []string{"testdata/squeue_22.05.json", "testdata/squeue_23.02.json"} {
		out, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := parseReasonCodes(out); !maps.Equal(got, want) {
			t.Errorf("%s: %v, want %v", file, got, want)
		}
	}
	for _, out := range []string{"", "squeue: error: unrecognized option '--json'", `{"jobs": [{"job_id": "x"}]}`, `{"jobs": {}}`} {
		if got := parseReasonCodes([]byte(out)); len(got) != 0 {
			t.Errorf("%q: %v, want none", out, got)
		}
	}
	codes := parseReasonCodes([]byte(`{"jobs": [{"job_id": 7, "array_job_id": 7, "array_task_string": "1-9%2", "state_reason": "Priority"}]}`))
	for id, want := range map[string]string{"7_4": "Priority", "7": "Priority", "8": ""} {
		if got, _ := reasonCode(codes, id); got != want {
			t.Errorf("reasonCode(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestHiddenPartitionIsRead: squeue lists the jobs of a hidden partition
// (Hidden=YES) only to root and SlurmUser unless asked --all or for that
// partition: a server running as another user left a hidden partition's
// jobs out of a source that names no partition (every partition's queue).
// Here squeue and scontrol run as nobody, through wrappers.
func TestHiddenPartitionIsRead(t *testing.T) {
	c := slurmCluster(t)
	if out, err := c.Run("scontrol", "create", "PartitionName=hidden", "Nodes=localhost", "MaxTime=INFINITE", "State=UP", "Hidden=YES"); err != nil {
		t.Fatalf("scontrol create partition: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := c.Run("scontrol", "delete", "PartitionName=hidden"); err != nil {
			t.Errorf("scontrol delete partition: %v: %s", err, out)
		}
	})
	cancelAll(t) // before the partition is deleted: cleanups run last first
	submit(t, "RUNNING", "--mem=100M", "--gres=gpu:8")
	submit(t, "PENDING", "--mem=100M", "--gres=gpu:2", "--partition=hidden")
	dir := t.TempDir()
	for _, prog := range []string{"squeue", "scontrol"} {
		path, err := exec.LookPath(prog)
		if err != nil {
			t.Fatalf("%s not found: %v; %s", prog, err, fixture.InstallHint)
		}
		script := "#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups " + path + " \"$@\"\n"
		if err := os.WriteFile(filepath.Join(dir, prog), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, partition := range []string{"hidden", ""} {
		d, err := New(Config{Squeue: filepath.Join(dir, "squeue"), SlurmConf: c.Conf, Partition: partition}).Demand(context.Background())
		if err != nil {
			t.Fatalf("partition %q: %v", partition, err)
		}
		if !slices.Equal(d.JobGPUs, []int{2}) {
			t.Errorf("partition %q: read jobs %v, want the hidden partition's 2-GPU job", partition, d.JobGPUs)
		}
	}
}

// TestArrayChangedBetweenSqueueRuns: the source reads the queue with one
// squeue run and arrays' limits with a second; tasks that stop pending
// between them (cancelled, or started) were still counted from the first,
// and an array with none left pending read as one without a limit, all
// its tasks demand. Here the real squeue runs through a wrapper that
// cancels tasks of --array=1-6%2 just before the second run: the tasks
// counted are those still pending then, up to the limit.
func TestArrayChangedBetweenSqueueRuns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cancel  string // the tasks cancelled between the runs
		want    []int
		leftOut []signals.LeftOut
	}{
		{"the whole array", "", []int{4}, []signals.LeftOut{{Why: noLongerPending, Jobs: 6}}},
		{"all but one task", "_[2-6]", []int{1, 4}, []signals.LeftOut{{Why: noLongerPending, Jobs: 5}}},
		{"the first tasks", "_[1-3]", []int{1, 1, 4}, []signals.LeftOut{{Why: noLongerPending, Jobs: 3}, {Why: beyondArrayLimit, Jobs: 1}}},
		{"none", "-none", []int{1, 1, 4}, []signals.LeftOut{{Why: beyondArrayLimit, Jobs: 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cancelAll(t)
			// No GPU free: the array's tasks and the 4-GPU job pend.
			submit(t, "RUNNING", "--mem=100M", "--gres=gpu:8")
			array := submit(t, "PENDING", "--mem=100M", "--array=1-6%2", "--gres=gpu:1", "--hold")
			submit(t, "PENDING", "--mem=100M", "--gres=gpu:4")
			if out, err := slurmCluster(t).Run("scontrol", "release", array); err != nil {
				t.Fatalf("scontrol release %s: %v: %s", array, err, out)
			}
			dir := t.TempDir()
			wrapper := filepath.Join(dir, "squeue")
			scancel := filepath.Join(filepath.Dir(squeuePath(t)), "scancel")
			cancel := ""
			if tc.cancel != "-none" {
				cancel = scancel + " " + array + tc.cancel + " || exit 9"
			}
			script := "#!/bin/sh\ncase \" $* \" in *ArrayJobID*) " + cancel + " ;; esac\nexec " + squeuePath(t) + " \"$@\"\n"
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			d, err := New(Config{Squeue: wrapper, SlurmConf: slurmCluster(t).Conf, Partition: slurmCluster(t).Partition}).Demand(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(slices.Values(d.JobGPUs))
			if !slices.Equal(got, tc.want) || d.PendingJobs != len(tc.want) || !slices.Equal(d.LeftOut, tc.leftOut) {
				t.Errorf("read jobs %v, left out %+v; want %v, left out %+v", got, d.LeftOut, tc.want, tc.leftOut)
			}
		})
	}
}

// TestLongArrayTaskListIsReadWhole: squeue prints an array's pending
// tasks in at most SLURM_BITSTR_LEN characters (64 by default), ending a
// longer list in "..." ("2-3,5,7,…,71,73,7..."): the array run then could
// not tell which tasks still pended, and counted every task the queue's
// run had listed, those cancelled between the runs too (46 jobs read for
// 36). The list is printed whole (SLURM_BITSTR_LEN=0).
func TestLongArrayTaskListIsReadWhole(t *testing.T) {
	cancelAll(t)
	submit(t, "RUNNING", "--mem=100M", "--gres=gpu:8")
	array := submit(t, "PENDING", "--mem=100M", "--array=1-200", "--gres=gpu:1", "--hold")
	// The 46 primes below 200 pend: "2-3,5,7,11,…,199", 170 characters.
	var primes, others []string
	for n := 1; n <= 200; n++ {
		prime := n > 1
		for d := 2; d*d <= n; d++ {
			prime = prime && n%d != 0
		}
		if prime {
			primes = append(primes, strconv.Itoa(n))
		} else {
			others = append(others, strconv.Itoa(n))
		}
	}
	c := slurmCluster(t)
	if out, err := c.Run("scancel", array+"_["+strings.Join(others, ",")+"]"); err != nil {
		t.Fatalf("scancel: %v: %s", err, out)
	}
	if out, err := c.Run("scontrol", "release", array); err != nil {
		t.Fatalf("scontrol release %s: %v: %s", array, err, out)
	}
	// Between the runs the first 10 are cancelled: 36 pend, listed in
	// 140 characters.
	wrapper := filepath.Join(t.TempDir(), "squeue")
	scancel := filepath.Join(filepath.Dir(squeuePath(t)), "scancel")
	script := "#!/bin/sh\ncase \" $* \" in *ArrayJobID*) " + scancel + " " + array + "_[" + strings.Join(primes[:10], ",") + "] || exit 9 ;; esac\nexec " + squeuePath(t) + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_BITSTR_LEN", "64") // as a login profile may set it; unset, the default
	d, err := New(Config{Squeue: wrapper, SlurmConf: c.Conf, Partition: c.Partition}).Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []signals.LeftOut{{Why: noLongerPending, Jobs: 10}}; d.PendingJobs != 36 || d.PendingGPUs != 36 || !slices.Equal(d.LeftOut, want) {
		t.Errorf("read %d jobs of %d GPUs, left out %+v; want 36 of 36, left out %+v", d.PendingJobs, d.PendingGPUs, d.LeftOut, want)
	}
}
