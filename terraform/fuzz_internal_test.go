package terraform

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"golang.org/x/text/unicode/norm"
)

// FuzzHCLString: an instance id a module's cloud_instances output names
// (the cloud's text) is written into an import block as hclString quotes
// it. Whatever it accepts parses as one HCL string literal whose value is
// the id (as HCL holds strings: NFC), never a template that interpolates
// or a literal that ends early and lets the rest be configuration; what it
// cannot quote so it refuses.
func FuzzHCLString(f *testing.F) {
	for _, s := range []string{"i-0123456789abcdef0", `a"b`, `a\b`, "${var.x}", "$${x}", "$$${x}", "%{if}", "%%{x}", "$", "%", "a\nb", "é", "e\u0301", "\xff", "}", "\"\n}\nresource \"x\" \"y\" {"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, ok := hclString(s)
		if !ok {
			return
		}
		expr, diags := hclsyntax.ParseExpression([]byte(q), "import.tf", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("hclString(%q) = %s, which does not parse: %v", s, q, diags)
		}
		if _, lit := expr.(*hclsyntax.TemplateExpr); !lit {
			t.Fatalf("hclString(%q) = %s parses as %T, not a string literal", s, q, expr)
		}
		if vars := expr.Variables(); len(vars) > 0 {
			t.Fatalf("hclString(%q) = %s refers to %d variables", s, q, len(vars))
		}
		v, diags := expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("hclString(%q) = %s does not evaluate: %v", s, q, diags)
		}
		if !utf8.ValidString(s) {
			t.Fatalf("hclString(%q) accepted text that is not UTF-8 (it reads as %q)", s, v.AsString())
		}
		if got := v.AsString(); got != norm.NFC.String(s) {
			t.Fatalf("hclString(%q) = %s reads as %q", s, q, got)
		}
	})
}

// FuzzPreventedResources: a module file of any content (an operator's
// .tf or .tf.json, half-written or not HCL at all) never panics the start-up
// check for prevent_destroy, and what it names is a resource of that file
// at one of its lines.
func FuzzPreventedResources(f *testing.F) {
	for _, s := range []string{
		"resource \"a\" \"b\" {\n  lifecycle {\n    prevent_destroy = true\n  }\n}\n",
		"resource \"a\" {\n  lifecycle { prevent_destroy = true }\n}\n",
		"resource \"a\" \"b\" \"c\" {\n  lifecycle {\n    prevent_destroy = var.x\n  }\n}\n",
		"resource \"a\" \"b\" { lifecycle { prevent_destroy = \"true\" } }",
		"resource a b { lifecycle { prevent_destroy = null } }",
		"{",
	} {
		f.Add(s, false)
	}
	f.Add(`{"resource": {"a": {"b": {"lifecycle": {"prevent_destroy": true}}}}}`, true)
	f.Add(`{"resource": {"a": {"b": [{"lifecycle": [{"prevent_destroy": true}]}]}}}`, true)
	f.Fuzz(func(t *testing.T, src string, asJSON bool) {
		dir := t.TempDir()
		name := "main.tf"
		if asJSON {
			name += ".json"
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(src, "\n") + 1
		for _, r := range preventedResources(dir) {
			if r.file != filepath.Join(dir, name) || r.line < 1 || r.line > lines || !strings.Contains(r.addr, ".") {
				t.Fatalf("preventedResources of %q named %+v (the file has %d lines)", src, r, lines)
			}
		}
	})
}

// FuzzDecodeOutputs: the module's instances output, whatever Terraform
// hands back, is read without a panic; what it returns holds only keys
// var.instances has, and of the others (strays) at most the first
// maxShownProblems, in key order, with all of them counted.
func FuzzDecodeOutputs(f *testing.F) {
	for _, s := range []string{
		`{"a":{"id":"i-1","zone":"z","private_ip":"10.0.0.1","gpus":8}}`,
		`{"a":{"id":1}}`, `{"b":{}, "c":[], "a":null}`, `[]`, `"x"`, `{`, `{"a":{}}}`,
		`{"\u0000":{"id":"\ud800"}}`, `{"a":{"id":"i"},"a":{"id":"j"}}`,
	} {
		f.Add(s)
	}
	wanted := []string{"a", "b"}
	f.Fuzz(func(t *testing.T, value string) {
		out, st, err := decodeOutputs("dir", json.RawMessage(value), wanted)
		if err != nil {
			var oe *OutputError
			if !errors.As(err, &oe) || len(oe.Problems) == 0 {
				t.Fatalf("%q: error %v, want an *OutputError naming a problem", value, err)
			}
			return
		}
		for k := range out {
			if !slices.Contains(wanted, k) {
				t.Fatalf("%q: key %q returned, not a key of var.instances", value, k)
			}
		}
		if len(st.first) > maxShownProblems || len(st.first) > st.n || !slices.IsSorted(st.first) {
			t.Fatalf("%q: strays %q of %d", value, st.first, st.n)
		}
		for _, k := range st.first {
			if slices.Contains(wanted, k) {
				t.Fatalf("%q: key %q of var.instances counted as a stray", value, k)
			}
		}
	})
}
