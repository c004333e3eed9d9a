package terraform

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// A burst's directory (WorkDir/bursts/<key>/) is a copy of one module
// version and Terraform's working directory for the burst:
//
//	*.tf ...                the module, copied from WorkDir/modules/<version>/
//	.terraform/             init's providers and backend, per burst
//	terraform.tfstate       the burst's state, with the local backend
//	spillway.tfvars.json    the variables of the latest run
//	spillway_adopt.tf       import blocks of cut-off creates found, while applied
//	.spillway/ledger.json   launches, desired instances, last output
//	.spillway/lock          flock: one run at a time on this state
//	.spillway/run.json      the process running Terraform now, if any
//	.spillway/module        the module version this directory was inited with
//	.spillway/runs/*.log    Terraform's output, one file per command
const (
	metaDir      = ".spillway"
	varsFile     = "spillway.tfvars.json"
	planFile     = ".spillway/plan.tfplan"
	ledgerFile   = ".spillway/ledger.json"
	lockFile     = ".spillway/lock"
	runFile      = ".spillway/run.json"
	versionFile  = ".spillway/module"
	runsDir      = ".spillway/runs"
	keepRunLogs  = 30
	maxDiagBytes = 8 << 10
)

// burst is one burst's directory, used only while its lock is held.
type burst struct {
	p   *Provider
	key string
	dir string
	// mark is the mark of the Terraform command running now (runMarkEnv).
	mark string
	// stale is a dead run's record found when the lock was taken; live
	// one of a run not known dead (another host's, or a live process's).
	stale, live *runRecord
}

// burstKey names a burst's directory: readable, unique per (cluster, pool,
// burst), at most 63 characters.
func burstKey(cluster, pool, burst string) string {
	sum := sha256.Sum256([]byte(cluster + "\x00" + pool + "\x00" + burst))
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, burst)
	if len(name) > 40 {
		name = name[:40]
	}
	return strings.Trim(name, "-") + "-" + hex.EncodeToString(sum[:5])
}

// open takes the burst's lock and prepares its directory: a copy of the
// current module version, initialised once per version.
func (p *Provider) open(ctx context.Context, key string) (*burst, func(), error) {
	b, unlock, err := p.lockBurst(ctx, key, true)
	if err != nil {
		return nil, nil, err
	}
	if err := b.heldErr(); err != nil {
		unlock()
		return nil, nil, err
	}
	if err := b.prepare(ctx); err != nil {
		unlock()
		return nil, nil, err
	}
	// Import blocks an adoption left when its process died (adopt.go):
	// one whose key is no longer wanted would fail every plan.
	if err := os.Remove(filepath.Join(b.dir, adoptFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		unlock()
		return nil, nil, err
	}
	return b, unlock, nil
}

// lockBurst takes the burst's lock, making its directory when create is
// set (without, a burst with no directory is an error matching
// fs.ErrNotExist), and ends what a run that died on it left running.
func (p *Provider) lockBurst(ctx context.Context, key string, create bool) (*burst, func(), error) {
	dir := filepath.Join(p.cfg.WorkDir, "bursts", key)
	var (
		unlock func()
		l      *dirLock
	)
	for attempt := 1; ; attempt++ {
		if create {
			if err := mkdirAll(filepath.Join(dir, runsDir)); err != nil {
				if we := asWorkDirError(p.cfg.WorkDir, filepath.Join(dir, runsDir), err); we != nil {
					return nil, nil, &burstError{key: key, err: we}
				}
				return nil, nil, err
			}
		}
		p.mu.Lock()
		var ok bool
		l, ok = p.locks[key]
		if !ok {
			l = newDirLock(filepath.Join(dir, lockFile))
			p.locks[key] = l
		}
		p.mu.Unlock()
		var err error
		unlock, err = l.lock(ctx, create)
		if attempt < 10 && (errors.Is(err, errLockMoved) || create && errors.Is(err, fs.ErrNotExist)) {
			continue // retired while waiting: made afresh
		}
		if we := asWorkDirError(p.cfg.WorkDir, filepath.Join(dir, lockFile), err); we != nil {
			return nil, nil, &burstError{key: key, err: we}
		}
		if err != nil {
			return nil, nil, &burstError{key: key, err: fmt.Errorf("waiting for its lock%s: %w", p.lockHeldBy(dir), err)}
		}
		break
	}
	b := &burst{p: p, key: key, dir: dir}
	rec, err := readRunRecord(filepath.Join(dir, runFile))
	if err != nil {
		unlock()
		return nil, nil, err
	}
	switch {
	case rec != nil && rec.dead(p.host):
		p.log.Warn("a run on this burst died mid-command", "burst", key, "pid", rec.PID, "op", rec.Op, "started", rec.Started)
		b.stale = rec
		p.endDeadRun(ctx, rec, p.log.With("burst", key))
	case rec != nil:
		b.live = rec
		if ended, epoch := rec.termEnded(p.opts.leader); ended {
			// A leader's run (of this host or another sharing the work
			// dir) whose term has ended: its calls ended with the term.
			p.log.Warn("a run on this burst was made in a leader term that has ended", "burst", key,
				"host", rec.Host, "pid", rec.PID, "op", rec.Op, "started", rec.Started, "run_epoch", rec.Epoch, "epoch", epoch)
			b.stale, b.live = rec, nil
			if rec.Host == p.host {
				p.endDeadRun(ctx, rec, p.log.With("burst", key))
			}
		}
	}
	return b, unlock, nil
}

// lockHeldBy says, for an error of a wait for the lock of the burst in
// dir, which run holds it, as its run record names it (" held by terraform
// apply of process 123 on host h since T"), or "" when no record says
// (the holder is between its Terraform commands): a wait that ran out
// said only "context deadline exceeded", leaving the operator to guess
// at another server sharing the work dir, or a long apply of this one.
func (p *Provider) lockHeldBy(dir string) string {
	rec, err := readRunRecord(filepath.Join(dir, runFile))
	if err != nil || rec == nil || rec.PID == 0 {
		return ""
	}
	whose := fmt.Sprintf("process %d on %s", rec.PID, rec.Host)
	if rec.Host == p.host && rec.PID == os.Getpid() {
		whose = "this server"
	}
	return fmt.Sprintf(" held by terraform %s of %s since %s", rec.Op, whose, rec.Started.UTC().Format(time.RFC3339))
}

// prepare brings the directory to the provider's module version: copy the
// module in and run init, once per version.
func (b *burst) prepare(ctx context.Context) error {
	have, err := os.ReadFile(filepath.Join(b.dir, versionFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	shared := len(b.p.cfg.BackendConfig) == 0
	if string(have) == b.p.version && (!shared || b.p.snapshotInitialised()) {
		return nil
	}
	b.p.touchSnapshot()
	if shared {
		// No per-burst backend settings: every burst of this module
		// version has the same .terraform, so init runs once, in the
		// snapshot, and each burst links to it.
		if err := b.p.initSnapshot(ctx); err != nil {
			return err
		}
	}
	if err := copyModule(b.p.snapshot, b.dir); err != nil {
		return fmt.Errorf("copy module into %s: %w", b.dir, err)
	}
	if shared {
		link := filepath.Join(b.dir, ".terraform")
		if err := os.RemoveAll(link); err != nil {
			return err
		}
		if err := os.Symlink(filepath.Join(b.p.snapshot, ".terraform"), link); err != nil {
			return err
		}
		return writeFileAtomic(filepath.Join(b.dir, versionFile), []byte(b.p.version))
	}
	var backendConfig []string
	for _, k := range sortedKeys(b.p.cfg.BackendConfig) {
		v := strings.ReplaceAll(b.p.cfg.BackendConfig[k], "{burst}", b.key)
		backendConfig = append(backendConfig, k+"="+v)
	}
	if err := b.run(ctx, "init", func(ctx context.Context, w io.Writer) error {
		return b.p.init(ctx, b.dir, b.mark, w, backendConfig...)
	}); err != nil {
		if re := (*RunError)(nil); errors.As(err, &re) && re.Hint == "" {
			re.Hint = b.p.initHint(re.Diagnostics)
		}
		return err
	}
	return writeFileAtomic(filepath.Join(b.dir, versionFile), []byte(b.p.version))
}

// initSnapshot runs `terraform init` once in the module version's
// snapshot, under a lock shared by every process on the work dir.
func (p *Provider) initSnapshot(ctx context.Context) error {
	p.mu.Lock()
	l, ok := p.locks["module:"+p.version]
	if !ok {
		l = newDirLock(p.snapshot + ".lock")
		p.locks["module:"+p.version] = l
	}
	p.mu.Unlock()
	// WorkDir/modules is made by New; made again if it was removed since.
	if err := os.MkdirAll(filepath.Dir(p.snapshot), 0o700); err != nil {
		return err
	}
	unlock, err := l.lock(ctx, true)
	if err != nil {
		return fmt.Errorf("waiting to init module version %s: %w", p.version, err)
	}
	defer unlock()
	if p.snapshotInitialised() {
		return nil
	}
	// The snapshot is made by New; made again if it was removed since.
	if err := p.snapshotModule(); err != nil {
		return err
	}
	logPath := p.snapshot + ".init.log"
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	w := newRunLog(f)
	mark := newRunMark()
	err = p.runTerraform(ctx, mark, p.log.With("module_version", p.version, "op", "init"), nil, func(ctx context.Context) error {
		return p.init(ctx, p.snapshot, mark, w)
	})
	_ = w.Close()
	if err != nil {
		d := diagnosticsOf(logPath, err)
		return &RunError{Op: "init", Dir: p.snapshot, Log: logPath, Diagnostics: d, Hint: p.initHint(d), Err: err}
	}
	marker := p.snapshotMarker()
	if err := os.MkdirAll(filepath.Dir(marker), 0o700); err != nil {
		return err
	}
	return os.WriteFile(marker, nil, 0o600)
}

// installFailures are what Terraform's init says when it cannot install
// a provider or a module the module names: no network to its registry, a
// registry or mirror that does not have it.
var installFailures = []string{
	"Failed to query available provider packages", "Failed to install provider", "Failed to resolve provider packages",
	"Failed to download module", "Failed to install module", "Module not found",
}

// initHint says what to do when init could not install what the module
// needs (diags, its error text), and "" otherwise.
func (p *Provider) initHint(diags string) string {
	if !slices.ContainsFunc(installFailures, func(f string) bool { return strings.Contains(diags, f) }) {
		return ""
	}
	return fmt.Sprintf("the module %s needs providers or modules that Terraform could not install on this host; "+
		"give it access to their registry, or, offline, put them where Terraform finds them without one: "+
		"run `terraform providers mirror DIR` in the module on a host with access, and name DIR in a provider_installation "+
		"filesystem_mirror block of the Terraform CLI configuration (TF_CLI_CONFIG_FILE) of the server's environment; "+
		"each run on a burst initialises again until init succeeds", p.cfg.Module)
}

// snapshotMarker is the file init leaves in the snapshot's .terraform.
func (p *Provider) snapshotMarker() string {
	return filepath.Join(p.snapshot, ".terraform", ".spillway-initialised")
}

// snapshotInitialised says whether the module version's snapshot has been
// initialised (and not removed since, which would leave every burst's
// .terraform link dangling).
func (p *Provider) snapshotInitialised() bool {
	_, err := os.Stat(p.snapshotMarker())
	return err == nil
}

// run runs one Terraform command, recording who runs it and keeping its
// output in a log of its own. A command refused because the backend's
// state lock is held by a run known dead is retried once after Terraform
// force-unlocks it.
//
// A lock it may not break fails the command with what the operator must
// do (RunError.Hint): Terraform's own message suggests -lock=false.
func (b *burst) run(ctx context.Context, op string, cmd func(ctx context.Context, w io.Writer) error) error {
	err := b.runOnce(ctx, op, cmd)
	var re *RunError
	if err == nil {
		if slices.Contains(jsonOps, op) || op == "lookup-plan" {
			// It took the state lock (state pull and output do not).
			b.p.lockedWarned(b.key, "")
		}
		return nil
	}
	if !errors.As(err, &re) {
		return err
	}
	if re.Hint == "" && strings.Contains(re.Diagnostics, unreadableState) {
		re.Hint = b.unreadableStateHint()
		return b.hold(ctx, err)
	}
	us := []string{b.p.who}
	if b.stale != nil && b.stale.Who != "" {
		// The dead run's own lock (another host's user@host).
		us = append(us, b.stale.Who)
	}
	id, ok := breakable(re.Diagnostics, us...)
	if id == "" {
		return err
	}
	if !ok || b.stale == nil {
		_, who := lockHolder(re.Diagnostics)
		// Every run on the burst (each tick's launch, its clean-up, each
		// Reconcile) fails alike until the lock is released: warned once
		// a lock, each run's error saying what to do.
		level := slog.LevelDebug
		if b.p.lockedWarned(b.key, id) {
			level = slog.LevelWarn
		}
		b.p.log.Log(ctx, level, "the burst's state is locked by a run not known to be over; every run on the burst fails until it is released",
			"burst", b.key, "lock_id", id, "holder", who, "release", "terraform force-unlock -force "+id+" in "+b.dir)
		re.Hint = b.lockedHint(id, who)
		return err
	}
	b.p.log.Warn("releasing the state lock of a dead run", "burst", b.key, "lock_id", id, "dead_pid", b.stale.PID, "dead_host", b.stale.Host, "dead_epoch", b.stale.Epoch)
	if uerr := b.runOnce(ctx, "force-unlock", func(ctx context.Context, w io.Writer) error {
		return b.forceUnlock(ctx, w, id)
	}); uerr != nil {
		return errors.Join(err, uerr)
	}
	b.stale = nil
	return b.runOnce(ctx, op, cmd)
}

// unreadableState is Terraform's summary for a state it cannot parse,
// which it reports as an error acquiring the state lock, suggesting
// -lock=false.
const unreadableState = "Unsupported state file format"

// unreadableStateHint says what to do about a burst's state Terraform
// cannot read: no lock is at fault, and no run on the burst can plan,
// launch or end its instances until the state is repaired.
func (b *burst) unreadableStateHint() string {
	where, restore := fmt.Sprintf("%s, %s,", b.p.backend.block(), b.p.statePerBurst(b.key)), "from the backend's versions or backups"
	if path, local := localStatePath(b.dir, b.key, b.p.backend.Type, b.p.cfg.BackendConfig); local {
		where, restore = path, "from "+path+".backup, the state before Terraform's last write of it"
	}
	return fmt.Sprintf("the burst's Terraform state %s cannot be read (damaged, or edited by hand), and no lock is at fault: "+
		"every run on the burst fails, its instances neither launched nor ended, until the state is restored (%s; "+
		"its ledger %s lists the instances it should hold)", where, restore, filepath.Join(b.dir, ledgerFile))
}

// lockedHint says why Spillway leaves the state lock id (held by who,
// when the backend says) alone, and how the operator releases it.
func (b *burst) lockedHint(id, who string) string {
	var holder string
	switch r := b.live; {
	case who != "" && who != b.p.who:
		holder = "it is held by " + who + ", not by Spillway on this host"
	case r != nil && r.Host != b.p.host && r.Epoch != 0:
		holder = fmt.Sprintf("a Spillway run on host %s (pid %d, terraform %s, started %s, leader term %d) may hold it, and that term has not ended as far as this server knows",
			r.Host, r.PID, r.Op, r.Started.UTC().Format(time.RFC3339), r.Epoch)
	case r != nil && r.Host != b.p.host:
		holder = fmt.Sprintf("a Spillway run on host %s (pid %d, terraform %s, started %s) may hold it, and this host cannot tell whether that run is over",
			r.Host, r.PID, r.Op, r.Started.UTC().Format(time.RFC3339))
	case r != nil:
		holder = fmt.Sprintf("a Spillway run in process %d of this host (terraform %s, started %s) may hold it, and that process is running",
			r.PID, r.Op, r.Started.UTC().Format(time.RFC3339))
	default:
		holder = "no run of Spillway's on this burst is recorded as holding it"
	}
	return fmt.Sprintf("the burst's Terraform state is locked (lock ID %s): %s. Spillway breaks a lock only when the run that took it is known to be over; "+
		"once no Terraform run on this state is left (%s names Spillway's), release it with `terraform force-unlock -force %s` in %s, and the next run goes on",
		id, holder, filepath.Join(b.dir, runFile), id, b.dir)
}

var (
	lockInfoIDRE  = regexp.MustCompile(`(?s)Error acquiring the state lock.*?\bLock Info:.*?\bID:\s+(\S+)`)
	lockInfoWhoRE = regexp.MustCompile(`(?s)Error acquiring the state lock.*?\bLock Info:.*?\bWho:\s+(\S+)`)
	lockedIDRE    = regexp.MustCompile(`(?s)Error acquiring the state lock.*?already locked: ID=(\S+)`)
)

// breakable says whether the lock a command was refused for may be broken
// once a run of ours on the burst is known dead: when the backend names
// the holder, only if it is one of us (user@host: this server's, or the
// dead run's); when it does not (the http backend), the dead run is taken
// to be the holder, since every run on a burst's state is Spillway's and
// holds the burst's lock.
func breakable(diags string, us ...string) (id string, ok bool) {
	id, who := lockHolder(diags)
	return id, id != "" && (who == "" || slices.Contains(us, who))
}

// lockHolder reads Terraform's "Error acquiring the state lock"
// diagnostic: the id of the lock that is held, and who holds it (user@host)
// when the backend says. Most backends print the holder's lock info; the
// http backend prints the lock it tried to take and names the holder's id
// only in its message ("already locked: ID=..."), so who is then unknown.
func lockHolder(diags string) (id, who string) {
	var infoID, infoWho string
	if m := lockInfoIDRE.FindStringSubmatch(diags); m != nil {
		infoID = m[1]
	}
	if m := lockInfoWhoRE.FindStringSubmatch(diags); m != nil {
		infoWho = m[1]
	}
	if m := lockedIDRE.FindStringSubmatch(diags); m != nil && m[1] != infoID {
		return m[1], ""
	}
	return infoID, infoWho
}

func (b *burst) runOnce(ctx context.Context, op string, cmd func(ctx context.Context, w io.Writer) error) error {
	now := b.p.opts.clock()
	mark := newRunMark()
	b.mark = mark
	record := runRecord{PID: os.Getpid(), Host: b.p.host, Op: op, Started: now, Mark: mark, Boot: b.p.boot, Start: b.p.start, Who: b.p.who}
	if l := b.p.opts.leader; l != nil {
		if epoch, _, ok := l.Term(); ok {
			record.Epoch = epoch
		}
	}
	rec, _ := json.Marshal(record)
	if err := writeFileAtomic(filepath.Join(b.dir, runFile), rec); err != nil {
		return err
	}
	// Once started, the process running the command is recorded too: a
	// Terraform that outlives this process (run by a wrapper script) is
	// known by it, whatever its executable is named.
	startedChild := func(c childProc) {
		record.Child = &c
		rec, _ := json.Marshal(record)
		if err := writeFileAtomic(filepath.Join(b.dir, runFile), rec); err != nil {
			b.p.log.Warn("recording the terraform process failed", "burst", b.key, "op", op, "err", err)
		}
	}
	// Named by time, then a sequence number: an injected clock may stand still.
	logPath := filepath.Join(b.dir, runsDir, fmt.Sprintf("%s-%06d-%s.log", now.UTC().Format("20060102T150405.000000000"), b.p.runSeq.Add(1)%1000000, op))
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	w := newRunLog(f)
	start := time.Now()
	// Everything Terraform prints goes to the run's log (command.go).
	runErr := b.p.runTerraform(ctx, mark, b.p.log.With("burst", b.key, "op", op, "log", logPath), startedChild, func(ctx context.Context) error {
		return cmd(ctx, w)
	})
	if err := w.Close(); err != nil {
		b.p.log.Warn("writing the run's log failed", "burst", b.key, "op", op, "log", logPath, "err", err)
	}
	// The command is over (Terraform exited or was killed, and with it
	// every process it started): no run holds the backend's lock any more.
	_ = os.Remove(filepath.Join(b.dir, runFile))
	b.pruneLogs()
	b.p.log.Debug("terraform", "burst", b.key, "op", op, "took", time.Since(start), "err", runErr, "log", logPath)
	b.logWarnings(op, logPath)
	if runErr == nil {
		return nil
	}
	if interrupted(runErr) {
		return &RunError{Op: op, Dir: b.dir, Log: logPath, Diagnostics: "interrupted: " + runErr.Error(), Err: runErr}
	}
	return &RunError{Op: op, Dir: b.dir, Log: logPath, Diagnostics: diagnosticsOf(logPath, runErr), Err: runErr}
}

// jsonOps are the commands run with -json, whose logs hold Terraform's
// diagnostics one a line.
var jsonOps = []string{"plan", "apply", "destroy", "plan-targeted", "refresh-plan"}

// logWarnings logs each warning a -json run's log holds (a check block's
// failed assertion, a deprecated argument): Terraform goes on, and the
// operator would see it nowhere else. Each is logged once a run.
func (b *burst) logWarnings(op, logPath string) {
	if !slices.Contains(jsonOps, op) {
		return
	}
	var seen []diag
	for _, d := range diagnosticsBy(logPath, "warning") {
		if slices.ContainsFunc(seen, func(o diag) bool { return o.Summary == d.Summary && o.Detail == d.Detail && o.Address == d.Address }) {
			continue
		}
		seen = append(seen, d)
		text := d.Summary
		if d.Detail != "" {
			text += ": " + strings.TrimSpace(d.Detail)
		}
		b.p.log.Warn("terraform warned", "burst", b.key, "op", op, "module", b.p.cfg.Module, "address", cut(printable(d.Address)), "warning", clip(printable(text), maxDiagBytes), "log", logPath)
	}
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "...(cut)"
}

func (b *burst) pruneLogs() {
	ents, err := os.ReadDir(filepath.Join(b.dir, runsDir))
	if err != nil || len(ents) <= keepRunLogs {
		return
	}
	for _, e := range ents[:len(ents)-keepRunLogs] { // names sort by time
		_ = os.Remove(filepath.Join(b.dir, runsDir, e.Name()))
	}
}

// diag is one diagnostic of Terraform's machine-readable output.
type diag struct {
	Severity string `json:"severity"`
	Summary  string `json:"summary"`
	Detail   string `json:"detail"`
	Address  string `json:"address"`
	// Range is where in the module's files it points, when it does.
	Range *struct {
		Filename string `json:"filename"`
		Start    struct {
			Line int `json:"line"`
		} `json:"start"`
	} `json:"range"`
	Snippet struct {
		// Code is the source line the diagnostic points at.
		Code string `json:"code"`
		// Values are the expressions it quotes (var.instances ...).
		Values []struct {
			Traversal string `json:"traversal"`
		} `json:"values"`
	} `json:"snippet"`
}

// diagnostics reads the error diagnostics of a -json run's log.
func diagnostics(logPath string) []diag { return diagnosticsBy(logPath, "error") }

// diagnosticsBy reads the diagnostics of severity (error, warning) of a
// -json run's log.
func diagnosticsBy(logPath, severity string) []diag {
	f, err := os.Open(logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []diag
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("{")) {
			continue
		}
		var msg struct {
			Type       string `json:"type"`
			Diagnostic *diag  `json:"diagnostic"`
		}
		if json.Unmarshal(line, &msg) != nil || msg.Type != "diagnostic" || msg.Diagnostic == nil || msg.Diagnostic.Severity != severity {
			continue
		}
		out = append(out, *msg.Diagnostic)
	}
	return out
}

// outputsOf reads the last "outputs" message of a -json apply or destroy
// log: the root module's outputs after the run.
func outputsOf(logPath string) (map[string]tfexec.OutputMeta, bool) {
	if logPath == "" || !(strings.HasSuffix(logPath, "-apply.log") || strings.HasSuffix(logPath, "-destroy.log")) {
		return nil, false
	}
	f, err := os.Open(logPath)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var (
		outs  map[string]tfexec.OutputMeta
		found bool
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxOutputBytes)
	for sc.Scan() {
		var msg struct {
			Type    string                       `json:"type"`
			Outputs map[string]tfexec.OutputMeta `json:"outputs"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Type == "outputs" {
			outs, found = msg.Outputs, true
		}
	}
	return outs, found && sc.Err() == nil
}

// diagnosticsOf is Terraform's own error text for a failed command: its
// error diagnostics, or (for commands without -json) what it printed.
func diagnosticsOf(logPath string, runErr error) string {
	var sb strings.Builder
	for _, d := range diagnostics(logPath) {
		if sb.Len() > 0 {
			sb.WriteString("; ")
		}
		if d.Address != "" {
			fmt.Fprintf(&sb, "%s: ", d.Address)
		}
		sb.WriteString(d.Summary)
		if d.Detail != "" {
			sb.WriteString(": ")
			sb.WriteString(strings.TrimSpace(d.Detail))
		}
	}
	if sb.Len() == 0 {
		// The error quotes stderr's head and tail (command).
		sb.WriteString(strings.TrimSpace(runErr.Error()))
	}
	s := printable(sb.String())
	if len(s) > maxDiagBytes {
		s = strings.ToValidUTF8(s[:maxDiagBytes], "") + " ...(cut; see the log)"
	}
	return s
}

// printable escapes the control characters of Terraform's error text
// other than newlines and tabs (\x1b, \x00): a failing provisioner's
// output is quoted in it, and what a module prints reaches the operator's
// terminal and Spillway's state in the error (PostgreSQL stores no NUL).
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var sb strings.Builder
	for _, r := range s {
		if !unprintable(r) {
			sb.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		sb.WriteString(q[1 : len(q)-1])
	}
	return sb.String()
}

// unprintable is a control or format character other than a newline or
// a tab. (Invalid UTF-8 reads as utf8.RuneError, which is printed as it.)
func unprintable(r rune) bool { return r != '\n' && r != '\t' && !unicode.IsPrint(r) }

var keyRE = regexp.MustCompile(`\["([^"\]]+)"\]`)

// keyOf finds which of keys a diagnostic's resource address is for: the
// last ["key"] index of the address that is one of keys.
func keyOf(address string, keys map[string]*slot) string {
	ms := keyRE.FindAllStringSubmatch(address, -1)
	for i := len(ms) - 1; i >= 0; i-- {
		if _, ok := keys[ms[i][1]]; ok {
			return ms[i][1]
		}
	}
	return ""
}

// apply makes the state match the ledger's slots: plan, then apply the plan
// when it changes anything (destroy when no slot is left), then read the
// instances output back into the ledger. It returns the failed command's
// *RunError and the error diagnostics it produced. First it looks for the
// instances of creates an earlier apply was cut off in (adopt.go).
func (b *burst) apply(ctx context.Context, l *ledger) ([]diag, error) {
	b.adoptCutOff(ctx, l)
	return b.applySlots(ctx, l)
}

// applySlots is apply without the look for cut-off creates.
func (b *burst) applySlots(ctx context.Context, l *ledger) ([]diag, error) {
	if err := b.heldErr(); err != nil {
		// Found so by this call's earlier apply (a failed launch's
		// clean-up after its apply).
		return nil, err
	}
	held, err := b.checkState(ctx, l)
	if err != nil {
		return nil, err
	}
	if err := b.writeVars(l); err != nil {
		return nil, err
	}
	var logPath string
	jsonRun := func(op string, fn func(ctx context.Context, w io.Writer) error) error {
		return b.run(ctx, op, func(ctx context.Context, w io.Writer) error {
			if f, ok := w.(*runLog); ok {
				logPath = f.Name()
			}
			return fn(ctx, w)
		})
	}
	if l.desired() == 0 {
		empty := false
		if !held {
			var serr error
			if empty, serr = b.stateEmpty(ctx); serr != nil {
				return nil, serr
			}
		}
		if empty {
			// Nothing to destroy (a launch refused at its plan, a key
			// that never got an instance): a destroy would only evaluate
			// the module again, and fail with it for a variable it
			// refuses, leaving the burst dirty for every Reconcile.
			l.Outputs = map[string]outputInstance{}
			l.forgetEnded()
			l.Created, l.CreatedMore = nil, 0
			b.unhold("a run on it succeeded")
			return nil, nil
		}
		err = jsonRun("destroy", func(ctx context.Context, w io.Writer) error {
			return b.destroy(ctx, w)
		})
	} else {
		var changes bool
		err = jsonRun("plan", func(ctx context.Context, w io.Writer) error {
			var perr error
			changes, perr = b.plan(ctx, w)
			return perr
		})
		if err == nil && changes {
			changes, err = b.keepRunning(ctx, l, &logPath, jsonRun)
		}
		if err == nil && changes {
			err = jsonRun("apply", func(ctx context.Context, w io.Writer) error {
				return b.applyPlan(ctx, w)
			})
			// What it made is in the state, and in no output read until
			// readOutputs succeeds.
			l.addCreated(createdBy(logPath))
			if c := cutOff(logPath); err != nil && len(c) > 0 {
				ce := &CutOffError{Burst: b.key, Cluster: l.Cluster, Pool: l.Pool, Name: l.Burst, Resources: c, Err: err}
				if b.p.lookup {
					ce.Looked = b.recordCutOff(l, c)
				}
				b.p.log.Error("an apply died while creating resources: the cloud may hold instances no state records", "burst", b.key, "resources", c, "log", logPath)
				err = ce
			}
		}
	}
	if err != nil {
		diags := diagnostics(logPath)
		if pe := b.preventedDestroy(l, diags, err); pe != nil {
			b.p.reportPreventedDestroy(pe)
			err = pe
		}
		return diags, err
	}
	if err := b.readOutputs(ctx, l, logPath, true); err != nil {
		return nil, err
	}
	b.unhold("a run on it succeeded")
	// What this apply created, and what failed applies since the last
	// run that succeeded did (on a burst being repaired).
	made := len(l.Created) > 0 || l.CreatedMore > 0
	l.Created, l.CreatedMore = nil, 0
	if !made {
		// An apply that only ended instances (a Terminate, a launch
		// abandoned) added none the output could leave out; reading the
		// state for them could only refuse ending what was asked, for a
		// state too large to read.
		return nil, nil
	}
	// The instances the output names are what the scheduler counts: any
	// other the apply left in the state (or an earlier one, on a burst
	// being repaired) would be billed uncounted.
	return nil, b.unreported(ctx, l)
}

// createdBy reads the resources a -json apply's log says it finished
// creating (or replacing): "address (id ...)".
func createdBy(logPath string) []string {
	var out []string
	eachLogMessage(logPath, "apply_complete", func(m logMessage) {
		if m.Hook.Action != "create" && m.Hook.Action != "replace" {
			return
		}
		r := cut(printable(m.Hook.Resource.Addr))
		if m.Hook.IDValue != "" {
			r += " (id " + cut(printable(m.Hook.IDValue)) + ")"
		}
		out = append(out, r)
	})
	return out
}

// stateEmpty says whether the burst's state holds no resource: its local
// state file is absent or lists none, or (another backend) `terraform
// state pull` gives none. A state that cannot be read is not empty.
func (b *burst) stateEmpty(ctx context.Context) (bool, error) {
	var data []byte
	if _, err := os.Stat(filepath.Join(b.dir, ".terraform", "terraform.tfstate")); err == nil {
		data, err = b.pullState(ctx)
		if se := (*StateSizeError)(nil); errors.As(err, &se) {
			return false, nil // too large to hold nothing
		}
		if err != nil {
			return false, err
		}
	} else {
		data, err = readBounded(filepath.Join(b.dir, "terraform.tfstate"), b.p.opts.maxState)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return true, nil
		case errors.Is(err, errOverLimit):
			return false, nil
		case err != nil:
			return false, err
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return true, nil
	}
	var st struct {
		Resources []json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return false, nil
	}
	return len(st.Resources) == 0, nil
}

// readBounded reads the file at path, at most limit bytes of it: a larger
// file is errOverLimit.
func readBounded(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err == nil && len(data) > limit {
		return nil, errOverLimit
	}
	return data, err
}

// pullState is the burst's state from its backend (`terraform state
// pull`), kept out of the run's log: the state holds every value in the
// clear. At most the provider's maxState bytes of it are read (64 MiB):
// a larger state is a *StateSizeError, and the command is killed rather
// than read whole into memory.
func (b *burst) pullState(ctx context.Context) ([]byte, error) {
	var pulled []byte
	err := b.run(ctx, "state-pull", func(ctx context.Context, w io.Writer) error {
		var perr error
		pulled, _, perr = b.readCommand(ctx, w, b.p.opts.maxState, "state", "pull")
		return perr
	})
	if errors.Is(err, errOverLimit) {
		return nil, &StateSizeError{Burst: b.key, Dir: b.dir, Where: fmt.Sprintf("%s, %s, as `terraform state pull` prints it", b.p.backend.block(), b.p.statePerBurst(b.key)), Limit: b.p.opts.maxState}
	}
	return pulled, err
}

// checkState refuses to run Terraform on a burst whose ledger lists
// instances while its state is gone (removed by hand, or by the module):
// a plan would launch them all again and leave the ones the state held
// running, tracked by nothing. With the local backend it checks the state
// file (terraform.tfstate in the burst's directory, or backend_config's
// path); with any other backend it pulls the state (`terraform state
// pull`), which is empty once its object is gone. held says the state
// was pulled and holds resources (so the caller need not pull it again).
func (b *burst) checkState(ctx context.Context, l *ledger) (held bool, err error) {
	if len(l.Outputs) == 0 && len(l.Created) == 0 {
		return false, nil
	}
	path, local := localStatePath(b.dir, b.key, b.p.backend.Type, b.p.cfg.BackendConfig)
	where, restore := "its Terraform state "+path, "restore the state (Terraform keeps the one before its last write as "+path+".backup)"
	gone := "is gone"
	if local {
		if gone = stateFileGone(path); gone == "" {
			return false, nil
		}
	} else {
		empty, err := b.stateEmpty(ctx)
		if err != nil || !empty {
			return err == nil, err
		}
		where = fmt.Sprintf("its Terraform state (%s, %s)", b.p.backend.block(), b.p.statePerBurst(b.key))
		restore = "restore the state object (from the backend's versions or backups)"
	}
	if len(l.Outputs) == 0 {
		// A failed apply made these, and the state is gone with them
		// (the module removed it): a destroy would end nothing, and
		// forgetting the launch would leave them running, tracked by
		// nothing.
		made := quoteList(l.Created)
		if l.CreatedMore > 0 {
			made += fmt.Sprintf(" and %d more", l.CreatedMore)
		}
		return false, b.hold(ctx, fmt.Errorf("%s %s, yet its last failed apply created %s: "+
			"a destroy would end none of them, and a plan would launch them again; "+
			"%s, or end what the apply created by hand (its log in %s names it) and remove the directory %s", where, gone, made, restore, filepath.Join(b.dir, runsDir), b.dir))
	}
	ids := make([]string, 0, len(l.Outputs))
	for _, k := range sortedKeys(l.Outputs) {
		ids = append(ids, l.Outputs[k].ID)
	}
	return false, b.hold(ctx, fmt.Errorf("%s %s, yet its ledger lists instances %s: "+
		"a plan would launch them again and leave these running, tracked by nothing; "+
		"%s, or end those instances by hand and remove the directory %s", where, gone, quoteList(ids), restore, b.dir))
}

// readOutputs reads the module's instances output into the ledger: from
// the "outputs" message that ends an apply's or destroy's -json log, or
// else (after a plan without changes) with `terraform output`. After an
// apply (strict) an empty output while instances were asked for is the
// module's fault; after a refresh it means they are gone.
func (b *burst) readOutputs(ctx context.Context, l *ledger, logPath string, strict bool) error {
	var value json.RawMessage
	outs, ok := outputsOf(logPath)
	if ok && !outs["instances"].Sensitive {
		value = outs["instances"].Value
	} else {
		// A -json run leaves a sensitive output's value out, and a log
		// cut short loses its outputs message: `terraform output` gives
		// the value, read up to a bound.
		err := b.run(ctx, "output", func(ctx context.Context, w io.Writer) error {
			var oerr error
			value, oerr = b.outputValue(ctx, "instances", w)
			return oerr
		})
		if oe := (*OutputError)(nil); errors.As(err, &oe) {
			return oe
		}
		if err != nil {
			return err
		}
	}
	// After an apply the output lists what var.instances asked for; a
	// refresh may still see instances being ended.
	want := sortedKeys(l.Slots)
	if strict {
		want = sortedKeys(l.variables())
	}
	raw := map[string]rawOutput{}
	var stray *strays
	if len(value) > 0 && string(value) != "null" {
		var err error
		if raw, stray, err = decodeOutputs(b.dir, value, want); err != nil {
			return err
		}
	} else if n := l.desired(); n > 0 && strict {
		return &OutputError{Dir: b.dir, Problems: []string{fmt.Sprintf("it is empty, and the module was given %d instances: want one {id, zone, private_ip, gpus} object per key of var.instances", n)}}
	}
	// Only an apply can bring an id another burst holds: a refresh (every
	// List, every burst) does not read every other ledger again.
	var held map[string]heldID
	if strict {
		var err error
		if held, err = b.p.heldIDs(ctx, b.key); err != nil {
			return err
		}
	}
	got, err := checkOutputs(b.dir, raw, stray, want, l.Slots, held)
	if err != nil {
		return err
	}
	l.Outputs = got
	l.rememberIDs()
	l.forgetEnded()
	return nil
}

// writeVars writes the variables of the next run.
func (b *burst) writeVars(l *ledger) error {
	vars := make(map[string]any, len(b.p.cfg.Variables)+4)
	for k, v := range b.p.cfg.Variables {
		vars[k] = v
	}
	vars["cluster"] = l.Cluster
	vars["pool"] = l.Pool
	vars["burst"] = b.key
	vars["instances"] = l.variables()
	data, err := json.MarshalIndent(vars, "", "  ")
	if err != nil {
		return fmt.Errorf("encode variables: %w", err)
	}
	return writeFileAtomic(filepath.Join(b.dir, varsFile), data)
}

func (b *burst) readLedger() (*ledger, error) { return readLedger(filepath.Join(b.dir, ledgerFile)) }

// writeLedger stamps the ledger with the time of writing, from which an
// ended burst's age is counted (retire.go), and writes it.
func (b *burst) writeLedger(l *ledger) error {
	l.Written = b.p.opts.clock()
	if len(l.CutOff) > 0 {
		// Reconcile repairs the burst, so that its cut-off creates are
		// looked for every tick until found or given up (adopt.go).
		l.Dirty = true
	}
	return l.write(filepath.Join(b.dir, ledgerFile))
}

// moduleFiles lists the files of a module directory that make up its
// version: everything but Terraform's and Spillway's working files.
func moduleFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		name := d.Name()
		if d.IsDir() {
			if rel != "." && (name == ".terraform" || name == metaDir || name == "terraform.tfstate.d" || name == ".git") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, "terraform.tfstate") || strings.HasPrefix(name, ".terraform.tfstate") || name == varsFile || !isFile(path, d) {
			return nil
		}
		files = append(files, rel)
		return nil
	})
	slices.Sort(files)
	return files, err
}

// isFile says whether a module directory's entry is a file, or a link to
// one (a file shared between modules): Terraform reads what the link
// points to, so the snapshot holds a copy of it. A dangling link (an
// editor's lock file) is none.
func isFile(path string, d fs.DirEntry) bool {
	if d.Type()&fs.ModeSymlink == 0 {
		return d.Type().IsRegular()
	}
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// moduleVersion hashes a module's files' names and contents.
func moduleVersion(dir string) (string, error) {
	files, err := moduleFiles(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// copyModule copies the module files of src into dst, replacing any
// earlier version's (files the new version dropped are removed).
func copyModule(src, dst string) error {
	old, err := moduleFiles(dst)
	if err != nil {
		return err
	}
	files, err := moduleFiles(src)
	if err != nil {
		return err
	}
	for _, f := range old {
		// Only configuration a newer version dropped: the directory also
		// holds files the module itself wrote.
		if ext := filepath.Ext(f); (ext == ".tf" || strings.HasSuffix(f, ".tf.json")) && !slices.Contains(files, f) {
			_ = os.Remove(filepath.Join(dst, f))
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			return err
		}
		// Each file is synced (writeFileAtomic) before prepare records
		// the version as copied: after a crash, a file left empty with
		// the version recorded would be run as the module, and an empty
		// main.tf plans to destroy every instance of the burst's state.
		if err := mkdirAll(filepath.Dir(filepath.Join(dst, f))); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dst, f), data); err != nil {
			return err
		}
	}
	return nil
}
