package terraform_test

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"github.com/zclconf/go-cty/cty/gocty"

	"github.com/spillway-io/spillway/providers"
)

// moduleBlocks is a module's top-level blocks, read by HCL (Terraform's
// own parser), by kind and labels ("resource aws_instance this").
func moduleBlocks(t *testing.T, dir string) map[string]*hclsyntax.Block {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s (%v)", dir, err)
	}
	parser := hclparse.NewParser()
	out := map[string]*hclsyntax.Block{}
	for _, f := range files {
		file, diags := parser.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("parse %s: %v", f, diags)
		}
		for _, b := range file.Body.(*hclsyntax.Body).Blocks {
			name := b.Type
			for _, l := range b.Labels {
				name += " " + l
			}
			out[name] = b
		}
	}
	return out
}

// attrValue evaluates block's attribute name (in a nested block of type
// nested when given) in ctx.
func attrValue(t *testing.T, b *hclsyntax.Block, name string, ctx *hcl.EvalContext) cty.Value {
	t.Helper()
	a, ok := b.Body.Attributes[name]
	if !ok {
		t.Fatalf("%s %v has no attribute %s", b.Type, b.Labels, name)
	}
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("%s %v: %s: %v", b.Type, b.Labels, name, diags)
	}
	return v
}

// tfFunctions are the Terraform functions the shipped modules' evaluated
// expressions call.
var tfFunctions = map[string]function.Function{
	"merge":  stdlib.MergeFunc,
	"lookup": stdlib.LookupFunc,
	"toset":  stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
}

// goStrings is v (a map or object of strings, as Terraform converts it)
// as a Go map.
func goStrings(v cty.Value) (map[string]string, error) {
	v, err := convert.Convert(v, cty.Map(cty.String))
	if err != nil {
		return nil, err
	}
	var m map[string]string
	return m, gocty.FromCtyValue(v, &m)
}

func stringMap(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	out := map[string]cty.Value{}
	for k, v := range m {
		out[k] = cty.StringVal(v)
	}
	return cty.MapVal(out)
}

// The shipped modules declare the optional cloud_instances output, so a
// user of them has the instance of a cut-off create (Terraform killed
// mid-apply) found and ended: each instance carries tags naming its burst
// and key, a data source lists the burst's instances by those tags, and
// the output maps each id found to its key. The modules' providers cannot
// be downloaded here (terraform validate needs them installed), so the
// expressions are evaluated by HCL with Terraform's functions on the
// values the data sources' documented attributes hold: a filter that
// does not match the tags the instance resource sets, or an output that
// is not id => key, fails.
func TestShippedModulesFindCutOffInstances(t *testing.T) {
	const burst, other = "nightly-0a1b2c3d4e", "nightly-5f6a7b8c9d"
	spillwayTags := map[string]string{
		providers.TagCluster: "prod", providers.TagPool: "a100", providers.TagBurst: "nightly", providers.TagIntent: "intent-7",
	}
	// The cloud's instances of the burst: id → key.
	cloud := map[string]string{"i-0aa": "0a1b2c3d4e-0", "i-0bb": "0a1b2c3d4e-1"}
	tests := []struct {
		dir, instance, list, filterAttr string
		// states: the instance-state-name filter's values, nil for none.
		states []string
		// read gives the data sources' values for instances whose tags
		// are by id, as the module's blocks ask for them.
		read func(t *testing.T, blocks map[string]*hclsyntax.Block, tags map[string]map[string]string) cty.Value
	}{
		{"../configs/terraform/aws", "aws_instance", "aws_instances", "instance_tags", []string{"pending", "running", "stopping", "stopped"},
			func(t *testing.T, blocks map[string]*hclsyntax.Block, tags map[string]map[string]string) cty.Value {
				ids := []cty.Value{}
				for _, id := range slices.Sorted(maps.Keys(tags)) {
					ids = append(ids, cty.StringVal(id))
				}
				list := cty.ObjectVal(map[string]cty.Value{"ids": cty.ListVal(ids)})
				each := blocks["data aws_instance burst"]
				if each == nil {
					t.Fatal(`no data "aws_instance" "burst" to read each instance's tags`)
				}
				ctx := &hcl.EvalContext{Functions: tfFunctions, Variables: map[string]cty.Value{
					"data": cty.ObjectVal(map[string]cty.Value{"aws_instances": cty.ObjectVal(map[string]cty.Value{"burst": list})}),
				}}
				read := map[string]cty.Value{}
				for it := attrValue(t, each, "for_each", ctx).ElementIterator(); it.Next(); {
					_, v := it.Element()
					ectx := ctx.NewChild()
					ectx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": v, "value": v})}
					id := attrValue(t, each, "instance_id", ectx).AsString()
					read[v.AsString()] = cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(id), "tags": stringMap(tags[id])})
				}
				return cty.ObjectVal(map[string]cty.Value{
					"aws_instances": cty.ObjectVal(map[string]cty.Value{"burst": list}),
					"aws_instance":  cty.ObjectVal(map[string]cty.Value{"burst": cty.ObjectVal(read)}),
				})
			}},
		{"../configs/terraform/alicloud", "alicloud_instance", "alicloud_instances", "tags", nil,
			func(t *testing.T, _ map[string]*hclsyntax.Block, tags map[string]map[string]string) cty.Value {
				var insts []cty.Value
				for _, id := range slices.Sorted(maps.Keys(tags)) {
					insts = append(insts, cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(id), "status": cty.StringVal("Running"), "tags": stringMap(tags[id])}))
				}
				return cty.ObjectVal(map[string]cty.Value{"alicloud_instances": cty.ObjectVal(map[string]cty.Value{
					"burst": cty.ObjectVal(map[string]cty.Value{"instances": cty.ListVal(insts)}),
				})})
			}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.dir), func(t *testing.T) {
			blocks := moduleBlocks(t, tt.dir)
			res := blocks["resource "+tt.instance+" this"]
			list := blocks["data "+tt.list+" burst"]
			out := blocks["output cloud_instances"]
			if res == nil || list == nil || out == nil {
				t.Fatalf(`want resource %q "this", data %q "burst" and output "cloud_instances"; have %v`, tt.instance, tt.list, slices.Sorted(maps.Keys(blocks)))
			}
			varsOf := func(burst string) cty.Value {
				return cty.ObjectVal(map[string]cty.Value{"burst": cty.StringVal(burst), "cluster": cty.StringVal("prod"), "pool": cty.StringVal("a100")})
			}
			// The tags each instance is made with.
			tags := map[string]map[string]string{}
			for id, key := range cloud {
				ctx := &hcl.EvalContext{Functions: tfFunctions, Variables: map[string]cty.Value{
					"var": varsOf(burst),
					"each": cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal(key), "value": cty.ObjectVal(map[string]cty.Value{
						"tags": stringMap(spillwayTags),
					})}),
				}}
				m, err := goStrings(attrValue(t, res, "tags", ctx))
				if err != nil {
					t.Fatalf("the instance's tags: %v", err)
				}
				for k, v := range spillwayTags {
					if m[k] != v {
						t.Errorf("the instance's tag %s = %q, want Spillway's %q", k, m[k], v)
					}
				}
				tags[id] = m
			}
			// The data source's filter matches every instance of the burst,
			// and none of another burst.
			for _, tc := range []struct {
				burst string
				match bool
			}{{burst, true}, {other, false}} {
				ctx := &hcl.EvalContext{Functions: tfFunctions, Variables: map[string]cty.Value{"var": varsOf(tc.burst)}}
				filter, err := goStrings(attrValue(t, list, tt.filterAttr, ctx))
				if err != nil || len(filter) == 0 {
					t.Fatalf("data %s.burst: %s = %v (%v), want a map of tags", tt.list, tt.filterAttr, filter, err)
				}
				for id, m := range tags {
					matched := true
					for k, v := range filter {
						matched = matched && m[k] == v
					}
					if matched != tc.match {
						t.Errorf("data %s.burst of burst %s: %s %v matches instance %s (tags %v): %v, want %v", tt.list, tc.burst, tt.filterAttr, filter, id, m, matched, tc.match)
					}
				}
			}
			if tt.states != nil {
				var states []string
				for _, f := range list.Body.Blocks {
					if f.Type == "filter" && attrValue(t, f, "name", nil).AsString() == "instance-state-name" {
						v, err := convert.Convert(attrValue(t, f, "values", nil), cty.List(cty.String))
						if err == nil {
							err = gocty.FromCtyValue(v, &states)
						}
						if err != nil {
							t.Fatal(err)
						}
					}
				}
				if !slices.Equal(states, tt.states) {
					t.Errorf("data %s.burst's instance-state-name filter = %v, want %v (every state an instance bills or may bill in, not terminated)", tt.list, states, tt.states)
				}
			}
			// A stranger of the burst (no key tag) maps to no key.
			tags["i-0cc"] = map[string]string{"spillway:burst-key": burst}
			ctx := &hcl.EvalContext{Functions: tfFunctions, Variables: map[string]cty.Value{"data": tt.read(t, blocks, tags), "var": varsOf(burst)}}
			got, err := goStrings(attrValue(t, out, "value", ctx))
			if err != nil {
				t.Fatalf("output cloud_instances: %v, want a map of strings", err)
			}
			want := maps.Clone(cloud)
			want["i-0cc"] = ""
			if !maps.Equal(got, want) {
				t.Errorf("output cloud_instances = %v, want %v (instance id => key)", got, want)
			}
		})
	}
}
