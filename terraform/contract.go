package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// The module contract (docs/terraform.md). Spillway sets these variables on
// every run:
//
//	cluster   string  the spillway:cluster tag value
//	pool      string  the pool the burst serves
//	burst     string  the burst's key (one state per burst)
//	instances map(object({instance_type, zone, market, gpus, tags, user_data}))
//	          one entry per instance the burst should have, by a stable key
//
// and reads one output:
//
//	instances map(object({id, zone, private_ip, gpus, state?}))
//	          one entry per key of var.instances that exists
//
// The instances are keyed rather than counted so that Spillway can end one
// particular instance (drop its key) without touching the others.
var (
	contractVariables = []string{"cluster", "pool", "burst", "instances"}
	contractOutputs   = []string{"instances"}
	// instanceAttributes are the attributes of each var.instances entry.
	instanceAttributes = []string{"instance_type", "zone", "market", "gpus", "tags", "user_data"}
)

// ContractError says precisely how a module falls short of the contract.
type ContractError struct {
	Module string
	// Load holds Terraform's own parse errors, if the module could not be
	// read at all.
	Load string
	// MissingVariables and MissingOutputs are contract names the module
	// does not declare.
	MissingVariables []string
	MissingOutputs   []string
	// BadTypes says which contract variable has a type that cannot carry
	// what Spillway passes.
	BadTypes []string
	// Unset are variables the module requires (no default) that neither
	// Spillway nor the provider's fixed variables set.
	Unset []string
	// Undeclared are fixed variables the module does not declare.
	Undeclared []string
	// BadValues say which fixed variable has a value its type in the
	// module cannot take, and why.
	BadValues []string
	// BadSources say which module call has a local source Spillway's
	// copy of the module directory would not hold.
	BadSources []string
	// PreventDestroy say which resource sets lifecycle prevent_destroy,
	// which Terraform would refuse to destroy when its burst ends.
	PreventDestroy []string
	// Err is the file system's error when the module's directory cannot
	// be read.
	Err error
}

func (e *ContractError) Unwrap() error { return e.Err }

func (e *ContractError) Error() string {
	var parts []string
	if e.Load != "" {
		parts = append(parts, "cannot be read: "+e.Load)
	}
	if len(e.MissingVariables) > 0 {
		parts = append(parts, fmt.Sprintf("declares no variable %s (Spillway sets %s on every run)", quoteAll(e.MissingVariables), strings.Join(contractVariables, ", ")))
	}
	if len(e.MissingOutputs) > 0 {
		parts = append(parts, fmt.Sprintf("declares no output %s (Spillway reads the instances it holds from it)", quoteAll(e.MissingOutputs)))
	}
	parts = append(parts, e.BadTypes...)
	if len(e.Unset) > 0 {
		what := "variable %s, which has no default and is not among the provider's fixed variables"
		if len(e.Unset) > 1 {
			what = "variables %s, which have no default and are not among the provider's fixed variables"
		}
		parts = append(parts, "requires "+fmt.Sprintf(what, quoteAll(e.Unset)))
	}
	if len(e.Undeclared) > 0 {
		parts = append(parts, fmt.Sprintf("does not declare variable %s, given in the provider's fixed variables", quoteAll(e.Undeclared)))
	}
	parts = append(parts, e.BadValues...)
	parts = append(parts, e.BadSources...)
	parts = append(parts, e.PreventDestroy...)
	return fmt.Sprintf("terraform module %s does not satisfy the Spillway module contract: %s", e.Module, strings.Join(parts, "; "))
}

// CheckModule reads the module in dir with terraform-config-inspect and
// checks it against the contract, given the fixed variables the provider
// will pass. It returns a *ContractError naming everything missing (and
// wrapping the file system's error when dir is not a directory). New calls
// it, and so does config's ValidateForServer (spillway policy validate
// --server), so a module is refused before the server opens its state.
func CheckModule(dir string, fixed map[string]any) error {
	if problem, err := moduleDirProblem(dir); problem != "" {
		return &ContractError{Module: dir, Load: problem, Err: err}
	}
	mod, diags := tfconfig.LoadModule(dir)
	if diags.HasErrors() {
		var msgs []string
		for _, d := range diags {
			if d.Severity != tfconfig.DiagError {
				continue
			}
			m := d.Summary
			if d.Detail != "" {
				m += ": " + d.Detail
			}
			if d.Pos != nil {
				m = fmt.Sprintf("%s:%d: %s", d.Pos.Filename, d.Pos.Line, m)
			}
			msgs = append(msgs, m)
		}
		return &ContractError{Module: dir, Load: strings.Join(msgs, "; ")}
	}
	if mod == nil {
		return &ContractError{Module: dir, Load: "no module"}
	}
	e := &ContractError{Module: dir}
	for _, v := range contractVariables {
		if _, ok := mod.Variables[v]; !ok {
			e.MissingVariables = append(e.MissingVariables, v)
		}
	}
	for _, o := range contractOutputs {
		if _, ok := mod.Outputs[o]; !ok {
			e.MissingOutputs = append(e.MissingOutputs, o)
		}
	}
	for _, name := range []string{"cluster", "pool", "burst"} {
		if v, ok := mod.Variables[name]; ok {
			e.BadTypes = append(e.BadTypes, checkStringType(name, v.Type)...)
		}
	}
	if v, ok := mod.Variables["instances"]; ok {
		e.BadTypes = append(e.BadTypes, checkInstancesType(v.Type)...)
	}
	for _, name := range sortedKeys(mod.Variables) {
		v := mod.Variables[name]
		if !v.Required || slices.Contains(contractVariables, name) {
			continue
		}
		if _, ok := fixed[name]; !ok {
			e.Unset = append(e.Unset, name)
		}
	}
	for _, name := range sortedKeys(fixed) {
		v, ok := mod.Variables[name]
		if !ok {
			e.Undeclared = append(e.Undeclared, name)
			continue
		}
		if problem := fixedValueProblem(v.Type, fixed[name]); problem != "" {
			e.BadValues = append(e.BadValues, fmt.Sprintf("variable %q has type %s, which the provider's fixed value %s does not fit: %s", name, v.Type, cut(jsonOf(fixed[name])), problem))
		}
	}
	e.BadSources = localSourceProblems(dir, mod)
	e.PreventDestroy = preventDestroyProblems(dir, mod)
	if len(e.MissingVariables)+len(e.MissingOutputs)+len(e.BadTypes)+len(e.Unset)+len(e.Undeclared)+len(e.BadValues)+len(e.BadSources)+len(e.PreventDestroy) == 0 {
		return nil
	}
	return e
}

// localSourceProblems checks the module calls with local sources ("./x",
// "../x") of the module in root and of its local child modules: Spillway
// runs a copy of root, so a source must lead to a directory inside it (a
// link to a directory is not followed by the copy either). It returns a
// problem per call that does not, naming the calling file, the module and
// its source.
func localSourceProblems(root string, mod *tfconfig.Module) []string {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil // CheckModule has read it: reported there if at all
	}
	var problems []string
	seen := map[string]bool{realRoot: true}
	var check func(dir string, mod *tfconfig.Module, depth int)
	check = func(dir string, mod *tfconfig.Module, depth int) {
		for _, name := range sortedKeys(mod.ModuleCalls) {
			call := mod.ModuleCalls[name]
			if !strings.HasPrefix(call.Source, "./") && !strings.HasPrefix(call.Source, "../") {
				continue // a registry, git or other remote source: init fetches it
			}
			at := fmt.Sprintf("module %q (%s:%d) has source %q", name, call.Pos.Filename, call.Pos.Line, call.Source)
			target, err := filepath.EvalSymlinks(filepath.Join(dir, call.Source))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s, which cannot be read (%v): want a directory inside the module directory", at, errors.Unwrap(err)))
				continue
			}
			if rel, err := filepath.Rel(realRoot, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				problems = append(problems, fmt.Sprintf("%s, which is %s, outside the module directory: Spillway runs a copy of the module directory, "+
					"where it would not be; move it inside (e.g. ./modules/%s), or give it a registry or git source", at, target, filepath.Base(target)))
				continue
			}
			if seen[target] || depth >= 10 {
				continue
			}
			seen[target] = true
			if child, diags := tfconfig.LoadModule(target); !diags.HasErrors() && child != nil {
				check(target, child, depth+1)
			}
		}
	}
	check(root, mod, 0)
	return problems
}

// minCoreVersion is the oldest Terraform Spillway runs: it reads plans
// and applies as -json messages (0.15.3), its test modules' instances are
// terraform_data (1.4), and it adopts the instances of cut-off creates
// with import blocks (1.5).
var minCoreVersion = version.Must(version.NewVersion("1.5.0"))

// CheckCoreVersion runs `terraform version` with bin and checks it against
// Spillway's own minimum (minCoreVersion: an older one fails its runs,
// Terraform 0.14's every plan, "flag provided but not defined: -json")
// and the required_version constraints of the module in dir: a module
// that wants another Terraform fails every run's init ("Unsupported
// Terraform Core version"). A module CheckModule refuses is left to it.
// The config package calls it for spillway policy validate --server and
// the server's start, with the terraform on PATH (LookBinary).
func CheckCoreVersion(ctx context.Context, bin, dir string) error {
	mod, diags := tfconfig.LoadModule(dir)
	if diags.HasErrors() || mod == nil {
		return nil
	}
	// No plugin cache (nothing is installed); no look-up of newer releases.
	env := terraformEnv(os.Environ(), "", map[string]string{"CHECKPOINT_DISABLE": "1"})
	v, err := coreVersion(ctx, bin, dir, env)
	if err != nil {
		return err
	}
	if v.Core().LessThan(minCoreVersion) {
		return fmt.Errorf("%s is Terraform %s, and Spillway runs Terraform %s or later (it reads plans and applies as -json messages, "+
			"and adopts the instances of cut-off creates with import blocks): install Terraform %[3]s or later first on the server's PATH", bin, v, minCoreVersion)
	}
	var unmet []string
	for _, c := range mod.RequiredCore {
		cons, err := version.NewConstraint(c)
		if err != nil {
			continue // init reports it
		}
		// A pre-release is checked as its release, so that a constraint
		// is not read more strictly here than Terraform reads it.
		if !cons.Check(v.Core()) {
			unmet = append(unmet, c)
		}
	}
	if len(unmet) > 0 {
		return fmt.Errorf("terraform module %s requires Terraform %s (its required_version), and %s is %s: install a Terraform it accepts first on the server's PATH",
			dir, strings.Join(unmet, ", "), bin, v)
	}
	return nil
}

// moduleDirProblem says what is wrong with dir as a module directory, and
// the file system's error, if any.
func moduleDirProblem(dir string) (string, error) {
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Sprintf("%v: want an existing directory holding *.tf files", errors.Unwrap(err)), err
	case !st.IsDir():
		return "is a file: want the directory holding the module's *.tf files", fs.ErrInvalid
	}
	return "", nil
}

var attrRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*=`)

// checkInstancesType checks the declared type of var.instances, when one
// is declared: a map (so keys are stable) of objects whose attributes are
// a subset of what Spillway passes. A missing type (any) is accepted.
func checkInstancesType(typ string) []string {
	t := strings.Join(strings.Fields(typ), "")
	if t == "" || t == "any" {
		return nil
	}
	if elem, ok := strings.CutPrefix(t, "map("); !ok || !(elem == "any)" || strings.HasPrefix(elem, "object(")) {
		return []string{fmt.Sprintf("variable \"instances\" has type %s: want map(object({...})), keyed by instance key", typ)}
	}
	var unknown []string
	for _, m := range attrRE.FindAllStringSubmatch(typ, -1) {
		if !slices.Contains(instanceAttributes, m[1]) {
			unknown = append(unknown, m[1])
		}
	}
	if len(unknown) > 0 {
		return []string{fmt.Sprintf("variable \"instances\" has attribute %s, which Spillway does not set (it sets %s)", quoteAll(unknown), strings.Join(instanceAttributes, ", "))}
	}
	return nil
}

// stringValues says what Spillway sets each string variable of the
// contract to.
var stringValues = map[string]string{
	"cluster": "the Spillway cluster's name",
	"pool":    "the pool's name",
	"burst":   "the burst's key",
}

// checkStringType checks the declared type of a contract variable that
// Spillway sets to a string: string, any, or none.
func checkStringType(name, typ string) []string {
	switch strings.Join(strings.Fields(typ), "") {
	case "", "any", "string":
		return nil
	}
	return []string{fmt.Sprintf("variable %q has type %s: want string (Spillway sets it to %s)", name, typ, stringValues[name])}
}

// fixedValueProblem says why Terraform would refuse v, a fixed variable's
// value as spillway.tfvars.json gives it, for a variable of type typ (the
// module's type expression), or "" when it converts (or the type is not
// one this check can read: Terraform then reports it itself).
func fixedValueProblem(typ string, v any) string {
	if strings.TrimSpace(typ) == "" {
		return ""
	}
	expr, diags := hclsyntax.ParseExpression([]byte(typ), "", hcl.InitialPos)
	if diags.HasErrors() {
		return ""
	}
	ty, _, diags := typeexpr.TypeConstraintWithDefaults(expr)
	if diags.HasErrors() {
		return ""
	}
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	implied, err := ctyjson.ImpliedType(data)
	if err != nil {
		return ""
	}
	val, err := ctyjson.Unmarshal(data, implied)
	if err != nil {
		return ""
	}
	if _, err := convert.Convert(val, ty); err != nil {
		var pe cty.PathError
		if errors.As(err, &pe) && len(pe.Path) > 0 {
			return fmt.Sprintf("%s: %s", pathString(pe.Path), pe.Error())
		}
		return err.Error()
	}
	return ""
}

// pathString writes a cty path the way Terraform's messages do: .name,
// ["key"], [0].
func pathString(path cty.Path) string {
	var sb strings.Builder
	for _, step := range path {
		switch s := step.(type) {
		case cty.GetAttrStep:
			sb.WriteString("." + s.Name)
		case cty.IndexStep:
			switch s.Key.Type() {
			case cty.String:
				fmt.Fprintf(&sb, "[%q]", s.Key.AsString())
			case cty.Number:
				fmt.Fprintf(&sb, "[%s]", s.Key.AsBigFloat().Text('f', -1))
			}
		}
	}
	return sb.String()
}

func jsonOf(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
