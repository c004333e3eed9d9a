package terraform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
)

// ledger is what Spillway keeps beside a burst's Terraform state: the
// launches it was asked for (by client token, so a retry is recognised),
// the instances the burst should have (the module's var.instances), and
// what the module's output last said exists. It is written atomically
// after every change, before and after each Terraform run.
type ledger struct {
	Cluster string `json:"cluster"`
	Pool    string `json:"pool"`
	Burst   string `json:"burst"`
	// Launches by client token.
	Launches map[string]*launch `json:"launches"`
	// Slots are the desired instances by key: var.instances.
	Slots map[string]*slot `json:"slots"`
	// Outputs is the module's instances output after the last run, by key.
	Outputs map[string]outputInstance `json:"outputs"`
	// Dirty is set while the state may differ from the slots: a run failed
	// or was interrupted. The next run on the burst (or Reconcile) repairs it.
	Dirty bool `json:"dirty,omitempty"`
	// Created are the resources (address and id, at most maxCreated of
	// them, and CreatedMore past them) that applies which failed since
	// the last run that succeeded said they created: the state holds them
	// though no output of them was read, so a state found gone is not
	// taken for an empty one.
	Created     []string `json:"created,omitempty"`
	CreatedMore int      `json:"created_more,omitempty"`
	// Written is when the ledger was last written, by the provider's
	// clock: at or after the first call of every client token it holds,
	// so an ended burst is kept until none can be resent (retire.go).
	// Zero in a ledger of an earlier version, which has its file's time.
	Written time.Time `json:"written,omitzero"`
	// CutOff are the creates, by key, that an apply died in (adopt.go):
	// the cloud may hold their instances, which no state records, until
	// they are found by the module's cloud_instances output.
	CutOff map[string]*cutOffCreate `json:"cut_off,omitempty"`
}

// maxCreated bounds the resources a ledger names in Created (a message
// quotes five of a list).
const maxCreated = 5

// addCreated adds the resources a failed apply created to l.Created.
func (l *ledger) addCreated(created []string) {
	for _, c := range created {
		switch {
		case slices.Contains(l.Created, c):
		case len(l.Created) < maxCreated:
			l.Created = append(l.Created, c)
		default:
			l.CreatedMore++
		}
	}
}

// launch is one Launch call's record.
type launch struct {
	Params launchParams `json:"params"`
	// Keys are the slots created for it (those kept, once Done).
	Keys []string `json:"keys"`
	// Done is set once the launch's instances exist; until then a retry
	// with the same token resumes it.
	Done bool `json:"done"`
	// IDs are the instance ids an output ever listed for the launch's
	// keys (at most maxLaunchIDs, and IDsMore past them), kept after the
	// instances ended so that ended.log names them: operators look a
	// bill's instance up there once the burst is retired.
	IDs     []string `json:"ids,omitempty"`
	IDsMore int      `json:"ids_more,omitempty"`
}

// maxLaunchIDs bounds the ids a launch's record keeps: a launch's keys
// are few, but a key replaced again and again (a tainted instance, a
// module that replaces on every apply) gets a new id each time.
const maxLaunchIDs = 64

// rememberIDs adds the ids the output lists for each launch's keys to the
// launch's record.
func (l *ledger) rememberIDs() {
	for _, k := range sortedKeys(l.Outputs) {
		s, ok := l.Slots[k]
		if !ok {
			continue
		}
		rec, ok := l.Launches[s.Token]
		if !ok {
			continue
		}
		id := l.Outputs[k].ID
		switch {
		case id == "" || slices.Contains(rec.IDs, id):
		case len(rec.IDs) < maxLaunchIDs:
			rec.IDs = append(rec.IDs, id)
		default:
			rec.IDsMore++
		}
	}
}

// launchParams are the parameters a retry with the same token must repeat.
type launchParams struct {
	InstanceType string            `json:"instance_type"`
	Zone         string            `json:"zone,omitempty"`
	Region       string            `json:"region,omitempty"`
	Market       policy.Market     `json:"market"`
	GPUs         int               `json:"gpus"`
	Count        int               `json:"count"`
	MinCount     int               `json:"min_count"`
	Tags         map[string]string `json:"tags"`
	UserData     string            `json:"user_data"`
}

func (a launchParams) equal(b launchParams) bool {
	return a.InstanceType == b.InstanceType && a.Zone == b.Zone && a.Region == b.Region && a.Market == b.Market &&
		a.GPUs == b.GPUs && a.Count == b.Count && a.MinCount == b.MinCount && a.UserData == b.UserData &&
		maps.Equal(a.Tags, b.Tags)
}

// slot is one desired instance: one entry of var.instances.
type slot struct {
	Token        string            `json:"token"`
	InstanceType string            `json:"instance_type"`
	Zone         string            `json:"zone"`
	Market       policy.Market     `json:"market"`
	GPUs         int               `json:"gpus"`
	Tags         map[string]string `json:"tags"`
	UserData     string            `json:"user_data"`
	// Zones left to try after Zone when it is out of stock.
	NextZones []string `json:"next_zones,omitempty"`
	// Requested is when Spillway first asked for the instance.
	Requested time.Time `json:"requested"`
	// Ending marks an instance to end: it is left out of var.instances, and
	// the slot is forgotten once the output no longer lists it.
	Ending bool `json:"ending,omitempty"`
}

// outputInstance is one entry of the module's instances output.
type outputInstance struct {
	ID        string `json:"id"`
	Zone      string `json:"zone"`
	PrivateIP string `json:"private_ip"`
	GPUs      int    `json:"gpus"`
	State     string `json:"state,omitempty"`
}

// variable is the value of var.instances for one slot.
type variable struct {
	InstanceType string            `json:"instance_type"`
	Zone         string            `json:"zone"`
	Market       string            `json:"market"`
	GPUs         int               `json:"gpus"`
	Tags         map[string]string `json:"tags"`
	UserData     string            `json:"user_data"`
}

func newLedger() *ledger {
	return &ledger{Launches: map[string]*launch{}, Slots: map[string]*slot{}, Outputs: map[string]outputInstance{}}
}

func readLedger(path string) (*ledger, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newLedger(), nil
	}
	if err != nil {
		return nil, err
	}
	l := newLedger()
	if err := json.Unmarshal(data, l); err != nil {
		dir := filepath.Dir(filepath.Dir(path))
		return nil, fmt.Errorf("burst ledger %s is corrupt (%w): the provider cannot list its burst's instances until the ledger is restored "+
			"(the burst's Terraform state in %s still holds them: there `terraform output instances` lists them, "+
			"and `terraform destroy -var-file=%s` ends them, after which remove the directory)", path, err, dir, varsFile)
	}
	if l.Launches == nil {
		l.Launches = map[string]*launch{}
	}
	if l.Slots == nil {
		l.Slots = map[string]*slot{}
	}
	if l.Outputs == nil {
		l.Outputs = map[string]outputInstance{}
	}
	return l, nil
}

// writeFileAtomic replaces path with data through a rename, so a reader
// (List) or a crash never sees half a file, and a power loss neither: the
// new file is synced before the rename and the directory after it. Without
// the syncs a file system may commit the rename before the data (ext4
// without auto_da_alloc, XFS), and a power loss then leaves the ledger
// empty, or gone with the rename undone: the record of which instances a
// burst owns lost, the instances leaked. Sync errors fail the write.
func writeFileAtomic(path string, data []byte) error { return osDisk.writeAtomic(path, data) }

// disk does writeFileAtomic's steps on the OS's file system. step, when
// set (by a test), is called before each step (create, write, sync,
// close, rename, sync-dir) with the file it acts on, and its error fails
// the step in place of the OS's.
type disk struct {
	step func(op, name string) error
}

var osDisk disk

func (d disk) do(op, name string, fn func() error) error {
	if d.step != nil {
		if err := d.step(op, name); err != nil {
			return &fs.PathError{Op: op, Path: name, Err: err}
		}
	}
	return fn()
}

func (d disk) writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	var tmp *os.File
	if err := d.do("create", dir, func() (err error) {
		tmp, err = os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
		return err
	}); err != nil {
		return err
	}
	name := tmp.Name()
	err := d.do("write", name, func() error { _, err := tmp.Write(data); return err })
	if err == nil {
		err = d.do("sync", name, tmp.Sync)
	}
	if cerr := d.do("close", name, tmp.Close); cerr != nil {
		_ = tmp.Close() // a step's hook failed it before the OS's close
		if err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = d.do("rename", name, func() error { return os.Rename(name, path) })
	}
	if err != nil {
		_ = os.Remove(name)
		return err
	}
	// The rename is durable once the directory is synced.
	return d.do("sync-dir", dir, func() error { return syncDir(dir) })
}

// mkdirAll makes dir and those above it that are missing, as os.MkdirAll
// does (mode 0700), and syncs the directory above each it made: a
// directory's entry is durable once its parent is synced, and a crash
// soon after a burst's directories were made could otherwise lose them,
// with the ledger later written (and synced) inside, the record of the
// burst's instances.
func mkdirAll(dir string) error { return osDisk.mkdirAll(dir) }

func (d disk) mkdirAll(dir string) error {
	var missing []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) || filepath.Dir(p) == p {
			break
		}
		missing = append(missing, p)
	}
	if err := d.do("mkdir", dir, func() error { return os.MkdirAll(dir, 0o700) }); err != nil {
		return err
	}
	for _, m := range slices.Backward(missing) {
		parent := filepath.Dir(m)
		if err := d.do("sync-dir", parent, func() error { return syncDir(parent) }); err != nil {
			return err
		}
	}
	return nil
}

// syncDir syncs a directory, committing the entries made or renamed in it.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (l *ledger) write(path string) error {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

// variables is var.instances for the slots.
func (l *ledger) variables() map[string]variable {
	out := make(map[string]variable, len(l.Slots))
	for k, s := range l.Slots {
		if s.Ending {
			continue
		}
		out[k] = variable{InstanceType: s.InstanceType, Zone: s.Zone, Market: string(s.Market), GPUs: s.GPUs, Tags: s.Tags, UserData: s.UserData}
	}
	return out
}

// desired counts the slots that should exist.
func (l *ledger) desired() int {
	n := 0
	for _, s := range l.Slots {
		if !s.Ending {
			n++
		}
	}
	return n
}

// forgetEnded drops ending slots the output no longer lists.
func (l *ledger) forgetEnded() {
	for k, s := range l.Slots {
		if _, ok := l.Outputs[k]; s.Ending && !ok {
			delete(l.Slots, k)
		}
	}
}

// instances are the burst's instances that exist: slots the output lists.
func (l *ledger) instances(provider, region string, keys []string) []providers.Instance {
	if keys == nil {
		keys = sortedKeys(l.Slots)
	}
	out := make([]providers.Instance, 0, len(keys))
	for _, k := range keys {
		s, ok := l.Slots[k]
		o, exists := l.Outputs[k]
		if !ok || !exists {
			continue
		}
		zone := o.Zone
		if zone == "" {
			zone = s.Zone
		}
		out = append(out, providers.Instance{
			ID: o.ID, Provider: provider, Region: region, Zone: zone,
			InstanceType: s.InstanceType, Market: s.Market, State: stateOf(o.State),
			LaunchTime: s.Requested, Tags: maps.Clone(s.Tags), PrivateIP: o.PrivateIP,
		})
	}
	slices.SortFunc(out, func(a, b providers.Instance) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// stateOf maps a module's optional state attribute as the clouds'
// providers map theirs: EC2's words (pending, running, stopping, ...) and
// ECS's (Pending, Starting, Running, Stopping, Stopped). Every apply
// removes from the output the instances Spillway ended, so an instance
// shown stopping or stopped was stopped by someone else: it is not ending,
// it bills until destroyed (stopped, which the scheduler terminates). A
// word no cloud documents is StateUnknown: the instance exists and may
// bill, but is not capacity. A module that reports no state has its
// instances running once applied.
func stateOf(s string) providers.State {
	switch providers.State(s) {
	case providers.StatePending, providers.StateRunning, providers.StateShuttingDown, providers.StateStopped,
		providers.StateTerminated, providers.StateUnknown:
		return providers.State(s)
	case "", "Running":
		return providers.StateRunning
	case "Pending", "Starting":
		return providers.StatePending
	case "stopping", "Stopping", "Stopped":
		return providers.StateStopped
	}
	return providers.StateUnknown
}
