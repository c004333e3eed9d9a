package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// anonymousHostOK reports whether a tokenless read may be answered as the
// anonymous reader. On a connection to a loopback address, the request's
// Host must name the machine itself (localhost, a name under .localhost,
// or a loopback address): a page on another site that has its name
// resolve to 127.0.0.1 (DNS rebinding) reaches the server from the
// browser of whoever runs it, and the browser then lets that page read
// the answers, as its own origin's. Such a request gets no anonymous read
// (no token: 401, and the page's login). Over a non-loopback address the
// server is reached by whatever name its operators use; one served over
// TLS cannot be rebound (the certificate names another host), one with
// --insecure-listen is documented to trust its network.
func anonymousHostOK(r *http.Request) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || !isLoopbackAddr(la) {
		return true
	}
	return loopbackHost(r.Host)
}

func isLoopbackAddr(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// loopbackHost reports whether a Host header (with or without a port)
// names the local machine.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
