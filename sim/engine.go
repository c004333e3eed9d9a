package sim

import "github.com/spillway-io/spillway/policy"

// engineDecide is the spillway policy's decision function. It is a variable
// only so that the simulator's own tests can swap in a scripted stand-in.
var engineDecide DecideFunc = policy.Decide

// billedCost is the billing rule the simulator charges instances by: the
// engine's own, so that both agree on what a lifetime costs.
var billedCost = policy.BilledCost
