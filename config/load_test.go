package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/spillway-io/spillway/configs"
	"github.com/spillway-io/spillway/policy"
)

// withoutPositions is cfg without where its fields were written, which
// differs between a file and its re-marshalled copy.
func withoutPositions(cfg *Config) *Config {
	c := *cfg
	c.src = nil
	c.Pools = append([]Pool(nil), cfg.Pools...)
	for i := range c.Pools {
		c.Pools[i].src, c.Pools[i].path = nil, ""
	}
	return &c
}

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.bad.yaml.err from the current messages")

// TestBadConfigs checks every testdata/*.bad.yaml against the exact
// messages in its .err file: one line per problem, all reported at once.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("found %d bad configs, want every error class covered", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".bad.yaml"), func(t *testing.T) {
			cfg, err := Load(f)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want errors", f, cfg)
			}
			if cfg != nil {
				t.Errorf("Load returned a config along with errors")
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %T %q is not a *ValidationError", err, err)
			}
			got := err.Error() + "\n"
			if *updateGolden {
				if err := os.WriteFile(f+".err", []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(f + ".err")
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("messages differ\n got:\n%s\nwant:\n%s", got, want)
			}
			for _, fe := range verr.Errors {
				if fe.File != f || fe.Line <= 0 {
					t.Errorf("problem %q lacks its file or line", fe.Error())
				}
			}
		})
	}
}

// TestMultiError proves that one file with many problems reports each of
// them, in file order, at the right line and column.
func TestMultiError(t *testing.T) {
	_, err := Load("testdata/multi.bad.yaml")
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want *ValidationError", err)
	}
	want := []FieldError{
		{Line: 8, Col: 18, Field: "pools[0].wait_target", Value: "5 minutes"},
		{Line: 12, Col: 25, Field: "pools[0].offerings[0].price_per_hour", Value: "-3"},
		{Line: 13, Col: 19, Field: "pools[0].offerings[1].provider", Value: "azure"},
		{Line: 21, Col: 17, Field: "pools[0].limits.budget.period", Value: "fortnight"},
		{Line: 23, Col: 15, Field: "pools[0].schedules[0].cron", Value: "0 25 * * *"},
		{Line: 26, Col: 5, Field: "pools[0].colour", Value: "colour"},
		{Line: 27, Col: 11, Field: "pools[1].name", Value: "training"},
	}
	if len(verr.Errors) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(verr.Errors), len(want), err)
	}
	for i, w := range want {
		g := verr.Errors[i]
		if g.File != "testdata/multi.bad.yaml" || g.Line != w.Line || g.Col != w.Col || g.Field != w.Field || g.Value != w.Value {
			t.Errorf("problem %d = %s:%d:%d %s %q, want %d:%d %s %q", i, g.File, g.Line, g.Col, g.Field, g.Value, w.Line, w.Col, w.Field, w.Value)
		}
	}
	// The first line is exactly the documented format.
	first := strings.SplitN(err.Error(), "\n", 2)[0]
	const wantFirst = `testdata/multi.bad.yaml:8:18: pools[0].wait_target: bad duration "5 minutes": use a Go duration such as 90s, 5m or 1h30m; did you mean 5m?`
	if first != wantFirst {
		t.Errorf("first line\n got %s\nwant %s", first, wantFirst)
	}
}

func TestParseDefaults(t *testing.T) {
	cfg, err := Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0].Policy
	want := policy.Pool{
		Name:       "train",
		WaitTarget: policy.Duration(5 * time.Minute),
		Interval:   policy.Duration(30 * time.Second),
		StaleAfter: policy.Duration(2 * time.Minute),
		Offerings: []policy.Offering{{
			Name:         "aws/us-east-1/p5.48xlarge/on-demand",
			Provider:     "aws",
			Region:       "us-east-1",
			InstanceType: "p5.48xlarge",
			GPUs:         8,
			PricePerHour: 55.04,
			Market:       policy.MarketOnDemand,
			Performance:  1,
			Billing:      policy.BillingPerSecondMin60,
			VCPUs:        192, // the catalog's shape
			MemoryGiB:    2048,
		}},
		ScaleIn: policy.ScaleIn{Idle: policy.IdleSetting{Auto: true}, DrainTimeout: policy.Duration(10 * time.Minute)},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("pool with defaults\n got %+v\nwant %+v", p, want)
	}
}

func TestParseExplicitValuesKept(t *testing.T) {
	cfg, err := Load("testdata/explicit.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools[0].Policy
	if p.WaitTarget != 0 {
		t.Errorf("wait_target: 0s became %v", p.WaitTarget.D())
	}
	if p.ScaleIn.Idle != (policy.IdleSetting{Fixed: true}) || policy.IdleThreshold(&p, policy.Offering{Boot: policy.Duration(time.Minute)}) != 0 {
		t.Errorf("idle: 0s became %+v, threshold %v; want released once idle", p.ScaleIn.Idle,
			policy.IdleThreshold(&p, policy.Offering{Boot: policy.Duration(time.Minute)}))
	}
	if p.Interval.D() != time.Minute || p.StaleAfter.D() != 5*time.Minute {
		t.Errorf("interval %v stale_after %v, want 1m 5m", p.Interval.D(), p.StaleAfter.D())
	}
	spot, od, tf := p.Offerings[0], p.Offerings[1], p.Offerings[2]
	if spot.PricePerHour != 40 || spot.Billing != policy.BillingHourly || spot.Performance != 1.5 || spot.Boot.D() != 3*time.Minute {
		t.Errorf("explicit values of offering 0 not kept: %+v", spot)
	}
	// Merged from the anchor, with its own overrides.
	if od.InstanceType != "p5.48xlarge" || od.Market != policy.MarketOnDemand || od.PricePerHour != 50 || od.Boot.D() != 3*time.Minute ||
		od.Name != "aws/us-east-1/p5.48xlarge/on-demand" {
		t.Errorf("merged offering = %+v", od)
	}
	if tf.Name != "tf-h100" || tf.Billing != policy.BillingHourly || tf.Region != "" {
		t.Errorf("terraform offering = %+v", tf)
	}
	if s := p.Schedules[0]; s.Name != "schedule[0]" || s.Duration.D() != 90*time.Minute {
		t.Errorf("schedule = %+v", s)
	}
}

// TestRoundTrip: a parsed config, written back as YAML, parses to the same
// config (defaults written out are accepted as explicit values).
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"testdata/minimal.good.yaml", "testdata/explicit.good.yaml", "testdata/call_timeout.good.yaml", "testdata/lease_terraform.good.yaml", "../configs/examples/spillway.yaml"} {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := yaml.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(f, out)
			if err != nil {
				t.Fatalf("re-parse: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(withoutPositions(cfg), withoutPositions(again)) {
				t.Errorf("round trip changed the config\nfirst  %+v\nsecond %+v", cfg, again)
			}
		})
	}
}

// TestExampleConfig: the bundled reference example is valid and says what
// its comments claim.
func TestExampleConfig(t *testing.T) {
	data, err := configs.Examples.ReadFile("examples/spillway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("spillway.yaml", data)
	if err != nil {
		t.Fatalf("reference example does not validate:\n%v", err)
	}
	if cfg.Providers["aws-use1"].Endpoint != "http://127.0.0.1:8780" || cfg.Providers["ali-hz"].Endpoint != "http://127.0.0.1:8781" {
		t.Errorf("emulator endpoints = %+v", cfg.Providers)
	}
	p := cfg.Pools[0].Policy
	byName := map[string]policy.Offering{}
	for _, o := range p.Offerings {
		byName[o.Name] = o
	}
	if o := byName["aws-use1/us-east-1/us-east-1a/p5.48xlarge/spot"]; o.PricePerHour != 31.04 || o.GPUs != 8 {
		t.Errorf("spot p5 from catalog = %+v", o)
	}
	if o := byName["ali-hz/cn-hangzhou/ecs.gn7e-c16g1.32xlarge/on-demand"]; o.PricePerHour != 34.5 || o.Billing != policy.BillingPerSecond {
		t.Errorf("overridden alicloud offering = %+v", o)
	}
	if len(p.Schedules) != 1 || p.Schedules[0].Cron != "CRON_TZ=Europe/Berlin 0 8 * * 1-5" {
		t.Errorf("schedules = %+v", p.Schedules)
	}
}

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "0s", want: 0},
		{in: "5 minutes", wantErr: `bad duration "5 minutes": use a Go duration such as 90s, 5m or 1h30m`},
		{in: "2d", wantErr: `bad duration "2d": use a Go duration such as 90s, 5m or 1h30m (there is no day unit: write 24h for a day)`},
		{in: "[1, 2]", wantErr: "want a duration such as 90s, 5m or 1h30m, got a list"},
		{in: "100000000h", wantErr: `duration "100000000h" is out of range: a duration holds at most 2562047h0m0s (about 292 years)`},
		{in: "-9999999999999999999s", wantErr: `duration "-9999999999999999999s" is out of range: a duration holds at most 2562047h0m0s (about 292 years)`},
		{in: "2562047h", want: 2562047 * time.Hour},
		// A duration's digits are decimal (no octal, as YAML's 010 is 8):
		// 010s is ten seconds, as written; a guard.
		{in: "010s", want: 10 * time.Second},
		{in: "1h05m", want: 65 * time.Minute},
		{in: "1h1", wantErr: `bad duration "1h1": use a Go duration such as 90s, 5m or 1h30m`},
		// Spaces inside quotes are not part of a duration, and do not make one out of range.
		{in: `" 1h"`, wantErr: `bad duration " 1h": use a Go duration such as 90s, 5m or 1h30m`},
	}
	for _, tt := range tests {
		var d policy.Duration
		err := yaml.Unmarshal([]byte(tt.in), &d)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || d.D() != tt.want {
			t.Errorf("%q: got %v, %v; want %v", tt.in, d.D(), err, tt.want)
		}
	}
}

func TestIdleSettingUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    policy.IdleSetting
		wantErr bool
	}{
		{in: "auto", want: policy.IdleSetting{Auto: true}},
		{in: "10m", want: policy.IdleSetting{Duration: 10 * time.Minute, Fixed: true}},
		{in: "0s", want: policy.IdleSetting{Fixed: true}},
		{in: "Auto", wantErr: true},
		{in: "never", wantErr: true},
	}
	for _, tt := range tests {
		var s policy.IdleSetting
		err := yaml.Unmarshal([]byte(tt.in), &s)
		if (err != nil) != tt.wantErr || (!tt.wantErr && s != tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v (error %v)", tt.in, s, err, tt.want, tt.wantErr)
		}
		if err == nil {
			out, _ := yaml.Marshal(s)
			var back policy.IdleSetting
			if err := yaml.Unmarshal(out, &back); err != nil || back != s {
				t.Errorf("%q: marshal round trip gave %q → %+v, %v", tt.in, out, back, err)
			}
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want it to wrap os.ErrNotExist", err)
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		fe   FieldError
		want string
	}{
		{FieldError{File: "a.yaml", Line: 3, Col: 7, Field: "cluster", Msg: "m"}, "a.yaml:3:7: cluster: m"},
		{FieldError{File: "a.yaml", Line: 3, Msg: "invalid YAML: x"}, "a.yaml:3: invalid YAML: x"},
		{FieldError{File: "a.yaml", Msg: "m"}, "a.yaml: m"},
	}
	for _, tt := range tests {
		if got := tt.fe.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestLongValuesShortened: an error repeats a long value (a script or a
// trace pasted into the wrong field, a trace given as the config) by its
// start and size, quoted or not, and a long message by its two ends.
// TestManyProblemsShownBounded: a config generated by a loop gone wrong
// (20,000 pools of one name, none with an offering) printed every one of
// its 39,998 problems, 5 MB of error for a 600 KB file; the first
// MaxShownProblems are printed and the rest counted, while the
// ValidationError still holds all of them.
func TestManyProblemsShownBounded(t *testing.T) {
	for _, tt := range []struct {
		pools, problems int
	}{
		{1, 0},
		{51, 100},
		{52, 102},
		{2000, 3998},
	} {
		t.Run(fmt.Sprint(tt.pools), func(t *testing.T) {
			yaml := "cluster: c\nproviders:\n  aws: {type: aws, region: us-east-1}\npools:\n" +
				"  - name: p\n    offerings: [{provider: aws, instance_type: p5.48xlarge}]\n" +
				strings.Repeat("  - name: p\n    offerings: []\n", tt.pools-1)
			_, err := Parse("gen.yaml", []byte(yaml))
			var verr *ValidationError
			if tt.problems == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.As(err, &verr) || len(verr.Errors) != tt.problems {
				t.Fatalf("got %d problems (%.200v), want %d", len(verr.Errors), err, tt.problems)
			}
			lines := strings.Split(err.Error(), "\n")
			if tt.problems <= MaxShownProblems {
				if len(lines) != tt.problems {
					t.Errorf("%d lines printed, want all %d problems", len(lines), tt.problems)
				}
				return
			}
			more := fmt.Sprintf("… and %d more problems (%d in all; the first %d are shown): mend these and validate again", tt.problems-MaxShownProblems, tt.problems, MaxShownProblems)
			if len(lines) != MaxShownProblems+1 || lines[MaxShownProblems] != more || lines[0] != verr.Errors[0].Error() || len(err.Error()) > 200*MaxShownProblems {
				t.Errorf("%d lines, %d bytes, ending %q; want the first %d problems and %q", len(lines), len(err.Error()), lines[len(lines)-1], MaxShownProblems, more)
			}
		})
	}
}

func TestLongValuesShortened(t *testing.T) {
	long := strings.Repeat("é", 100000)
	cases := []struct {
		name, yaml, want string
	}{
		{"quoted", "cluster: c\nproviders:\n  a: {type: aws, region: us-east-1}\npools:\n  - name: p\n    wait_target: " + strings.Repeat("9", 100000) + "\n",
			`pools[0].wait_target: "` + strings.Repeat("9", 60) + `…" (100000 bytes) is too long for a duration`},
		{"a trace as the config", "job_id,submission_time,duration,num_gpu\n" + strings.Repeat("a,1,1,1\n", 20000),
			`want a mapping with fields cluster, server, providers, pools, simulate, got "job_id,submission_time,duration,num_gpu a,1,1,1 a,1,1,1 a,1,…" (160039 bytes)`},
		{"multibyte", "cluster: " + long + "\n", "cluster: "},
	}
	for _, tt := range cases {
		_, err := Parse("x.yaml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > 2*maxShownMsg {
			msg := fmt.Sprint(err)
			t.Errorf("%s: %d bytes of error %.300q, want it to hold %q", tt.name, len(msg), msg, tt.want)
		}
		if err != nil && !utf8.ValidString(err.Error()) {
			t.Errorf("%s: the error is not valid UTF-8", tt.name)
		}
	}
	// A message long without its value is cut to its two ends.
	msg := FieldError{File: "x.yaml", Msg: "start " + strings.Repeat("é", 5000) + " end"}.Error()
	if len(msg) > maxShownMsg+100 || !strings.HasPrefix(msg, "x.yaml: start ") || !strings.HasSuffix(msg, " end") || !strings.Contains(msg, "bytes left out") || !utf8.ValidString(msg) {
		t.Errorf("a long message: %d bytes %.200q…", len(msg), msg)
	}
}

func TestEditDistanceSuggestion(t *testing.T) {
	names := []string{"max_gpus", "max_cost_per_hour", "budget"}
	for in, want := range map[string]string{"max_gpu": "max_gpus", "budgets": "budget", "colour": ""} {
		if got := Suggest(in, names); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: Parse never panics, reports problems only as a non-empty
// *ValidationError, and whatever it accepts survives a YAML round trip.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, "../configs/examples/spillway.yaml")
	for _, fn := range files {
		data, err := os.ReadFile(fn)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Errors) == 0 {
				t.Fatalf("error %T %v is not a non-empty *ValidationError", err, err)
			}
			return
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		again, err := Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("accepted config does not re-parse: %v\ninput:\n%s\nmarshalled:\n%s", err, data, out)
		}
		if !reflect.DeepEqual(withoutPositions(cfg), withoutPositions(again)) {
			t.Fatalf("round trip changed the config\ninput:\n%s\nmarshalled:\n%s", data, out)
		}
	})
}

func BenchmarkParseExample(b *testing.B) {
	data, err := configs.Examples.ReadFile("examples/spillway.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("spillway.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSpotProtectionByProviderType: an Alibaba spot offering cannot be
// reclaimed in its first hour (RunInstances' SpotDuration, left at its
// default), and the policy prices its reclaims only past it; other
// offerings have no protection.
func TestSpotProtectionByProviderType(t *testing.T) {
	cfg, err := Load("testdata/spot_protection.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{0, time.Hour, 0, 0}
	offs := cfg.Pools[0].Policy.Offerings
	if len(offs) != len(want) {
		t.Fatalf("%d offerings, want %d", len(offs), len(want))
	}
	for i, o := range offs {
		if o.SpotProtection.D() != want[i] {
			t.Errorf("offering %s: spot protection %s, want %s", o.Name, o.SpotProtection.D(), want[i])
		}
	}
}
