package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// moduleBackend is where the root module keeps its state: the backend (or
// cloud) block of its terraform block, if any.
type moduleBackend struct {
	// Type is the backend's type ("s3", "local", ...), "cloud" for a
	// cloud block, and "" when the module declares neither (Terraform's
	// default local backend: terraform.tfstate in the working directory).
	Type string
	// Attrs are the settings the block itself sets.
	Attrs []string
	// At is the block's file and line, as the module's directory names it.
	At string
}

// block names the backend as the module writes it, with its place.
func (b moduleBackend) block() string {
	if b.Type == "cloud" {
		return fmt.Sprintf("terraform { cloud {} } (%s)", b.At)
	}
	return fmt.Sprintf("backend %q (%s)", b.Type, b.At)
}

var (
	terraformBlockSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "terraform"}}}
	backendBlockSchema   = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "backend", LabelNames: []string{"type"}}, {Type: "cloud"}}}
)

// readBackend finds the backend or cloud block of the root module in dir
// (its *.tf and *.tf.json files). A file that does not parse is skipped:
// CheckModule reports it.
func readBackend(dir string) moduleBackend {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	jsonFiles, _ := filepath.Glob(filepath.Join(dir, "*.tf.json"))
	files = append(files, jsonFiles...)
	slices.Sort(files)
	parser := hclparse.NewParser()
	var found moduleBackend
	for _, path := range files {
		var (
			f     *hcl.File
			diags hcl.Diagnostics
		)
		if strings.HasSuffix(path, ".json") {
			f, diags = parser.ParseJSONFile(path)
		} else {
			f, diags = parser.ParseHCLFile(path)
		}
		if diags.HasErrors() || f == nil {
			continue
		}
		content, _, _ := f.Body.PartialContent(terraformBlockSchema)
		for _, tb := range content.Blocks {
			inner, _, _ := tb.Body.PartialContent(backendBlockSchema)
			for _, bb := range inner.Blocks {
				b := moduleBackend{Type: "cloud", At: fmt.Sprintf("%s:%d", path, bb.DefRange.Start.Line)}
				if bb.Type == "backend" {
					b.Type = bb.Labels[0]
				}
				attrs, _ := bb.Body.JustAttributes()
				for name := range attrs {
					b.Attrs = append(b.Attrs, name)
				}
				slices.Sort(b.Attrs)
				// An _override.tf file's block replaces the others; files
				// are read in name order, as Terraform merges them.
				if found.Type == "" || strings.HasSuffix(strings.TrimSuffix(filepath.Base(path), ".json"), "_override.tf") {
					found = b
				}
			}
		}
	}
	return found
}

// CheckBackend checks where the module in dir would keep each burst's
// state, given the provider's backend_config, and returns a problem, at
// its field, for every way its bursts would share one state or keep it
// where Spillway cannot see it:
//   - a cloud block, or the remote backend (HCP Terraform's workspaces;
//     Spillway keeps every burst in the default workspace of a state of
//     its own);
//   - a local backend whose block sets path or workspace_dir, or whose
//     backend_config path holds no {burst};
//   - any other backend without a backend_config value holding {burst}
//     (the block's own settings cannot vary by burst);
//   - backend_config without a backend block, which Terraform ignores.
//
// New calls it, and so does config's ValidateForServer.
func CheckBackend(dir string, backendConfig map[string]string) []Problem {
	if problem, _ := moduleDirProblem(dir); problem != "" {
		return nil // CheckModule reports it
	}
	b := readBackend(dir)
	var p []Problem
	add := func(field, format string, args ...any) {
		p = append(p, Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	perBurst := func() bool {
		for _, v := range backendConfig {
			if strings.Contains(v, "{burst}") {
				return true
			}
		}
		return false
	}
	switch b.Type {
	case "":
		if len(backendConfig) > 0 {
			add("backend_config", "module %s declares no backend block, and Terraform ignores backend_config without one (each burst's state stays in its directory): "+
				"add `backend \"NAME\" {}` to the module's terraform block, or remove backend_config", dir)
		}
	case "cloud", "remote":
		add("module", "module %s declares %s: HCP Terraform's workspaces are not supported (Spillway keeps each burst in a state of its own, "+
			"in its default workspace); remove the block (each burst's state is then in its directory) "+
			"or use a backend whose state object backend_config names per burst, e.g. backend \"s3\" {} with backend_config key: spillway/{burst}.tfstate", dir, b.block())
	case "local":
		for _, a := range b.Attrs {
			if a == "path" || a == "workspace_dir" {
				add("module", "module %s declares %s, which sets %s: every burst would share that one state; "+
					"remove it (each burst's state is then terraform.tfstate in its directory), or give the path in backend_config with {burst}, "+
					"e.g. path: /var/lib/spillway/states/{burst}.tfstate", dir, b.block(), a)
			}
		}
		if path, ok := backendConfig["path"]; ok && !strings.Contains(path, "{burst}") {
			add("backend_config.path", "%q holds no {burst}: every burst of module %s (%s) would share that one state; "+
				"want a path per burst, e.g. %s", path, dir, b.block(), filepath.Join(filepath.Dir(path), "{burst}.tfstate"))
		}
	default:
		if !perBurst() {
			add("backend_config", "module %s declares %s, and no backend_config value holds {burst}: every burst would share one state, "+
				"and each burst's apply would destroy the others' instances; name the state object per burst, e.g. key: spillway/{burst}.tfstate (s3, azurerm, oss), "+
				"prefix: spillway/{burst} (gcs), address: https://state.example/{burst} (http)", dir, b.block())
		}
	}
	return p
}

// localStatePath is the state file of a burst's directory dir with the
// local backend: backend_config's path when given, else terraform.tfstate.
// ok is false for any other backend.
func localStatePath(dir, key, backendType string, backendConfig map[string]string) (path string, ok bool) {
	switch backendType {
	case "":
		return filepath.Join(dir, "terraform.tfstate"), true
	case "local":
		path, given := backendConfig["path"]
		if !given {
			return filepath.Join(dir, "terraform.tfstate"), true
		}
		path = strings.ReplaceAll(path, "{burst}", key)
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		return path, true
	}
	return "", false
}

// stateFileGone says how the local state file at path holds no state:
// "is gone" when it is absent, "is empty ..." when it has no bytes, which
// Terraform reads as no state (what a crash while it was written can
// leave); "" when it holds one.
func stateFileGone(path string) string {
	st, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return "is gone"
	case err == nil && st.Mode().IsRegular() && st.Size() == 0:
		return "is empty (0 bytes, which Terraform reads as no state: a crash while it was written?)"
	}
	return ""
}

// statePerBurst names the burst's state object by the backend_config
// values that hold {burst} (`key "spillway/KEY.tfstate"`), credentials
// left out.
func (p *Provider) statePerBurst(key string) string {
	var names []string
	for _, k := range sortedKeys(p.cfg.BackendConfig) {
		if v := p.cfg.BackendConfig[k]; strings.Contains(v, "{burst}") {
			names = append(names, fmt.Sprintf("%s %q", k, withoutUserinfo(strings.ReplaceAll(v, "{burst}", key))))
		}
	}
	return strings.Join(names, ", ")
}
