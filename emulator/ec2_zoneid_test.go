package emulator

import "testing"

func TestEC2ZoneIDPrefix(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":      "use1",
		"ap-southeast-2": "apse2",
		"eu-central-1":   "euc1",
		"sa-east-1":      "sae1",
		"odd":            "odd",
	} {
		if got := ec2ZoneIDPrefix(region); got != want {
			t.Errorf("ec2ZoneIDPrefix(%q) = %q, want %q", region, got, want)
		}
	}
}
