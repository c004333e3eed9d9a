package connlimit

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connectedAt is when c's client last sent data, or connected if it has
// sent none, as TCP_INFO's last_data_recv says (the connection's
// establishment counts as its first receipt); now when c is no TCP
// connection or the system does not say. Without it, a silent client's
// grace would start only once the server accepted its connection: during
// a flood of silent connections, taken max at a time and given a second
// each, a client queued behind a thousand of them waited three seconds.
func connectedAt(c net.Conn, now time.Time) time.Time {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return now
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return now
	}
	at := now
	_ = rc.Control(func(fd uintptr) {
		ti, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil && ti != nil {
			at = now.Add(-time.Duration(ti.Last_data_recv) * time.Millisecond)
		}
	})
	return at
}

// unread says whether bytes wait to be read on c (SIOCINQ): its client has
// sent something the server has not read yet.
func unread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	return n > 0
}
