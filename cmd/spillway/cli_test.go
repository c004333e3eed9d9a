package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api/tokens"
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

// TestLostOutputIsAFailure: a command whose standard output is on a full
// disk (here /dev/full) exits 1 with the write's error on one line. --help,
// version, completion and policy validate's summary exited 0 with their
// output lost (--version 2, as if its command line were wrong), and token
// create exited 0 having added a token whose only copy was lost.
func TestLostOutputIsAFailure(t *testing.T) {
	url, toks := opServer(t)
	dir := t.TempDir()
	tokensFile := filepath.Join(dir, "tokens.yaml")
	env := []string{"SPILLWAY_SERVER=" + url, "SPILLWAY_TOKEN=" + toks[tokens.Viewer]}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	example := filepath.Join(wd, "../../configs/examples/spillway.yaml")
	const want = "spillway: write /dev/stdout: no space left on device\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, want},
		{[]string{"server", "--help"}, want},
		{[]string{"help", "burst"}, want},
		{[]string{"burst"}, want},
		{[]string{"--version"}, want},
		{[]string{"version"}, want},
		{[]string{"completion", "bash"}, want},
		{[]string{"policy", "validate", example}, want},
		{[]string{"simulate", "--trace", filepath.Join(wd, "../../sim/testdata/burst.csv"), "--onprem-gpus", "3"}, want},
		{[]string{"status"}, want},
		{[]string{"decisions"}, want},
		{[]string{"instances", "-o", "json"}, want},
		{[]string{"burst", "list", "--all"}, want},
		{[]string{"token", "create", "--name", "ci", "--role", "viewer", "--file", tokensFile},
			"spillway: token create: the token could not be written to standard output (write /dev/stdout: no space left on device), so it was not added to " + tokensFile + ": run it again with its output going where it is kept\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer full.Close()
			exit, stderr := spillwayCLI(t, dir, full, env, tc.args...)
			if exit != 1 || stderr != tc.want {
				t.Errorf("spillway %s > /dev/full: exit %d, stderr\n%s\nwant exit 1, stderr\n%s", strings.Join(tc.args, " "), exit, stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(tokensFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("token create with its token lost made %s (%v): want no token added", tokensFile, err)
	}
}

// TestTokenNotShownIsNotAdded: token create whose output is closed under
// it (spillway token create … | true) adds no token and exits 1, where a
// closed output of any other command is a quiet exit 0: the only copy of
// the token went nowhere.
func TestTokenNotShownIsNotAdded(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens.yaml")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	exit, stderr := spillwayCLI(t, dir, w, nil, "token", "create", "--name", "ci", "--role", "viewer", "--file", file)
	want := "spillway: token create: the token could not be written to standard output (write /dev/stdout: broken pipe), so it was not added to " + file
	if exit != 1 || !strings.HasPrefix(stderr, want) {
		t.Errorf("token create, output closed: exit %d, stderr\n%s\nwant exit 1, stderr starting\n%s", exit, stderr, want)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("token create with its output closed made %s (%v): want no token added", file, err)
	}
}

// TestInterruptedExitsWithTheSignal: an operator command that Ctrl-C or
// SIGTERM cut short (a server slow to answer) exited 1 with "spillway:
// context canceled", as if it had failed; it exits as a shell reports a
// command the signal ended (130, 143), saying it was interrupted.
func TestInterruptedExitsWithTheSignal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c // held, answered nothing, until the test ends
		}
	}()
	defer func() {
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	}()
	for _, tc := range []struct {
		args []string
		sig  syscall.Signal
		exit int
		want string
	}{
		{[]string{"status"}, syscall.SIGINT, 130, "spillway: interrupted by SIGINT (Ctrl-C) before it finished: "},
		{[]string{"decisions", "--pool", "train"}, syscall.SIGTERM, 143, "spillway: interrupted by SIGTERM before it finished: "},
		{[]string{"burst", "create", "--pool", "train", "--gpus", "8", "--for", "1h", "--reason", "INC-1"}, syscall.SIGINT, 130, "spillway: interrupted by SIGINT (Ctrl-C) before it finished: "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], tc.args...)
			cmd.Env = append(os.Environ(), haChildEnv+"=1", "SPILLWAY_SERVER=http://"+l.Addr().String(), "SPILLWAY_TOKEN=spw_x")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case c := <-accepted:
				defer c.Close()
			case <-ctx.Done():
				t.Fatal("the command never connected")
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.exit || !strings.HasPrefix(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("spillway %s, %v: %v, stderr\n%s\nwant exit %d, one line starting\n%s", strings.Join(tc.args, " "), tc.sig, err, stderr.String(), tc.exit, tc.want)
			}
		})
	}
}
