package api

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzLoopbackHost: a request's Host header comes from outside (and, in
// a DNS-rebinding page's request, from an attacker); none panics, and a
// host taken for the machine itself is localhost, under .localhost, or a
// loopback address.
func FuzzLoopbackHost(f *testing.F) {
	for _, s := range []string{"localhost", "localhost:8700", "LOCALHOST.", "a.localhost", "127.0.0.1:1", "[::1]:8700", "::1",
		"[::ffff:127.0.0.1]", "attacker.example", "localhost.attacker.example", "127.0.0.1.nip.io", "0x7f.1", "", "[", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !loopbackHost(host) {
			return
		}
		h := strings.ToLower(host)
		if a, err := netip.ParseAddrPort(strings.Trim(h, " ")); err == nil && a.Addr().Unmap().IsLoopback() {
			return
		}
		h = strings.TrimSuffix(strings.Trim(hostOnly(h), "[]"), ".")
		if h == "localhost" || strings.HasSuffix(h, ".localhost") {
			return
		}
		if a, err := netip.ParseAddr(h); err == nil && a.Unmap().IsLoopback() {
			return
		}
		t.Fatalf("loopbackHost(%q) = true: not localhost, *.localhost nor a loopback address", host)
	})
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") && strings.Count(h, ":") == 1 {
		return h[:i]
	}
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[:i+1]
		}
	}
	return h
}
