package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
	"github.com/spillway-io/spillway/config"
)

// apiFlags are the flags every operator command shares: where the server
// is, which token to send and how to print.
type apiFlags struct {
	server    string
	tokenFile string
	output    string
	timeout   time.Duration
	// token is read from SPILLWAY_TOKEN or the token file.
	token string
}

// The range of --timeout, and how long the CLI waits for an answer before
// it says on stderr what it is waiting for (at most half the timeout).
const (
	minTimeout   = time.Second
	maxTimeout   = time.Hour
	noticeAfter  = 5 * time.Second
	timeoutRange = "use 1s to 1h"
	timeoutUsage = "how long to wait for the server's answer to each request, 1s to 1h; after 5s without one (or half the timeout, if shorter) a line on stderr says what it waits for"
)

func (f *apiFlags) bind(cmd *cobra.Command) {
	server := os.Getenv("SPILLWAY_SERVER")
	if server == "" {
		server = api.DefaultServer
	}
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", server, "the Spillway server's URL; SPILLWAY_SERVER sets the default")
	fl.StringVar(&f.tokenFile, "token-file", "", "read the API token from this file (default: the SPILLWAY_TOKEN variable)")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, timeoutUsage)
	flagRange(fl, "timeout", timeoutRange)
}

// client checks cmd's flags and returns an API client; a flag it refuses
// is a usageError. A filter given empty (--pool "$POOL" with POOL unset) is
// refused rather than read as no filter.
func (f *apiFlags) client(cmd *cobra.Command) (*api.Client, error) {
	if err := refuseEmpty(cmd, "server", "token-file", "output", "pool", "since", "offering"); err != nil {
		return nil, err
	}
	if err := checkPoolFlag(cmd); err != nil {
		return nil, err
	}
	if f.output != "table" && f.output != "json" {
		return nil, usagef("--output %q is not a format: use table or json", f.output)
	}
	f.token = strings.TrimSpace(os.Getenv("SPILLWAY_TOKEN"))
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, &usageError{err: fmt.Errorf("reading --token-file: %w", err)}
		}
		if len(b) > 4096 {
			return nil, usagef("--token-file %s is %d bytes: it should hold one token (from `spillway token create`)", f.tokenFile, len(b))
		}
		f.token = strings.TrimSpace(string(b))
		if f.token == "" {
			// Sent without one, the server's 401 would read "no token
			// given: pass --token-file", which was passed.
			return nil, usagef("--token-file %s holds no token (%d bytes, all blank): it should hold one token, as `spillway token create` printed it", f.tokenFile, len(b))
		}
	}
	if first, _, spaced := strings.Cut(f.token, " "); spaced || strings.ContainsAny(f.token, "\t\r\n") {
		// Pasted from a curl command ("Bearer spw_…"), or two tokens: the
		// server would only say it does not know it. Only the first word
		// is shown, never the token.
		what := "several words"
		if !strings.HasPrefix(first, tokens.Prefix) && len(first) <= 12 {
			what = fmt.Sprintf("several words, the first %q", first)
		}
		return nil, usagef("the token (SPILLWAY_TOKEN or --token-file) is %s: give the token alone, one word as `spillway token create` printed it (%s…), without \"Bearer \"", what, tokens.Prefix)
	}
	if u, err := url.Parse(f.server); err == nil && (u.RawQuery != "" || u.Fragment != "" || u.User != nil) {
		// The client would drop the query and fragment and send the user
		// as basic auth beside the token: not what the URL seems to say.
		u.RawQuery, u.Fragment, u.User = "", "", nil
		return nil, usagef("--server %q has a query, fragment or user: give the server's URL alone, e.g. %s (the token goes in SPILLWAY_TOKEN or --token-file)", f.server, u)
	}
	if f.timeout < minTimeout || f.timeout > maxTimeout {
		return nil, usagef("--timeout %s is out of range: %s", config.DurationString(f.timeout), timeoutRange)
	}
	after := min(noticeAfter, f.timeout/2)
	hc := &http.Client{Timeout: f.timeout, Transport: &waitNotice{
		next: http.DefaultTransport, after: after, timeout: f.timeout, w: cmd.ErrOrStderr()}}
	c, err := api.NewClient(f.server, f.token, hc)
	if err != nil {
		return nil, &usageError{err: err} // --server or SPILLWAY_SERVER is not a URL
	}
	return c, nil
}

// waitNotice is the CLI's transport: a request that has had no answer
// after a while is named on stderr, once, with how long the CLI goes on
// waiting, so an operator at a terminal (or reading a script's log) knows
// what the silence is. The line is written before RoundTrip returns, never
// after.
type waitNotice struct {
	next    http.RoundTripper
	after   time.Duration
	timeout time.Duration
	w       io.Writer
}

// RoundTrip writes the line once the wait is due, or when the request
// ends without an answer (cut off at --timeout) past that time though its
// timer has not run yet: on a loaded machine, the notice's goroutine run
// late found its timer, the request's end and the transport's return all
// come and picked one at random, and the command waited its whole
// --timeout with nothing said. A request ended before the line was due
// (an interrupt) says nothing.
func (n *waitNotice) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	var once sync.Once
	say := func() {
		once.Do(func() {
			fmt.Fprintf(n.w, "spillway: waiting for the server to answer %s %s (nothing yet after %s; gives up at --timeout %s)\n",
				req.Method, req.URL.Redacted(), config.DurationString(n.after), config.DurationString(n.timeout))
		})
	}
	t := time.AfterFunc(n.after, say)
	resp, err := n.next.RoundTrip(req)
	// A timer that fired may not have written yet: say waits for it, or
	// writes in its place.
	if !t.Stop() || err != nil && time.Since(start) >= n.after {
		say()
	}
	return resp, err
}

// explain turns an API error into a message naming the cause and the fix.
func (f *apiFlags) explain(err error) error {
	var ue *api.UnreachableError
	var cve *tls.CertificateVerificationError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil {
		// Trusting another CA or another name would not help: the
		// certificate's dates are wrong for this machine's clock.
		c := invalid.Cert
		when := fmt.Sprintf("expired at %s", c.NotAfter.UTC().Format(time.RFC3339))
		if time.Now().Before(c.NotBefore) {
			when = fmt.Sprintf("is not valid until %s", c.NotBefore.UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("%w\nThe server answered, but its TLS certificate (%s) %s; it is now %s here: the server's operator must renew the certificate (server.tls.cert_file) and restart spillway server, or, if those dates look right, this machine's clock is wrong",
			err, certName(c), when, time.Now().UTC().Format(time.RFC3339))
	}
	if errors.As(err, &cve) {
		// It answered: asking whether it runs would send the operator
		// the wrong way.
		return fmt.Errorf("%w\nThe server answered, but its TLS certificate did not verify: connect by a name or address the certificate holds, and trust the CA that signed it (the system's trust store, or SSL_CERT_FILE=CA.pem)", err)
	}
	var ne net.Error
	switch {
	case errors.As(err, &ue) && errors.Is(err, http.ErrSchemeMismatch):
		// It answered, in plain HTTP: not a server that is down.
		u, _ := url.Parse(ue.Server)
		u.Scheme = "http"
		return fmt.Errorf("%w\nThe server answered in plain HTTP, not HTTPS: use --server %s (or give the server server.tls to serve HTTPS)", err, u)
	case errors.As(err, &ue) && errors.As(err, &ne) && ne.Timeout():
		// No answer in time: "is it running?" would send the on-call
		// engineer the wrong way when it is running but stuck.
		wait := ""
		if f.timeout > 0 {
			wait = fmt.Sprintf(" (--timeout %s sets how long to wait)", config.DurationString(f.timeout))
		}
		return fmt.Errorf("%w\nNothing answered %s in time: a hung or overloaded spillway server (its log says which), another program on that port, or a firewall that drops packets; curl -m 5 %s/healthz tells which%s", err, ue.Server, ue.Server, wait)
	case errors.As(err, &ue):
		return fmt.Errorf("%w\nIs `spillway server` running there? Point --server or SPILLWAY_SERVER at it (default %s)", err, api.DefaultServer)
	}
	var ae *api.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Status {
	case 401:
		if f.token == "" {
			return &explained{msg: "no token given (401): set SPILLWAY_TOKEN or pass --token-file FILE; an admin makes tokens with `spillway token create`", err: ae}
		}
		return fmt.Errorf("the server refused the token (401): %w\nUse a current token in SPILLWAY_TOKEN or --token-file", ae)
	case 403:
		if ae.Limit != "" {
			return fmt.Errorf("refused by the pool's manual limit %s = %s (403): %w", ae.Limit, ae.Value, ae)
		}
		return fmt.Errorf("not allowed (403): %w", ae)
	case 404:
		if u, err := url.Parse(f.server); err == nil && strings.Trim(u.Path, "/") != "" && strings.HasPrefix(ae.Code, "http_") {
			// No Spillway answered: spillway server serves its API at the
			// root of its address, so a path is a likely cause.
			path := u.Path
			u.Path, u.RawPath = "", ""
			return &explained{msg: fmt.Sprintf("not found (404): %s\n--server %s has a path, %s: spillway server serves its API at the root of its address; use --server %s, unless a proxy serves it under %s", ae.Message, f.server, path, u, path), err: ae}
		}
		return fmt.Errorf("not found (404): %w", ae)
	case 400:
		return fmt.Errorf("bad request (400): %w", ae)
	case 409:
		return fmt.Errorf("conflict (409): %w", ae)
	}
	return fmt.Errorf("the server answered %d: %w", ae.Status, ae)
}

// certName names a certificate by its subject's common name, else
// its first DNS name or address, for a message.
func certName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return "CN=" + c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.IPAddresses) > 0:
		return c.IPAddresses[0].String()
	}
	return "serial " + c.SerialNumber.String()
}

// explainPool is explain for a call that named pool (--pool): when the
// server answered 404 and its pools do not include pool, the error says
// so, with the pool closest to the name given ("did you mean") and the
// pools it has, rather than sending a person at 3 a.m. to list them.
func (f *apiFlags) explainPool(ctx context.Context, c *api.Client, pool string, err error) error {
	var ae *api.Error
	if pool == "" || !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		return f.explain(err)
	}
	st, serr := c.Status(ctx)
	if serr != nil {
		return f.explain(err)
	}
	names := make([]string, 0, len(st.Pools))
	for _, p := range st.Pools {
		names = append(names, p.Name)
	}
	if slices.Contains(names, pool) {
		return f.explain(err) // a 404 about something else
	}
	slices.Sort(names)
	msg := fmt.Sprintf("not found (404): no pool %q on this server", pool)
	if s := config.Suggest(pool, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	switch {
	case len(names) == 0:
		msg += ": it has no pools"
	case len(names) > 20:
		msg += fmt.Sprintf(": its pools are %s, … (%d in all; `spillway status` lists them)", strings.Join(names[:20], ", "), len(names))
	default:
		msg += ": its pools are " + strings.Join(names, ", ")
	}
	return &explained{msg: msg, err: ae}
}

// checkPoolFlag refuses a --pool that no config can name ("../x", "a b")
// in the config's words, before any request: the server took it as a
// name to look up, or a path, and a listing answered "no pool" after a
// round trip, or a refused token.
func checkPoolFlag(cmd *cobra.Command) error {
	f := cmd.Flags().Lookup("pool")
	if f == nil || !f.Changed {
		return nil
	}
	if err := config.CheckName(f.Value.String()); err != nil {
		return usagef("--pool: %w (see %s --help)", err, cmd.CommandPath())
	}
	return nil
}

// readPoolListing is err from a listing call filtered by pool (--pool,
// "" for all) as its command acts on it: nil when it read everything or
// was cut at the page cap (the rows read are printed, then listed says
// so), else the explained error.
func (f *apiFlags) readPoolListing(ctx context.Context, c *api.Client, pool string, err error) error {
	var cut *api.TruncatedError
	if err == nil || errors.As(err, &cut) {
		return nil
	}
	return f.explainPool(ctx, c, pool, err)
}

// listed is what a listing command returns once it has printed the rows
// it read: nil, or for a listing the client's page cap cut short, an
// error saying so (on stderr, exit status 1) with how to narrow it.
func listed(err error, narrow string) error {
	var cut *api.TruncatedError
	if !errors.As(err, &cut) {
		return nil
	}
	return fmt.Errorf("%w: the list above is incomplete; %s to see the rest", cut, narrow)
}

// explained is an error whose message replaces its cause's, which stays
// reachable with errors.As.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// print writes v as JSON with -o json (& < > unescaped), else calls table
// with a tabwriter.
func (f *apiFlags) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	if f.output == "json" {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
			// A listing with no rows: [] (jq '.[]' and length read it; a
			// script's loop over null fails).
			v = []struct{}{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		// For a terminal, jq or grep, not for HTML: & < > as they are
		// (R&D, not R\u0026D; more_floors' URLs as a shell takes them).
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04Z")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line and bounded.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// operatorExitStatus ends the --help of each command that talks to a
// server's API.
const operatorExitStatus = `Each request waits --timeout (default 30s) for the server's answer; after 5s
without one, a line on stderr names the server and the request it waits on.

Exit status: 0 when the server answered; 1 when it refused the request (no
token, an unknown one or one whose role is too low, an unknown pool or burst,
a manual limit) or could not be reached, or when a listing was longer than the
CLI reads (1,000 pages: the rows read are printed, then what cut them); 2 when
the command line is wrong (an unknown flag, a value that does not parse or is
out of range, a missing one).`
