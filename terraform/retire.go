package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spillway-io/spillway/providers"
)

// Ended bursts are retired. A launch with no spillway:burst tag (a demand
// launch) gets a burst directory of its own, and List, Describe, Terminate,
// Reconcile and each apply's check of duplicate ids read every burst's
// ledger: kept for ever, ended bursts would fill the disk and slow every
// call. Reconcile removes each burst that has ended (its ledger holds no
// instance, no unfinished launch, nothing a failed apply made, and it is
// not dirty; its state holds no resource; no run record is left in it)
// once its ledger was last written more than retireAfter ago, leaving one
// summary line in WorkDir/ended.log. Module snapshots no burst uses are
// removed after the same time.
//
// A directory is retired by moving it into WorkDir/trash while holding its
// lock, then removing it there: a crash leaves either the burst in place
// or a directory in the trash, which New and the next Reconcile empty. A
// run waiting for the lock of a burst being retired finds its lock file
// moved and makes the directory afresh (lockBurst).

// retireAfter is how long an ended burst is kept after its ledger was last
// written. The ledger keeps the burst's client tokens, so that a resumed
// launch returns what the first call launched instead of launching again;
// the scheduler resends a token for at most providers.ResumeWindow after
// it wrote the launch's intent, which is before the token's first call
// wrote the ledger. Twice the window also covers the clocks of servers
// that take over from one another being up to one window apart, and a
// call made at the window's very end.
const retireAfter = 2 * providers.ResumeWindow

const (
	trashDir = "trash"
	// endedLogFile has one JSON line per retired burst; past maxEndedLog
	// bytes it is moved to ended.log.1 (replacing the one before).
	endedLogFile = "ended.log"
	maxEndedLog  = 4 << 20
)

// ended says whether the ledger holds nothing left to end or resume.
func (l *ledger) ended() bool {
	if len(l.Slots) > 0 || len(l.Outputs) > 0 || l.Dirty || len(l.Created) > 0 || l.CreatedMore > 0 {
		return false
	}
	for _, rec := range l.Launches {
		if !rec.Done {
			return false
		}
	}
	return true
}

// written is when the burst's ledger was last written: its stamp, or for
// a ledger of an earlier version (or none) its file's (or directory's)
// modification time. ok is false when neither can be read.
func (p *Provider) written(key string, l *ledger) (t time.Time, ok bool) {
	if !l.Written.IsZero() {
		return l.Written, true
	}
	dir := filepath.Join(p.cfg.WorkDir, "bursts", key)
	for _, path := range []string{filepath.Join(dir, ledgerFile), dir} {
		if fi, err := os.Stat(path); err == nil {
			return fi.ModTime(), true
		}
	}
	return time.Time{}, false
}

// retirable says whether the burst's ledger allows retiring it now.
func (p *Provider) retirable(key string, l *ledger, now time.Time) bool {
	if !l.ended() {
		return false
	}
	w, ok := p.written(key, l)
	return ok && now.Sub(w) > retireAfter
}

// retireEnded retires the bursts named (found retirable in a pass over the
// ledgers), then module snapshots no burst uses (none when versions is
// nil: some burst's could not be read). A burst
// that cannot be retired is left for the next pass, with a warning.
func (p *Provider) retireEnded(ctx context.Context, keys []string, versions map[string]bool) error {
	p.emptyTrash()
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.retire(ctx, key); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.log.Warn("an ended burst could not be retired; the next reconcile tries again", "burst", key, "err", err)
		}
	}
	if versions != nil {
		p.pruneSnapshots(versions)
	}
	return nil
}

// retire moves one ended burst's directory to the trash and removes it,
// after checking again under its lock that it has ended and is old enough.
func (p *Provider) retire(ctx context.Context, key string) error {
	b, unlock, err := p.lockBurst(ctx, key, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // retired by another process
	}
	if err != nil {
		return err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	l, err := b.readLedger()
	if err != nil {
		return err
	}
	now := p.opts.clock()
	if !p.retirable(key, l, now) {
		return nil // used since the pass read it
	}
	if _, err := os.Stat(filepath.Join(b.dir, runFile)); !errors.Is(err, fs.ErrNotExist) {
		// A run died in it (or one on another host may be running): the
		// next run on the burst deals with what it left.
		return fmt.Errorf("a run record is left in %s", filepath.Join(b.dir, runFile))
	}
	empty, err := b.stateEmpty(ctx)
	if err != nil {
		return fmt.Errorf("reading its state: %w", err)
	}
	if !empty {
		return fmt.Errorf("its ledger holds no instance, yet its Terraform state in %s holds resources: "+
			"`terraform state list` there names them; end them (`terraform destroy -var-file=%s`) and the burst is retired", b.dir, varsFile)
	}
	obj, err := b.stateObject()
	if err != nil {
		return err
	}
	p.logEnded(key, l, now, obj)
	if obj != nil && obj.file != "" {
		// The local backend at a path of the burst's own: its state file
		// (empty, checked above) and the backup of the one before would
		// stay behind, one pair per burst for ever.
		for _, f := range []string{obj.file, obj.file + ".backup"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing its state file: %w", err)
			}
		}
	}
	trash := filepath.Join(p.cfg.WorkDir, trashDir)
	if err := os.MkdirAll(trash, 0o700); err != nil {
		return err
	}
	moved := filepath.Join(trash, key+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Rename(b.dir, moved); err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.locks, key)
	p.mu.Unlock()
	p.log.Info("retired an ended burst", "burst", key, "last_written", l.Written)
	locked = false
	unlock()
	return os.RemoveAll(moved)
}

// stateObject is where a burst's state is kept by a backend that
// backend_config sets, as `terraform init` recorded it in the burst's
// .terraform/terraform.tfstate: nil for a burst whose state is in its own
// directory (no backend_config).
type stateObject struct {
	// Backend is the backend's type; Names its settings that name the
	// burst's own object (those configured with {burst} in their value).
	Backend string            `json:"backend"`
	Names   map[string]string `json:"names,omitempty"`
	// file is the local backend's state file, when its path is the
	// burst's own; Spillway removes it when the burst is retired.
	file string
}

// stateObject reads where the burst's state is kept (above).
// Terraform has no command that deletes a state object: `terraform
// workspace delete` refuses the default workspace, the only one a burst
// uses. So the object a remote backend keeps is named in ended.log, and
// the local backend's file is removed.
func (b *burst) stateObject() (*stateObject, error) {
	if len(b.p.cfg.BackendConfig) == 0 {
		return nil, nil
	}
	data, err := os.ReadFile(filepath.Join(b.dir, ".terraform", "terraform.tfstate"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // never initialised: no state object was made
	}
	if err != nil {
		return nil, err
	}
	var rec struct {
		Backend struct {
			Type   string         `json:"type"`
			Config map[string]any `json:"config"`
		} `json:"backend"`
	}
	if err := json.Unmarshal(data, &rec); err != nil || rec.Backend.Type == "" {
		return nil, fmt.Errorf("reading the backend %s recorded at init: %v", filepath.Join(b.dir, ".terraform", "terraform.tfstate"), err)
	}
	obj := &stateObject{Backend: rec.Backend.Type}
	for k, v := range b.p.cfg.BackendConfig {
		if !strings.Contains(v, "{burst}") {
			continue
		}
		if obj.Names == nil {
			obj.Names = map[string]string{}
		}
		obj.Names[k] = withoutUserinfo(strings.ReplaceAll(v, "{burst}", b.key))
	}
	// Only a path of the burst's own: one without {burst} is a state
	// file every burst shares.
	if path, ok := obj.Names["path"]; ok && obj.Backend == "local" {
		if recorded, _ := rec.Backend.Config["path"].(string); recorded == path {
			if !filepath.IsAbs(path) {
				path = filepath.Join(b.dir, path)
			}
			obj.file = path
		}
	}
	return obj, nil
}

// withoutUserinfo is v with the user and password of a URL left out
// (http://user:secret@host/...): ended.log names a state object, not
// the credentials to reach it.
func withoutUserinfo(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	u.User = nil
	return u.String()
}

// endedLine is one line of WorkDir/ended.log.
type endedLine struct {
	Retired  time.Time           `json:"retired"`
	Key      string              `json:"key"`
	Cluster  string              `json:"cluster"`
	Pool     string              `json:"pool"`
	Burst    string              `json:"burst"`
	Written  time.Time           `json:"last_written,omitzero"`
	Launches map[string]endedRun `json:"launches,omitempty"`
	// State is where a backend given by backend_config kept the burst's
	// (empty) state: a remote backend's object is left there.
	State *stateObject `json:"state,omitempty"`
}

// endedRun is one launch of a retired burst, by client token.
type endedRun struct {
	InstanceType string `json:"instance_type"`
	Count        int    `json:"count"`
	Kept         int    `json:"kept"`
	// IDs are the instance ids the launch had, in the order they were
	// first seen; IDsMore counts those past the ledger's bound.
	IDs     []string `json:"ids,omitempty"`
	IDsMore int      `json:"ids_more,omitempty"`
}

// logEnded appends the burst's summary to WorkDir/ended.log. A failure is
// logged: the burst is retired all the same.
func (p *Provider) logEnded(key string, l *ledger, now time.Time, state *stateObject) {
	line := endedLine{Retired: now.UTC(), Key: key, Cluster: l.Cluster, Pool: l.Pool, Burst: l.Burst, Written: l.Written, State: state}
	if len(l.Launches) > 0 {
		line.Launches = map[string]endedRun{}
		for token, rec := range l.Launches {
			line.Launches[token] = endedRun{InstanceType: rec.Params.InstanceType, Count: rec.Params.Count, Kept: len(rec.Keys), IDs: rec.IDs, IDsMore: rec.IDsMore}
		}
	}
	data, err := json.Marshal(line)
	if err == nil {
		err = p.appendEnded(append(data, '\n'))
	}
	if err != nil {
		p.log.Warn("writing the retired burst's summary failed", "burst", key, "err", err)
	}
}

func (p *Provider) appendEnded(data []byte) error {
	path := filepath.Join(p.cfg.WorkDir, endedLogFile)
	p.mu.Lock()
	defer p.mu.Unlock()
	if fi, err := os.Stat(path); err == nil && fi.Size()+int64(len(data)) > maxEndedLog {
		if err := os.Rename(path, path+".1"); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

// emptyTrash removes what a retirement a crash interrupted left in
// WorkDir/trash.
func (p *Provider) emptyTrash() {
	trash := filepath.Join(p.cfg.WorkDir, trashDir)
	ents, err := os.ReadDir(trash)
	if err != nil {
		return
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(trash, e.Name())); err != nil {
			p.log.Warn("emptying the trash failed", "path", filepath.Join(trash, e.Name()), "err", err)
		}
	}
}

// touchSnapshot marks the module version's snapshot as used now, so that
// it is not pruned while a burst is being moved to it.
func (p *Provider) touchSnapshot() {
	now := p.opts.clock()
	_ = os.Chtimes(p.snapshot, now, now)
}

// pruneSnapshots removes the module snapshots (with their lock and init
// log) of versions other than the provider's that no burst uses and that
// no burst was moved to in the last retireAfter, and snapshot copies a
// crash left half made. used are the versions the bursts' directories
// were inited with.
func (p *Provider) pruneSnapshots(used map[string]bool) {
	modules := filepath.Dir(p.snapshot)
	ents, err := os.ReadDir(modules)
	if err != nil {
		return
	}
	now := p.opts.clock()
	old := func(name string) bool {
		fi, err := os.Stat(filepath.Join(modules, name))
		return err == nil && now.Sub(fi.ModTime()) > retireAfter
	}
	for _, e := range ents {
		name := e.Name()
		version := strings.TrimSuffix(strings.TrimSuffix(name, ".lock"), ".init.log")
		switch {
		case version == p.version || used[version]:
			continue
		case strings.HasPrefix(name, ".tmp-"):
			if old(name) {
				_ = os.RemoveAll(filepath.Join(modules, name))
			}
		case e.IsDir() && old(name):
			trash := filepath.Join(p.cfg.WorkDir, trashDir)
			moved := filepath.Join(trash, "module-"+name)
			if err := os.MkdirAll(trash, 0o700); err != nil {
				continue
			}
			if err := os.Rename(filepath.Join(modules, name), moved); err != nil {
				continue
			}
			p.log.Info("removed an unused module snapshot", "module_version", name)
			_ = os.RemoveAll(moved)
			_ = os.Remove(filepath.Join(modules, name+".lock"))
			_ = os.Remove(filepath.Join(modules, name+".init.log"))
		case !e.IsDir() && version != name:
			// A lock or init log whose snapshot is gone.
			if _, err := os.Stat(filepath.Join(modules, version)); errors.Is(err, fs.ErrNotExist) && old(name) {
				_ = os.Remove(filepath.Join(modules, name))
			}
		}
	}
}
