package api

import (
	"fmt"
	"net"
	"net/netip"
)

// ErrInsecureListen is wrapped by CheckListen's refusal.
var ErrInsecureListen = fmt.Errorf("refusing to serve tokens in clear text")

// CheckListen refuses a listen address that is not loopback when the server
// has no TLS, unless insecureListen says the operator wants it anyway
// (--insecure-listen): tokens would cross the network in clear text.
func CheckListen(addr string, tlsConfigured, insecureListen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q is not host:port (e.g. 127.0.0.1:8700): %w", addr, err)
	}
	if port == "" {
		return fmt.Errorf("listen address %q has no port: use host:port, e.g. 127.0.0.1:8700", addr)
	}
	if tlsConfigured || insecureListen {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err == nil && ip.Unmap().IsLoopback() {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every interface"
	}
	return fmt.Errorf("listen address %q (%s) is not loopback and server.tls is not set: %w; configure server.tls, listen on 127.0.0.1, or pass --insecure-listen on a trusted network", addr, shown, ErrInsecureListen)
}
