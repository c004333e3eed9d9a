package terraform

import "testing"

// TestWithoutUserinfo: ended.log names a retired burst's state object by
// its backend_config values, without the credentials a URL may carry.
func TestWithoutUserinfo(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://ops:s3cret@state.example.com/spillway/b-1", "https://state.example.com/spillway/b-1"},
		{"https://state.example.com/spillway/b-1", "https://state.example.com/spillway/b-1"},
		{"spillway/b-1.tfstate", "spillway/b-1.tfstate"},
		{"/var/lib/states/b-1.tfstate", "/var/lib/states/b-1.tfstate"},
	} {
		if got := withoutUserinfo(tc.in); got != tc.want {
			t.Errorf("withoutUserinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
