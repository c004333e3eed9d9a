package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func runPolicyCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newPolicyCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestPolicyValidateExample(t *testing.T) {
	out, errOut, err := runPolicyCmd(t, "validate", "../../configs/examples/spillway.yaml")
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, errOut)
	}
	for _, want := range []string{
		"../../configs/examples/spillway.yaml: valid",
		"pool training: on-prem 4×8 = 32 GPUs, wait target 5m, evaluated every 30s",
		"limits: at most 64 GPUs, at most 400.00 USD/h, budget 20000.00 USD per month",
		`schedule weekday-peak: "CRON_TZ=Europe/Berlin 0 8 * * 1-5" holds 16 GPUs for 10h`,
		"aws-h100-ondemand",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// Offerings are listed cheapest per useful GPU-hour first: the spot p5
	// (31.04/8 = 3.88) before the on-demand one (55.04/8 = 6.88).
	if strings.Index(out, "p5.48xlarge/spot") > strings.Index(out, "aws-h100-ondemand") {
		t.Errorf("offerings not ordered by price per useful GPU-hour:\n%s", out)
	}
	if errOut != "" {
		t.Errorf("stderr for a valid file: %s", errOut)
	}
}

func TestPolicyValidateProblems(t *testing.T) {
	out, errOut, err := runPolicyCmd(t, "validate", "../../config/testdata/multi.bad.yaml", "../../config/testdata/minimal.good.yaml")
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != 1 {
		t.Fatalf("err = %v, want exit code 1", err)
	}
	if ec.msg != "7 problems in 1 file" {
		t.Errorf("exit message %q", ec.msg)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 7 {
		t.Fatalf("got %d problem lines, want 7:\n%s", len(lines), errOut)
	}
	const first = `../../config/testdata/multi.bad.yaml:8:18: pools[0].wait_target: bad duration "5 minutes": use a Go duration such as 90s, 5m or 1h30m`
	if lines[0] != first {
		t.Errorf("first problem\n got %s\nwant %s", lines[0], first)
	}
	// The valid file is still summarised.
	if !strings.Contains(out, "minimal.good.yaml: valid") {
		t.Errorf("stdout: %s", out)
	}
}

func TestPolicyValidateMissingFile(t *testing.T) {
	_, errOut, err := runPolicyCmd(t, "validate", "does-not-exist.yaml")
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != 1 || !strings.Contains(errOut, "does-not-exist.yaml") {
		t.Errorf("err = %v, stderr %q", err, errOut)
	}
}

func TestPolicyValidateNeedsAFile(t *testing.T) {
	if _, _, err := runPolicyCmd(t, "validate"); err == nil {
		t.Error("validate without a file succeeded")
	}
}
