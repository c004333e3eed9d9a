package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go toolchain of this binary (as --version)",
		Long: `Version prints what this binary was built from, for bug reports: the module
version, the VCS revision, its commit time and whether the working tree had
uncommitted changes ("modified"), the Go toolchain and the platform. A binary
built by go run, or with -buildvcs=false, carries no revision and says so.
spillway --version prints the same line.

Exit status: 0 when it printed the line; 2 when given an argument or an
unknown flag.`,
		Example: `  spillway version
  spillway --version`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), buildVersion())
			return nil
		},
	}
}

// buildVersion is this binary's version line, from its build information.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	return versionLine(bi, ok, runtime.GOOS+"/"+runtime.GOARCH)
}

// versionLine says what a binary was built from: the main module's
// version ("(devel)" when built from a checkout), the VCS revision, time
// and modified flag the go command stamps (make build; not go run), the
// Go toolchain and the platform.
func versionLine(bi *debug.BuildInfo, ok bool, platform string) string {
	if !ok || bi == nil {
		return "spillway (no build information) " + runtime.Version() + " " + platform
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	vcs := "no VCS revision: built by go run or with -buildvcs=false"
	if rev != "" {
		parts := []string{"revision " + rev}
		if at != "" {
			parts = append(parts, at)
		}
		if modified == "true" {
			parts = append(parts, "modified")
		}
		vcs = strings.Join(parts, ", ")
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return fmt.Sprintf("spillway %s (%s) %s %s", version, vcs, goVersion, platform)
}
