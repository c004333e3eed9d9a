package emulator

import (
	"net/netip"
	"testing"
)

func TestPrivateIPsComeFromTheConfiguredRange(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		n      int
		want   []string
	}{
		{"loopback range in order", "127.1.0.0/16", 3, []string{"127.1.0.1", "127.1.0.2", "127.1.0.3"}},
		{"carries into the next byte", "127.1.0.0/16", 256, nil},
		{"wraps around skipping the first address", "127.9.9.0/30", 4, []string{"127.9.9.1", "127.9.9.2", "127.9.9.3", "127.9.9.1"}},
		{"unmasked prefix is masked", "127.3.4.5/24", 1, []string{"127.3.4.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Options{PrivateIPs: netip.MustParsePrefix(tc.prefix), Seed: 1})
			var got []string
			for range tc.n {
				e.ipSeq++
				got = append(got, e.privateIPLocked(0))
			}
			if tc.want == nil {
				if got[255] != "127.1.1.0" {
					t.Fatalf("256th address = %s, want 127.1.1.0", got[255])
				}
				return
			}
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("addresses = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPrivateIPsDefaultToTenNet(t *testing.T) {
	e := New(Options{Seed: 1})
	e.ipSeq++
	if got := e.privateIPLocked(2); got != "10.2.0.5" {
		t.Fatalf("default address = %s, want 10.2.0.5", got)
	}
}
