package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// maxStateBytes bounds the burst's state Spillway reads to count its
// instances (unreported) and to tell whether it holds any.
const maxStateBytes = 64 << 20

// StateSizeError is a burst's Terraform state larger than Spillway reads
// of it (64 MiB) to count the instances it holds. The provider returns it
// wrapped in a *providers.InvalidError (code StateTooLarge): the state
// only grows with the burst.
type StateSizeError struct {
	// Burst is the burst's key; Dir its working directory; Where names
	// its state.
	Burst, Dir, Where string
	// Limit is the bound, in bytes.
	Limit int
}

func (e *StateSizeError) burstKey() string { return e.Burst }

func (e *StateSizeError) Error() string {
	return fmt.Sprintf("burst %s: its Terraform state (%s) is over %s, the most Spillway reads of it to count the instances it holds: "+
		"launches into this burst are refused (what one made is ended), while its instances are ended as asked; "+
		"`terraform state pull` in %s shows what the state holds: keep large values (user data, file contents, certificates) "+
		"out of the module's resources and outputs, so that a burst's state stays well under %[3]s, and restart Spillway (it copies the module at start); "+
		"a burst whose state is over it takes launches again only once its state is under it",
		e.Burst, e.Where, sizeOf(e.Limit), e.Dir)
}

// UnreportedError is a burst's state holding instances the module's
// instances output does not name: a key whose module makes two
// (count = 2 in it, or a second instance resource per key), or an
// instance made apart from var.instances. The scheduler counts the
// instances the output names, the cloud bills every one, and ending the
// burst's keys would leave one made apart from them running. Spillway
// refuses the run's result; the provider returns it wrapped in a
// *providers.InvalidError (code UnreportedInstances), and a launch
// refused so is ended like any failed one.
type UnreportedError struct {
	// Dir is the burst's working directory.
	Dir string
	// Types are the resource types whose ids the output names: the
	// module's instance types.
	Types []string
	// Resources name each instance no output names: its address and id.
	Resources []string
}

func (e *UnreportedError) Error() string {
	return fmt.Sprintf("the burst's Terraform state in %s holds instances the module's output \"instances\" does not name: %s: "+
		"they run and are billed while Spillway counts none of them; want each key of var.instances to make exactly one %s, "+
		"named by its id in the output, and none made apart from var.instances (see the module contract in docs/terraform.md)",
		e.Dir, shownOf(e.Resources, "; "), strings.Join(e.Types, " or "))
}

// stateFile is what Spillway reads of a Terraform state (format 4).
type stateFile struct {
	Resources []struct {
		Module    string `json:"module"`
		Mode      string `json:"mode"`
		Type      string `json:"type"`
		Name      string `json:"name"`
		Provider  string `json:"provider"`
		Instances []struct {
			IndexKey   json.RawMessage `json:"index_key"`
			Deposed    string          `json:"deposed"`
			Attributes struct {
				ID any `json:"id"`
			} `json:"attributes"`
		} `json:"instances"`
	} `json:"resources"`
}

// utilityProviders make resources that are no cloud's: a module may use
// their types for an instance (a test's terraform_data) and for anything
// else beside it (a registration per key).
var utilityProviders = []string{"terraform.io/builtin/terraform", "hashicorp/null", "hashicorp/random", "hashicorp/time", "hashicorp/local", "hashicorp/external"}

var indexRE = regexp.MustCompile(`\[[^\]]*\]`)

// resourceKind is what a resource is counted as an instance by: its type
// (every aws_instance is an instance), or for a utility provider's type
// its module path, without instance keys, type and name (only the
// terraform_data the output names, made once per key, is one).
func resourceKind(typ, name, module, provider string) string {
	for _, u := range utilityProviders {
		if strings.Contains(provider, u) {
			return indexRE.ReplaceAllString(module, "") + "." + typ + "." + name
		}
	}
	return typ
}

// readState reads the burst's state: its local state file, or with
// another backend `terraform state pull`. An absent local file is an
// empty state.
func (b *burst) readState(ctx context.Context) (*stateFile, error) {
	var data []byte
	if path, local := localStatePath(b.dir, b.key, b.p.backend.Type, b.p.cfg.BackendConfig); local {
		var err error
		data, err = readBounded(path, b.p.opts.maxState)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return &stateFile{}, nil
		case errors.Is(err, errOverLimit):
			return nil, &StateSizeError{Burst: b.key, Dir: b.dir, Where: path, Limit: b.p.opts.maxState}
		case err != nil:
			return nil, err
		}
	} else {
		var err error
		if data, err = b.pullState(ctx); err != nil {
			return nil, err
		}
	}
	st := &stateFile{}
	if len(strings.TrimSpace(string(data))) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, &burstError{key: b.key, err: fmt.Errorf("read its Terraform state: %w", err)}
	}
	return st, nil
}

// unreported checks, after an apply, that every instance the burst's
// state holds is one the output names (l.Outputs). The module's instance
// types are those of the resources whose id the output names (an
// aws_instance's id is the instance's); every other resource of those
// types is an instance the output leaves out. A utility provider's type
// (terraform_data, null_resource) counts only as the resources the
// output names: the same module path and name (a module that makes two
// per key, or one for a key apart from var.instances). A module whose output ids
// are no resource's id (a fleet, a spot request) cannot be checked so.
func (b *burst) unreported(ctx context.Context, l *ledger) error {
	if len(l.Outputs) == 0 {
		return nil
	}
	named := map[string]bool{}
	for _, o := range l.Outputs {
		named[o.ID] = true
	}
	st, err := b.readState(ctx)
	if err != nil {
		return err
	}
	// kinds are the instance types, or for a utility provider's type
	// the resources (module path and name) whose ids the output names.
	types, kinds := map[string]bool{}, map[string]bool{}
	for _, r := range st.Resources {
		for _, in := range r.Instances {
			if id, ok := in.Attributes.ID.(string); ok && r.Mode == "managed" && named[id] {
				types[r.Type] = true
				kinds[resourceKind(r.Type, r.Name, r.Module, r.Provider)] = true
			}
		}
	}
	var extra []string
	for _, r := range st.Resources {
		if r.Mode != "managed" || !kinds[resourceKind(r.Type, r.Name, r.Module, r.Provider)] {
			continue
		}
		for _, in := range r.Instances {
			id, _ := in.Attributes.ID.(string)
			if named[id] && in.Deposed == "" {
				continue
			}
			addr := r.Type + "." + r.Name
			if r.Module != "" {
				addr = r.Module + "." + addr
			}
			if len(in.IndexKey) > 0 {
				var k any
				if json.Unmarshal(in.IndexKey, &k) == nil {
					if s, ok := k.(string); ok {
						addr += "[" + strconv.Quote(s) + "]"
					} else {
						addr += "[" + string(in.IndexKey) + "]"
					}
				}
			}
			what := cut(printable(addr)) + " (id " + cut(printable(fmt.Sprint(in.Attributes.ID)))
			if in.Deposed != "" {
				what += ", deposed"
			}
			extra = append(extra, what+")")
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	return &UnreportedError{Dir: b.dir, Types: sortedKeys(types), Resources: extra}
}
