package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api/tokens"
)

// TestClosedOutputStopsQuietly: a command whose output is closed under it
// (spillway simulate | head, spillway decisions | head) exits 0 without a
// message, as the demo does. It was killed by SIGPIPE: exit 141, and
// "signal: broken pipe" in the calling script.
func TestClosedOutputStopsQuietly(t *testing.T) {
	url, toks := opServer(t)
	for _, args := range [][]string{
		{"simulate", "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "3"},
		{"simulate", "--trace", "../../sim/testdata/burst.csv", "--onprem-gpus", "3", "--json"},
		{"decisions"},
		{"instances", "-o", "json"},
		{"burst", "list", "--all"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			r.Close() // as head does after its lines, here before the first
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], args...)
			cmd.Env = append(os.Environ(), haChildEnv+"=1", "SPILLWAY_SERVER="+url, "SPILLWAY_TOKEN="+toks[tokens.Viewer])
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = w, &stderr
			err = cmd.Run()
			w.Close()
			if err != nil {
				t.Fatalf("spillway %s with its output closed: %v, want exit 0\nstderr:\n%s", strings.Join(args, " "), err, stderr.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("spillway %s with its output closed printed on stderr:\n%s", strings.Join(args, " "), stderr.String())
			}
		})
	}
}
