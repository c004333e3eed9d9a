package config

import (
	"fmt"
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
