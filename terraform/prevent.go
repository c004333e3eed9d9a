package terraform

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// preventDestroySummary is Terraform's summary of a plan that would
// destroy a resource whose lifecycle block sets prevent_destroy (the same
// in every version Spillway runs).
const preventDestroySummary = "Instance cannot be destroyed"

// PreventDestroyError is a run Terraform refused because it would destroy
// resources the module marks lifecycle { prevent_destroy = true }: ending
// an instance so marked fails the same way however often it is retried,
// while the instance runs and is billed. The provider returns it wrapped
// in a *providers.InvalidError (code PreventDestroy); the instances stay
// in the burst's ledger (listed, counted by the scheduler) until the
// operator lets Terraform end them.
type PreventDestroyError struct {
	// Burst is the burst's key; Dir its working directory.
	Burst, Dir string
	// Resources are the addresses Terraform refused to destroy, each with
	// the id of the instance the output names for its key, when one does.
	Resources []string
	// Addresses are the resources' bare addresses, for `terraform state rm`.
	Addresses []string
	Err       error
}

func (e *PreventDestroyError) Error() string {
	return fmt.Sprintf("Terraform refuses to destroy %s: the module sets lifecycle { prevent_destroy = true } on its instance resource, "+
		"so every attempt to end these fails alike while they run and are billed; remove prevent_destroy from the module "+
		"and restart Spillway (it copies the module at start), or end them by hand and then run `terraform state rm` on their addresses in %s; "+
		"until they are gone Spillway lists them and counts what they cost%s",
		shownOf(e.Resources, "; "), e.Dir, e.logRef())
}

// logRef names the refused run's log.
func (e *PreventDestroyError) logRef() string {
	if re := (*RunError)(nil); errors.As(e.Err, &re) && re.Log != "" {
		return fmt.Sprintf(" (terraform %s's full output: %s)", re.Op, re.Log)
	}
	return ""
}

func (e *PreventDestroyError) Unwrap() error { return e.Err }

// preventedDestroy returns a *PreventDestroyError wrapping runErr when
// diags say Terraform refused to destroy a prevent_destroy resource, and
// nil otherwise. Each resource is named with the instance id the ledger's
// output gives its key.
func (b *burst) preventedDestroy(l *ledger, diags []diag, runErr error) *PreventDestroyError {
	type refused struct{ addr, what string }
	var rs []refused
	for _, d := range diags {
		if d.Summary != preventDestroySummary {
			continue
		}
		addr := d.Address
		if addr == "" {
			// Terraform 1.5 leaves the address out of the diagnostic;
			// its detail begins "Resource ADDR has lifecycle...".
			addr, _, _ = strings.Cut(strings.TrimPrefix(d.Detail, "Resource "), " has lifecycle.prevent_destroy")
		}
		addr = cut(printable(addr))
		if slices.ContainsFunc(rs, func(r refused) bool { return r.addr == addr }) {
			continue
		}
		what := addr
		if o, ok := l.Outputs[keyOf(addr, l.Slots)]; ok && o.ID != "" {
			what += " (instance " + cut(printable(o.ID)) + ")"
		}
		rs = append(rs, refused{addr, what})
	}
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b refused) int { return strings.Compare(a.addr, b.addr) })
	e := &PreventDestroyError{Dir: b.dir, Burst: b.key, Err: runErr}
	for _, r := range rs {
		e.Addresses, e.Resources = append(e.Addresses, r.addr), append(e.Resources, r.what)
	}
	return e
}

// reportPreventedDestroy logs, once for each resource in this process,
// that Terraform refuses to destroy it: every Terminate and Reconcile
// returns the error again, and the scheduler retries it every tick.
func (p *Provider) reportPreventedDestroy(e *PreventDestroyError) {
	p.mu.Lock()
	var fresh []string
	for i, a := range e.Addresses {
		k := e.Burst + " " + a
		if !p.refusedDestroy[k] {
			p.refusedDestroy[k] = true
			fresh = append(fresh, e.Resources[i])
		}
	}
	p.mu.Unlock()
	if len(fresh) > 0 {
		p.log.Error("Terraform refuses to destroy instances the module marks prevent_destroy: they run and are billed until the module lets them end",
			"burst", e.Burst, "resources", fresh, "dir", e.Dir)
	}
}
