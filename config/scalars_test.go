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

// TestLongNumbersRefusedEarly: a number or duration kilobytes long (a
// script's runaway output pasted into the field) is refused for its
// length before it is parsed: a 2 MiB duration took 2.4 to 3.8 s (a
// regular expression guessing the duration meant ran over all of it) and
// a 2 MiB price 0.7 s, answered as out of range or a bad duration. A
// duration in words up to MaxNumberBytes still reads.
func TestLongNumbersRefusedEarly(t *testing.T) {
	const doc = "cluster: c\nproviders:\n  aws: {type: aws, region: us-east-1}\npools:\n  - name: p\n    wait_target: %s\n    onprem: {nodes: %s, gpus_per_node: 8}\n    offerings: [{provider: aws, instance_type: p5.48xlarge, price_per_hour: %s}]\n"
	long := strings.Repeat("9", 1<<18)
	for _, tt := range []struct {
		name, wait, nodes, price string
		want                     string
	}{
		{"duration", long + "s", "1", "40", `x.yaml:6:18: pools[0].wait_target: "999999999999999999999999999999999999999999999999999999999999…" (262145 bytes) is too long for a duration: want at most 64 characters, such as 90s, 5m or 1h30m`},
		{"bare duration", long, "1", "40", `x.yaml:6:18: pools[0].wait_target: "999999999999999999999999999999999999999999999999999999999999…" (262144 bytes) is too long for a duration: want at most 64 characters`},
		{"whole number", "1m", long, "40", `pools[0].onprem.nodes: "999999999999999999999999999999999999999999999999999999999999…" (262144 bytes) is too long for a number: want at most 64 characters, such as 8, 0.5 or 1e3`},
		{"number", "1m", "1", long, `pools[0].offerings[0].price_per_hour: "999999999999999999999999999999999999999999999999999999999999…" (262144 bytes) is too long for a number: want at most 64 characters`},
		{"in words at the bound", "1 hour 30 minutes and 15 seconds" + strings.Repeat(" ", 20) + "x", "1", "40", "pools[0].wait_target: bad duration"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", fmt.Appendf(nil, doc, tt.wait, tt.nodes, tt.price))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %.600v\nwant %s", err, tt.want)
			}
		})
	}
}
