package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spillway-io/spillway/internal/fixture"
)

// TestServerStateDSNRefused: spillway server with a PostgreSQL DSN the
// database refuses (a wrong password, a missing database, TLS the server
// does not offer) or cannot use (a bad sslmode) ends at once, non-zero,
// with one line that names the DSN (its password hidden), what is wrong
// and what to do; no stack trace, no minute of retries. Before, the line
// was pgx's error three layers deep under "migrate DSN".
func TestServerStateDSNRefused(t *testing.T) {
	pg, db := postgresDatabase(t, "dsn")
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		dsn  string
		code int
		want []string
	}{
		{"a wrong password", strings.Replace(pg.DSN(db), fixture.PostgresPassword, "wrong-secret", 1), 1,
			[]string{"spillway: server.state postgres://postgres:xxxxx@" + pg.Addr + "/" + db + "?sslmode=disable: cannot connect to database", "the database refused the password; give the user's password in the DSN, PGPASSWORD, a pgpass file or server.state_password_file"}},
		{"a missing database", pg.DSN("nosuch"), 1,
			[]string{`cannot connect to database "nosuch"`, `the database does not exist; create it (CREATE DATABASE "nosuch" OWNER "postgres")`}},
		{"TLS the server does not offer", strings.Replace(pg.DSN(db), "sslmode=disable", "sslmode=verify-full", 1), 1,
			[]string{"TLS could not be set up (sslmode=verify-full asks for it; a server with ssl off refuses it); turn ssl on"}},
		{"a bad sslmode", strings.Replace(pg.DSN(db), "sslmode=disable", "sslmode=on", 1), exitUsage,
			[]string{"server.state: bad PostgreSQL DSN", `sslmode "on" is not one PostgreSQL takes: want disable, allow, prefer, require, verify-ca, verify-full`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "spillway.yaml")
			if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`cluster: dsn
server:
  listen: 127.0.0.1:0
  state: %s
providers:
  emu:
    type: aws
    region: us-east-1
    endpoint: http://127.0.0.1:1
    subnets: [{zone: us-east-1a, id: subnet-us-east-1a}]
    image: ami-0123456789abcdef0
pools:
  - name: train
    onprem: {nodes: 1, gpus_per_node: 8}
    offerings:
      - provider: emu
        instance_type: p4d.24xlarge
    limits: {max_gpus: 16}
    signals:
      demand:
        - type: http
          http: {url: "http://127.0.0.1:1/q", job_gpus: job_gpus}
`, tc.dsn)), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stderr := spillwayCLI(t, dir, nil, []string{"PGPASSWORD=", "PGPASSFILE=" + filepath.Join(dir, "none")}, "server", "--config", cfg)
			if code != tc.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want the one that says why:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("stderr: %s\nwant it to say: %s", lines[0], w)
				}
			}
			if strings.Contains(stderr, "wrong-secret") || strings.Contains(stderr, fixture.PostgresPassword) || strings.Contains(stderr, "goroutine") {
				t.Errorf("stderr shows the password or a stack: %s", stderr)
			}
		})
	}
}
