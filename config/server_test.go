package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checkGolden compares got with the file golden, or rewrites it with -update.
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("messages differ from %s\n got:\n%s\nwant:\n%s", golden, got, want)
	}
}

// TestServerAndPoolDefaults: a config without server, join and drain
// sections gets the documented defaults, and a relative state path lands
// beside the config file.
func TestServerAndPoolDefaults(t *testing.T) {
	cfg, err := Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	state, err := filepath.Abs("testdata/spillway.db")
	if err != nil {
		t.Fatal(err)
	}
	want := Server{Listen: "127.0.0.1:8700", State: state, Tick: policy.Duration(10 * time.Second), SweepGrace: policy.Duration(10 * time.Minute),
		Retention: policy.Duration(90 * 24 * time.Hour), LeaseTTL: policy.Duration(10 * time.Second), LeaseRenew: policy.Duration(2500 * time.Millisecond)}
	if cfg.Server != want {
		t.Errorf("server\n got %+v\nwant %+v", cfg.Server, want)
	}
	p := cfg.Pools[0]
	if p.Join != (Join{AgentURL: "http://{{.PrivateIP}}:9401", Timeout: policy.Duration(10 * time.Minute)}) {
		t.Errorf("join = %+v", p.Join)
	}
	if !reflect.DeepEqual(p.Drain, Drain{Timeout: policy.Duration(30 * time.Second)}) {
		t.Errorf("drain = %+v, want no hook with a 30s timeout", p.Drain)
	}
	if p.Signals != nil || p.UserData != "" {
		t.Errorf("signals %+v, user_data %q: want none", p.Signals, p.UserData)
	}
	if cfg.Server.StateIsPostgres() {
		t.Errorf("state %q taken for PostgreSQL", cfg.Server.State)
	}
}

// TestPathsResolved: relative paths are read beside the config file (not
// in the working directory), absolute ones and DSNs are kept.
func TestPathsResolved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spillway.yaml")
	const body = `cluster: t
server:
  state: state/spillway.db
  tokens_file: /etc/spillway/tokens.yaml
  tls: {cert_file: tls/server.crt, key_file: server.key}
providers:
  aws: {type: aws, region: us-east-1}
pools:
  - name: p
    offerings: [{provider: aws, instance_type: p5.48xlarge}]
    signals:
      baseline:
        agents: {targets_file: agents.json}
      demand:
        - type: command
          command: {command: [echo, "1"]}
    drain:
      http: {url: "http://127.0.0.1:8080/drain/{{.Name}}"}
`
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	for _, tc := range []struct{ field, got, want string }{
		{"state", s.State, filepath.Join(dir, "state", "spillway.db")},
		{"tokens_file", s.TokensFile, "/etc/spillway/tokens.yaml"},
		{"tls.cert_file", s.TLS.CertFile, filepath.Join(dir, "tls", "server.crt")},
		{"tls.key_file", s.TLS.KeyFile, filepath.Join(dir, "server.key")},
		{"targets_file", cfg.Pools[0].Signals.Baseline.Agents.TargetsFile, filepath.Join(dir, "agents.json")},
		{"drain.http.method", cfg.Pools[0].Drain.HTTP.Method, "POST"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.field, tc.got, tc.want)
		}
	}

	const dsn = "postgres://spillway@127.0.0.1:5432/spillway?sslmode=disable"
	cfg, err = Parse(path, []byte(strings.Replace(body, "state/spillway.db", dsn, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.State != dsn || !cfg.Server.StateIsPostgres() {
		t.Errorf("state %q (postgres %v), want the DSN kept", cfg.Server.State, cfg.Server.StateIsPostgres())
	}
}

// TestValidateForServer: what Parse accepts for a backtest, the server
// refuses, naming every pool without signals and every provider it could
// not launch through, each at its place in the file.
func TestValidateForServer(t *testing.T) {
	cfg, err := Load("testdata/server_only.yaml")
	if err != nil {
		t.Fatalf("a backtest config must parse: %v", err)
	}
	err = cfg.ValidateForServer()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	checkGolden(t, "testdata/server_only.yaml.server.err", err.Error()+"\n")

	for _, f := range []string{"../configs/examples/spillway.yaml", "../configs/examples/emulator.yaml"} {
		cfg, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.ValidateForServer(); err != nil {
			t.Errorf("%s is meant to run a server: %v", f, err)
		}
	}
}

// TestBuildSignals builds a pool's sources and reads its demand through the
// real command source; the set carries the pool's policy for signals.Read.
func TestBuildSignals(t *testing.T) {
	cfg, err := Load("testdata/signals.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := &cfg.Pools[0]
	set, err := p.BuildSignals()
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if !reflect.DeepEqual(set.Pool, p.Policy) || set.Baseline != nil || len(set.Demands) != 1 {
		t.Fatalf("set: pool %+v, baseline %v, %d demands", set.Pool, set.Baseline, len(set.Demands))
	}
	d, err := set.Demands[0].Demand(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if set.Demands[0].Name() != "depth" || d.PendingJobs != 2 || d.PendingGPUs != 12 {
		t.Errorf("%s read %+v, want 2 jobs of 12 GPUs", set.Demands[0].Name(), d)
	}

	cfg, err = Load("testdata/minimal.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Pools[0].BuildSignals(); !errors.Is(err, ErrNoSignals) {
		t.Errorf("pool without signals: %v, want ErrNoSignals", err)
	}
}

// TestBuildSignalsErrors: problems only building finds are reported all at
// once, each at its source's place in the file.
func TestBuildSignalsErrors(t *testing.T) {
	cfg, err := Load("testdata/build.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set, err := cfg.Pools[0].BuildSignals()
	if set != nil {
		set.Close()
		t.Fatal("BuildSignals returned a set along with errors")
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	checkGolden(t, "testdata/build.yaml.build.err", err.Error()+"\n")
}

func TestRender(t *testing.T) {
	f := InstanceFields{ID: "i-0abc", Name: "burst-7", PrivateIP: "127.0.0.7", Zone: "us-east-1a", InstanceType: "p5.48xlarge",
		Provider: "aws", Region: "us-east-1", Pool: "training", Cluster: "acme", Burst: "b-42"}
	for _, tc := range []struct{ tmpl, want, wantErr string }{
		{tmpl: DefaultAgentURL, want: "http://127.0.0.7:9401"},
		{tmpl: "nodename={{.Name}}", want: "nodename=burst-7"},
		{tmpl: "{{.Cluster}}/{{.Pool}}/{{.Burst}} {{.ID}} {{.Zone}} {{.InstanceType}} {{.Provider}} {{.Region}}",
			want: "acme/training/b-42 i-0abc us-east-1a p5.48xlarge aws us-east-1"},
		{tmpl: "plain", want: "plain"},
		{tmpl: "{{.Hostname}}", wantErr: `can't evaluate field Hostname`},
		{tmpl: "{{.Name", wantErr: `template "{{.Name": `},
		{tmpl: `{{printf "%0900000d" 1}}`, wantErr: "the output is longer than 65536 bytes"},
		{tmpl: "{{range 3}}x{{end}}", wantErr: "range is not allowed"},
	} {
		got, err := Render(tc.tmpl, f)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Render(%q) = %q, %v; want an error saying %q", tc.tmpl, got, err, tc.wantErr)
			}
		case err != nil || got != tc.want:
			t.Errorf("Render(%q) = %q, %v; want %q", tc.tmpl, got, err, tc.want)
		}
	}
}

func TestUserDataTemplate(t *testing.T) {
	pc := ProviderConfig{UserData: "provider's"}
	if got := (&Pool{}).UserDataTemplate(pc); got != "provider's" {
		t.Errorf("pool without user_data: %q", got)
	}
	if got := (&Pool{UserData: "pool's"}).UserDataTemplate(pc); got != "pool's" {
		t.Errorf("pool with user_data: %q", got)
	}
}

// BenchmarkRender: the scheduler renders a join URL per instance per tick.
func BenchmarkRender(b *testing.B) {
	f := InstanceFields{PrivateIP: "127.0.0.7"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(DefaultAgentURL, f); err != nil {
			b.Fatal(err)
		}
	}
}

// TestJoinTimeoutDefault: a pool's join.timeout defaults to three boots of
// its slowest offering, at least 10m; one given is kept.
func TestJoinTimeoutDefault(t *testing.T) {
	for _, tt := range []struct {
		name, boots, join string
		want              time.Duration
	}{
		{name: "no boots", want: 10 * time.Minute},
		{name: "fast boots", boots: "3m,2m", want: 10 * time.Minute},
		{name: "slowest 6m", boots: "4m,6m", want: 18 * time.Minute},
		{name: "a slow image", boots: "25m", want: 75 * time.Minute},
		{name: "given", boots: "6m", join: "12m", want: 12 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("cluster: t\nproviders:\n  aws: {type: aws, region: us-east-1}\npools:\n  - name: a\n    offerings:\n")
			for i, boot := range strings.Split(tt.boots, ",") {
				fmt.Fprintf(&b, "      - {provider: aws, instance_type: t%d, gpus: 8, price_per_hour: 8", i)
				if boot != "" {
					fmt.Fprintf(&b, ", boot: %s", boot)
				}
				b.WriteString("}\n")
			}
			if tt.join != "" {
				fmt.Fprintf(&b, "    join: {timeout: %s}\n", tt.join)
			}
			cfg, err := Parse("join.yaml", []byte(b.String()))
			if err != nil {
				t.Fatalf("%v in\n%s", err, b.String())
			}
			if got := cfg.Pools[0].Join.Timeout.D(); got != tt.want {
				t.Errorf("join.timeout %s, want %s", got, tt.want)
			}
		})
	}
}
