package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestWholeNumbersAsWritten: whole numbers YAML reads as their digits say
// are accepted with that value; one with a leading zero that YAML would
// read as octal is refused (octal.bad.yaml).
func TestWholeNumbersAsWritten(t *testing.T) {
	for _, tt := range []struct {
		written string
		want    int
	}{
		{"8", 8}, {"007", 7}, {"0o10", 8}, {"0", 0}, {"00", 0}, {"1_000", 1000}, {"0x10", 16}, {"+12", 12},
	} {
		cfg, err := Parse("x.yaml", fmt.Appendf(nil, "cluster: c\nproviders:\n  aws: {type: aws, region: us-east-1}\npools:\n  - name: p\n    onprem: {nodes: %s, gpus_per_node: 8}\n    offerings: [{provider: aws, instance_type: p5.48xlarge}]\n", tt.written))
		if err != nil {
			t.Errorf("nodes: %s: %v", tt.written, err)
			continue
		}
		if got := cfg.Pools[0].Policy.OnPrem.Nodes; got != tt.want {
			t.Errorf("nodes: %s read as %d, want %d", tt.written, got, tt.want)
		}
	}
}

// TestTerraformValuesAsWritten: a Terraform variable's value reaches the
// module's JSON as written: dates and keys as their text, numbers as
// numbers.
func TestTerraformValuesAsWritten(t *testing.T) {
	const doc = `cluster: c
providers:
  tf:
    type: terraform
    module: ./modules/gpu
    zones: [us-east-1a]
    variables:
      expires: 2024-01-01
      ports: {80: http, 443: https}
      sizes: [007, 0o10, 1.5, true, null, "010"]
pools:
  - name: p
    offerings: [{provider: tf, instance_type: p4d.24xlarge, gpus: 8, price_per_hour: 20}]
`
	cfg, err := Parse("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(cfg.Providers["tf"].TerraformVariables())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"expires":"2024-01-01","ports":{"443":"https","80":"http"},"sizes":[7,8,1.5,true,null,"010"]}`
	if string(got) != want {
		t.Errorf("variables as JSON\n got %s\nwant %s", got, want)
	}
}

// TestManyValuesWritten: the bound on values visited through aliases and
// merge keys does not refuse a file that writes many values out, and its
// message is still about aliases when they expand.
func TestManyValuesWritten(t *testing.T) {
	var b strings.Builder
	b.WriteString("cluster: c\nproviders:\n  aws: {type: aws, region: us-east-1}\npools:\n")
	const pools = 15000 // about 7 values each: beyond MaxNodeVisits
	for i := range pools {
		fmt.Fprintf(&b, "  - name: p%d\n    offerings: [{provider: aws, instance_type: p5.48xlarge}]\n", i)
	}
	if b.Len() > MaxFileBytes {
		t.Fatalf("the file is %d bytes, beyond MaxFileBytes", b.Len())
	}
	cfg, err := Parse("x.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("%d pools written out: %.300v", pools, err)
	}
	if len(cfg.Pools) != pools || !reflect.DeepEqual(cfg.Pools[pools-1].Policy.Name, fmt.Sprintf("p%d", pools-1)) {
		t.Errorf("got %d pools, the last %q", len(cfg.Pools), cfg.Pools[len(cfg.Pools)-1].Policy.Name)
	}
}
