package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/utils/clock"

	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/config"
)

// TestServerWarnsItAcceptsNoTokenYet: a server whose tokens_file does not
// exist yet (the config allows it, as spillway token create makes it)
// started without a word, and refused every API call until the file
// appeared; it warns at start, naming the file, what is refused and the
// command that makes a token. A server without tokens_file warns too; one
// whose file exists does not, but one whose file holds no token (an
// empty file, made by hand) does: it started silently.
func TestServerWarnsItAcceptsNoTokenYet(t *testing.T) {
	_, cfgPath := startServerFixtures(t)
	missing := filepath.Join(t.TempDir(), "tokens.yaml")
	made := filepath.Join(t.TempDir(), "tokens.yaml")
	empty := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Add(made, "alice", tokens.Admin, clock.RealClock{}.Now(), nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file string
		anonymous  bool
		want       string // "": no warning of tokens
	}{
		{"missing", missing, false, "server.tokens_file " + missing + " does not exist yet: every API call is refused until it does; create a token with spillway token create --name NAME --role admin --file " + missing},
		{"missing, anonymous reads", missing, true, "every API call but anonymous reads is refused until it does"},
		{"unset", "", false, "server.tokens_file is not set, so the API accepts no token: every API call is refused"},
		{"empty", empty, false, "server.tokens_file " + empty + " holds no token yet: every API call is refused until it does; create a token with spillway token create --name NAME --role admin --file " + empty},
		{"made", made, false, ""},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, cfgPath)
			cfg.Server.TokensFile, cfg.Server.AnonymousRead = tt.file, tt.anonymous
			logs := startLogs(t, cfg)
			if tt.want == "" && strings.Contains(logs, "tokens_file") {
				t.Errorf("the server warns of its tokens file, which exists:\n%s", logs)
			}
			if tt.want != "" && (!strings.Contains(logs, tt.want) || !strings.Contains(logs, "level=WARN")) {
				t.Errorf("start-up logs lack the warning %q:\n%s", tt.want, logs)
			}
		})
	}
}

// startLogs is what the server of cfg logs as it starts, run under a
// context already done so that it stops at once.
func startLogs(t *testing.T, cfg *config.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	srv, err := newServer(context.Background(), cfg, serverDeps{log: slog.New(slog.NewTextHandler(&logs, nil)), clock: clock.RealClock{}, listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.run(ctx); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	return logs.String()
}
