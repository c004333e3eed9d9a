package live

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/signals/nvml"
	"github.com/spillway-io/spillway/sim/trace"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a model of one on-prem DGX H100 replaying testdata/small.csv
// on a fake clock, with a cloud the test controls.
type fixture struct {
	t     *testing.T
	clk   *clocktesting.FakeClock
	m     *Model
	cloud []CloudInstance
	port  int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	tr, err := trace.Load("testdata/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, clk: clocktesting.NewFakeClock(time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)), port: freePort(t)}
	f.m, err = New(Options{Clock: f.clk, Trace: tr, OnPremNodes: 1, AgentPort: f.port, Cloud: func() []CloudInstance { return f.cloud }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.m.Close)
	f.m.start() // and each f.m.step() is one tick of Run
	return f
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func getJSON[T any](t *testing.T, url string) T {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return v
}

func busy(t *testing.T, agentURL string) int {
	t.Helper()
	s := getJSON[nvml.Sample](t, agentURL+"/v1/gpus")
	n := 0
	for _, g := range s.GPUs {
		if g.Busy {
			n++
		}
	}
	return n
}

// TestJobsQueueRunOnPremThenOnABurstNode follows jobs through the model
// the way the server sees them: through the on-prem agent, the queue
// document and a burst instance's agent at its private address.
func TestJobsQueueRunOnPremThenOnABurstNode(t *testing.T) {
	f := newFixture(t)
	onprem := f.m.AgentURLs()[0]

	f.m.step() // three 4-GPU jobs on one 8-GPU node: two run, one waits
	if got := busy(t, onprem); got != 8 {
		t.Errorf("on-prem agent reports %d busy GPUs, want 8", got)
	}
	f.clk.Step(2 * time.Minute)
	f.m.step() // the 16-GPU job (one node at most: 8) joins the queue
	q := getJSON[queueDoc](t, f.m.QueueURL())
	if fmt.Sprint(q.Pending.JobGPUs) != "[4 8]" || q.Pending.OldestWaitSeconds != 120 || f.m.Stats().Narrowed != 1 ||
		fmt.Sprint(q.Pending.JobWaitSeconds) != "[120 0]" {
		t.Errorf("queue %+v (stats %+v), want jobs of [4 8] GPUs (the 16-GPU job narrowed to one node), each job's wait, the oldest waiting 120s", q.Pending, f.m.Stats())
	}

	// A burst instance boots: no node until the cloud says running.
	f.cloud = []CloudInstance{{ID: "i-1", InstanceType: "p5.48xlarge", PrivateIP: "127.0.0.1"}}
	f.m.step()
	if st := f.m.Stats(); st.CloudGPUs != 0 {
		t.Fatalf("a pending instance joined the cluster: %+v", st)
	}
	f.cloud[0].Running = true
	f.clk.Step(time.Minute)
	f.m.step()
	burst := fmt.Sprintf("http://127.0.0.1:%d", f.port)
	if got := busy(t, burst); got != 4 {
		t.Errorf("burst agent reports %d busy GPUs, want 4 (the 4-GPU job first in the queue; the 8-GPU one no longer fits)", got)
	}
	st := f.m.Stats()
	if st.OnCloud != 1 || st.CloudGPUs != 8 || st.MaxCloudGPUs != 8 || st.Started != 3 || st.Queued != 1 {
		t.Errorf("stats %+v: want 1 job on cloud, 8 cloud GPUs, 3 started, 1 queued", st)
	}

	// Drained, the node takes nothing new; gone, its job is queued again
	// at the front.
	drain := strings.TrimSuffix(f.m.QueueURL(), "/queue") + "/drain/i-1"
	resp, err := http.Post(drain, "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("drain: %v %v", resp, err)
	}
	resp.Body.Close()
	f.clk.Step(10 * time.Minute)
	f.m.step()
	if got := busy(t, burst); got != 4 {
		t.Errorf("draining burst node: %d busy GPUs, want still 4 (the 8-GPU job must not start there)", got)
	}
	f.cloud = nil
	f.m.step()
	q = getJSON[queueDoc](t, f.m.QueueURL())
	if st := f.m.Stats(); st.Requeued != 1 || st.CloudGPUs != 0 || fmt.Sprint(q.Pending.JobGPUs) != "[4 8]" {
		t.Errorf("after the instance went away: %+v, queue %v; want its job requeued first and no cloud GPUs", st, q.Pending.JobGPUs)
	}
	if r, err := http.Get(burst + "/v1/gpus"); err == nil {
		r.Body.Close()
		t.Error("the gone instance's agent still answers")
	}

	f.m.WindDown()
	f.clk.Step(3 * time.Hour) // past the 1-GPU job's submit: wound down, it never comes
	f.m.step()
	st = f.m.Stats()
	if st.Queued != 0 || st.Dropped != 2 || st.Cut != 2 || st.Submitted != 4 || busy(t, onprem) != 0 {
		t.Errorf("after WindDown: %+v, on-prem busy %d; want the queue empty, 2 dropped, 2 cut, nothing more submitted", st, busy(t, onprem))
	}
	if st.WaitP95 != 3*time.Minute {
		t.Errorf("wait p95 %v, want 3m (waits 0, 0 and 3m)", st.WaitP95)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	tr, err := trace.Load("testdata/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Time{})
	cloud := func() []CloudInstance { return nil }
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Clock: clk, Trace: tr}, "required"},
		{Options{Clock: clk, Trace: tr, Cloud: cloud, Start: 100 * time.Hour}, "want an offset from 0 to the trace's span 2h10m0s"},
		{Options{Clock: clk, Trace: tr, Cloud: cloud, OnPremNodes: 65}, "on-prem nodes 65: want 1 to 64"},
		{Options{Clock: clk, Trace: tr, Cloud: cloud, OnPremModel: "dgx1"}, `node model "dgx1"`},
	} {
		m, err := New(tc.opts)
		if err == nil {
			m.Close()
			t.Errorf("%+v accepted", tc.opts)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q does not say %q", err, tc.want)
		}
	}
}

// TestRunStopsEverything: Run serves until ctx ends and then closes every
// listener (goleak checks the goroutines).
func TestRunStopsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tr, _ := trace.Load("testdata/small.csv")
	m, err := New(Options{Clock: clocktesting.NewFakeClock(time.Now()), Trace: tr, Cloud: func() []CloudInstance { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	urls := append(m.AgentURLs(), m.QueueURL())
	for _, u := range urls {
		for {
			if r, err := http.Get(u); err == nil {
				r.Body.Close()
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, u := range urls {
		if _, err := http.Get(u); err == nil {
			t.Errorf("%s answers after Run returned", u)
		}
	}
}

// tickingClock is a fake clock that moves on by a millisecond every time
// it is read, as a real one does between two reads.
type tickingClock struct{ *clocktesting.FakeClock }

func (c tickingClock) Now() time.Time {
	c.Step(time.Millisecond)
	return c.FakeClock.Now()
}

// TestWaitsAreNeverNegative: a job submitted and started in the same step
// waited 0, however far the clock moved on within the step (it was once
// stamped with a later reading than the step's, and the demo reported a
// p95 wait of -0).
func TestWaitsAreNeverNegative(t *testing.T) {
	tr, err := trace.Load("testdata/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	clk := tickingClock{clocktesting.NewFakeClock(time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC))}
	m, err := New(Options{Clock: clk, Trace: tr, OnPremNodes: 1, AgentPort: freePort(t), Cloud: func() []CloudInstance { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	m.start()
	m.step() // two 4-GPU jobs start at once
	if st := m.Stats(); st.Started != 2 || st.WaitP95 != 0 {
		t.Errorf("stats %+v: want 2 started with a p95 wait of 0", st)
	}
}
