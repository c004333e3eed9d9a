package terraform

import (
	"context"
	"fmt"
	"io"
	"slices"
)

// ReplaceError is a plan that would destroy or replace resources of
// instances the burst keeps running (not being ended): a change of the
// module or of its fixed variables (an image, a type that forces a new
// instance) that makes Terraform want new instances in place of the
// running ones, whose jobs would be killed without a drain and whose ids
// the scheduler would see vanish. Spillway does not apply such a plan;
// the provider returns it wrapped in a *providers.InvalidError (code
// PlanReplacesRunningInstances).
type ReplaceError struct {
	// Dir is the burst's working directory; Log the plan's log.
	Dir, Log string
	// Changes name each resource, its instance and what the plan would
	// do to it, and why ("terraform_data.instance[\"k\"] (instance
	// i-0abc): replace, cannot_update").
	Changes []string
}

func (e *ReplaceError) Error() string {
	return fmt.Sprintf("the plan in %s would end running instances the burst keeps: %s (full plan: %s); "+
		"Spillway does not apply it, their jobs would be killed without a drain: revert the change to the module or to its fixed variables "+
		"that forces new instances, or end the burst's instances (they are drained first) and launch anew", e.Dir, shownOf(e.Changes, "; "), e.Log)
}

// plannedChange is a planned_change message of a -json plan's log.
type plannedChange struct {
	Addr, Action, Reason string
}

// plannedChanges reads the planned_change messages of a -json plan's log.
func plannedChanges(logPath string) []plannedChange {
	var out []plannedChange
	eachLogMessage(logPath, "planned_change", func(m logMessage) {
		out = append(out, plannedChange{Addr: m.Change.Resource.Addr, Action: m.Change.Action, Reason: m.Change.Reason})
	})
	return out
}

// endsRunning returns the changes of a plan (its log at logPath) that
// delete or replace a resource of a key whose instance runs (the output
// lists it) and is not being ended, and the addresses of the resources
// the plan deletes for keys being ended. A tainted resource's replacement
// (cut off mid-provisioner) is what the next apply is for, and is not
// counted.
func endsRunning(logPath string, l *ledger) (running []string, ending []string) {
	for _, c := range plannedChanges(logPath) {
		if c.Action != "delete" && c.Action != "replace" {
			continue
		}
		key := keyOf(c.Addr, l.Slots)
		s, ok := l.Slots[key]
		switch {
		case !ok:
		case s.Ending:
			if c.Action == "delete" {
				ending = append(ending, c.Addr)
			}
		case c.Reason == "tainted":
		default:
			if o, live := l.Outputs[key]; live {
				what := fmt.Sprintf("%s (instance %s): %s", cut(printable(c.Addr)), o.ID, c.Action)
				if c.Reason != "" {
					what += ", " + c.Reason
				}
				running = append(running, what)
			}
		}
	}
	slices.Sort(running)
	return running, ending
}

// keepRunning checks that the plan just made (its log at *logPath) ends
// no instance the burst keeps. When it would, and keys are being ended, it
// plans again with only the resources of those keys as targets, so that
// ending instances is not held up by a change that wants the kept ones
// replaced (that change stays pending: later launches are refused until
// it is resolved); when no key is being ended it returns a *ReplaceError.
// changes says whether the plan now in planFile changes anything.
func (b *burst) keepRunning(ctx context.Context, l *ledger, logPath *string, jsonRun func(op string, fn func(ctx context.Context, w io.Writer) error) error) (changes bool, err error) {
	running, ending := endsRunning(*logPath, l)
	if len(running) == 0 {
		return true, nil
	}
	refused := &ReplaceError{Dir: b.dir, Log: *logPath, Changes: running}
	if len(ending) == 0 {
		return false, refused
	}
	b.p.log.Warn("the plan would end instances the burst keeps: ending only the instances being ended, with a targeted plan", "burst", b.key, "refused", refused)
	var targets []string
	for _, a := range ending {
		targets = append(targets, "-target="+a)
	}
	err = jsonRun("plan-targeted", func(ctx context.Context, w io.Writer) error {
		var perr error
		changes, perr = b.plan(ctx, w, targets...)
		return perr
	})
	if err != nil {
		return false, err
	}
	if running, _ := endsRunning(*logPath, l); len(running) > 0 {
		return false, &ReplaceError{Dir: b.dir, Log: *logPath, Changes: running}
	}
	return changes, nil
}
