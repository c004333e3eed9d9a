//go:build !race

package sim

// raceBuild is false without -race: every test runs in full (race_test.go).
const raceBuild = false
