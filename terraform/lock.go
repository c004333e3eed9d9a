package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// dirLock serialises every run on one burst's state, across goroutines
// (sem) and processes (flock on the lock file, which the kernel releases
// when the holder dies).
type dirLock struct {
	sem  chan struct{}
	path string
}

func newDirLock(path string) *dirLock {
	return &dirLock{sem: make(chan struct{}, 1), path: path}
}

// errLockMoved is returned by lock when the lock file it locked was moved
// or removed while it waited: its burst was retired. The caller takes the
// lock of the path again.
var errLockMoved = errors.New("the lock file was moved while waiting for it")

// lock blocks until the burst is free or ctx ends; unlock releases it. With
// create, a missing lock file is made; without, lock fails with an error
// matching fs.ErrNotExist.
func (l *dirLock) lock(ctx context.Context, create bool) (unlock func(), err error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := os.OpenFile(l.path, flag, 0o600)
	if err != nil {
		<-l.sem
		return nil, err
	}
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			<-l.sem
			return nil, fmt.Errorf("lock %s: %w", l.path, err)
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			f.Close()
			<-l.sem
			return nil, ctx.Err()
		}
	}
	// A burst is retired by moving its directory away while holding its
	// lock: a lock taken on the file moved away guards nothing.
	fi, ferr := f.Stat()
	pi, perr := os.Stat(l.path)
	if ferr != nil || perr != nil || !os.SameFile(fi, pi) {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		<-l.sem
		return nil, errLockMoved
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		<-l.sem
	}, nil
}

// runRecord names the process running Terraform on a burst. It is written
// before each Terraform command and removed when the command returns, so
// one found by the next holder of the burst's lock belongs to a run that
// died mid-command (its Terraform was killed with it: terraform-exec sets
// the parent-death signal) and may have left the backend's lock held, and
// processes that Terraform started (a provisioner's shell) running.
type runRecord struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Op      string    `json:"op"`
	Started time.Time `json:"started"`
	// Mark is in the environment of every process of the run
	// (runMarkEnv), so what it left running can be found and ended.
	Mark string `json:"mark,omitempty"`
	// Boot and Start tell the process from a later one with its PID
	// (Linux; empty elsewhere): the kernel's boot id and the process's
	// start time in clock ticks since boot. After a reboot, or once the
	// PID is reused, a live process with the PID is not the run's.
	Boot  string `json:"boot,omitempty"`
	Start uint64 `json:"start,omitempty"`
	// Child is the process the run started (Terraform, or a wrapper
	// script that runs it), once found (Linux): a Terraform that outlives
	// the run's process is known by it (survivingTerraform).
	Child *childProc `json:"child,omitempty"`
	// Who is the run's user@host, as Terraform names a lock's holder.
	Who string `json:"who,omitempty"`
	// Epoch is the leader term the run was made in (WithLeader; 0
	// without one).
	Epoch int64 `json:"epoch,omitempty"`
}

// childProc is a process a run started: its PID and start time (which
// tell it from a later process given the PID), and its arguments.
type childProc struct {
	PID   int      `json:"pid"`
	Start uint64   `json:"start"`
	Args  []string `json:"args"`
}

// procID is a process by its PID and start time (0 when not known).
type procID struct {
	PID   int
	Start uint64
}

func readRunRecord(path string) (*runRecord, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r runRecord
	if err := json.Unmarshal(data, &r); err != nil {
		// A record cut short by a crash is a dead run's too.
		return &runRecord{}, nil
	}
	return &r, nil
}

// termEnded reports whether the run was made in a leader term that has
// ended: this server acts under a later one (leader nil: none is known).
func (r *runRecord) termEnded(leader Leader) (ended bool, now int64) {
	if leader == nil || r.Epoch == 0 {
		return false, 0
	}
	epoch, _, ok := leader.Term()
	return ok && r.Epoch < epoch, epoch
}

// dead reports whether the run is known to be over: it ran on this host
// in a process that no longer exists, in an earlier boot, or in a process
// other than the one now holding its PID (its start time differs), or its
// record was cut short. The
// caller holds the burst's lock, so a record of this process's PID is of
// a run over: one of this process that could not remove its record, or of
// an earlier process with the same PID (a container's server restarted as
// PID 1 again), whose backend lock would otherwise never be released.
func (r *runRecord) dead(host string) bool {
	if r.PID == 0 {
		return true
	}
	if r.Host != host {
		return false
	}
	if r.PID == os.Getpid() {
		return true
	}
	if err := syscall.Kill(r.PID, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	// A process has the PID: the run's only if it is the same process.
	if boot := bootID(); r.Boot != "" && boot != "" && boot != r.Boot {
		return true
	}
	if start := procStart(r.PID); r.Start != 0 && start != 0 && start != r.Start {
		return true
	}
	return false
}
