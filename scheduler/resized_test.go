package scheduler_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// TestResizedInstanceIsDrainedAndEnded: an instance whose type was
// changed outside Spillway (stopped, modified and started again between
// two ticks, or while no server ran; here the emulators' list answers
// name a larger type) was still counted as the offering it was launched
// as: its GPUs as room for the queue and its price in the budget, for as
// long as it ran, whatever it had become. It is now drained, saying why,
// and terminated once its jobs are done, as one stopped outside Spillway
// is terminated.
func TestResizedInstanceIsDrainedAndEnded(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) { testResizedInstance(t, c) })
	}
}

func testResizedInstance(t *testing.T, c lagCloud) {
	from, to := resizedTypes(c)
	var resize atomic.Bool
	var terminates atomic.Int32
	h := rewritingHarness(t, c, from, to, &resize, func(r *http.Request) {
		if err := r.ParseForm(); err == nil && r.Form.Get("Action") == c.terminate {
			terminates.Add(1)
		}
	})
	id := h.joinOne(30*time.Second, 10)
	h.agents.setBusy(8) // its job runs
	h.setDemand(0)
	h.step(30 * time.Second)
	resize.Store(true)
	h.step(30 * time.Second)
	r := rowOf(t, h, id)
	if r.State != state.InstanceDraining || !strings.HasPrefix(h.lastDrainReason(), "instance type changed outside Spillway") {
		t.Fatalf("instance %s listed as a larger type: row %s, last drain reason %q; want it draining, saying its type changed", id, r.State, h.lastDrainReason())
	}
	if terminates.Load() != 0 {
		t.Errorf("%s called while its job ran, want a drain first", c.terminate)
	}
	h.agents.setBusy(0) // its job is done
	h.until("the resized instance ends", 30*time.Second, 20, func() bool { return len(h.rows(true)) == 0 })
	if terminates.Load() == 0 {
		t.Errorf("no %s call for the resized instance %s", c.terminate, id)
	}
}

// TestLaunchAnsweredWithAnotherTypeIsEnded: a launch the cloud answered
// with an instance of another type than asked (p5.48xlarge for p4d's
// p4d.24xlarge), and listed so, was recorded with the cloud's type and
// its offering's GPUs and price: the row then agreed with every listing,
// so nothing ever saw it as another offering, and the pool counted a $98
// an hour instance as $32.77 against max_cost_per_hour and the budget
// for as long as it ran. It is recorded as the offering asked, and ended
// as resized at the next tick (ECS answers a launch with ids only: a
// guard there). Ended, it was launched again at the next tick, answered
// and ended so again, a launch and an end each tick: its offering is
// skipped for the capacity TTL, as a failed launch (cause resized).
//
// Run on EC2 and ECS, each through its real SDK on the emulator.
func TestLaunchAnsweredWithAnotherTypeIsEnded(t *testing.T) {
	for _, c := range lagClouds {
		t.Run(c.name, func(t *testing.T) {
			from, to := resizedTypes(c)
			answeredOtherwiseIsEnded(t, c, from, to, "instance type changed outside Spillway", "as another type")
		})
	}
}

// resizedTypes is what the cloud's answers say of the test's type, and
// what a rewriting harness makes them say: a larger type.
func resizedTypes(c lagCloud) (from, to []byte) {
	if c.provider != provName {
		return []byte(`"InstanceType":"` + ecsType + `"`), []byte(`"InstanceType":"ecs.gn8v-c48g1.12xlarge"`)
	}
	return []byte("<instanceType>" + gpuType + "</instanceType>"), []byte("<instanceType>p5.48xlarge</instanceType>")
}
