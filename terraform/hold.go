package terraform

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// A burst whose state is lost (gone, or emptied, while its ledger lists
// instances) or cannot be read (damaged, or edited by hand) fails every
// run on it until an operator restores the state: retried each tick (a
// Terminate of its instances, the sweep's Reconcile, a launch into it),
// each started Terraform again, failed alike, and said so again. The
// burst is held instead: no run on it starts until its state changes
// (a local state file: its size, time or contents), or, with a remote
// backend, whose state cannot be looked at without Terraform, until
// remoteStateRecheck has passed; or until its directory is removed.
// The provider logs the hold once, at error level; each call refused for
// it returns a *HeldError saying why, since when and what to do.

// remoteStateRecheck is how long a burst whose state a remote backend
// keeps is held before a run looks at that state again.
const remoteStateRecheck = 10 * time.Minute

// stateHold is a held burst.
type stateHold struct {
	err   error
	since time.Time
	// print is the local state file as the failing run found it
	// (statePrint); until, with a remote backend, when a run may look
	// again.
	print string
	until time.Time
	// told says Reconcile has returned the hold once.
	told bool
}

// HeldError is a run on a burst refused, no Terraform started, because
// an earlier run found its state lost or unreadable (Err) and it has not
// changed since.
type HeldError struct {
	Burst string
	Since time.Time
	// Until is when a run looks again at a remote backend's state; zero
	// for a local state file, looked at before each run.
	Until time.Time
	Err   error
}

func (e *HeldError) Error() string {
	resume := "its state file changes (restored; even touched, to look again now)"
	if !e.Until.IsZero() {
		resume = "a run looks at its state again at " + e.Until.UTC().Format(time.RFC3339) + " (a restart looks at once)"
	}
	return fmt.Sprintf("burst %s held since %s, no Terraform run on it until %s: %v", e.Burst, e.Since.UTC().Format(time.RFC3339), resume, e.Err)
}

func (e *HeldError) Unwrap() error    { return e.Err }
func (e *HeldError) burstKey() string { return e.Burst }

// hold holds the burst for err, the error of a run that found its state
// lost or unreadable, and returns the *HeldError of that run. A new hold
// (or one whose state changed since and is still not usable) is logged at
// error level, a repeated one (a remote backend's recheck) at debug and
// not returned by Reconcile again if it was once.
func (b *burst) hold(ctx context.Context, err error) error {
	if be, ok := err.(*burstError); ok && be.key == b.key {
		err = be.err
	}
	now := b.p.opts.clock()
	h := &stateHold{err: err, since: now}
	if path, local := b.localState(); local {
		h.print = statePrint(path, b.p.opts.maxState)
	} else {
		h.until = now.Add(remoteStateRecheck)
	}
	b.p.mu.Lock()
	old := b.p.holds[b.key]
	again := old != nil && old.print == h.print
	if again {
		// The same hold (a remote backend's recheck): said once.
		h.since, h.told = old.since, old.told
	}
	b.p.holds[b.key] = h
	b.p.mu.Unlock()
	level := slog.LevelError
	if again {
		level = slog.LevelDebug
	}
	held := &HeldError{Burst: b.key, Since: h.since, Until: h.until, Err: err}
	b.p.log.Log(ctx, level, "the burst's Terraform state is lost or cannot be read: no run on the burst until it changes",
		"burst", b.key, "err", held)
	return held
}

// heldErr is the *HeldError of a run on a held burst, or nil when the
// burst is not held, or its state changed (or a remote backend's is due
// a look) since, or its directory was removed and made again.
func (b *burst) heldErr() error {
	b.p.mu.Lock()
	h := b.p.holds[b.key]
	b.p.mu.Unlock()
	if h == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(b.dir, ledgerFile)); errors.Is(err, fs.ErrNotExist) {
		b.unhold("its directory was removed")
		return nil
	}
	if path, local := b.localState(); local {
		if statePrint(path, b.p.opts.maxState) != h.print {
			return nil // looked at by this run
		}
	} else if !b.p.opts.clock().Before(h.until) {
		return nil
	}
	return &HeldError{Burst: b.key, Since: h.since, Until: h.until, Err: h.err}
}

// unhold ends the burst's hold, if any, saying why.
func (b *burst) unhold(why string) {
	b.p.mu.Lock()
	h := b.p.holds[b.key]
	delete(b.p.holds, b.key)
	b.p.mu.Unlock()
	if h != nil {
		b.p.log.Info("the burst's Terraform state is usable again: runs on it resume", "burst", b.key, "why", why, "held_since", h.since)
	}
}

// heldTold says whether Reconcile has returned the hold of burst key
// before, and records that it has now.
func (p *Provider) heldTold(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.holds[key]
	if h == nil {
		return false
	}
	told := h.told
	h.told = true
	return told
}

// localState is the burst's local state file, when its backend keeps one.
func (b *burst) localState() (string, bool) {
	return localStatePath(b.dir, b.key, b.p.backend.Type, b.p.cfg.BackendConfig)
}

// statePrint tells one version of the state file at path from another:
// absent, or its size, modification time and (up to limit bytes) a
// digest of its contents.
func statePrint(path string, limit int) string {
	st, err := os.Stat(path)
	if err != nil {
		return "absent: " + err.Error()
	}
	fp := fmt.Sprintf("%d %d", st.Size(), st.ModTime().UnixNano())
	if data, err := readBounded(path, limit); err == nil {
		fp += fmt.Sprintf(" %x", sha256.Sum256(data))
	}
	return fp
}
