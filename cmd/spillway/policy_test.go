package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/policy"
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
		"pool training: on-prem 4×8 = 32 GPUs, wait target 5m, evaluated every 30s by simulate (interval), every 10s by the server (server.tick)",
		"limits: at most 64 GPUs, at most 400.00 USD/h, budget 20000.00 USD per month (hard)",
		`schedule weekday-peak: "CRON_TZ=Europe/Berlin 0 8 * * 1-5" holds 16 GPUs for 10h; `, // holding now, or next fires
		"; next fires ", ", then ", // its next firings (TestPolicyFirings)
		"aws-h100-ondemand",
		"server: listen 127.0.0.1:8700, state /",
		"spillway.db, tick 10s, sweep grace 10m",
		"signals: baseline from agents (1 URL); demand from command",
		// join.timeout is the default: three boots of the slowest offering (6m).
		"join: agent at http://{{.PrivateIP}}:9401 within 18m; drain: command scontrol update nodename={{.Name}} state=drain reason=spillway (at most 30s)",
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

// TestPolicyFirings: the summary says when each schedule fires next, in
// its own zone and in UTC, across daylight-saving changes, and whether a
// firing holds its GPUs now, so that a schedule that reads right but
// fires wrong is seen before the server runs it.
func TestPolicyFirings(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		name, cron, dur, now, want string
	}{
		{"utc weekdays, on a Saturday", "0 8 * * 1-5", "10h", "2026-12-05T12:00:00Z",
			"next fires Mon 7 Dec 2026 08:00 UTC, in 44h, then Tue 8 Dec 08:00 UTC"},
		{"holding now", "CRON_TZ=Europe/Berlin 0 8 * * 1-5", "10h", "2026-12-01T12:40:00Z",
			"holding now until Tue 1 Dec 18:00 CET (17:00 UTC); next fires Wed 2 Dec 2026 08:00 CET (07:00 UTC), in 18h20m, then Thu 3 Dec 08:00 CET (07:00 UTC)"},
		// 02:30 does not exist on 29 March 2026 in Berlin: it fires when
		// the clock jumps to 03:00, then at 02:30 CEST the day after.
		{"a time the clock skips", "CRON_TZ=Europe/Berlin 30 2 * * *", "1h", "2026-03-28T12:00:00Z",
			"next fires Sun 29 Mar 2026 03:00 CEST (01:00 UTC), in 13h, then Mon 30 Mar 02:30 CEST (00:30 UTC)"},
		// 01:30 happens twice on 25 October 2026 in London: it fires once.
		{"a time the clock reads twice", "TZ=Europe/London 30 1 * * *", "1h", "2026-10-24T12:00:00Z",
			"next fires Sun 25 Oct 2026 01:30 BST (00:30 UTC), in 12h30m, then Mon 26 Oct 01:30 GMT (01:30 UTC)"},
		// A firing that holds into another year says which.
		{"holding into next year", "0 8 * * 1-5", "8784h", "2026-12-02T16:40:00Z",
			"holding now until Fri 3 Dec 2027 08:00 UTC; next fires Thu 3 Dec 2026 08:00 UTC, in 15h20m, then Fri 4 Dec 08:00 UTC"},
		{"@daily is midnight UTC", "@daily", "2h", "2026-12-01T23:59:00Z",
			"next fires Wed 2 Dec 2026 00:00 UTC, in 1m, then Thu 3 Dec 00:00 UTC"},
		{"leap day", "0 6 29 2 *", "1h", "2026-12-01T00:00:00Z",
			"next fires Tue 29 Feb 2028 06:00 UTC, in 455d6h, then Sun 29 Feb 2032 06:00 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := time.ParseDuration(tc.dur)
			if err != nil {
				t.Fatal(err)
			}
			s := policy.Schedule{Name: "s", Cron: tc.cron, GPUs: 8, Duration: policy.Duration(d)}
			if got := policyFirings(s, at(tc.now)); got != tc.want {
				t.Errorf("policyFirings(%q) at %s\n got %s\nwant %s", tc.cron, tc.now, got, tc.want)
			}
		})
	}
}

// TestPolicyCredentials: with --server, validate says where each cloud
// provider's credentials come from on this machine, and that none were
// found when the server could only get them from a role, before the
// server starts and fails every call.
func TestPolicyCredentials(t *testing.T) {
	for _, tc := range []struct {
		name  string
		typ   config.ProviderType
		env   map[string]string
		files []string
		want  string
	}{
		{"aws keys", config.ProviderAWS, map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, nil,
			"from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"aws half a key", config.ProviderAWS, map[string]string{"AWS_ACCESS_KEY_ID": "a"}, nil,
			"AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY: set both"},
		{"aws profile", config.ProviderAWS, map[string]string{"AWS_PROFILE": "burst"}, nil, "from profile burst (AWS_PROFILE)"},
		{"aws shared file", config.ProviderAWS, map[string]string{"HOME": "/home/ops"}, []string{"/home/ops/.aws/credentials"},
			"from the default profile of /home/ops/.aws/credentials"},
		{"aws nothing", config.ProviderAWS, map[string]string{"HOME": "/home/ops"}, nil,
			"none in the environment or shared files: spillway server needs an instance role here, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"},
		{"alicloud keys", config.ProviderAlicloud, map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "a", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "b"}, nil,
			"from ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
		{"alicloud cli config", config.ProviderAlicloud, map[string]string{"HOME": "/home/ops"}, []string{"/home/ops/.aliyun/config.json"},
			"from /home/ops/.aliyun/config.json"},
		{"alicloud nothing", config.ProviderAlicloud, nil, nil,
			"none in the environment or credentials files: spillway server needs a RAM role here, or ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET"},
		{"terraform", config.ProviderTerraform, nil, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			exists := func(f string) bool { return slices.Contains(tc.files, f) }
			if got := policyCredentials(context.Background(), config.ProviderConfig{Type: tc.typ}, getenv, exists); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestPolicyCredentialsProfile: a provider that names a profile
// (profile:) is reported with that profile, what it gives (keys, a role)
// and the files it is read from, whatever the environment holds; a profile
// the files lack is said to stop the server. The files are real, read by
// the AWS SDK's own loader.
func TestPolicyCredentialsProfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	awsConfig := write("aws-config", "[profile research]\nrole_arn = arn:aws:iam::222222222222:role/burst\nsource_profile = prod\n")
	awsCreds := write("aws-credentials", "[prod]\naws_access_key_id = AKIAPROD\naws_secret_access_key = s\n")
	aliCreds := write("ali-credentials", "[beijing]\ntype = access_key\naccess_key_id = LTAI\naccess_key_secret = s\n")
	env := map[string]string{
		"AWS_CONFIG_FILE": awsConfig, "AWS_SHARED_CREDENTIALS_FILE": awsCreds, "ALIBABA_CLOUD_CREDENTIALS_FILE": aliCreds,
		"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "s", "ALIBABA_CLOUD_ACCESS_KEY_ID": "a", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "b",
	}
	awsFiles := awsConfig + " or " + awsCreds
	for _, tc := range []struct {
		name string
		pc   config.ProviderConfig
		want string
	}{
		{"aws keys", config.ProviderConfig{Type: config.ProviderAWS, Profile: "prod"},
			"from profile prod (profile:) in " + awsFiles + ", its access keys"},
		{"aws role", config.ProviderConfig{Type: config.ProviderAWS, Profile: "research"},
			"from profile research (profile:) in " + awsFiles + ", assuming role arn:aws:iam::222222222222:role/burst"},
		{"aws missing", config.ProviderConfig{Type: config.ProviderAWS, Profile: "prdo"},
			"profile prdo (profile:) is in neither " + awsFiles + ": spillway server refuses to start; add the profile there, or name one they have"},
		{"alicloud", config.ProviderConfig{Type: config.ProviderAlicloud, Profile: "beijing"},
			"from profile beijing (profile:) of " + aliCreds},
		{"alicloud missing", config.ProviderConfig{Type: config.ProviderAlicloud, Profile: "bejing"},
			"profile bejing (profile:) is not a section of " + aliCreds + ": every call the server makes would fail; add [bejing] there, or name one it has"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := policyCredentials(context.Background(), tc.pc, func(k string) string { return env[k] }, policyFileExists); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
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
	const first = `../../config/testdata/multi.bad.yaml:8:18: pools[0].wait_target: bad duration "5 minutes": use a Go duration such as 90s, 5m or 1h30m; did you mean 5m?`
	if lines[0] != first {
		t.Errorf("first problem\n got %s\nwant %s", lines[0], first)
	}
	// The valid file is still summarised.
	if !strings.Contains(out, "minimal.good.yaml: valid") {
		t.Errorf("stdout: %s", out)
	}
}

// TestPolicyValidateServer: --server also reports what only the server
// needs; a backtest config passes without it.
func TestPolicyValidateServer(t *testing.T) {
	const f = "../../configs/examples/backtest.yaml"
	if _, errOut, err := runPolicyCmd(t, "validate", f); err != nil {
		t.Fatalf("validate %s: %v\n%s", f, err, errOut)
	}
	_, errOut, err := runPolicyCmd(t, "validate", "--server", f)
	var ec *exitCodeError
	if !errors.As(err, &ec) || ec.code != 1 {
		t.Fatalf("validate --server %s: %v, want exit code 1", f, err)
	}
	for _, want := range []string{
		f + ":17:5: providers.aws-east.subnets: missing required field: the server launches into a subnet",
		"pools[0].signals: missing required field: the server reads pool \"v100\"'s signals every tick",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// Where the clouds' credentials come from is said with --server only
	// (a backtest calls no cloud): here, nowhere.
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
		"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ECS_METADATA",
		"ALIBABA_CLOUD_CREDENTIALS_FILE", "ALIBABA_CLOUD_CONFIG_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", t.TempDir())
	const none = "provider emu-aws: aws us-east-1, endpoint http://127.0.0.1:8780\n  credentials here: none in the environment or shared files: spillway server needs an instance role here"
	out, errOut, err := runPolicyCmd(t, "validate", "--server", "../../configs/examples/emulator.yaml")
	if err != nil {
		t.Errorf("validate --server emulator.yaml: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, none) {
		t.Errorf("validate --server does not say that no AWS credentials are found here:\n%s", out)
	}
	if out, _, _ := runPolicyCmd(t, "validate", "../../configs/examples/emulator.yaml"); strings.Contains(out, "credentials here") {
		t.Errorf("validate without --server speaks of credentials:\n%s", out)
	}
	t.Setenv("AWS_PROFILE", "burst")
	if out, _, _ := runPolicyCmd(t, "validate", "--server", "../../configs/examples/emulator.yaml"); !strings.Contains(out, "credentials here: from profile burst (AWS_PROFILE)") {
		t.Errorf("validate --server does not name the AWS profile:\n%s", out)
	}
}

// TestPolicyValidateServerOpens: validate --server refuses what the
// server would refuse when it starts, at its line; --insecure-listen
// allows a public address as it does for the server.
func TestPolicyValidateServerOpens(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{name: "public listen, missing state folder", args: []string{"../../config/testdata/listen_public.server.yaml"},
			want: []string{":6:11: server.listen: listen address \"0.0.0.0:18700\" (0.0.0.0) is not loopback", ":7:10: server.state: the folder /nonexistent/dir"}},
		{name: "missing TLS files", args: []string{"../../config/testdata/tls_missing.server.yaml"},
			want: []string{":6:16: server.tls.cert_file: the certificate cannot be read", ":7:15: server.tls.key_file: the private key cannot be read"}},
		{name: "insecure listen allowed", args: []string{"--insecure-listen", "../../config/testdata/listen_public.server.yaml"},
			want: []string{"server.state"}},
		{name: "terraform modules the server would refuse", args: []string{"../../config/testdata/tf_missing.server.yaml", "../../config/testdata/tf_syntax.server.yaml", "../../config/testdata/tf_nocontract.server.yaml"},
			want: []string{
				"tf_missing.server.yaml:8:13: providers.tf.module: terraform module", "cannot be read: no such file or directory",
				"tf_syntax.server.yaml:8:13: providers.tf.module: terraform module", "main.tf:1: Invalid single-argument block definition",
				"tf_nocontract.server.yaml:8:13: providers.tf.module: terraform module", `declares no output "instances"`,
			}},
		{name: "terraform settings the server would refuse", args: []string{"../../config/testdata/tf_settings.server.yaml"},
			want: []string{
				`tf_settings.server.yaml:12:25: providers.tf.zones[1]: "US-East-1b" is not a zone name`,
				"tf_settings.server.yaml:15:16: providers.tf.variables.cluster: \"cluster\" is set by Spillway on every run",
				"tf_settings.server.yaml:17:7: providers.tf.backend_config: module", "declares no backend block, and Terraform ignores backend_config without one",
				"tf_settings.server.yaml:17:17: providers.tf.backend_config.key-name: not a backend setting name",
				"tf_settings.server.yaml:18:15: providers.tf.work_dir:", "tf_settings.server.yaml is a file, not a directory",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, err := runPolicyCmd(t, append([]string{"validate", "--server"}, tc.args...)...)
			var ec *exitCodeError
			if !errors.As(err, &ec) || ec.code != 1 {
				t.Fatalf("validate --server %v: %v, want exit code 1", tc.args, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "server.listen") != strings.Contains(strings.Join(tc.want, " "), "server.listen") {
				t.Errorf("server.listen reported or not against expectations:\n%s", errOut)
			}
		})
	}
}

func TestPolicyValidateNeedsAFile(t *testing.T) {
	if _, _, err := runPolicyCmd(t, "validate"); err == nil {
		t.Error("validate without a file succeeded")
	}
}

// TestPolicyValidateHostile: a merge-key bomb, a second document and
// overflowing numbers are each reported as problems with their line and
// field; nothing is summarised from them.
func TestPolicyValidateHostile(t *testing.T) {
	for _, tt := range []struct{ file, want string }{
		{"merge_bomb", "merge_bomb.bad.yaml:8:7: providers.p5: the config expands to more than 100000 values"},
		{"second_document", "second_document.bad.yaml:12:1: a second YAML document starts here"},
		{"huge_numbers", "huge_numbers.bad.yaml:9:14: pools[0].onprem.nodes: 4611686018427387904 is out of range"},
		{"huge_numbers", "huge_numbers.bad.yaml:27:14: pools[2].onprem.nodes: 100000 nodes × 64 GPUs per node = 6400000 on-prem GPUs is out of range: want at most 1048576"},
	} {
		out, errOut, err := runPolicyCmd(t, "validate", "../../config/testdata/"+tt.file+".bad.yaml")
		var ec *exitCodeError
		if !errors.As(err, &ec) || ec.code != 1 {
			t.Errorf("%s: err = %v, want exit code 1", tt.file, err)
		}
		if !strings.Contains(errOut, tt.want) || strings.Contains(out, "valid") {
			t.Errorf("%s: stderr lacks %q (or stdout summarised it):\n%s\n%s", tt.file, tt.want, errOut, out)
		}
	}
}

// TestPolicyValidateHidesStatePassword: the summary of a valid config with
// a PostgreSQL state, which CI jobs print in their logs, shows the DSN
// without its password, given after USER: or as password=.
func TestPolicyValidateHidesStatePassword(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/spillway.yaml"
	cfg := `cluster: c
server: {state: "postgres://spillway:hunter2@db.internal:5432/spillway?sslmode=require&password=hunter3"}
providers:
  aws: {type: aws, region: us-east-1}
pools:
  - name: p
    offerings: [{provider: aws, instance_type: p5.48xlarge}]
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runPolicyCmd(t, "validate", path)
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, errOut)
	}
	if strings.Contains(out, "hunter") || !strings.Contains(out, "state postgres://spillway:xxxxx@db.internal:5432/spillway?") {
		t.Errorf("summary shows the state as:\n%s", out)
	}
}

// TestPolicyValidateWarnsOfSchedules: a config whose schedules overlap and
// whose firing costs more than the budget is valid (exit 0), and its
// summary warns of both under the pool, naming the schedules, when they
// overlap and the cost against the budget.
func TestPolicyValidateWarnsOfSchedules(t *testing.T) {
	out, errOut, err := runPolicyCmd(t, "validate", "testdata/schedules/overlap_overspend.yaml")
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, errOut)
	}
	for _, want := range []string{
		`  warning: schedules "peak" (16 GPUs) and "standup" (8 GPUs) overlap, first on Wed `,
		"09:30–10:30 UTC: floors add up, so the pool holds 24 GPUs then",
		`  warning: schedule "peak" holds 16 GPUs for 10h, which costs at least 200.00 USD a firing (2 × p5.48xlarge at 10 USD/h), more than the hard budget of 150 USD per day: the budget ends each firing early, after about 7h30m at most`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestPolicyValidateCountsOneGPU: a pool of one GPU everywhere was
// summed up "on-prem 1×1 = 1 GPUs", "at most 1 GPUs", "holds 1 GPUs"
// and "manual bursts: up to 1 GPUs, ttl at most no limit".
func TestPolicyValidateCountsOneGPU(t *testing.T) {
	out, errOut, err := runPolicyCmd(t, "validate", "testdata/schedules/one_gpu.yaml")
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, errOut)
	}
	for _, want := range []string{
		"pool small: on-prem 1×1 = 1 GPU, wait target",
		"  limits: at most 1 GPU, no budget\n",
		`  schedule nightly: "0 1 * * *" holds 1 GPU for 1h; `,
		"  manual bursts: up to 1 GPU, no ttl limit\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "1 GPUs") {
		t.Errorf("summary says 1 GPUs:\n%s", out)
	}
}
