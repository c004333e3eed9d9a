package postgres

import (
	"net"
	"time"
)

// A database host that vanishes without closing its sessions (a host gone,
// a cut network, a firewall dropping packets) sends no FIN and no RST.
// Every call is bounded by its context, but the kernel keeps such a
// session for much longer: a statement or rollback sent into it is
// retransmitted for about 15 minutes (tcp_retries2) before the socket
// fails, and an idle session is found dead only after Go's default
// keepalive (15s, then 9 probes 15s apart: 2.5 minutes). The dialer of
// every session shortens both:
//
//   - keepalive: probes after keepAliveIdle of silence, keepAliveCount of
//     them keepAliveInterval apart, so an idle session to a vanished host
//     fails within 30s (and a NAT or firewall keeps an idle session's
//     mapping, as the probes pass through it);
//   - TCP_USER_TIMEOUT (Linux): data the peer has not acknowledged for
//     userTimeout fails the socket, so nothing sent waits 15 minutes. The
//     database's kernel acknowledges a statement as soon as it arrives, so
//     a long statement (a migration's index build) is not cut short.
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	userTimeout       = 30 * time.Second
)

// dialer is the dialer of the store's sessions (the connection's own
// timeout is pgx's ConnectTimeout, on the context).
func dialer() *net.Dialer {
	return &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control:         setUserTimeout,
	}
}
