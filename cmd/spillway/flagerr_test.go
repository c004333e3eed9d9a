package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/api/tokens"
)

// TestFlagErrors: a flag value that does not parse is named with what the
// flag wants, in every command, instead of strconv's or time's message.
func TestFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"simulate", "--onprem-gpus", "x"}, `--onprem-gpus "x": want a whole number of GPUs, or a percentile of the trace's demand from p0 to p100 such as p50 (see spillway simulate --help)`},
		{[]string{"simulate", "--onprem-gpus", "p101"}, `--onprem-gpus "p101": want a whole number of GPUs, or a percentile of the trace's demand from p0 to p100 such as p50`},
		{[]string{"simulate", "--seed", "-5"}, `--seed "-5": want a whole number of 0 or more`},
		{[]string{"simulate", "--seed=-5"}, `--seed "-5": want a whole number of 0 or more`},
		{[]string{"simulate", "--jitter", "2d"}, `--jitter "2d": want a duration such as 90s, 5m or 1h30m (no day unit: 24h)`},
		// A number past Go's integers is out of the flag's range, which
		// is named as for a number within them; it was "out of range:
		// want a whole number", which it is.
		{[]string{"simulate", "--onprem-gpus", "99999999999999999999"}, `--onprem-gpus 99999999999999999999 is out of range: want 0 (no on-prem GPUs: every job runs on the cloud) to 1048576, or a percentile of the trace's demand such as p50 (see spillway simulate --help)`},
		{[]string{"burst", "create", "--gpus", "99999999999999999999"}, `--gpus 99999999999999999999 is out of range: ask for 1 to 100000 GPUs (the pool's manual.max_gpus may allow fewer) (see spillway burst create --help)`},
		{[]string{"burst", "create", "--gpus=-99999999999999999999"}, `--gpus -99999999999999999999 is out of range: ask for 1 to 100000 GPUs`},
		{[]string{"simulate", "--seeds", "99999999999999999999"}, `--seeds 99999999999999999999 is out of range: want 1 to 100 (see spillway simulate --help)`},
		{[]string{"decisions", "--limit", "99999999999999999999"}, `--limit 99999999999999999999 is out of range: use 1 to 100000 (see spillway decisions --help)`},
		{[]string{"demo", "--onprem-nodes", "99999999999999999999"}, `--onprem-nodes 99999999999999999999 is out of range: want 1 to 64`},
		{[]string{"agent", "--max-connections", "99999999999999999999"}, `--max-connections 99999999999999999999 is out of range: want 1 to 4096`},
		{[]string{"simulate", "--json=maybe"}, `--json "maybe": want true or false`},
		{[]string{"simulate", "--seeds", `a"b`}, `--seeds "a\"b": want a whole number`},
		{[]string{"burst", "create", "--gpus", "x"}, `--gpus "x": want a whole number (see spillway burst create --help)`},
		// A duration as people write it: the Go duration meant.
		{[]string{"burst", "create", "--for", "2h30"}, `--for "2h30": want a duration such as 90s, 5m or 1h30m (no day unit: 24h); did you mean 2h30m? (see spillway burst create --help)`},
		{[]string{"burst", "create", "--for", "2 hours"}, `--for "2 hours": want a duration such as 90s, 5m or 1h30m (no day unit: 24h); did you mean 2h?`},
		{[]string{"burst", "create", "--for", "90"}, `--for "90": want a duration such as 90s, 5m or 1h30m (no day unit: 24h); a number alone has no unit: write 90s, 90m or 90h`},
		{[]string{"simulate", "--nope"}, `unknown flag: --nope (see spillway simulate --help for its flags)`},
		// A flag misspelt, or typed with one dash: said which was meant.
		{[]string{"policy", "validate", "--sever", "x.yaml"}, `unknown flag: --sever; did you mean --server? (see spillway policy validate --help)`},
		{[]string{"demo", "--fro", "90s"}, `unknown flag: --fro; did you mean --for?`},
		{[]string{"demo", "-for", "90s"}, `unknown shorthand flag: 'f' in -for; did you mean --for? (long flags take two dashes; see spillway demo --help)`},
		{[]string{"demo", "-json"}, `unknown shorthand flag: 'j' in -json; did you mean --json?`},
		{[]string{"simulate", "--onprem-gpu=8"}, `unknown flag: --onprem-gpu; did you mean --onprem-gpus?`},
		{[]string{"policy", "check", "x.yaml"}, `unknown command "check" for "spillway policy" (want one of: validate; see spillway policy --help)`},
		{[]string{"policy", "valdate"}, `unknown command "valdate" for "spillway policy"; did you mean validate? (want one of: validate;`},
		{[]string{"burst", "frob"}, `unknown command "frob" for "spillway burst" (want one of: cancel, create, list;`},
		{[]string{"token", "list"}, `unknown command "list" for "spillway token" (want one of: create;`},
		{[]string{"policy", "validate"}, `policy validate wants one or more config files, e.g. spillway policy validate spillway.yaml; got none`},
		{[]string{"signals", "check", "a.yaml", "b.yaml"}, `signals check wants one config file (--pool picks a pool), e.g. spillway signals check spillway.yaml; got "a.yaml" "b.yaml"`},
		{[]string{"burst", "cancel"}, `burst cancel wants one burst ID (spillway burst list shows them)`},
		{[]string{"decisions", "--since", "-5h", "--server", "http://127.0.0.1:1"}, `--since "-5h" is out of range: use a duration from 0s to 8784h`},
		{[]string{"decisions", "--since", "yesterday", "--server", "http://127.0.0.1:1"}, `--since "yesterday" is neither a duration (1h) nor an RFC 3339 time`},
		{[]string{"decisions", "--since", "100000000h", "--server", "http://127.0.0.1:1"}, `--since "100000000h" is out of range: use a duration from 0s to 8784h`},
		{[]string{"simulate", "jobs.csv"}, `simulate takes no arguments, got "jobs.csv": its inputs are flags (see spillway simulate --help)`},
		{[]string{"signals", "chek"}, `unknown command "chek" for "spillway signals"; did you mean check?`},
		// How other tools check a config: pointed at the one that does.
		{[]string{"validate", "spillway.yaml"}, `unknown command "validate" for "spillway"; to check a config without running anything: spillway policy validate FILE (--server: also what spillway server needs)`},
		{[]string{"config", "check", "spillway.yaml"}, `unknown command "config" for "spillway"; to check a config without running anything: spillway policy validate`},
		{[]string{"valdate", "spillway.yaml"}, `unknown command "valdate" for "spillway"; to check a config without running anything: spillway policy validate`},
		{[]string{"server", "--config", "spillway.yaml", "--check"}, `unknown flag: --check; spillway server has no check mode: spillway policy validate --server FILE checks its config without starting it (see spillway policy validate --help)`},
		{[]string{"server", "-t", "--config", "spillway.yaml"}, `unknown shorthand flag: 't' in -t; spillway server has no check mode: spillway policy validate --server FILE`},
	} {
		err := run(context.Background(), tt.args)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestExitStatus: a command line that cannot run as given (an unknown
// command or flag, a flag value that does not parse or is out of range, a
// missing argument) exits 2, as a bad config does; a command that ran and
// that the server refused, or could not reach, exits 1.
func TestExitStatus(t *testing.T) {
	url, toks := opServer(t)
	t.Setenv("SPILLWAY_SERVER", url)
	t.Setenv("SPILLWAY_TOKEN", toks[tokens.Operator])
	tokensFile := filepath.Join(t.TempDir(), "tokens.yaml")
	blankFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(blankFile, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	create := []string{"burst", "create", "--pool", "training", "--gpus", "1", "--for", "1h", "--reason", "INC-9"}
	with := func(flag, value string) []string {
		args := slices.Clone(create)
		args[slices.Index(args, flag)+1] = value
		return args
	}
	for _, tc := range []struct {
		args []string
		want int
		msg  string
	}{
		{with("--gpus", "x"), 2, `spillway: --gpus "x": want a whole number`},
		{with("--for", "1y"), 2, `spillway: --for "1y": want a duration`},
		{with("--for", "-"), 2, `spillway: --for "-": want a duration`},
		{with("--reason", "\xe9t\xe9"), 2, "spillway: --reason is not valid UTF-8"},
		{create[:len(create)-2], 2, "spillway: missing --reason (why, e.g. the incident): see spillway burst create --help"},
		{[]string{"burst", "create", "--pool", "p", "--gpus", "8"}, 2, "spillway: missing --for (how long, e.g. 2h or 90m) and --reason (why, e.g. the incident): see spillway burst create --help"},
		{[]string{"burst", "list", "--bogus"}, 2, "spillway: unknown flag: --bogus"},
		{[]string{"burst", "cancel"}, 2, "spillway: burst cancel wants one burst ID"},
		{[]string{"burst", "cancel", ".."}, 2, `spillway: ".." is not a burst ID: they look like b-`},
		{[]string{"burst", "cancel", "b-1/../x"}, 2, `spillway: "b-1/../x" is not a burst ID`},
		{[]string{"burst", "frob"}, 2, `spillway: unknown command "frob" for "spillway burst"`},
		{[]string{"frob"}, 2, `spillway: unknown command "frob" for "spillway"`},
		{[]string{"status", "-o", "yaml"}, 2, `spillway: --output "yaml" is not a format`},
		{[]string{"status", "--server", "127.0.0.1:8700"}, 2, `spillway: server "127.0.0.1:8700" is not a URL`},
		{[]string{"instances", "--token-file", filepath.Join(t.TempDir(), "none")}, 2, "spillway: reading --token-file: open "},
		{[]string{"decisions", "--limit", "0"}, 2, "spillway: --limit 0 is out of range"},
		{[]string{"decisions", "--since", "yesterday"}, 2, `spillway: --since "yesterday" is neither a duration`},
		{[]string{"token", "create", "--name", "a", "--role", "god", "--file", tokensFile}, 2, "spillway: --role: "},
		{[]string{"token", "create", "--name", "a b", "--role", "viewer", "--file", tokensFile}, 2, `spillway: --name: name "a b" is not a token name`},
		{[]string{"server"}, 2, "spillway: missing --config (the config file, spillway.yaml): see spillway server --help"},
		// Empty (an unset variable): not read as the flag left out.
		{[]string{"server", "--config", ""}, 2, "spillway: --config is empty (an unset variable?)"},
		{[]string{"server", "--config", "spillway.yaml", "--listen", ""}, 2, "spillway: --listen is empty"},
		{[]string{"burst", "list", "--pool", ""}, 2, "spillway: --pool is empty"},
		{[]string{"instances", "--pool", " "}, 2, "spillway: --pool is empty"},
		// A pool no config can name: refused in the config's words,
		// before any request (the server was asked first).
		{[]string{"burst", "list", "--pool", "../x"}, 2, `spillway: --pool: bad name "../x": use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit (see spillway burst list --help)`},
		{[]string{"instances", "--pool", "a b"}, 2, `spillway: --pool: bad name "a b": use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit (see spillway instances --help)`},
		{[]string{"decisions", "--pool", strings.Repeat("p", 64)}, 2, `spillway: --pool: bad name "` + strings.Repeat("p", 64) + `": use 1 to 63`},
		{with("--pool", "../x"), 2, `spillway: --pool: bad name "../x": use 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit (see spillway burst create --help)`},
		{[]string{"decisions", "--since", ""}, 2, "spillway: --since is empty"},
		{append(slices.Clone(create), "--offering", ""), 2, "spillway: --offering is empty"},
		{[]string{"status", "--token-file", ""}, 2, "spillway: --token-file is empty"},
		// A file that holds no token (a token create whose output went
		// elsewhere): said so, not sent to the server without one.
		{[]string{"status", "--token-file", blankFile}, 2, "spillway: --token-file " + blankFile + " holds no token (2 bytes, all blank)"},
		{[]string{"server", "--config", "spillway.yaml", "--log-level", "loud"}, 2, `spillway: --log-level "loud": want debug, info, warn or error`},
		// The local commands' own checks of their flags' values.
		{[]string{"emulator", "--ec2", "127.0.0.1:0", "--fault-rate", "2"}, 2, "spillway: --fault-rate 2 is out of range: want a fraction from 0 to 1"},
		{[]string{"emulator", "--ec2", "127.0.0.1:0", "--latency", "-1s"}, 2, "spillway: --latency -1s is out of range"},
		{[]string{"agent", "--simulate", "dgxh100", "--max-connections", "0"}, 2, "spillway: --max-connections 0: want 1 to "},
		{[]string{"agent", "--simulate", "dgxh100", "--node", " "}, 2, "spillway: --node is empty"},
		{[]string{"agent", "--simulate", "dgxh100", "--log-level", "loud"}, 2, `spillway: --log-level "loud": want debug, info, warn or error`},
		{[]string{"emulator", "--private-ips", "10.0.0.0/40"}, 2, `spillway: --private-ips "10.0.0.0/40": want an address range`},
		{[]string{"emulator", "--stock", "p5"}, 2, "spillway: --stock: "},
		{[]string{"emulator", "--ec2", "", "--ecs", ""}, 2, "spillway: --ec2 and --ecs are both empty"},
		{[]string{"demo", "--log-level", "loud"}, 2, `spillway: --log-level "loud": want debug, info, warn or error`},
		{[]string{"demo", "--onprem-nodes", "0"}, 2, "spillway: --onprem-nodes 0: want 1 to 64"},
		{[]string{"demo", "--listen", "0.0.0.0:0"}, 2, `spillway: --listen "0.0.0.0:0": the demo serves on loopback only`},
		{[]string{"demo", "--trace", filepath.Join(t.TempDir(), "none.csv")}, 2, "spillway: --trace: "},
		{[]string{"demo", "--speed", "0"}, 2, "spillway: --speed 0: want a number from 1 to 3600"},
		{[]string{"signals", "check", "--timeout", "0s", "x.yaml"}, 2, "spillway: --timeout 0s: want a positive duration"},
		// signals check's exit 1 says a source failed: a bad flag is not that.
		{[]string{"signals", "check", "--watch", "-1s", "x.yaml"}, 2, "spillway: --watch -1s: want 0 (check once) or a positive duration"},
		{[]string{"agent", "--interval", "0s"}, 2, "spillway: --interval 0s: want a duration from 10ms to 1h"},
		{[]string{"agent", "--busy-util", "101"}, 2, "spillway: --busy-util 101: want a percentage"},
		{[]string{"agent", "--replay", "idle"}, 2, "spillway: --replay needs --simulate"},
		// Each names its flag as typed, not nvml's "simulate dgxh100: replay speed -1".
		{[]string{"agent", "--simulate", "dgxfoo"}, 2, `spillway: --simulate "dgxfoo": want one of dgxa100, dgxb200, dgxh100, dgxh200`},
		{[]string{"agent", "--simulate", "dgxh100", "--replay", "/nonexistent/none.csv"}, 2, "spillway: --replay: replay series: open /nonexistent/none.csv: no such file"},
		{[]string{"agent", "--simulate", "dgxh100", "--replay-speed", "-1"}, 2, "spillway: --replay-speed -1: want a number from 0.01 to 3600"},
		{[]string{"agent", "--simulate", "dgxh100", "--replay-speed", "0"}, 2, "spillway: --replay-speed 0: want a number from 0.01 to 3600"},
		{[]string{"agent", "--simulate", "dgxh100", "--replay-speed", "NaN"}, 2, "spillway: --replay-speed NaN: want a number from 0.01 to 3600"},
		{[]string{"agent", "--simulate", "dgxh100", "--idle-allocated", "2"}, 2, "spillway: --idle-allocated 2: want a share from 0 to 1"},
		{[]string{"demo", "--listen", "garbage"}, 2, `spillway: --listen "garbage": the demo serves on loopback only`},
		// Out of the API's own range, whatever the pool allows.
		{with("--for", "0s"), 2, "spillway: --for 0s is out of range: a burst lasts from 1m to 720h"},
		// The command ran; the server refused it, or was not there.
		{with("--gpus", "40"), 1, "spillway: refused by the pool's manual limit max_gpus = 32 (403)"},
		{with("--pool", "nope"), 1, `spillway: not found (404): no pool "nope"`},
		{[]string{"burst", "cancel", "b-9999"}, 1, `spillway: not found (404): no burst "b-9999"`},
		{[]string{"status", "--server", "http://127.0.0.1:1"}, 1, "spillway: cannot reach the Spillway server at http://127.0.0.1:1"},
	} {
		err := run(context.Background(), tc.args)
		if err == nil {
			t.Errorf("%q: ran, want exit %d with %q", tc.args, tc.want, tc.msg)
			continue
		}
		code, msg := exitStatus(err)
		if code != tc.want || !strings.HasPrefix(msg, tc.msg) {
			t.Errorf("%q: exit %d %q, want exit %d with %q", tc.args, code, msg, tc.want, tc.msg)
		}
	}
}
