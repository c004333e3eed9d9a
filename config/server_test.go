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

	"github.com/spillway-io/spillway/internal/fixture"
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
		Retention: policy.Duration(90 * 24 * time.Hour), LeaseTTL: policy.Duration(10 * time.Second), LeaseRenew: policy.Duration(2500 * time.Millisecond),
		MaxConnections: 256}
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
// in the working directory), state_password_file's too, absolute ones and
// DSNs are kept.
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
	ha := strings.Replace(body, "state/spillway.db", dsn+"\n  state_password_file: secrets/db-password", 1)
	cfg, err = Parse(path, []byte(ha))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.State != dsn || !cfg.Server.StateIsPostgres() {
		t.Errorf("state %q (postgres %v), want the DSN kept", cfg.Server.State, cfg.Server.StateIsPostgres())
	}
	// The server reads the password file (state/postgres.WithPasswordFile)
	// from the working directory: a relative one beside the config was
	// not found by a server started elsewhere (systemd's /).
	if want := filepath.Join(dir, "secrets", "db-password"); cfg.Server.StatePasswordFile != want {
		t.Errorf("state_password_file = %q, want %q", cfg.Server.StatePasswordFile, want)
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
	// Paths are resolved (absolute): shown relative to the package.
	abs, err2 := filepath.Abs("testdata")
	if err2 != nil {
		t.Fatal(err2)
	}
	checkGolden(t, "testdata/server_only.yaml.server.err", strings.ReplaceAll(err.Error(), abs, "testdata")+"\n")

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

// TestValidateForServerOpens: what the server opens when it starts (its
// listen address, its state file's place, its TLS key pair) is refused by
// ValidateForServer too, each at its field's place: every
// testdata/*.server.yaml against its .err file.
func TestValidateForServerOpens(t *testing.T) {
	files, err := filepath.Glob("testdata/*.server.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("found %v (%v), want the server's refusals covered", files, err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".server.yaml"), func(t *testing.T) {
			cfg, err := Load(f)
			if err != nil {
				t.Fatalf("the fixture must parse: %v", err)
			}
			err = cfg.ValidateForServer()
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			for _, fe := range verr.Errors {
				if fe.File != f || fe.Line <= 1 {
					t.Errorf("problem %q is not placed at its field", fe.Error())
				}
			}
			// The messages name the files as resolved (absolute): shown
			// here relative to the package, wherever it is checked out.
			abs, err2 := filepath.Abs("testdata")
			if err2 != nil {
				t.Fatal(err2)
			}
			checkGolden(t, f+".err", strings.ReplaceAll(err.Error(), abs, "testdata")+"\n")
		})
	}

	// --insecure-listen allows the public address; the state is still refused.
	cfg, err := Load("testdata/listen_public.server.yaml")
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.ValidateForServer(InsecureListen(true))
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Errors) != 1 || verr.Errors[0].Field != "server.state" {
		t.Errorf("with InsecureListen: %v, want the state's problem alone", err)
	}
	// --listen replaces the file's address: it is checked where applied.
	cfg.Server.State = filepath.Join(t.TempDir(), "spillway.db")
	if err := cfg.ValidateForServer(ListenFromFlag(true)); err != nil {
		t.Errorf("with ListenFromFlag: %v, want no problem", err)
	}
}

// TestValidateForServerTerraformBinary: without a terraform binary on
// PATH the server's terraform.New fails; ValidateForServer says so first,
// at the type of the terraform provider.
func TestValidateForServerTerraformBinary(t *testing.T) {
	module, err := filepath.Abs("testdata/tfmodules/contract")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spillway.yaml")
	body := fmt.Sprintf(`cluster: t
providers:
  tf:
    type: terraform
    module: %s
    zones: [us-east-1a]
    variables: {vpc_id: vpc-123}
pools:
  - name: p
    offerings: [{provider: tf, instance_type: gpu8, gpus: 8, price_per_hour: 10}]
    signals:
      demand:
        - type: command
          command: {command: [echo, "1"]}
`, module)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ValidateForServer(); err != nil {
		t.Fatalf("with terraform on PATH: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	err = cfg.ValidateForServer()
	var verr *ValidationError
	want := path + `:4:11: providers.tf.type: no terraform binary on PATH (exec: "terraform": executable file not found in $PATH): install Terraform 1.5 or later in a directory on the server's PATH`
	if !errors.As(err, &verr) || len(verr.Errors) != 1 || verr.Errors[0].Error() != want {
		t.Errorf("without terraform on PATH: %v\nwant %s", err, want)
	}
}

// TestTLSLoad: a key pair that loads, and which field each failure is.
func TestTLSLoad(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _, err := fixture.SelfSigned(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&TLS{CertFile: certFile, KeyFile: keyFile}).Load(); err != nil {
		t.Fatalf("a good pair: %v", err)
	}
	for _, tc := range []struct {
		name       string
		cert, key  string
		field      string
		notExist   bool
		errContain string
	}{
		{name: "no cert", cert: filepath.Join(dir, "nope.crt"), key: keyFile, field: "cert_file", notExist: true},
		{name: "no key", cert: certFile, key: filepath.Join(dir, "nope.key"), field: "key_file", notExist: true},
		{name: "neither", cert: filepath.Join(dir, "nope.crt"), key: filepath.Join(dir, "nope.key"), field: "cert_file", notExist: true, errContain: "server.tls.key_file: the private key cannot be read"},
		{name: "a directory", cert: dir, key: keyFile, field: "cert_file", errContain: "is a directory"},
		{name: "swapped", cert: keyFile, key: certFile, field: "", errContain: "want a PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&TLS{CertFile: tc.cert, KeyFile: tc.key}).Load()
			var te *TLSError
			if !errors.As(err, &te) || te.Field != tc.field {
				t.Fatalf("Load = %v, want a *TLSError of field %q", err, tc.field)
			}
			if tc.notExist && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%v does not wrap os.ErrNotExist", err)
			}
			if !strings.Contains(err.Error(), tc.errContain) {
				t.Errorf("%v does not say %q", err, tc.errContain)
			}
		})
	}
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		addr        string
		tls, insec  bool
		ok          bool
		errContains string
		insecure    bool // the refusal wraps ErrInsecureListen
	}{
		{addr: "127.0.0.1:8700", ok: true},
		{addr: "[::1]:8700", ok: true},
		{addr: "localhost:8700", ok: true},
		{addr: "127.8.9.10:8700", ok: true},
		{addr: "0.0.0.0:8700", errContains: `listen address "0.0.0.0:8700" (0.0.0.0) is not loopback and server.tls is not set`, insecure: true},
		{addr: ":8700", errContains: "(every interface)", insecure: true},
		{addr: "10.1.2.3:8700", errContains: "pass --insecure-listen", insecure: true},
		{addr: "10.1.2.3:8700", tls: true, ok: true},
		{addr: "10.1.2.3:8700", insec: true, ok: true},
		{addr: "[::ffff:127.0.0.1]:8700", ok: true},
		{addr: "example:8700", errContains: `host "example" is not an IP address or localhost`},
		{addr: "nonexistent.invalid:8700", tls: true, errContains: `host "nonexistent.invalid" is not an IP address or localhost`},
		{addr: "127.0.0.1", errContains: "is not host:port"},
		{addr: "127.0.0.1:0", ok: true},
		{addr: "127.0.0.1:99999", errContains: `port "99999" is not a port number: want 1 to 65535, or 0 for a free port`},
		{addr: "127.0.0.1:-1", errContains: `port "-1" is not a port number`},
		{addr: "127.0.0.1:http", errContains: `port "http" is not a port number`},
	} {
		err := CheckListen(tc.addr, tc.tls, tc.insec)
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errContains)) {
			t.Errorf("CheckListen(%q, tls=%v, insecure=%v) = %v, want %q", tc.addr, tc.tls, tc.insec, err, tc.errContains)
		}
		if errors.Is(err, ErrInsecureListen) != tc.insecure {
			t.Errorf("%q: %v: wraps ErrInsecureListen %v, want %v", tc.addr, err, !tc.insecure, tc.insecure)
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
		{tmpl: strings.Repeat("x", 10000) + `{{printf "%060000d" 1}}`, wantErr: "the output is longer than 65536 bytes"},
		// printf builds its result before it is written: formats that
		// would build more than a template may produce are refused
		// before it runs, however they are written.
		{tmpl: `{{printf "%0900000d" 1}}`, wantErr: "widths and precisions of the formats add up to more than 65536"},
		{tmpl: `{{printf "%s%s" (printf "%040000d" 1) (printf "%040000.40000f" 1.0)}}`, wantErr: "add up to more than 65536"},
		{tmpl: `{{if printf "%0999999d" 1}}x{{end}}`, wantErr: "add up to more than 65536"},
		{tmpl: `{{printf "%0*d" 999999 1}}`, wantErr: "taken from an argument (*) is not allowed"},
		{tmpl: `{{printf (printf "%%0%dd" 999999) 1}}`, wantErr: "printf takes its format as text in quotes"},
		{tmpl: `{{"%0999999d" | printf}}`, wantErr: "add up to more than 65536"},
		{tmpl: `{{.Zone | printf}}-{{printf .Pool}}-{{printf "%05d|%-4s|%%" 42 "ab"}}`, want: "us-east-1a-training-00042|ab  |%"},
		// js doubles backslashes: chained, what it builds grows
		// exponentially unless bounded, however the chain is written
		// (22 times: 16 MiB, which a regression would still survive).
		{tmpl: `{{"\\\\" ` + strings.Repeat("| js ", 22) + `}}`, wantErr: "functions build more than 262144 bytes"},
		{tmpl: `{{$a := js "\\\\"}}` + strings.Repeat(`{{$a = js $a}}`, 22) + `{{len $a}}`, wantErr: "functions build more than 262144 bytes"},
		{tmpl: strings.Repeat(`{{with js "\\\\"}}`, 1) + strings.Repeat(`{{with js .}}`, 22) + strings.Repeat(`{{end}}`, 23), wantErr: "functions build more than 262144 bytes"},
		{tmpl: `{{urlquery .Name}}&{{html "<b>"}}&{{js "a'b"}}&{{print 1 "x"}}`, want: `burst-7&&lt;b&gt;&a\'b&1x`},
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

// TestValidateForServerChecksTerraformsVersion: a module whose
// required_version the terraform on PATH does not meet is refused at the
// provider's module key (its every init would fail). The message names the
// binary and its version, so it is matched here, not against a golden.
func TestValidateForServerChecksTerraformsVersion(t *testing.T) {
	cfg, err := Load("testdata/tf_version.yaml")
	if err != nil {
		t.Fatalf("the fixture must parse: %v", err)
	}
	err = cfg.ValidateForServer()
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Errors) != 1 {
		t.Fatalf("ValidateForServer = %v, want one problem", err)
	}
	fe := verr.Errors[0]
	if fe.Field != "providers.tf.module" || fe.Line != 8 || !strings.Contains(fe.Error(), "requires Terraform >= 1.5.0, >= 99.0 (its required_version), and ") {
		t.Errorf("problem %q at %s line %d, want the unmet required_version at providers.tf.module, line 8", fe.Error(), fe.Field, fe.Line)
	}
}

// TestValidateForServerStopsWithItsContext: the Terraform version check
// runs on the caller's context, so Ctrl-C during start-up or validate
// ends it instead of waiting out its own bound.
func TestValidateForServerStopsWithItsContext(t *testing.T) {
	cfg, err := Load("testdata/tf_version.yaml")
	if err != nil {
		t.Fatalf("the fixture must parse: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = cfg.ValidateForServer(Context(ctx))
	if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Errorf("ValidateForServer on a cancelled context = %v, want the version check cut short", err)
	}
}

// TestCheckStatePath: a state file already there must be a SQLite
// database, not empty; the server would otherwise fail to open it with
// SQLite's "file is not a database" or "disk I/O error", or refuse the
// empty file (exit 1), instead of a config error at server.state.
func TestCheckStatePath(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct{ path, err string }{
		{filepath.Join(dir, "new.db"), ""},
		{file("empty.db", ""), "is empty (0 bytes"},
		{file("real.db", "SQLite format 3\x00\x10\x00"), ""},
		{file("config.db", "cluster: t\n"), `is not a SQLite database (it does not start with "SQLite format 3")`},
		{file("short.db", "SQL"), "is not a SQLite database"},
		{"/dev/null", "/dev/null is not a regular file"},
		{dir, "is a directory"},
		{filepath.Join(dir, "none", "s.db"), "of the state file does not exist"},
		// sysfs takes no new file, even from root (as a folder without
		// write permission does from the user the server runs as).
		{"/sys/spillway.db", "the server cannot make files in /sys, the folder of the state file"},
	} {
		err := CheckStatePath(tc.path)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("CheckStatePath(%s) = %v, want %q", tc.path, err, tc.err)
		}
	}
}

// TestListenFileAndFlagAgree: server.listen in the file and spillway
// server --listen take the same ports: the file refused port 0, which the
// flag takes (a free port picked at start: a dry run beside a server that
// holds 8700, and the tests).
func TestListenFileAndFlagAgree(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.1:8700", "[::1]:0", "localhost:1", "127.0.0.1:65535", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:x"} {
		t.Run(addr, func(t *testing.T) {
			data := strings.Replace(mustReadFile(t, "testdata/minimal.good.yaml"), "cluster: test\n", "cluster: test\nserver:\n  listen: \""+addr+"\"\n", 1)
			_, fileErr := Parse("listen.yaml", []byte(data))
			flagErr := CheckListen(addr, false, true)
			if (fileErr == nil) != (flagErr == nil) {
				t.Fatalf("server.listen %q: %v; --listen %q: %v; want both taken or both refused", addr, fileErr, addr, flagErr)
			}
		})
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStateDSNPasswordNotShown: a server.state refused by Parse is
// quoted without its password, given after USER: or as password=, also
// when it does not parse as a URL.
func TestStateDSNPasswordNotShown(t *testing.T) {
	for _, tt := range []struct{ state, shown string }{
		{"postgres:///spillway?password=hunter2&port=99999", `"postgres:///spillway?password=xxxxx&port=99999"`},
		{"postgres://spillway:hunter2@[::1", `"postgres://spillway:xxxxx@[::1"`},
		{"postgres://spillway:hun@ter2@[::1/db?sslmode=require&PASSWORD=hunter2", `"postgres://spillway:xxxxx@[::1/db?sslmode=require&PASSWORD=xxxxx"`},
		{"mysql://root:hunter2@db/spillway", `"mysql://root:xxxxx@db/spillway"`},
		{"postgres://", `"postgres://"`},
	} {
		_, err := Parse("x.yaml", []byte("server: {state: \""+tt.state+"\"}\n"))
		if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ter2") || !strings.Contains(err.Error(), tt.shown) {
			t.Errorf("state %q: got\n%v\nwant it shown as %s", tt.state, err, tt.shown)
		}
	}
}

// TestStateDSNForms: server.state takes the PostgreSQL URLs the state
// opens (pgx's), Unix sockets included, and refuses those it cannot.
func TestStateDSNForms(t *testing.T) {
	for _, tt := range []struct {
		state string
		ok    bool
	}{
		{"postgres://spillway@db.internal:5432/spillway?sslmode=verify-full", true},
		{"postgres://spillway@/spillway?host=/var/run/postgresql", true},
		{"postgres:///spillway?host=/run/postgresql", true},
		{"postgres:///spillway", true}, // pgx's default socket
		{"postgresql://spillway@[::1]:5432/spillway", true},
		{"postgres://", false},
		{"postgres://spillway@db.internal:99999/spillway", false},
		{"postgres://spillway@db.internal:5432/spillway?sslmode=maybe", false},
	} {
		t.Run(tt.state, func(t *testing.T) {
			data := strings.Replace(mustReadFile(t, "testdata/minimal.good.yaml"), "cluster: test\n", "cluster: test\nserver:\n  state: \""+tt.state+"\"\n", 1)
			_, err := Parse("state.yaml", []byte(data))
			if (err == nil) != tt.ok {
				t.Fatalf("server.state %q: %v; want taken %v", tt.state, err, tt.ok)
			}
		})
	}
}

// TestStateDSNCause: a well-formed server.state that pgx refuses is
// refused with pgx's reason (a CA file it cannot read, a parameter it does
// not take), not only the DSN's forms, which it already has; the password
// is not shown. An sslmode pgx does not take (its reason: "sslmode is
// invalid", beside the DSN's forms) is told the six it takes.
func TestStateDSNCause(t *testing.T) {
	for _, tt := range []struct{ state, want string }{
		{"postgres://spillway@db.internal:5432/spillway?sslmode=maybe&password=hunter2", `sslmode "maybe" is not one PostgreSQL takes: want disable, allow, prefer, require, verify-ca, verify-full`},
		{"postgres://spillway:hunter2@db.internal:5432/spillway?sslmode=Require", `sslmode "Require" is not one PostgreSQL takes (did you mean "require"?): want disable, allow, prefer, require, verify-ca, verify-full`},
		{"postgres://spillway@db.internal:5432/spillway?sslmode=verify_full", `(did you mean "verify-full"?)`},
		{"postgres://spillway:hunter2@db.internal:5432/spillway?connect_timeout=soon", "invalid connect_timeout"},
	} {
		t.Run(tt.state, func(t *testing.T) {
			data := strings.Replace(mustReadFile(t, "testdata/minimal.good.yaml"), "cluster: test\n", "cluster: test\nserver:\n  state: \""+tt.state+"\"\n", 1)
			_, err := Parse("state.yaml", []byte(data))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("server.state %q: got\n%v\nwant it refused saying %q, without the password", tt.state, err, tt.want)
			}
		})
	}
}

// TestStateDSNFiles: the files a postgres:// state names (its CA
// certificate here) are read by the server's checks, which name a missing
// one without the password, and not when a config is only parsed (as in
// CI, where the server's files are not).
func TestStateDSNFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ca.pem")
	dsn := "postgres://spillway:hunter2@db.internal:5432/spillway?sslmode=verify-full&sslrootcert=" + missing
	data := strings.Replace(mustReadFile(t, "testdata/minimal.good.yaml"), "cluster: test\n", "cluster: test\nserver:\n  state: \""+dsn+"\"\n", 1)
	if _, err := Parse("state.yaml", []byte(data)); err != nil {
		t.Fatalf("parsing a config whose state names a CA file not here: %v, want it taken", err)
	}
	err := CheckStateDSN(dsn)
	if err == nil || !strings.Contains(err.Error(), missing) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("CheckStateDSN: %v, want it refused naming %s, without the password", err, missing)
	}
}
