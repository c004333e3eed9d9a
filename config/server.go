package config

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/spillway-io/spillway/policy"
)

// isPostgresDSN reports whether a server.state value names PostgreSQL.
func isPostgresDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

var cfgDrainMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// namesDatabase says whether a postgres:// DSN names a host (or a
// socket's folder, ?host=) or a database: "postgres://" alone is a
// mistake (an empty variable) rather than a wish for every default.
func namesDatabase(dsn string) bool {
	u, err := url.Parse(dsn)
	return err == nil && (u.Host != "" || u.Query().Get("host") != "" || strings.Trim(u.Path, "/") != "")
}

// checkServer checks the server section.
func (v *cfgValidator) checkServer(cfg *Config) {
	s := cfg.Server
	if s.Listen == "" {
		v.errf("server.listen", "the listen address is empty: leave the field out for %s, or give host:port", DefaultListen)
	} else if host, port, err := net.SplitHostPort(s.Listen); err != nil {
		v.errf("server.listen", "bad listen address %q: want host:port such as 127.0.0.1:8700 or :8700", s.Listen)
	} else if err := checkListenPort(port); err != nil {
		v.errf("server.listen", "bad port %q in listen address %q: %v, e.g. %s:8700", port, s.Listen, err, host)
	}
	if s.State == "" {
		v.errf("server.state", "the state is empty: leave the field out for %s beside the config, or name a SQLite file or a postgres:// DSN", DefaultState)
	} else if isPostgresDSN(s.State) {
		// As the state reads it (pgx): a host, or a Unix socket's folder
		// as ?host=, or none for pgx's default socket. The files it names
		// (certificates, a service file) are read by the server's checks
		// (CheckStateDSN), not here: a config is checked where they are
		// not, in CI.
		if mode, bad := dsnSSLMode(s.State); bad {
			v.errf("server.state", "bad PostgreSQL DSN %q: sslmode %q is not one PostgreSQL takes%s: want %s", cfgRedactDSN(s.State), mode, cfgEnumGuess(mode, cfgSSLModes), cfgJoinEnum(cfgSSLModes))
		} else if _, err := pgconn.ParseConfig(withoutFiles(s.State)); err != nil || !namesDatabase(s.State) {
			v.errf("server.state", "bad PostgreSQL DSN %q%s: want postgres://USER@HOST:PORT/DB (a port from 1 to 65535), postgres://USER@/DB?host=/run/postgresql for a Unix socket, or a SQLite file path such as spillway.db", cfgRedactDSN(s.State), dsnCause(s.State, err))
		}
	} else if strings.Contains(s.State, "://") {
		v.errf("server.state", "unknown state URL %q: want a SQLite file path such as spillway.db or a postgres:// DSN", cfgRedactDSN(s.State))
	}
	v.filePaths(cfg)
	v.durationIn("server.tick", s.Tick, 100*time.Millisecond, time.Hour)
	v.durationIn("server.sweep_grace", s.SweepGrace, time.Second, 7*24*time.Hour)
	v.durationIn("server.retention", s.Retention, 24*time.Hour, 10*365*24*time.Hour)
	if s.MaxConnections < 1 || s.MaxConnections > MaxServerConnections {
		v.errf("server.max_connections", "max_connections %d is out of range: want 1 to %d (default %d), the most HTTP connections served at once", s.MaxConnections, MaxServerConnections, DefaultMaxConnections)
	}
	if v.checkLease(s) && isPostgresDSN(s.State) {
		v.leaseHoldsApplies(cfg)
	}
	if isPostgresDSN(s.State) {
		v.sharedWorkDirs(cfg)
	}
	v.distinctWorkDirs(cfg)
	if s.TLS != nil && !v.d.failed["server.tls"] {
		if s.TLS.CertFile == "" {
			v.missing("server.tls.cert_file", "the server's certificate (PEM); tls needs both cert_file and key_file")
		}
		if s.TLS.KeyFile == "" {
			v.missing("server.tls.key_file", "the certificate's private key (PEM); tls needs both cert_file and key_file")
		}
	}
}

// MaxServerConnections bounds server.max_connections: each connection holds
// a file descriptor.
const MaxServerConnections = 65536

// Bounds of the leader lease's settings.
const (
	minLeaseTTL   = time.Second
	maxLeaseTTL   = 10 * time.Minute
	minLeaseRenew = 100 * time.Millisecond
)

// checkLease checks lease_ttl and lease_renew (used with a postgres://
// state only, checked always so a config is valid before it moves to one).
// It reports whether both are in range.
func (v *cfgValidator) checkLease(s Server) bool {
	ttl, renew := time.Duration(s.LeaseTTL), time.Duration(s.LeaseRenew)
	if ttl < minLeaseTTL || ttl > maxLeaseTTL {
		v.errf("server.lease_ttl", "lease_ttl %s is out of range: want %s to %s, such as 10s (a dead leader is replaced within lease_ttl plus one tick)", ttl, minLeaseTTL, maxLeaseTTL)
		return false
	}
	if renew < minLeaseRenew || renew > ttl/3 {
		v.errf("server.lease_renew", "lease_renew %s is out of range: want %s to a third of lease_ttl (%s), such as %s, so a failed renewal is retried before the term ends", renew, minLeaseRenew, ttl/3, ttl/4)
		return false
	}
	return true
}

// filePaths refuses a file path that begins with ~, as a person writes a
// file in their home folder: only a shell expands it, and the config read
// it as a folder named ~ beside itself (validate --server then said to
// create that folder).
func (v *cfgValidator) filePaths(cfg *Config) {
	s := cfg.Server
	paths := map[string]string{"server.tokens_file": s.TokensFile, "server.state_password_file": s.StatePasswordFile}
	if !isPostgresDSN(s.State) {
		paths["server.state"] = s.State
	}
	if s.TLS != nil {
		paths["server.tls.cert_file"], paths["server.tls.key_file"] = s.TLS.CertFile, s.TLS.KeyFile
	}
	for name, pc := range cfg.Providers {
		paths["providers."+name+".module"], paths["providers."+name+".work_dir"] = pc.Module, pc.WorkDir
	}
	for i, p := range cfg.Pools {
		if sg := p.Signals; sg != nil && sg.Baseline != nil && sg.Baseline.Agents != nil {
			paths[fmt.Sprintf("pools[%d].signals.baseline.agents.targets_file", i)] = sg.Baseline.Agents.TargetsFile
		}
	}
	for _, field := range slices.Sorted(maps.Keys(paths)) {
		if p := paths[field]; p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "~") && strings.Contains(p, "/") {
			v.errf(field, "path %q begins with ~, which only a shell expands: here it would name a folder called %s beside the config; write the home folder out, e.g. %s", p, strings.SplitN(p, "/", 2)[0], homeExample(p))
		}
	}
}

// homeExample writes a path given from ~ (or ~USER) out as it would be
// from a home folder under /home: an example, the same on every machine.
func homeExample(p string) string {
	user, rest, _ := strings.Cut(p[1:], "/")
	if user == "" {
		user = "alice"
	}
	return filepath.Join("/home", user, rest)
}

// sharedWorkDirs refuses, with a postgres:// state (several servers), a
// terraform provider without a work_dir: each burst's ledger (its
// launches, its instances) and, with the local backend, its state live
// there, and the default (beside the config file) is each server's own.
// A server that became leader on another machine would find none of the
// bursts the last leader launched (their instances run on, listed by no
// one) and, with a remote backend, plan a burst it launches into again
// from nothing, destroying the instances its state holds.
func (v *cfgValidator) sharedWorkDirs(cfg *Config) {
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		if pc := cfg.Providers[name]; pc.Type != ProviderTerraform || v.has("providers."+name+".work_dir") {
			continue
		}
		v.errf("providers."+name+".type", "terraform provider %s has no work_dir, and with a postgres:// state several servers take turns as leader: "+
			"give a work_dir every server mounts at the same path (shared storage whose locks hold across machines, such as NFSv4), "+
			"since each burst's ledger and local state live there; with each server's own (the default, beside the config file) "+
			"a new leader on another machine would not know the bursts the last one launched, and their instances would run on untracked", name)
	}
}

// distinctWorkDirs refuses two terraform providers whose work_dir is one
// directory: written alike, or in another case (gpu and GPU, whose
// default work_dirs terraform-gpu and terraform-GPU are one directory on
// a case-insensitive file system, macOS's and Windows'). A burst's
// directory is named by its cluster, pool and burst alone, so the second
// provider's plan would run its module on the first's state, destroying
// its instances and losing them from its ledger.
func (v *cfgValidator) distinctWorkDirs(cfg *Config) {
	names := slices.Sorted(maps.Keys(cfg.Providers))
	type workDir struct{ provider, dir string }
	seen := map[string]workDir{} // by the directory folded
	for _, name := range names {
		pc := cfg.Providers[name]
		if pc.Type != ProviderTerraform {
			continue
		}
		dir, field, said := pc.WorkDir, "providers."+name+".work_dir", pc.WorkDir
		if dir == "" {
			// As resolvePaths defaults it, relative to the config.
			base := "."
			if !isPostgresDSN(cfg.Server.State) && cfg.Server.State != "" {
				base = filepath.Dir(cfg.Server.State)
			}
			dir, field = filepath.Join(base, "terraform-"+name), "providers."+name
			said = dir + " (its default, with no work_dir)"
		}
		key := strings.ToLower(filepath.Clean(dir))
		other, ok := seen[key]
		if !ok {
			seen[key] = workDir{name, dir}
			continue
		}
		if filepath.Clean(other.dir) != filepath.Clean(dir) {
			said += fmt.Sprintf(", which is %s's %s on a case-insensitive file system (macOS's, Windows')", other.provider, other.dir)
		}
		v.errf(field, "terraform providers %s and %s share one work directory, %s: a burst's directory there is named by its pool and burst alone, "+
			"so one provider's plan would run on the other's state and destroy its instances: give each its own work_dir", other.provider, name, said)
	}
}

// leaseCallBound is the least time a leader's call is sure of: the leader
// counts its term as lease_ttl less a fifth from its last renewal (the
// elector's margin), a call ends with the term as it stands when the call
// starts, and that renewal may be lease_renew old.
func leaseCallBound(s Server) time.Duration {
	return time.Duration(s.LeaseTTL)*4/5 - time.Duration(s.LeaseRenew)
}

// leaseHoldsApplies refuses, with a postgres:// state, a terraform
// provider whose call_timeout the leader's term cuts short: its applies
// would be interrupted, their instances recorded tainted and replaced,
// launch after launch.
func (v *cfgValidator) leaseHoldsApplies(cfg *Config) {
	bound := leaseCallBound(cfg.Server)
	for _, name := range slices.Sorted(maps.Keys(cfg.Providers)) {
		pc := cfg.Providers[name]
		if pc.Type != ProviderTerraform || pc.CallTimeout.D() <= bound {
			continue
		}
		path, what := "providers."+name+".call_timeout", ""
		if !v.has(path) {
			path, what = "providers."+name+".type", " (the default)"
		}
		v.errf(path, "call_timeout %s%s of terraform provider %s is longer than a leader's term holds a call with a postgres:// state (lease_ttl %s × 0.8 − lease_renew %s = %s): every apply longer than that would be interrupted and its instances replaced by the next; give server.lease_ttl and lease_renew that hold the applies, such as lease_ttl: 10m, lease_renew: 30s and call_timeout: 7m30s, or a call_timeout of at most %s for a module that applies that fast",
			pc.CallTimeout.D(), what, name, cfg.Server.LeaseTTL.D(), cfg.Server.LeaseRenew.D(), bound, bound)
	}
}

// dsnCause is why pgx refuses a DSN that is a well-formed URL, as " (why)",
// without the DSN's passwords: a parameter it does not take (sslmode=maybe,
// a port out of range) or a file it names that cannot be read (sslrootcert,
// sslcert, sslkey, a service file). "" when err is nil or the DSN is not a
// URL (the message's forms say what one looks like).
// dsnFileParams are the DSN parameters naming files pgx reads as it
// parses the DSN.
var dsnFileParams = []string{"sslrootcert", "sslcert", "sslkey", "sslpassword", "service", "servicefile", "passfile"}

// withoutFiles is a postgres:// DSN without the parameters naming files,
// for checking its form where those files are not.
func withoutFiles(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	cut := false
	for _, k := range dsnFileParams {
		cut = cut || q.Has(k)
		q.Del(k)
	}
	if !cut {
		return dsn
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// CheckStateDSN checks a postgres:// state DSN as the server opens it,
// reading the files it names (a CA certificate, a client key pair, a
// service file); the error names the cause without the password.
func CheckStateDSN(dsn string) error {
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		return fmt.Errorf("PostgreSQL DSN %q cannot be used%s", cfgRedactDSN(dsn), dsnCause(dsn, err))
	}
	return nil
}

// cfgSSLModes are the sslmode values PostgreSQL's clients (and pgx) take.
var cfgSSLModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// dsnSSLMode returns a postgres:// DSN's sslmode and whether it is one
// PostgreSQL does not take (pgx says only "sslmode is invalid").
func dsnSSLMode(dsn string) (string, bool) {
	u, err := url.Parse(dsn)
	if err != nil || !u.Query().Has("sslmode") {
		return "", false
	}
	mode := u.Query().Get("sslmode")
	return mode, !slices.Contains(cfgSSLModes, mode)
}

func dsnCause(dsn string, err error) string {
	u, perr := url.Parse(dsn)
	if err == nil || perr != nil {
		return ""
	}
	why := err.Error()
	if rest, ok := strings.CutPrefix(why, "cannot parse `"); ok {
		if _, cause, ok := strings.Cut(rest, "`: "); ok {
			why = cause // the DSN is quoted already, redacted
		}
	}
	var passwords []string
	if pw, ok := u.User.Password(); ok {
		passwords = append(passwords, pw)
	}
	for k, vs := range u.Query() {
		if strings.EqualFold(k, "password") {
			passwords = append(passwords, vs...)
		}
	}
	for _, pw := range passwords {
		if pw != "" {
			why = strings.ReplaceAll(why, pw, "xxxxx")
		}
	}
	return " (" + why + ")"
}

// cfgDSNQueryPassword matches a password given as a DSN's query
// parameter, which pgx reads as the password too.
var cfgDSNQueryPassword = regexp.MustCompile(`(?i)([?&]password=)[^&#]*`)

// cfgRedactDSN hides a DSN's password in messages: the one after
// USER: and a password= parameter, also in a DSN that does not parse
// (whose message quotes it).
func cfgRedactDSN(s string) string {
	if u, err := url.Parse(s); err == nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			s = u.String()
		}
	} else if scheme, rest, ok := strings.Cut(s, "://"); ok {
		authority, path, slash := strings.Cut(rest, "/")
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if user, _, hasPassword := strings.Cut(authority[:at], ":"); hasPassword {
				authority = user + ":xxxxx" + authority[at:]
			}
		}
		s = scheme + "://" + authority
		if slash {
			s += "/" + path
		}
	}
	return cfgDSNQueryPassword.ReplaceAllString(s, "${1}xxxxx")
}

// joinOutlastsBoots refuses pool pp's join.timeout when an offering's
// boot reaches it: the server, and the simulator as it, would end every
// instance of that offering as never joined. The default outlasts every
// boot (policy.Pool.DefaultJoinTimeout).
func (v *cfgValidator) joinOutlastsBoots(pp string, p *Pool) {
	path, jt := pp+".join.timeout", p.Join.Timeout.D()
	if !v.has(path) || jt <= 0 {
		return // the default, or refused as not positive
	}
	for j, o := range p.Policy.Offerings {
		boot := o.Boot.D()
		if boot < jt {
			continue
		}
		v.errf(path, "join.timeout %s is not longer than the boot of offerings[%d] (%s, %s): the server ends an instance whose agent has not answered within it, a failed launch, so every instance of it would fail; set join.timeout well above the slowest boot, or leave it out for the default, %s (three boots of the slowest offering, at least %s)",
			jt, j, o.InstanceType, boot, p.Policy.DefaultJoinTimeout(), policy.MinJoinTimeout)
		return
	}
}

// checkServerPool checks what the server needs of a pool beyond its policy:
// signals, join, drain and user_data.
func (v *cfgValidator) checkServerPool(cfg *Config, pp string, p *Pool) {
	if p.Signals != nil {
		v.checkSignals(pp+".signals", p.Signals)
	}
	jp := pp + ".join"
	if p.Join.AgentURL != "" {
		v.templateURL(jp+".agent_url", p.Join.AgentURL)
	}
	v.positiveDuration(jp+".timeout", p.Join.Timeout)

	dp := pp + ".drain"
	if len(p.Drain.Command) > 0 && p.Drain.HTTP != nil {
		v.errf(dp+".http", "drain has both command and http: the hook is one of them; remove one")
	}
	if v.has(dp+".command") && len(p.Drain.Command) == 0 {
		v.errf(dp+".command", "empty command: write the program and its arguments, e.g. [scontrol, update, \"nodename={{.Name}}\", state=drain, reason=spillway], or leave command out for no hook")
	}
	for i, arg := range p.Drain.Command {
		path := fmt.Sprintf("%s.command[%d]", dp, i)
		out, ok := v.template(path, arg)
		// An empty element renders nothing without being run, so the
		// program's check does not depend on the template having run.
		if i == 0 && (arg == "" || ok) && strings.TrimSpace(out) == "" && !v.d.failed[path] {
			v.errf(path, "the program is empty: the first element names the program to run, e.g. scontrol")
		}
	}
	if h := p.Drain.HTTP; h != nil && !v.d.failed[dp+".http"] {
		if h.URL == "" {
			v.missing(dp+".http.url", `the URL to call, a template over the instance, e.g. url: "http://127.0.0.1:8080/drain/{{.Name}}"`)
		} else {
			v.templateURL(dp+".http.url", h.URL)
		}
		if h.Method != "" && !slices.Contains(cfgDrainMethods, h.Method) {
			v.errf(dp+".http.method", "unknown method %q: valid methods are %s", h.Method, strings.Join(cfgDrainMethods, ", "))
		}
	}
	v.positiveDuration(dp+".timeout", p.Drain.Timeout)
	if d := p.Drain.Timeout.D(); v.has(dp+".timeout") && d > MaxDrainHookTimeout {
		v.errf(dp+".timeout", "duration %s is longer than a drain hook may run, %s: the hook runs within the pool's evaluation and only starts the drain (scale_in.drain_timeout bounds the drain itself), so the server would cut it at %s", d, MaxDrainHookTimeout, MaxDrainHookTimeout)
	}
	var types []ProviderType
	for _, o := range p.Policy.Offerings {
		if pc, ok := cfg.Providers[o.Provider]; ok && !slices.Contains(types, pc.Type) {
			types = append(types, pc.Type)
		}
	}
	v.userData(pp+".user_data", p.UserData, types...)
}

// template checks that a template parses and runs on a sample instance,
// returning what it rendered.
func (v *cfgValidator) template(path, tmpl string) (string, bool) {
	if tmpl == "" || v.d.failed[path] {
		return "", false
	}
	out, err := checkTemplate(tmpl)
	if err != nil {
		v.errf(path, "%v", err)
		return "", false
	}
	return out, true
}

// Bounds of the clouds on user data: EC2 takes 16 KiB before its base64
// encoding, ECS 32 KiB after it.
const (
	maxAWSUserData        = 16 << 10
	maxAlicloudUserData64 = 32 << 10
)

// userData checks a user_data template, which is rendered before the
// launch: a field the cloud has not given yet would be empty there; and
// rendered on a sample instance, it must fit the user data of each
// provider type in types.
func (v *cfgValidator) userData(path, tmpl string, types ...ProviderType) {
	out, ok := v.template(path, tmpl)
	if !ok {
		return
	}
	for _, t := range types {
		var limit string
		switch {
		case t == ProviderAWS && len(out) > maxAWSUserData:
			limit = fmt.Sprintf("EC2 takes at most %d bytes (16 KiB)", maxAWSUserData)
		case t == ProviderAlicloud && base64.StdEncoding.EncodedLen(len(out)) > maxAlicloudUserData64:
			limit = fmt.Sprintf("ECS takes at most %d bytes once base64-encoded (%d bytes of script)", maxAlicloudUserData64, base64.StdEncoding.DecodedLen(maxAlicloudUserData64))
		default:
			continue
		}
		v.errf(path, "user_data is %d bytes on a sample instance, too large for %s: %s, and every launch would be refused; keep user_data a short bootstrap that fetches the rest at boot", len(out), t, limit)
		return
	}
	if fs := fieldsUnknownAtLaunch(tmpl); len(fs) > 0 {
		which := "which is"
		if len(fs) > 1 {
			which = "which are"
		}
		v.errf(path, "user_data names {{.%s}}, %s empty there: user_data is rendered before the instance exists, when the cloud has not given its %s; read them on the instance (e.g. cloud-init query v1.instance_id, or the metadata service), or use a field known at launch: .Zone (when the offering names it), .InstanceType, .Provider, .Region, .Pool, .Cluster, .Burst",
			strings.Join(fs, "}}, {{."), which, strings.Join(unknownAtLaunch, ", "))
	}
}

// templateURL checks a template that must render to an http(s) URL.
func (v *cfgValidator) templateURL(path, tmpl string) {
	out, ok := v.template(path, tmpl)
	if !ok {
		return
	}
	u, err := url.Parse(out)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errf(path, "on a sample instance this gives %q, not an http:// or https:// URL: write e.g. \"http://{{.PrivateIP}}:9401\"", out)
	}
}

// resolvePaths makes the config's relative file paths absolute, against
// dir (the config file's directory).
func resolvePaths(cfg *Config, dir string) {
	abs := func(p *string) {
		if *p == "" {
			return
		}
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
		if a, err := filepath.Abs(*p); err == nil {
			*p = a
		}
	}
	if !isPostgresDSN(cfg.Server.State) {
		abs(&cfg.Server.State)
	}
	abs(&cfg.Server.TokensFile)
	abs(&cfg.Server.StatePasswordFile)
	if t := cfg.Server.TLS; t != nil {
		abs(&t.CertFile)
		abs(&t.KeyFile)
	}
	for name, pc := range cfg.Providers {
		if pc.Type != ProviderTerraform {
			continue
		}
		abs(&pc.Module)
		if pc.WorkDir == "" {
			base := dir
			if !isPostgresDSN(cfg.Server.State) && cfg.Server.State != "" {
				base = filepath.Dir(cfg.Server.State)
			}
			pc.WorkDir = filepath.Join(base, "terraform-"+name)
		}
		abs(&pc.WorkDir)
		cfg.Providers[name] = pc
	}
	for i := range cfg.Pools {
		if s := cfg.Pools[i].Signals; s != nil && s.Baseline != nil && s.Baseline.Agents != nil {
			abs(&s.Baseline.Agents.TargetsFile)
		}
	}
}

// ServerPolicy is pool i's policy as spillway server evaluates it
// (scheduler.New sets the same): an interval shorter than server.tick is
// the tick, and TickSlack is the longest a tick may take (TickLength of
// the longest call_timeout of the providers its offerings name), as a
// tick waits for its cloud calls. slackFrom names the provider whose
// call_timeout that is ("" when none).
func (c *Config) ServerPolicy(i int) (p policy.Pool, slackFrom string) {
	p = c.Pools[i].Policy
	if p.Interval < c.Server.Tick {
		p.Interval = c.Server.Tick
	}
	var call policy.Duration
	for _, o := range p.Offerings {
		if d := c.Providers[o.Provider].CallTimeout; d > call {
			call, slackFrom = d, o.Provider
		}
	}
	pc := c.Pools[i]
	p.TickSlack = policy.Duration(TickLength(call.D(), len(pc.Drain.Command) > 0 || pc.Drain.HTTP != nil))
	return p, slackFrom
}

// TickLength is the longest one tick of a pool may take on the server,
// and so how late its next evaluation may come and how long after an
// evaluation an end it orders may reach the cloud (policy.Pool.TickSlack):
// the list and the terminations, one after the other, each up to
// callTimeout (the longest call_timeout of the pool's providers), and
// between them, when the pool has a drain hook, the hooks (run at once,
// each at most MaxDrainHookTimeout). A tick's launches come after its
// ends and are cut off callTimeout after its evaluation.
func TickLength(callTimeout time.Duration, hook bool) time.Duration {
	if callTimeout <= 0 {
		return 0
	}
	d := 2 * callTimeout
	if hook {
		d += MaxDrainHookTimeout
	}
	return d
}

// serverBudgetErrors refuses a budget that admits no launch on the
// server, though it does in a backtest (budgetAdmitsALaunch): the server
// may evaluate a pool a tick's length late (TickLength), and end an
// instance that long after deciding to, and a hard budget counts each
// instance until then.
func (c *Config) serverBudgetErrors() []FieldError {
	var errs []FieldError
	for i := range c.Pools {
		if msg := c.ServerBudgetProblem(i); msg != "" {
			errs = append(errs, c.src.fieldError(fmt.Sprintf("pools[%d].limits.budget.amount", i), msg))
		}
	}
	return errs
}

// ServerBudgetProblem says why pool i's budget admits no launch on the
// server (ServerPolicy: each evaluation may come a tick's length late, and
// the ends it orders reach the cloud a tick's length after it, and a hard
// budget counts each instance until then), or "" when it admits one or
// has no budget.
func (c *Config) ServerBudgetProblem(i int) string {
	b := c.Pools[i].Policy.Limits.Budget
	if b == nil || b.Amount <= 0 {
		return ""
	}
	p, from := c.ServerPolicy(i)
	least, cheapest := leastBudget(&p)
	if cheapest < 0 || b.Amount >= least {
		return ""
	}
	return budgetTooSmall(&p, least, cheapest, c.tickWhy(i, from))
}

// tickWhy says what pool i's tick length on the server (ServerPolicy's
// TickSlack) is made of: from is the provider of the longest call_timeout.
func (c *Config) tickWhy(i int, from string) string {
	why := fmt.Sprintf("a list and a terminate call, each up to providers.%s.call_timeout", from)
	if d := c.Pools[i].Drain; len(d.Command) > 0 || d.HTTP != nil {
		why += fmt.Sprintf(", and the drain hooks, up to %s", DurationString(MaxDrainHookTimeout))
	}
	return why
}
