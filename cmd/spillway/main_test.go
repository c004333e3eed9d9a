package main

import (
	"os"
	"testing"

	"github.com/spillway-io/spillway/internal/fixture"
)

// TestMain runs the test binary as `spillway` itself when haChildEnv is
// set: the HA tests start several servers as child processes of the one
// binary already built, with the arguments after the program name.
func TestMain(m *testing.M) {
	if os.Getenv(haChildEnv) == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	fixture.RemovePostgresTemplate()
	os.Exit(code)
}
