package main

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestBurstCreateRefusesValuesOutOfRange: a --gpus, --for or --reason the
// server would refuse is a wrong command line, exit 2, told without a
// server (none listens here) or a token; it was sent, refused with a 400,
// and exited 1, or, with the server down, hidden behind "cannot reach".
// Each ends "(see spillway burst create --help)", as pflag's refusals of
// the same flags do (--for 99999999999h); it did not.
func TestBurstCreateRefusesValuesOutOfRange(t *testing.T) {
	t.Setenv("SPILLWAY_SERVER", "http://127.0.0.1:1")
	t.Setenv("SPILLWAY_TOKEN", "")
	for _, tc := range []struct {
		gpus, dur, reason, want string
	}{
		{"0", "1h", "INC-1", "--gpus 0 is out of range: ask for 1 to 100000 GPUs (the pool's manual.max_gpus may allow fewer) (see spillway burst create --help)"},
		{"-3", "1h", "INC-1", "--gpus -3 is out of range"},
		{"8", "-5m", "INC-1", "--for -5m is out of range: a burst lasts from 1m to 720h (the pool's manual.max_ttl may allow less) (see spillway burst create --help)"},
		{"8", "30s", "INC-1", "--for 30s is out of range"},
		{"8", "721h", "INC-1", "--for 721h is out of range"},
		{"8", "1h", "   ", "--reason is missing: say why the burst is needed (e.g. the incident), so others know who to ask (see spillway burst create --help)"},
		{"8", "1h", "INC-1\x1b[2J", "--reason contains control characters"},
		{"8", "1h", "INC-\xff", "--reason is not valid UTF-8 (a terminal in another encoding?): give it as UTF-8 text (see spillway burst create --help)"},
	} {
		_, _, err := runCLI(t, "burst", "create", "--pool", "train", "--gpus", tc.gpus, "--for", tc.dur, "--reason", tc.reason)
		var ue *usageError
		if !errors.As(err, &ue) || exitStatusCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--gpus %s --for %s --reason %q: %v (exit %d), want exit 2 with %q", tc.gpus, tc.dur, tc.reason, err, exitStatusCode(err), tc.want)
		}
	}
}

// TestBurstCreateRefusesASignedFor: --for +2h was read as 2h by pflag's
// duration flag (time.ParseDuration) and the burst created, while the API
// refuses a "for" of "+2h" and the page's form a for of +2h; it is a wrong
// command line (exit 2), told without a server, naming the flag and what
// to write. A value pflag's duration flag refuses reads as before.
func TestBurstCreateRefusesASignedFor(t *testing.T) {
	t.Setenv("SPILLWAY_SERVER", "http://127.0.0.1:1")
	t.Setenv("SPILLWAY_TOKEN", "")
	for dur, want := range map[string]string{
		"+2h":          `--for "+2h" is a duration with a sign: write it without one, such as 2h or 90m (see spillway burst create --help)`,
		"+90m":         `--for "+90m" is a duration with a sign`,
		"2h30":         `--for "2h30": want a duration such as 90s, 5m or 1h30m (no day unit: 24h); did you mean 2h30m?`,
		"99999999999h": "--for 99999999999h is out of range: a burst lasts from 1m to 720h",
	} {
		err := run(context.Background(), []string{"burst", "create", "--pool", "train", "--gpus", "8", "--for", dur, "--reason", "INC-1"})
		if exitStatusCode(err) != 2 || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--for %s: %v (exit %d), want exit 2 with %q", dur, err, exitStatusCode(err), want)
		}
	}
}

// exitStatusCode is the status the process would end with for err.
func exitStatusCode(err error) int {
	code, _ := exitStatus(err)
	return code
}

// TestTokenOfSeveralWords: a token pasted with its "Bearer " (from a curl
// command) was sent as "Bearer Bearer spw_…", and the server answered only
// that it did not know it; it is refused as a wrong command line, naming
// the first word unless it is part of a token.
func TestTokenOfSeveralWords(t *testing.T) {
	t.Setenv("SPILLWAY_SERVER", "http://127.0.0.1:1")
	for _, tok := range []string{"Bearer spw_abcdefghijklmnopqrstuvwxyz0123456789", "spw_abcdefghijklmnopqrstuvwxyz0123456789 spw_second"} {
		t.Setenv("SPILLWAY_TOKEN", tok)
		_, _, err := runCLI(t, "status")
		if exitStatusCode(err) != 2 || err == nil || !strings.Contains(err.Error(), "give the token alone, one word as `spillway token create` printed it (spw_…)") ||
			strings.Contains(err.Error(), "abcdef") {
			t.Errorf("SPILLWAY_TOKEN %q: %v (exit %d), want exit 2, not showing the token", tok[:10], err, exitStatusCode(err))
		}
	}
	t.Setenv("SPILLWAY_TOKEN", "Bearer spw_abcdefghijklmnopqrstuvwxyz0123456789")
	if _, _, err := runCLI(t, "status"); err == nil || !strings.Contains(err.Error(), `several words, the first "Bearer"`) {
		t.Errorf("a token after Bearer: %v, want the first word named", err)
	}
}
