package terraform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/zclconf/go-cty/cty"
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

// preventDestroyProblems names each resource of the module in root, and of
// the local child modules it calls, whose lifecycle block sets
// prevent_destroy = true: Terraform refuses to destroy it, so ending an
// instance of a burst (or the burst, whose state is destroyed whole when
// its last instance ends) would fail however often it was retried, while
// the instances run and are billed. Override files (override.tf,
// *_override.tf) have the last word, as in Terraform. A child module from
// a registry or git is fetched only by init, and is not checked here: a
// refusal of its resources is reported when Terminate meets it.
func preventDestroyProblems(root string, mod *tfconfig.Module) []string {
	var problems []string
	seen := map[string]bool{}
	var check func(dir, path string, mod *tfconfig.Module, depth int)
	check = func(dir, path string, mod *tfconfig.Module, depth int) {
		resolved, err := filepath.EvalSymlinks(dir)
		if err != nil || seen[resolved] || depth > 10 {
			return
		}
		seen[resolved] = true
		for _, r := range preventedResources(dir) {
			where := "resource " + r.addr
			if path != "" {
				where = path + "." + r.addr
			}
			problems = append(problems, fmt.Sprintf("%s (%s:%d) sets lifecycle { prevent_destroy = true }: Terraform would refuse to destroy it, "+
				"so ending an instance (or a burst, whose state is destroyed whole) would fail every time while it runs and is billed; "+
				"remove prevent_destroy from it (each burst's resources are its own, ended with the burst)", where, r.file, r.line))
		}
		for _, name := range sortedKeys(mod.ModuleCalls) {
			call := mod.ModuleCalls[name]
			if !strings.HasPrefix(call.Source, "./") && !strings.HasPrefix(call.Source, "../") {
				continue // fetched by init: met when Terraform refuses
			}
			child, diags := tfconfig.LoadModule(filepath.Join(dir, call.Source))
			if diags.HasErrors() || child == nil {
				continue // localSourceProblems reports a source that cannot be read
			}
			check(filepath.Join(dir, call.Source), strings.TrimPrefix(path+".module."+name, "."), child, depth+1)
		}
	}
	check(root, "", mod, 0)
	return problems
}

// preventedResource is a resource whose lifecycle sets prevent_destroy.
type preventedResource struct {
	addr, file string
	line       int
}

// preventedResources reads the module files of dir (its *.tf and
// *.tf.json, not its subdirectories, as Terraform does) for managed
// resources whose lifecycle block sets prevent_destroy = true, the
// override files read last.
func preventedResources(dir string) []preventedResource {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var files, overrides []string
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")) {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(name, ".json"), ".tf")
		if base == "override" || strings.HasSuffix(base, "_override") {
			overrides = append(overrides, name)
		} else {
			files = append(files, name)
		}
	}
	set := map[string]*preventedResource{} // by address; nil: set false
	parser := hclparse.NewParser()
	for _, name := range append(files, overrides...) {
		path := filepath.Join(dir, name)
		var f *hcl.File
		if strings.HasSuffix(name, ".json") {
			f, _ = parser.ParseJSONFile(path)
		} else {
			f, _ = parser.ParseHCLFile(path)
		}
		if f == nil {
			continue // CheckModule reports what does not parse
		}
		content, _, _ := f.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "resource", LabelNames: []string{"type", "name"}}}})
		if content == nil {
			continue
		}
		for _, res := range content.Blocks {
			rc, _, _ := res.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "lifecycle"}}})
			if rc == nil {
				continue
			}
			addr := res.Labels[0] + "." + res.Labels[1]
			for _, lc := range rc.Blocks {
				attrs, _ := lc.Body.JustAttributes()
				a, ok := attrs["prevent_destroy"]
				if !ok {
					continue
				}
				// Terraform takes only a literal here.
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.Bool {
					continue
				}
				if v.True() {
					set[addr] = &preventedResource{addr: addr, file: path, line: a.Range.Start.Line}
				} else {
					set[addr] = nil
				}
			}
		}
	}
	var out []preventedResource
	for _, addr := range sortedKeys(set) {
		if r := set[addr]; r != nil {
			out = append(out, *r)
		}
	}
	return out
}
