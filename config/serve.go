package config

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/api/tokens"
)

// What `spillway server` needs of its server section beyond its form:
// checked by ValidateForServer (so `policy validate --server` reports it
// at its place in the file) and used by the server when it starts, one
// implementation for both.

// ErrInsecureListen is wrapped by CheckListen's refusal of a listen
// address that is not loopback when the server has no TLS.
var ErrInsecureListen = errors.New("refusing to serve tokens in clear text")

// CheckListen checks a listen address (host:port): the port a number from
// 0 to 65535 (0 picks a free one); the host must be an IP
// address, localhost or empty (every interface), since a host name would
// be looked up only when the server starts; and without TLS it must be
// loopback, unless insecureListen says the operator wants it anyway
// (--insecure-listen): tokens would cross the network in clear text. The
// refusal of a non-loopback address wraps ErrInsecureListen.
func CheckListen(addr string, tlsConfigured, insecureListen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q is not host:port (e.g. 127.0.0.1:8700): %w", addr, err)
	}
	if port == "" {
		return fmt.Errorf("listen address %q has no port: use host:port, e.g. 127.0.0.1:8700", addr)
	}
	if err := checkListenPort(port); err != nil {
		return fmt.Errorf("listen address %q: port %q is not a port number: %v, e.g. 127.0.0.1:8700", addr, port, err)
	}
	ip, ipErr := netip.ParseAddr(host)
	if host != "" && host != "localhost" && ipErr != nil {
		return fmt.Errorf("listen address %q: host %q is not an IP address or localhost: the server listens on an address, write one such as 127.0.0.1:%s (loopback), [::1]:%s or :%s (every interface, with tls)", addr, host, port, port, port)
	}
	if tlsConfigured || insecureListen || host == "localhost" || (ipErr == nil && ip.Unmap().IsLoopback()) {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every interface"
	}
	return fmt.Errorf("listen address %q (%s) is not loopback and server.tls is not set: %w; configure server.tls, listen on 127.0.0.1, or pass --insecure-listen on a trusted network", addr, shown, ErrInsecureListen)
}

// checkListenPort checks the port of a listen address, server.listen's
// and --listen's alike: 1 to 65535, or 0 for a free port the system picks
// when the server starts (its start-up log line names the address), which
// runs a dry run or a test beside a server that holds the usual port.
func checkListenPort(port string) error {
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("want 1 to 65535, or 0 for a free port picked at start")
	}
	return nil
}

// CheckStatePath checks a SQLite state path: it must not be a directory,
// and the directory it is in must exist (the server creates the file, not
// its folders) and take new files; a file already there must be a SQLite
// database: an empty one, which SQLite would take for a new database, is
// refused as the server refuses it (what emptying it by hand or a write
// onto a full disk leaves).
func CheckStatePath(path string) error {
	if fi, err := os.Stat(path); err == nil {
		switch {
		case fi.IsDir():
			return fmt.Errorf("%s is a directory: name the SQLite file in it, e.g. %s", path, filepath.Join(path, "spillway.db"))
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%s is not a regular file (%s): name the server's SQLite state file, or a new path where it will make one", path, fi.Mode().Type())
		case fi.Size() == 0:
			return fmt.Errorf("%s is empty (0 bytes: emptied, or written onto a full disk), which the server refuses rather than start with no state: restore it from a backup, or remove it to start empty (the server makes a new database itself)", path)
		default:
			if err := checkSQLiteHeader(path); err != nil {
				return err
			}
		}
		return checkWritableFolder(filepath.Dir(path))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state file: %w", err)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the folder %s of the state file does not exist: create it (the server creates the file, not its folders): %w", dir, err)
	case err != nil:
		return fmt.Errorf("the folder of the state file: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("%s, where the state file would be, is not a folder", dir)
	}
	return checkWritableFolder(dir)
}

// checkWritableFolder checks that the server can make files in dir, as it
// does beside its state (the file itself, its lock, SQLite's -wal and -shm),
// by making one and removing it: permissions, ACLs and read-only mounts
// all answer, whoever runs it.
func checkWritableFolder(dir string) error {
	f, err := os.CreateTemp(dir, ".spillway-write-check-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // not the probe's random name
		}
		return fmt.Errorf("the server cannot make files in %s, the folder of the state file (it keeps its lock and SQLite's journal there): %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// sqliteHeader starts every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// checkSQLiteHeader refuses a file that is not a SQLite database: a state
// pointed by mistake at the config, a tokens file or a backup archive.
func checkSQLiteHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(f, head); err != nil || string(head) != sqliteHeader {
		return fmt.Errorf("%s is not a SQLite database (it does not start with %q): name the server's state file, or a new path where it will make one", path, strings.TrimSuffix(sqliteHeader, "\x00"))
	}
	return nil
}

// CheckTokensFile checks server.tokens_file as the server reads it: one
// that does not exist yet holds no token (`spillway token create` makes
// it), but its folder must exist for it to be made; one that exists must
// parse, or the server would refuse every token until it is fixed.
func CheckTokensFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dir := filepath.Dir(path)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("the folder %s of the tokens file does not exist: create it (spillway token create --file %s makes the file, not its folders)", dir, path)
		}
		return nil
	case err != nil:
		return fmt.Errorf("tokens file: %w", err)
	case fi.IsDir():
		return fmt.Errorf("%s is a directory: name the tokens file in it, e.g. %s", path, filepath.Join(path, "tokens.yaml"))
	}
	if _, err := tokens.Read(path); err != nil {
		return fmt.Errorf("%w; the server would refuse every token until it is fixed", err)
	}
	return nil
}

// CheckPasswordFile checks server.state_password_file as the server reads
// it when it opens the state (state/postgres.WithPasswordFile): a file
// whose first line is the database password. Its content is never shown.
func CheckPasswordFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read the database password (its first line): %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory: name the file holding the database password (its first line)", path)
	}
	first, err := bufio.NewReader(io.LimitReader(f, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("cannot read the database password (its first line): %w", err)
	}
	if strings.TrimRight(first, "\r\n") == "" {
		return fmt.Errorf("%s holds no password on its first line, which is the one the server sends", path)
	}
	return nil
}

// TLSError is a certificate or key that cannot be loaded: Field is
// "cert_file", "key_file", or "" when the pair does not load as a whole.
type TLSError struct {
	Field string
	Err   error
}

func (e *TLSError) Error() string {
	if e.Field == "" {
		return "server.tls: " + e.Err.Error()
	}
	return "server.tls." + e.Field + ": " + e.Err.Error()
}

func (e *TLSError) Unwrap() error { return e.Err }

// Load reads the certificate and its key, as the server does before it
// starts: a missing or unreadable file is a *TLSError naming its field
// (both, joined, when both are), and so is a pair that does not parse or
// match.
func (t *TLS) Load() (tls.Certificate, error) {
	if ps := t.fileProblems(); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = p
		}
		return tls.Certificate{}, errors.Join(errs...)
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return tls.Certificate{}, &TLSError{Err: fmt.Errorf("cannot load %s with %s (want a PEM certificate and its PEM private key): %w", t.CertFile, t.KeyFile, err)}
	}
	return cert, nil
}

// CertificateDates says what is wrong with the dates of cert's leaf at now,
// "" when it is valid then: expired, or not valid yet. Every client
// refuses such a certificate, but the server still starts with it (its
// ticks end bursts and terminate instances whether or not anyone can read
// its API), so this is a warning to act on, not a refusal.
func CertificateDates(cert tls.Certificate, now time.Time) string {
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	switch {
	case leaf == nil:
		return ""
	case now.After(leaf.NotAfter):
		return fmt.Sprintf("the certificate expired at %s (it is now %s): every client refuses it; renew it and restart the server", leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Sprintf("the certificate is not valid until %s (it is now %s): every client refuses it until then; check this machine's clock, or issue one valid now", leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return ""
}

// fileProblems reports each of the two files that cannot be read.
func (t *TLS) fileProblems() []*TLSError {
	var ps []*TLSError
	for _, f := range []struct{ field, path, what string }{
		{"cert_file", t.CertFile, "certificate"},
		{"key_file", t.KeyFile, "private key"},
	} {
		fi, err := os.Stat(f.path)
		switch {
		case err != nil:
			ps = append(ps, &TLSError{Field: f.field, Err: fmt.Errorf("the %s cannot be read: %w", f.what, err)})
		case fi.IsDir():
			ps = append(ps, &TLSError{Field: f.field, Err: fmt.Errorf("the %s %s is a directory, not a PEM file", f.what, f.path)})
		}
	}
	return ps
}

// ServerOption changes what ValidateForServer checks, as the server's
// flags change what it runs.
type ServerOption func(*serverChecks)

type serverChecks struct {
	insecureListen bool
	listenFlag     bool
	ctx            context.Context
}

// Context bounds the checks that run a program (the terraform on PATH's
// version): ending ctx (Ctrl-C) ends them. Without it they run on their
// own bound only.
func Context(ctx context.Context) ServerOption {
	return func(c *serverChecks) { c.ctx = ctx }
}

// InsecureListen: a non-loopback listen address without TLS is allowed
// (spillway server --insecure-listen).
func InsecureListen(on bool) ServerOption {
	return func(c *serverChecks) { c.insecureListen = c.insecureListen || on }
}

// ListenFromFlag: server.listen is replaced by a flag (spillway server
// --listen), which is checked where it is applied; the file's is not.
func ListenFromFlag(on bool) ServerOption {
	return func(c *serverChecks) { c.listenFlag = c.listenFlag || on }
}

// serverSectionErrors checks what the server opens when it starts: its
// listen address, its SQLite state file's place, its tokens file, its TLS
// key pair.
func (c *Config) serverSectionErrors(opts serverChecks) []FieldError {
	var errs []FieldError
	s := c.Server
	if !opts.listenFlag {
		if err := CheckListen(s.Listen, s.TLS != nil, opts.insecureListen); err != nil {
			errs = append(errs, c.src.fieldError("server.listen", err.Error()))
		}
	}
	if !s.StateIsPostgres() {
		if err := CheckStatePath(s.State); err != nil {
			errs = append(errs, c.src.fieldError("server.state", err.Error()))
		}
	} else if err := CheckStateDSN(s.State); err != nil {
		errs = append(errs, c.src.fieldError("server.state", err.Error()))
	}
	if s.StateIsPostgres() && s.StatePasswordFile != "" {
		if err := CheckPasswordFile(s.StatePasswordFile); err != nil {
			errs = append(errs, c.src.fieldError("server.state_password_file", err.Error()))
		}
	}
	if s.TokensFile != "" {
		if err := CheckTokensFile(s.TokensFile); err != nil {
			errs = append(errs, c.src.fieldError("server.tokens_file", err.Error()))
		}
	}
	if s.TLS != nil {
		ps := s.TLS.fileProblems()
		if len(ps) == 0 {
			var te *TLSError
			if _, err := s.TLS.Load(); errors.As(err, &te) {
				ps = append(ps, te)
			}
		}
		for _, p := range ps {
			path := "server.tls"
			if p.Field != "" {
				path += "." + p.Field
			}
			errs = append(errs, c.src.fieldError(path, p.Err.Error()))
		}
	}
	return errs
}
