package main

import (
	"context"
	"strings"
	"testing"
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
		{[]string{"simulate", "--onprem-gpus", "99999999999999999999"}, `--onprem-gpus "99999999999999999999": out of range: want a whole number`},
		{[]string{"simulate", "--json=maybe"}, `--json "maybe": want true or false`},
		{[]string{"simulate", "--seeds", `a"b`}, `--seeds "a\"b": want a whole number`},
		{[]string{"burst", "create", "--gpus", "x"}, `--gpus "x": want a whole number (see spillway burst create --help)`},
		{[]string{"simulate", "--nope"}, `unknown flag: --nope`},
		{[]string{"policy", "check", "x.yaml"}, `unknown command "check" for "spillway policy" (want one of: validate; see spillway policy --help)`},
		{[]string{"policy", "valdate"}, `unknown command "valdate" for "spillway policy"; did you mean validate? (want one of: validate;`},
		{[]string{"burst", "frob"}, `unknown command "frob" for "spillway burst" (want one of: cancel, create, list;`},
		{[]string{"token", "list"}, `unknown command "list" for "spillway token" (want one of: create;`},
		{[]string{"policy", "validate"}, `policy validate wants one or more config files, e.g. spillway policy validate spillway.yaml; got none`},
		{[]string{"signals", "check", "a.yaml", "b.yaml"}, `signals check wants one config file (--pool picks a pool), e.g. spillway signals check spillway.yaml; got "a.yaml" "b.yaml"`},
		{[]string{"burst", "cancel"}, `burst cancel wants one burst ID (spillway burst list shows them)`},
		{[]string{"decisions", "--since", "-5h", "--server", "http://127.0.0.1:1"}, `--since "-5h" is out of range: use a duration from 0s to 8784h`},
		{[]string{"decisions", "--since", "yesterday", "--server", "http://127.0.0.1:1"}, `--since "yesterday" is neither a duration (1h) nor an RFC 3339 time`},
		{[]string{"simulate", "jobs.csv"}, `simulate takes no arguments, got "jobs.csv": its inputs are flags (see spillway simulate --help)`},
		{[]string{"signals", "chek"}, `unknown command "chek" for "spillway signals"; did you mean check?`},
	} {
		err := run(context.Background(), tt.args)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.args, err, tt.want)
		}
	}
}
