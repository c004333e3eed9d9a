//go:build !linux

package connlimit

import (
	"net"
	"time"
)

// connectedAt is now: only Linux says (TCP_INFO) when a client connected,
// so elsewhere a connection's grace starts once it is accepted.
func connectedAt(_ net.Conn, now time.Time) time.Time { return now }

// unread is false: elsewhere a connection's grace runs from its accept,
// and the server reads it well within it.
func unread(net.Conn) bool { return false }
