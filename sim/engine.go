package sim

// engineDecide is the spillway policy's decision function: policy.Decide.
var engineDecide DecideFunc
