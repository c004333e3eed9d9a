// Package terraform is a providers.Provider that launches and ends burst
// capacity by applying a Terraform module the platform team owns, with the
// real terraform binary (run as terraform-exec runs it: command.go).
//
// The module satisfies a small contract (contract.go, docs/terraform.md):
// Spillway sets var.cluster, var.pool, var.burst and var.instances (one
// object per instance, by a stable key) and reads output.instances (id,
// zone, private address, GPU count per key). Each burst has its own
// working directory and state, so bursts apply in parallel and a destroy
// cannot touch another burst. Runs on one state are serialised (in the
// process and, through flock, across processes); a cancelled context
// interrupts Terraform (a context's deadline does so its grace before it,
// so that Terraform has stopped by then), which stops gracefully and
// writes its state; one that does not stop in its grace is killed with
// every process it started; the next run on the burst completes what was
// left. A backend lock left by a run that died is force-unlocked once that
// run is known dead. Cloud capacity and quota errors quoted in Terraform's
// diagnostics become the providers package's typed errors, and a key out
// of stock in one zone is retried in the next.
package terraform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

var _ providers.Provider = (*Provider)(nil)

// Provider launches instances by applying a Terraform module, one state
// per burst. It is safe for concurrent use, and several Providers (or
// processes) may share a WorkDir.
type Provider struct {
	name   string
	cfg    Config
	opts   options
	log    *slog.Logger
	binary string
	env    map[string]string
	host   string
	// who is user@host, as Terraform names a lock's holder.
	who string
	// boot and start identify this process beyond its PID in the run
	// records it writes (runRecord).
	boot  string
	start uint64
	// backend is where the module keeps each burst's state.
	backend moduleBackend
	// lookup says the module declares the cloud_instances output, by
	// which the instances of cut-off creates are found (adopt.go).
	lookup bool
	// version identifies the module's contents; snapshot is its copy under
	// WorkDir/modules, from which burst directories are filled.
	version, snapshot string

	mu    sync.Mutex
	locks map[string]*dirLock
	// refusedDestroy holds the resources (burst and address) Terraform
	// refused to destroy for their prevent_destroy, already logged.
	refusedDestroy map[string]bool
	// locked holds, by burst, the id of the backend lock a run on it was
	// last refused for, already logged; a run that succeeds clears it.
	locked map[string]string
	// holds holds, by burst, the bursts whose state is lost or cannot
	// be read (hold.go).
	holds map[string]*stateHold
	// runSeq numbers run logs.
	runSeq atomic.Int64
}

// New checks cfg and the module against the contract and snapshots the
// module. It runs no Terraform command: each burst's directory is
// initialised on its first use.
func New(name string, cfg Config, opts ...Option) (*Provider, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.Validate(name); err != nil {
		return nil, err
	}
	bin := o.binary
	if bin == "" {
		var err error
		if bin, err = LookBinary(); err != nil {
			return nil, fmt.Errorf("terraform provider %q: %w", name, err)
		}
	}
	if err := CheckModule(cfg.Module, cfg.Variables); err != nil {
		return nil, fmt.Errorf("terraform provider %q: %w", name, err)
	}
	if problems := CheckBackend(cfg.Module, cfg.BackendConfig); len(problems) > 0 {
		return nil, &ConfigError{Provider: name, Problems: problems}
	}
	version, err := moduleVersion(cfg.Module)
	if err != nil {
		return nil, fmt.Errorf("terraform provider %q: read module %s: %w", name, cfg.Module, err)
	}
	p := &Provider{
		name: name, cfg: cfg, opts: o, binary: bin, version: version, backend: readBackend(cfg.Module),
		log:            o.logger.WithGroup("terraform").With("provider", name),
		snapshot:       filepath.Join(cfg.WorkDir, "modules", version),
		locks:          map[string]*dirLock{},
		refusedDestroy: map[string]bool{},
		locked:         map[string]string{},
		holds:          map[string]*stateHold{},
	}
	p.lookup = declaresOutput(cfg.Module, lookupOutput)
	p.host, _ = os.Hostname()
	p.boot, p.start = bootID(), procStart(os.Getpid())
	if u, err := user.Current(); err == nil {
		p.who = u.Username + "@" + p.host
	}
	if err := p.snapshotModule(); err != nil {
		return nil, fmt.Errorf("terraform provider %q: %w", name, err)
	}
	// What a retirement a crash interrupted left is removed.
	p.emptyTrash()
	cache := filepath.Join(cfg.WorkDir, "plugin-cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return nil, fmt.Errorf("terraform provider %q: %w", name, err)
	}
	p.env = terraformEnv(os.Environ(), cache, o.env)
	return p, nil
}

// snapshotModule copies the module into WorkDir/modules/<version> once
// (and again if that copy was removed).
func (p *Provider) snapshotModule() error {
	if _, err := os.Stat(p.snapshot); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p.snapshot), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(p.snapshot), ".tmp-"+p.version+"-")
	if err != nil {
		return err
	}
	if err := copyModule(p.cfg.Module, tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("snapshot module %s: %w", p.cfg.Module, err)
	}
	// Made again after the snapshot was removed, the copy must still be
	// the version New read.
	if v, err := moduleVersion(tmp); err != nil || v != p.version {
		os.RemoveAll(tmp)
		if err == nil {
			err = fmt.Errorf("it changed since the provider was made (version %s, now %s): restart Spillway to use the new version", p.version, v)
		}
		return fmt.Errorf("snapshot module %s: %w", p.cfg.Module, err)
	}
	if err := os.Rename(tmp, p.snapshot); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(p.snapshot); serr == nil {
			return nil // another provider made it first
		}
		return err
	}
	return nil
}

// terraformEnv is Spillway's environment without the variables
// terraform-exec manages itself, with a shared plugin cache (so each
// burst's init links providers instead of downloading them; none when
// pluginCache is "") and extra.
func terraformEnv(environ []string, pluginCache string, extra map[string]string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, k := range tfexec.ProhibitedEnv(env) {
		delete(env, k)
	}
	if pluginCache != "" {
		env["TF_PLUGIN_CACHE_DIR"] = pluginCache
	}
	for k, v := range extra {
		env[k] = v
	}
	for _, k := range tfexec.ProhibitedEnv(env) {
		delete(env, k)
	}
	return env
}

// Name is the provider's name from the config.
func (p *Provider) Name() string { return p.name }

func (p *Provider) invalid(code, format string, args ...any) error {
	return &providers.InvalidError{Provider: p.name, Code: code, Err: fmt.Errorf(format, args...)}
}

// Launch adds req.Count instances to the burst named by req's
// spillway:burst tag (the client token when there is none) and applies the
// burst's module. A key out of stock in one zone moves to the next zone of
// the config (or fails, for an offering pinned to a zone); when fewer than
// MinCount keys got an instance, the launch's instances are destroyed and
// a *providers.CapacityError returned. A retry with the same token returns
// the same instances, or resumes a launch that was interrupted; the same
// token with other parameters is a *providers.InvalidError. Quota,
// throttling and other failures are destroyed likewise and typed like the
// SDK providers' errors, wrapping a *RunError with Terraform's own text.
func (p *Provider) Launch(ctx context.Context, req providers.LaunchRequest) ([]providers.Instance, error) {
	if err := p.checkRequest(req); err != nil {
		return nil, err
	}
	cluster, pool := req.Tags[providers.TagCluster], req.Tags[providers.TagPool]
	burstName := req.Tags[providers.TagBurst]
	if burstName == "" {
		burstName = req.ClientToken
	}
	b, unlock, err := p.open(ctx, burstKey(cluster, pool, burstName))
	if err != nil {
		return nil, p.runFailure(err, req.Offering, "")
	}
	defer unlock()
	l, err := b.readLedger()
	if err != nil {
		return nil, err
	}
	l.Cluster, l.Pool, l.Burst = cluster, pool, burstName

	region := firstNonEmpty(req.Offering.Region, p.cfg.Region)
	params := p.paramsOf(req)
	rec, ok := l.Launches[req.ClientToken]
	switch {
	case ok && !rec.Params.equal(params):
		return nil, p.invalid("IdempotentParameterMismatch", "client token %q was used for a launch of %d×%s (min %d) in burst %q; this one asks for %d×%s (min %d): a retry must repeat its parameters",
			req.ClientToken, rec.Params.Count, rec.Params.InstanceType, rec.Params.MinCount, burstName, params.Count, params.InstanceType, params.MinCount)
	case ok && rec.Done:
		if l.Dirty {
			// Repair what an earlier failed run left before answering.
			if _, err := b.apply(ctx, l); err != nil {
				return nil, p.runFailure(err, req.Offering, "")
			}
			l.Dirty = false
			if err := b.writeLedger(l); err != nil {
				return nil, err
			}
		}
		return p.launched(l, rec, region), nil
	case !ok:
		rec = p.addLaunch(l, req, params)
		if err := b.writeLedger(l); err != nil {
			return nil, err
		}
	default:
		p.log.Info("resuming an unfinished launch", "burst", b.key, "token", req.ClientToken)
	}
	return p.converge(ctx, b, l, req, rec, region)
}

// launched is the answer to a retry of a finished launch: its instances
// that exist, and, as the clouds answer a client token whose instances
// were since terminated, each other instance it ever had (rec.IDs), ended.
// Answered with only those that exist, a retry after its instances ended
// (terminated by the scheduler, by hand, or gone from the cloud) read as
// a launch that made nothing: the caller recorded none, not that they
// had run and ended.
func (p *Provider) launched(l *ledger, rec *launch, region string) []providers.Instance {
	out := l.instances(p.name, region, rec.Keys)
	n := len(out)
	for _, id := range rec.IDs {
		if slices.ContainsFunc(out[:n], func(in providers.Instance) bool { return in.ID == id }) {
			continue
		}
		out = append(out, providers.Instance{
			ID: id, Provider: p.name, Region: region, Zone: rec.Params.Zone,
			InstanceType: rec.Params.InstanceType, Market: rec.Params.Market, State: providers.StateTerminated,
			Tags: maps.Clone(rec.Params.Tags),
		})
	}
	return out
}

func (p *Provider) checkRequest(req providers.LaunchRequest) error {
	switch {
	case req.Count < 1 || req.Count > 1000:
		return p.invalid("InvalidParameterValue", "count %d is out of range: want 1 to 1000", req.Count)
	case req.MinCount < 0 || req.MinCount > req.Count:
		return p.invalid("InvalidParameterValue", "min count %d is out of range: want 0 (meaning count) to count %d", req.MinCount, req.Count)
	case req.ClientToken == "" || len(req.ClientToken) > 64:
		return p.invalid("InvalidParameterValue", "client token %q: want 1 to 64 characters", req.ClientToken)
	case req.Offering.InstanceType == "":
		return p.invalid("InvalidParameterValue", "the offering has no instance type")
	case req.Tags[providers.TagCluster] == "":
		return p.invalid("InvalidParameterValue", "the launch has no %s tag: its instances could never be listed", providers.TagCluster)
	case req.Offering.Zone != "" && !zoneRE.MatchString(req.Offering.Zone):
		return p.invalid("InvalidParameterValue", "zone %q is not a zone name", req.Offering.Zone)
	}
	return nil
}

func (p *Provider) paramsOf(req providers.LaunchRequest) launchParams {
	market := req.Offering.Market
	if market == "" {
		market = policy.MarketOnDemand
	}
	min := req.MinCount
	if min == 0 {
		min = req.Count
	}
	return launchParams{
		InstanceType: req.Offering.InstanceType, Zone: req.Offering.Zone, Region: req.Offering.Region,
		Market: market, GPUs: req.Offering.GPUs, Count: req.Count, MinCount: min,
		Tags: req.Tags, UserData: req.UserData,
	}
}

// addLaunch records a new launch and its slots, one per instance, keyed by
// a digest of the client token and the instance's index.
func (p *Provider) addLaunch(l *ledger, req providers.LaunchRequest, params launchParams) *launch {
	zones := p.cfg.Zones
	if params.Zone != "" {
		zones = []string{params.Zone}
	}
	sum := sha256.Sum256([]byte(req.ClientToken))
	prefix := hex.EncodeToString(sum[:5])
	rec := &launch{Params: params}
	now := p.opts.clock()
	for i := range params.Count {
		key := fmt.Sprintf("%s-%d", prefix, i)
		l.Slots[key] = &slot{
			Token: req.ClientToken, InstanceType: params.InstanceType, Zone: zones[0], NextZones: slices.Clone(zones[1:]),
			Market: params.Market, GPUs: params.GPUs, Tags: params.Tags, UserData: params.UserData, Requested: now,
		}
		rec.Keys = append(rec.Keys, key)
	}
	l.Launches[req.ClientToken] = rec
	return rec
}

// converge applies the burst until the launch's keys exist or have run out
// of zones, then keeps the launch if at least MinCount exist.
func (p *Provider) converge(ctx context.Context, b *burst, l *ledger, req providers.LaunchRequest, rec *launch, region string) ([]providers.Instance, error) {
	var lastCapacity error
	for {
		diags, err := b.apply(ctx, l)
		if err == nil {
			break
		}
		l.Dirty = true
		if interrupted(err) {
			// Leave the launch unfinished: a retry with the token resumes it.
			werr := b.writeLedger(l)
			return nil, errors.Join(fmt.Errorf("launch %q in burst %s interrupted; the next launch with the same token completes it: %w", req.ClientToken, b.key, err), werr)
		}
		var moved, other error
		if he := (*HeldError)(nil); errors.As(err, &he) {
			other = p.runFailure(err, req.Offering, "")
		} else {
			moved, other = p.moveOutOfStock(l, rec, diags, region, err)
		}
		if other == nil && moved == nil {
			other = p.runFailure(err, req.Offering, "")
		}
		if other != nil {
			return nil, p.abandon(ctx, b, l, req.ClientToken, rec, other)
		}
		lastCapacity = moved
		if err := b.writeLedger(l); err != nil {
			return nil, err
		}
	}
	l.Dirty = false
	var created, unreported []string
	for _, k := range rec.Keys {
		if _, ok := l.Outputs[k]; ok {
			created = append(created, k)
		} else if s, ok := l.Slots[k]; ok && !s.Ending {
			unreported = append(unreported, k)
		}
	}
	if len(created) == 0 && lastCapacity == nil {
		// The apply succeeded and made nothing the output reports for any
		// of the launch's keys, and no cloud said it was out of stock (a
		// stock-out fails the apply, quoting its code): the module does
		// not launch what var.instances asks for. Taken for a stock-out,
		// it would hold out every offering in turn, for ever.
		return nil, p.abandon(ctx, b, l, req.ClientToken, rec, &providers.InvalidError{Provider: p.name, Code: "InvalidModuleOutput", Err: &OutputError{
			Dir: b.dir, Problems: []string{fmt.Sprintf("it lists none of the %d keys the launch added to var.instances (%s), after an apply that succeeded: "+
				"want one {id, zone, private_ip, gpus} object per key of var.instances (a module out of capacity fails its apply with the cloud's error)",
				len(rec.Keys), quoteList(rec.Keys))},
		}})
	}
	if len(created) < rec.Params.MinCount {
		cause := fmt.Errorf("%d of %d instances launched, fewer than the %d required", len(created), rec.Params.Count, rec.Params.MinCount)
		if lastCapacity != nil {
			cause = fmt.Errorf("%w: %w", cause, lastCapacity)
		}
		var ce *providers.CapacityError
		code := "InsufficientInstanceCapacity"
		if errors.As(lastCapacity, &ce) {
			code = ce.Code
		}
		return nil, p.abandon(ctx, b, l, req.ClientToken, rec, &providers.CapacityError{
			Provider: p.name, Region: region, Zone: req.Offering.Zone, InstanceType: req.Offering.InstanceType, Code: code, Err: cause,
		})
	}
	rec.Keys = created
	rec.Done = true
	if len(unreported) > 0 {
		// The apply succeeded, yet the output lists no instance for these
		// keys: drop them like keys out of zones, so that nothing the
		// module made for them runs on unreported (or is made later,
		// behind the scheduler's back).
		p.log.Warn("the module's output lists no instance for keys its apply was given; ending them", "burst", b.key, "keys", unreported)
		for _, k := range unreported {
			l.Slots[k].Ending = true
		}
		l.Dirty = true
		if err := b.writeLedger(l); err != nil {
			return nil, err
		}
		if _, err := b.apply(ctx, l); err != nil {
			// The launch's instances exist; the next run on the burst
			// (or Reconcile) ends the rest.
			p.log.Warn("ending the unreported keys failed; the burst is left dirty", "burst", b.key, "err", err)
		} else {
			l.Dirty = false
		}
	}
	if err := b.writeLedger(l); err != nil {
		return nil, err
	}
	return l.instances(p.name, region, rec.Keys), nil
}

// moveOutOfStock moves each of the launch's keys that failed for capacity
// to its next zone, dropping keys with no zone left. It returns the last
// capacity error (nil when no key failed for capacity) and the first
// error of another kind, each wrapping runErr, the run's *RunError.
func (p *Provider) moveOutOfStock(l *ledger, rec *launch, diags []diag, region string, runErr error) (capacity, other error) {
	other = p.brokenModule(diags, runErr)
	for _, d := range diags {
		if other == nil {
			other = p.refusedVariables([]diag{d}, runErr)
		}
		text := d.Summary + ": " + d.Detail
		class, code := classify(text)
		key := keyOf(d.Address, l.Slots)
		if class != classCapacity || key == "" || !slices.Contains(rec.Keys, key) {
			if other == nil {
				other = typed(class, code, p.name, region, "", rec.Params.InstanceType, runErr)
			}
			continue
		}
		s := l.Slots[key]
		capacity = typed(class, code, p.name, region, s.Zone, s.InstanceType, runErr)
		p.log.Info("out of stock", "key", key, "zone", s.Zone, "code", code, "next_zones", s.NextZones)
		if len(s.NextZones) > 0 {
			s.Zone, s.NextZones = s.NextZones[0], s.NextZones[1:]
			continue
		}
		s.Ending = true
	}
	return capacity, other
}

// abandon ends whatever the launch created and forgets it, so that a retry
// with the same token starts afresh, and returns cause. A failure of the
// clean-up leaves the burst dirty for the next run to repair.
func (p *Provider) abandon(ctx context.Context, b *burst, l *ledger, token string, rec *launch, cause error) error {
	for _, k := range rec.Keys {
		if s, ok := l.Slots[k]; ok {
			s.Ending = true
		}
	}
	delete(l.Launches, token)
	l.Dirty = true
	if err := b.writeLedger(l); err != nil {
		return errors.Join(cause, err)
	}
	if _, err := b.apply(ctx, l); err != nil {
		werr := b.writeLedger(l)
		return errors.Join(cause, b.cleanUpFailed(cause, err), werr)
	}
	l.Dirty = false
	return errors.Join(cause, b.writeLedger(l))
}

// cleanUpFailed is the error of a failed launch's clean-up, err, which
// the launch's own error, cause, comes before: the two name the burst
// once ("burst KEY: ..." twice says nothing more).
func (b *burst) cleanUpFailed(cause, err error) error {
	if be, ok := err.(*burstError); ok && be.key == b.key {
		err = be.err
	}
	if namesBurst(cause, b.key) || namesBurst(err, b.key) {
		return fmt.Errorf("ending the failed launch's instances (the next run on the burst retries): %w", err)
	}
	return fmt.Errorf("ending the failed launch's instances (the next run on burst %s retries): %w", b.key, err)
}

// runFailure types an error of a Terraform run by the cloud error code its
// text quotes.
func (p *Provider) runFailure(err error, o policy.Offering, zone string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if he := (*HeldError)(nil); errors.As(err, &he) {
		// An operator restores the state; the burst's runs resume then.
		return &providers.TransientError{Provider: p.name, Code: "StateLost", Err: err}
	}
	if oe := (*OutputError)(nil); errors.As(err, &oe) {
		// The module is at fault: retrying would only launch more.
		return &providers.InvalidError{Provider: p.name, Code: "InvalidModuleOutput", Err: err}
	}
	if ue := (*UnreportedError)(nil); errors.As(err, &ue) {
		// The module makes more than it reports: each retry would too.
		return &providers.InvalidError{Provider: p.name, Code: "UnreportedInstances", Err: err}
	}
	if se := (*StateSizeError)(nil); errors.As(err, &se) {
		// The state only grows with the burst.
		return &providers.InvalidError{Provider: p.name, Code: "StateTooLarge", Err: err}
	}
	if pe := (*PreventDestroyError)(nil); errors.As(err, &pe) {
		// The module forbids it: every retry is refused alike.
		return &providers.InvalidError{Provider: p.name, Code: "PreventDestroy", Err: err}
	}
	if re := (*ReplaceError)(nil); errors.As(err, &re) {
		// The same plan would be refused however often it is retried.
		return &providers.InvalidError{Provider: p.name, Code: "PlanReplacesRunningInstances", Err: err}
	}
	if re := (*RunError)(nil); errors.As(err, &re) {
		diags := diagnostics(re.Log)
		if ierr := p.brokenModule(diags, err); ierr != nil {
			return ierr
		}
		if ierr := p.refusedVariables(diags, err); ierr != nil {
			return ierr
		}
	}
	class, code := classify(err.Error())
	return typed(class, code, p.name, firstNonEmpty(o.Region, p.cfg.Region), zone, o.InstanceType, err)
}

// refusedVariables returns a *providers.InvalidError (code
// InvalidModuleVariable) wrapping runErr when diags say the module refused
// a variable's value (its validation rule failed, or the value is not of
// its type), naming the variable: the same run would fail the same way
// however often it is retried. It returns nil otherwise.
func (p *Provider) refusedVariables(diags []diag, runErr error) error {
	for _, d := range diags {
		name, ok := refusedVariable(d)
		if !ok {
			continue
		}
		var why string
		switch {
		case name == "instances":
			why = "the module refused var.instances (the burst's instances with this launch's added): a retry would be refused alike; " +
				"make the module's rule and the pool's limits agree"
		case name == "" || slices.Contains(contractVariables, name):
			why = "the module refused a variable Spillway sets, as every run sets it: fix the module's rule"
		default:
			why = fmt.Sprintf("the module refused fixed variable %q, which every run sends: fix it in the provider's variables", name)
		}
		return &providers.InvalidError{Provider: p.name, Code: "InvalidModuleVariable", Err: fmt.Errorf("%s: %w", why, runErr)}
	}
	return nil
}

// brokenModule returns a *providers.InvalidError (code InvalidModule)
// wrapping runErr when diags say the module's configuration does not hold
// together (a reference to a resource, variable, local or module it does
// not declare: what `terraform validate` finds), naming each place. The
// module is copied at start, so every plan of it fails alike until it is
// fixed and the server restarted. It returns nil otherwise.
func (p *Provider) brokenModule(diags []diag, runErr error) error {
	var broken []string
	for _, d := range diags {
		if !strings.HasPrefix(d.Summary, "Reference to undeclared ") && d.Summary != "Invalid reference" {
			continue
		}
		what := d.Summary
		if d.Range != nil && d.Range.Filename != "" {
			what += fmt.Sprintf(" (%s line %d)", filepath.Join(p.cfg.Module, d.Range.Filename), d.Range.Start.Line)
		}
		if !slices.Contains(broken, what) {
			broken = append(broken, what)
		}
	}
	if len(broken) == 0 {
		return nil
	}
	return &providers.InvalidError{Provider: p.name, Code: "InvalidModule", Err: fmt.Errorf(
		"the module %s does not hold together: %s; every plan of it fails alike, however often it is retried: "+
			"fix the module (`terraform validate` in its directory finds these) and restart Spillway, which copies the module at start: %w",
		p.cfg.Module, shownOf(broken, "; "), runErr)}
}

// List returns the instances of every burst of filter.Cluster (and
// filter.Pool) as their modules' outputs last reported them. Instances
// the modules do not hold (launched by anything else) are never listed.
func (p *Provider) List(ctx context.Context, filter providers.ListFilter) ([]providers.Instance, error) {
	if filter.Cluster == "" {
		return nil, p.invalid("MissingParameter", "List needs a cluster: without one it would list every burst in %s", p.cfg.WorkDir)
	}
	var out []providers.Instance
	if err := p.eachLedger(ctx, func(_ string, l *ledger) {
		if l.Cluster == filter.Cluster && (filter.Pool == "" || l.Pool == filter.Pool) {
			out = append(out, l.instances(p.name, p.cfg.Region, nil)...)
		}
	}); err != nil {
		// Not the others alone: the instances of a ledger that cannot be
		// read would look gone, and be forgotten.
		return nil, err
	}
	return out, nil
}

// Describe returns the named instances; ids no burst holds are omitted.
func (p *Provider) Describe(ctx context.Context, ids []string) ([]providers.Instance, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []providers.Instance
	if err := p.eachLedger(ctx, func(_ string, l *ledger) {
		for _, in := range l.instances(p.name, p.cfg.Region, nil) {
			if want[in.ID] {
				out = append(out, in)
			}
		}
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// eachLedger reads every burst's ledger. Ledgers are replaced atomically,
// so no lock is needed to read one. A ledger that cannot be read does not
// stop the others: fn sees every other one, and the error (a
// *providers.TransientError naming each such ledger) comes last, for the
// caller to decide what the others alone may answer.
func (p *Provider) eachLedger(ctx context.Context, fn func(key string, l *ledger)) error {
	ents, err := os.ReadDir(filepath.Join(p.cfg.WorkDir, "bursts"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &providers.TransientError{Provider: p.name, Code: "WorkDir", Err: err}
	}
	var bad []error
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.IsDir() {
			continue
		}
		l, err := readLedger(filepath.Join(p.cfg.WorkDir, "bursts", e.Name(), ledgerFile))
		if err != nil {
			bad = append(bad, err)
			continue
		}
		fn(e.Name(), l)
	}
	if len(bad) > 0 {
		return &providers.TransientError{Provider: p.name, Code: "Ledger", Err: errors.Join(bad...)}
	}
	return nil
}

// heldIDs are the instance ids the ledgers of the provider's bursts other
// than except hold, with the burst and key holding each. A ledger that
// cannot be read is left out, with a warning: failing for it would fail
// every launch of every burst after its apply, and end what it made.
func (p *Provider) heldIDs(ctx context.Context, except string) (map[string]heldID, error) {
	held := map[string]heldID{}
	err := p.eachLedger(ctx, func(key string, l *ledger) {
		if key == except {
			return
		}
		for k, o := range l.Outputs {
			held[o.ID] = heldID{burst: key, key: k}
		}
	})
	if err != nil && ctx.Err() == nil {
		p.log.Warn("the output's ids are checked against the readable ledgers only", "burst", except, "err", err)
		err = nil
	}
	return held, err
}

// Terminate ends the named instances: each burst holding some drops their
// keys and applies (or destroys, when none is left). Ids no burst holds
// are not an error. Bursts are ended in parallel, at most four at a time.
// When the bursts of some ids were ended and others failed, Terminate
// returns a *providers.TerminateError: Ended lists the ids of the bursts
// whose apply succeeded (and those no burst holds), Failed the ids of the
// bursts whose apply failed (what such an apply ended is not known until
// it succeeds) and those in no ledger that can be read.
func (p *Provider) Terminate(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var keys []string
	holder := map[string]string{} // id → the burst holding it
	ledgerErr := p.eachLedger(ctx, func(key string, l *ledger) {
		held := false
		for _, o := range l.Outputs {
			if want[o.ID] {
				held, holder[o.ID] = true, key
			}
		}
		if held {
			keys = append(keys, key)
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		failed = map[string]bool{} // bursts whose apply failed
		sem    = make(chan struct{}, 4)
	)
	var unknown []string
	if ledgerErr != nil && len(holder) < len(want) {
		// The bursts that can be read are ended; an id none of them
		// holds may be in a ledger that cannot be read, so it is not
		// reported ended.
		for _, id := range ids {
			if _, ok := holder[id]; !ok && !slices.Contains(unknown, id) {
				unknown = append(unknown, id)
			}
		}
		errs = append(errs, fmt.Errorf("instances %s are in no burst ledger that can be read: %w", quoteList(unknown), ledgerErr))
	}
	for _, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := p.terminateIn(ctx, key, want); err != nil {
				mu.Lock()
				errs, failed[key] = append(errs, err), true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) == 0 {
		return nil
	}
	err := errors.Join(errs...)
	var ended, notEnded []string
	for _, id := range ids {
		key, held := holder[id]
		switch {
		case slices.Contains(ended, id) || slices.Contains(notEnded, id):
		case slices.Contains(unknown, id) || held && failed[key]:
			notEnded = append(notEnded, id)
		default:
			ended = append(ended, id)
		}
	}
	if len(ended) == 0 {
		return err
	}
	// The scheduler books the ended ones as terminating: reported as not
	// ended, it would find them gone at its next tick and count them
	// vanished.
	return &providers.TerminateError{Provider: p.name, Ended: ended, Failed: notEnded, Err: err}
}

func (p *Provider) terminateIn(ctx context.Context, key string, want map[string]bool) error {
	b, unlock, err := p.open(ctx, key)
	if err != nil {
		return p.runFailure(err, policy.Offering{}, "")
	}
	defer unlock()
	l, err := b.readLedger()
	if err != nil {
		return err
	}
	changed := l.Dirty
	for k, o := range l.Outputs {
		if s, ok := l.Slots[k]; ok && want[o.ID] && !s.Ending {
			s.Ending = true
			changed = true
		}
	}
	if !changed {
		return nil
	}
	l.Dirty = true
	if err := b.writeLedger(l); err != nil {
		return err
	}
	if _, err := b.apply(ctx, l); err != nil {
		return errors.Join(p.runFailure(inBurst(key, err), policy.Offering{}, ""), b.writeLedger(l))
	}
	l.Dirty = false
	return b.writeLedger(l)
}

// Reconcile re-applies every burst whose last run failed or was
// interrupted, so the state again matches what Spillway wants, and returns
// the bursts it could not repair. It then retires the bursts that ended
// long enough ago (retire.go).
func (p *Provider) Reconcile(ctx context.Context) error {
	var dirty, ended []string
	now := p.opts.clock()
	used := map[string]bool{}
	ledgerErr := p.eachLedger(ctx, func(key string, l *ledger) {
		if l.Dirty {
			dirty = append(dirty, key)
		}
		if p.retirable(key, l, now) {
			ended = append(ended, key)
		}
		if v, err := os.ReadFile(filepath.Join(p.cfg.WorkDir, "bursts", key, versionFile)); err == nil {
			used[string(v)] = true
		}
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	// The bursts whose ledgers can be read are repaired all the same.
	errs := []error{ledgerErr}
	for _, key := range dirty {
		err := p.repair(ctx, key)
		if he := (*HeldError)(nil); errors.As(err, &he) && p.heldTold(key) {
			// Returned once: the sweep would say it again each tick.
			continue
		}
		if err != nil {
			errs = append(errs, inBurst(key, err))
		}
	}
	if ledgerErr != nil {
		// A burst whose ledger cannot be read may use any snapshot.
		used = nil
	}
	errs = append(errs, p.retireEnded(ctx, ended, used))
	return errors.Join(errs...)
}

func (p *Provider) repair(ctx context.Context, key string) error {
	b, unlock, err := p.open(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	l, err := b.readLedger()
	if err != nil || !l.Dirty {
		return err
	}
	// An unfinished launch is resumed by its retry; until then its keys
	// are applied like the others.
	if _, err := b.apply(ctx, l); err != nil {
		return errors.Join(err, b.writeLedger(l))
	}
	l.Dirty = false
	return b.writeLedger(l)
}

// lockedWarned records that runs on burst key are refused for the
// backend lock id ("": they are not), and says whether that is new: not
// yet logged for the burst.
func (p *Provider) lockedWarned(key, id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id == "" {
		delete(p.locked, key)
		return false
	}
	fresh := p.locked[key] != id
	p.locked[key] = id
	return fresh
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
