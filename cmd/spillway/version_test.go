package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionLine: the version line names the module version, the VCS
// revision, its time and a modified tree when the go command stamped them
// (make build), and says why there is no revision under go run.
func TestVersionLine(t *testing.T) {
	const gov = "go1.26.8"
	stamped := func(modified string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: gov, Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "03afd4d8c2e1"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
			{Key: "vcs.modified", Value: modified},
		}}
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"make build, clean tree", stamped("false"), true, "spillway v0.4.0 (revision 03afd4d8c2e1, 2026-12-01T10:00:00Z) go1.26.8 linux/amd64"},
		{"make build, modified tree", stamped("true"), true, "spillway v0.4.0 (revision 03afd4d8c2e1, 2026-12-01T10:00:00Z, modified) go1.26.8 linux/amd64"},
		{"go run", &debug.BuildInfo{GoVersion: gov, Main: debug.Module{Version: "(devel)"}}, true, "spillway (devel) (no VCS revision: built by go run or with -buildvcs=false) go1.26.8 linux/amd64"},
		{"no build information", nil, false, "spillway (no build information) " + runtime.Version() + " linux/amd64"},
	} {
		if got := versionLine(tc.bi, tc.ok, "linux/amd64"); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// TestVersionFlagAndCommand: spillway --version and spillway version
// print the version line and exit 0. Neither existed: --version was an
// unknown flag (exit 2) and version an unknown command.
func TestVersionFlagAndCommand(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, _, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("spillway %s: %v", strings.Join(args, " "), err)
		}
		if out != buildVersion()+"\n" || !strings.HasPrefix(out, "spillway ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("spillway %s printed %q, want the version line %q", strings.Join(args, " "), out, buildVersion())
		}
	}
}
