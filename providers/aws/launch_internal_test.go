package aws

import (
	"strings"
	"testing"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
)

func TestAttemptToken(t *testing.T) {
	long := strings.Repeat("intent-", 12) // 84 characters
	tests := []struct {
		token string
		index int
		want  string
	}{
		{"abc", 0, "abc-0"},
		{"abc", 12, "abc-12"},
		{strings.Repeat("x", 62), 0, strings.Repeat("x", 62) + "-0"},
	}
	for _, tt := range tests {
		if got := attemptToken(tt.token, tt.index); got != tt.want {
			t.Errorf("attemptToken(%q, %d) = %q, want %q", tt.token, tt.index, got, tt.want)
		}
	}
	seen := map[string]bool{}
	for _, tok := range []string{long, long + "x", strings.Repeat("y", 63), strings.Repeat("y", 64)} {
		for i := range 3 {
			got := attemptToken(tok, i)
			if len(got) > maxClientToken {
				t.Errorf("attemptToken(%q, %d) = %q is %d characters, over EC2's %d", tok, i, got, len(got), maxClientToken)
			}
			if got != attemptToken(tok, i) {
				t.Errorf("attemptToken(%q, %d) is not deterministic", tok, i)
			}
			if seen[got] {
				t.Errorf("attemptToken(%q, %d) = %q collides", tok, i, got)
			}
			seen[got] = true
		}
	}
}

func TestLaunchTemplate(t *testing.T) {
	tests := []struct {
		in                string
		id, name, version string
	}{
		{"lt-0abc123", "lt-0abc123", "", "$Default"},
		{"gpu-node", "", "gpu-node", "$Default"},
		{"gpu-node:7", "", "gpu-node", "7"},
		{"lt-0abc123:$Latest", "lt-0abc123", "", "$Latest"},
	}
	for _, tt := range tests {
		got := launchTemplate(tt.in)
		if awssdk.ToString(got.LaunchTemplateId) != tt.id || awssdk.ToString(got.LaunchTemplateName) != tt.name || awssdk.ToString(got.Version) != tt.version {
			t.Errorf("launchTemplate(%q) = id %q name %q version %q, want %q %q %q", tt.in,
				awssdk.ToString(got.LaunchTemplateId), awssdk.ToString(got.LaunchTemplateName), awssdk.ToString(got.Version), tt.id, tt.name, tt.version)
		}
	}
}
