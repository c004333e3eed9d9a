package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spillwayCLI runs `spillway ARGS` as a person does, in a child process
// (this test binary re-executed, see TestMain) whose working directory is
// dir, its standard output going to stdout (a discarded one when nil). It
// returns the exit status and what the command wrote on standard error.
func spillwayCLI(t *testing.T, dir string, stdout io.Writer, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), haChildEnv+"=1"), env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("spillway %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
	return 0, ""
}

// TestConfigNotReadSaidAlike: a config file that is not there was
// reported by spillway server, simulate and signals check as
// "read config: open FILE: no such file or directory" (signals check
// without even "spillway: "), naming neither what to give nor where a
// relative path was looked for, while policy validate said it its own
// way. Every command that takes a config now says it in one text: the
// file (and the directory a relative one is read from), what is wrong
// and what to give.
func TestConfigNotReadSaidAlike(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "conf")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	missing := "spillway.yaml (relative to " + dir + "): no such config file: give the path of a config file; configs/examples/spillway.yaml in Spillway's source is an annotated one to start from (check it with spillway policy validate FILE)"
	isDir := folder + ": is a directory, not a config file: give the file, e.g. " + filepath.Join(folder, "spillway.yaml")
	for _, tc := range []struct {
		name string
		args []string
		exit int
		want string
	}{
		{"server missing", []string{"server", "--config", "spillway.yaml"}, 2, "spillway: " + missing},
		{"simulate missing", []string{"simulate", "--config", "spillway.yaml"}, 2, "spillway: " + missing},
		{"signals check missing", []string{"signals", "check", "spillway.yaml"}, 2, missing},
		{"policy validate missing", []string{"policy", "validate", "spillway.yaml"}, 1, missing},
		{"server directory", []string{"server", "--config", folder}, 2, "spillway: " + isDir},
		{"simulate directory", []string{"simulate", "--config", folder}, 2, "spillway: " + isDir},
		{"signals check directory", []string{"signals", "check", folder}, 2, isDir},
		{"policy validate directory", []string{"policy", "validate", folder}, 1, isDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exit, stderr := spillwayCLI(t, dir, nil, nil, tc.args...)
			first, _, _ := strings.Cut(stderr, "\n")
			if exit != tc.exit || first != tc.want {
				t.Errorf("spillway %s: exit %d, stderr\n%s\nwant exit %d, first line\n%s", strings.Join(tc.args, " "), exit, stderr, tc.exit, tc.want)
			}
		})
	}
}
