package sim

import (
	"time"

	"github.com/spillway-io/spillway/policy"
)

// engineDecide is the spillway policy's decision function: policy.Decide
// without the notes and reasons the simulator never reads, which it would
// otherwise format at every evaluation (DecideWithoutNotes). It is a
// variable only so that the simulator's own tests can swap in a scripted
// stand-in.
var engineDecide DecideFunc = policy.DecideWithoutNotes

// scheduleFloors is Options.Floors for the runs a backtest or sweep
// makes: the pool's schedule floors without the reasons no policy here
// reads (policy.ScheduleFloorsWithoutReasons), formatted at every
// evaluation otherwise.
func scheduleFloors(pool *policy.Pool, now time.Time) []policy.Floor {
	return policy.ScheduleFloorsWithoutReasons(*pool, now)
}

// billedCost is the billing rule the simulator charges instances by: the
// engine's own, so that both agree on what a lifetime costs.
var billedCost = policy.BilledCost
