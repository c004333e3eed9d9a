//go:build race

package sim

// raceBuild is true in a test binary built with -race. The race detector
// slows the simulator's single-threaded runs five to fifteen times and
// finds nothing in them: the tests that replay whole bundled traces or
// draw many random cases run a few of them under -race (enough to cover
// the goroutines of Backtest.Run and Sweep.Run), and all of them without.
const raceBuild = true
