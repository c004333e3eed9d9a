package emulator

import (
	"strings"
	"testing"
)

func TestWildcardMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "a", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*b*", "aaabaaa", true},
		{`a\*c`, "a*c", true},
		{`a\*c`, "abc", false},
		{`a\?`, "a?", true},
		{`a\`, `a\`, true},
		{"p4d.*", "p4d.24xlarge", true},
		{"*.24xlarge", "p4d.24xlarge", true},
		{"**a**", "xa", true},
		{"ü?", "üé", true},
		// Many stars against a near miss: linear, not exponential.
		{strings.Repeat("*a", 60) + "*b", strings.Repeat("a", 5000), false},
		{strings.Repeat("*a", 60) + "*b", strings.Repeat("a", 5000) + "b", true},
	} {
		if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("wildcardMatch(%.40q, %.40q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}
