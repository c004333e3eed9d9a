package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
)

// TestOperatorCLIExpiredCertificate: a server whose TLS certificate has
// expired (or is not valid yet) is reported with the certificate's dates,
// this machine's time and who must act (renew server.tls.cert_file, or fix
// the clock), not with the advice for an untrusted CA or a wrong name,
// which would send an on-call engineer the wrong way.
func TestOperatorCLIExpiredCertificate(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name                string
		notBefore, notAfter time.Time
		want                string
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour),
			"its TLS certificate (CN=spillway.example) expired at " + now.Add(-24*time.Hour).UTC().Format(time.RFC3339)},
		{"not yet valid", now.Add(24 * time.Hour), now.Add(48 * time.Hour),
			"its TLS certificate (CN=spillway.example) is not valid until " + now.Add(24*time.Hour).UTC().Format(time.RFC3339)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewUnstartedServer(http.NotFoundHandler())
			ts.TLS = &tls.Config{Certificates: []tls.Certificate{testCert(t, tc.notBefore, tc.notAfter)}}
			ts.StartTLS()
			defer ts.Close()
			t.Setenv("SPILLWAY_TOKEN", "spw_x")
			_, _, err := runCLI(t, "status", "--server", ts.URL)
			if err == nil {
				t.Fatal("status against an expired certificate: no error")
			}
			msg := err.Error()
			for _, want := range []string{tc.want, "renew the certificate (server.tls.cert_file)", "this machine's clock"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q:\n%s", want, msg)
				}
			}
			for _, wrong := range []string{"running there", "trust the CA"} {
				if strings.Contains(msg, wrong) {
					t.Errorf("error says %q, which does not help with a certificate's dates:\n%s", wrong, msg)
				}
			}
		})
	}
}

// testCert is a self-signed certificate for 127.0.0.1, valid from
// notBefore to notAfter (whole seconds, as x509 keeps them).
func testCert(t *testing.T, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "spillway.example"},
		NotBefore: notBefore, NotAfter: notAfter,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestOperatorCLIServerURL: a --server URL with a path gets, with the 404
// no Spillway answered, the URL to use instead; one with a query, a
// fragment or a user is refused before any call (the client would drop
// the first two and send the user beside the token), exit 2.
func TestOperatorCLIServerURL(t *testing.T) {
	url, toks := opServer(t)
	t.Setenv("SPILLWAY_TOKEN", toks["viewer"])
	for _, tc := range []struct {
		server string
		args   []string
		usage  bool
		want   string
	}{
		{url + "/api", []string{"status"}, false,
			"--server " + url + "/api has a path, /api: spillway server serves its API at the root of its address; use --server " + url + ", unless a proxy serves it under /api"},
		{url + "/spillway/", []string{"burst", "list"}, false, "use --server " + url + ", unless a proxy serves it under /spillway/"},
		{url + "/?pool=training", []string{"status"}, true, `--server "` + url + `/?pool=training" has a query, fragment or user: give the server's URL alone, e.g. ` + url + "/"},
		{url + "#x", []string{"instances"}, true, "has a query, fragment or user"},
		{strings.Replace(url, "http://", "http://ops:secret@", 1), []string{"status"}, true, "give the server's URL alone, e.g. " + url + " (the token goes in SPILLWAY_TOKEN or --token-file)"},
	} {
		_, _, err := runCLI(t, append(tc.args, "--server", tc.server)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v --server %s: %v\nwant it to say %q", tc.args, tc.server, err, tc.want)
			continue
		}
		var ue *usageError
		if got := errors.As(err, &ue); got != tc.usage {
			t.Errorf("%v --server %s: usage error (exit 2) %v, want %v", tc.args, tc.server, got, tc.usage)
		}
	}
	// The root, with or without its slash, works.
	for _, s := range []string{url, url + "/"} {
		if out, _, err := runCLI(t, "status", "--server", s); err != nil || !strings.Contains(out, "training") {
			t.Errorf("status --server %s: %v\n%s", s, err, out)
		}
	}
}

// TestPolicyValidateServerCertificateDates: validate --server warns of a
// server.tls certificate that has expired or is not valid yet (every
// client would refuse it) with its dates, and still passes the file: the
// server starts with it, so that its ticks still end bursts.
func TestPolicyValidateServerCertificateDates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for _, tc := range []struct {
		name                string
		notBefore, notAfter time.Time
		want                string
	}{
		{"valid", now.Add(-time.Hour), now.Add(time.Hour), ""},
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour),
			"the certificate expired at " + now.Add(-24*time.Hour).UTC().Format(time.RFC3339)},
		{"not yet valid", now.Add(24 * time.Hour), now.Add(48 * time.Hour),
			"the certificate is not valid until " + now.Add(24*time.Hour).UTC().Format(time.RFC3339)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certFile, keyFile := writeTestCert(t, dir, tc.notBefore, tc.notAfter)
			data, err := os.ReadFile("../../configs/examples/emulator.yaml")
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Replace(string(data), "server:\n", "server:\n  tls: {cert_file: "+certFile+", key_file: "+keyFile+"}\n", 1)
			cfgPath := filepath.Join(dir, "spillway.yaml")
			if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errOut, err := runPolicyCmd(t, "validate", "--server", cfgPath)
			if err != nil {
				t.Fatalf("validate --server: %v\n%s", err, errOut)
			}
			got := strings.Contains(out, "warning: server.tls.cert_file "+certFile+": ")
			switch {
			case tc.want == "" && got:
				t.Errorf("a valid certificate is warned of:\n%s", out)
			case tc.want != "" && !strings.Contains(out, tc.want):
				t.Errorf("stdout lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

// writeTestCert writes testCert's pair as PEM files into dir.
func writeTestCert(t *testing.T, dir string, notBefore, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	c := testCert(t, notBefore, notAfter)
	kb, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: c.Certificate[0]}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kb}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// TestTokenCreateFileKinds: token create rewrites the tokens file whole
// and renames it into place, so --file must be a regular file: a device,
// a socket or a directory is refused (exit 2) and left as it was
// (--file /dev/null run as root replaced the system's /dev/null), and a
// link is followed: the file it names gets the token and the link stays.
func TestTokenCreateFileKinds(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "tokens.yaml")
	if _, _, err := runCLI(t, "token", "create", "--name", "first", "--role", "viewer", "--file", real); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, "token", "create", "--name", "second", "--role", "viewer", "--file", link); err != nil {
		t.Fatalf("token create through a link: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link %s was replaced: %v, %v", link, fi.Mode(), err)
	}
	if data, err := os.ReadFile(real); err != nil || !strings.Contains(string(data), "second") {
		t.Errorf("the file the link names lacks the token: %v\n%s", err, data)
	}

	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dangling := filepath.Join(dir, "dangling.yaml")
	if err := os.Symlink(filepath.Join(dir, "missing", "t.yaml"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{sock, "--file " + sock + " is a socket, not a regular file: give the tokens file (server.tokens_file)"},
		{dir, "--file " + dir + " is a directory, not a regular file"},
		{dangling, "--file " + dangling + " is a link to a file that does not exist"},
	} {
		_, _, err := runCLI(t, "token", "create", "--name", "third", "--role", "viewer", "--file", tc.file)
		var ue *usageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ue) {
			t.Errorf("--file %s: %v, want a usage error saying %q", tc.file, err, tc.want)
		}
	}
	if fi, err := os.Lstat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the socket was replaced: %v, %v", fi.Mode(), err)
	}
}

// silentServer is the URL of a listener on loopback that takes every
// connection and never answers (a hung server), until the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }() // hold it, answer nothing
		}
	}()
	return "http://" + l.Addr().String()
}

// TestExplainNoAnswer: a server address that takes the connection and
// never answers (a hung server, another program) is not reported as one
// that may not be running: the message says it connected and how to tell
// which. The real client, with a short timeout, against a real listener.
func TestExplainNoAnswer(t *testing.T) {
	url := silentServer(t)
	c, err := api.NewClient(url, "spw_x", &http.Client{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(context.Background())
	f := &apiFlags{server: url, token: "spw_x"}
	msg := f.explain(err).Error()
	if want := "Nothing answered " + url + " in time: a hung or overloaded spillway server (its log says which), another program on that port, or a firewall that drops packets; curl -m 5 " + url + "/healthz tells which"; !strings.Contains(msg, want) {
		t.Errorf("explain: %s\nwant it to say %q", msg, want)
	}
	if strings.Contains(msg, "running there") {
		t.Errorf("explain asks whether a server that took the connection is running: %s", msg)
	}
}

// TestWaitNoticeWhenTheTimeoutComesFirst: a request cut off at --timeout
// has its wait named on stderr whichever of the notice's timer and the
// request's end its goroutine sees first. Run late (a loaded machine), it
// found both come and picked one at random: half the time the command
// waited its whole --timeout with nothing said (TestTimeoutFlag's stderr
// empty). A request ended before the notice was due (an interrupt) says
// nothing.
func TestWaitNoticeWhenTheTimeoutComesFirst(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  bool
	}{
		{"the timer and the end both come", time.Nanosecond, true},
		{"ended before the notice is due", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 50 {
				var out strings.Builder // written before RoundTrip returns
				n := &waitNotice{next: untilCancelled{}, after: tc.after, timeout: time.Second, w: &out}
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // ended when the notice's goroutine first runs
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://spillway.invalid/v1/status", nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := n.RoundTrip(req); !errors.Is(err, context.Canceled) {
					t.Fatalf("RoundTrip: %v, want the request's end", err)
				}
				if said := out.String(); (said != "") != tc.want {
					t.Fatalf("try %d of 50: stderr %q, want a notice: %v", i+1, said, tc.want)
				}
			}
		})
	}
}

// untilCancelled is a transport whose requests are answered only by
// their context's end.
type untilCancelled struct{}

func (untilCancelled) RoundTrip(r *http.Request) (*http.Response, error) {
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestTimeoutFlag: a server that takes the connection and never answers
// holds a client command for --timeout, not a fixed 30s; half-way (or
// after 5s) a line on stderr names the request it waits on, and the error
// at the end says which flag sets the wait. Out-of-range values are
// refused before anything is dialled.
func TestTimeoutFlag(t *testing.T) {
	url := silentServer(t)
	for _, tc := range []struct {
		args        []string
		stderr, err string
		usage       bool
	}{
		{[]string{"status", "--timeout", "1s"},
			"spillway: waiting for the server to answer GET " + url + "/v1/status (nothing yet after 500ms; gives up at --timeout 1s)\n",
			"Nothing answered " + url + " in time", false},
		{[]string{"decisions", "--pool", "training", "--timeout", "1s"},
			"spillway: waiting for the server to answer GET " + url + "/v1/decisions?limit=50&pool=training (nothing yet after 500ms; gives up at --timeout 1s)\n",
			"(--timeout 1s sets how long to wait)", false},
		{[]string{"burst", "list", "--timeout", "0s"}, "", "--timeout 0s is out of range: use 1s to 1h", true},
		{[]string{"instances", "--timeout", "90m"}, "", "--timeout 1h30m is out of range: use 1s to 1h", true},
	} {
		began := time.Now()
		_, stderr, err := runCLI(t, append(tc.args, "--server", url)...)
		took := time.Since(began)
		var ue *usageError
		if err == nil || !strings.Contains(err.Error(), tc.err) || errors.As(err, &ue) != tc.usage {
			t.Errorf("%q: %v, want an error with %q (usage: %v)", tc.args, err, tc.err, tc.usage)
		}
		if stderr != tc.stderr {
			t.Errorf("%q: stderr %q, want %q", tc.args, stderr, tc.stderr)
		}
		if took > 10*time.Second {
			t.Errorf("%q: took %s, want it to give up at its --timeout", tc.args, took)
		}
	}
}
