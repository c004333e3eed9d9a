package terraform

import "testing"

func TestLockHolder(t *testing.T) {
	const tail = "\n\n\nTerraform acquires a state lock to protect the state from being written\nby multiple users at the same time."
	tests := []struct {
		name, diags, id, who string
	}{
		{
			// Terraform's http backend: the lock info is the one it tried to
			// take; the holder is only named by id.
			name:  "http",
			diags: "Error acquiring the state lock: Error message: HTTP remote state already locked: ID=5b1c0f3e-aaaa-bbbb-cccc-000000000001\nLock Info:\n  ID:        7f4261fc-fcd4-abe0-6f9a-881ff491592a\n  Path:      \n  Operation: OperationTypePlan\n  Who:       root@vm\n  Version:   1.11.4\n  Created:   2026-11-29 07:40:41.836860073 +0000 UTC\n  Info:      " + tail,
			id:    "5b1c0f3e-aaaa-bbbb-cccc-000000000001",
		},
		{
			// s3, consul, azurerm...: the lock info is the holder's.
			name:  "holder named",
			diags: "Error acquiring the state lock: Error message: ConditionalCheckFailedException: The conditional request failed\nLock Info:\n  ID:        e2d3a1b0-1111-2222-3333-444455556666\n  Path:      bucket/spillway/b.tfstate\n  Operation: OperationTypeApply\n  Who:       alice@laptop\n  Version:   1.5.7\n  Created:   2026-11-29 07:00:00 +0000 UTC\n  Info:      " + tail,
			id:    "e2d3a1b0-1111-2222-3333-444455556666", who: "alice@laptop",
		},
		{name: "another error", diags: "Error: Invalid reference: A reference to a resource type must be followed by at least one attribute access."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, who := lockHolder(tt.diags)
			if id != tt.id || who != tt.who {
				t.Errorf("lockHolder = (%q, %q), want (%q, %q)", id, who, tt.id, tt.who)
			}
			// A named holder's lock is broken only when it is us.
			_, mine := breakable(tt.diags, tt.who)
			_, other := breakable(tt.diags, "spillway@controller")
			if mine != (tt.id != "") || other != (tt.id != "" && tt.who == "") {
				t.Errorf("breakable as %q = %v, as someone else = %v", tt.who, mine, other)
			}
		})
	}
}
