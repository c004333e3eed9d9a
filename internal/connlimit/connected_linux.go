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
	at := now
	withFD(c, func(fd int) {
		ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil && ti != nil {
			at = now.Add(-time.Duration(ti.Last_data_recv) * time.Millisecond)
		}
	})
	return at
}

// unread says whether bytes wait to be read on c (SIOCINQ): its client has
// sent something the server has not read yet.
func unread(c net.Conn) bool {
	n := 0
	withFD(c, func(fd int) { n, _ = unix.IoctlGetInt(fd, unix.SIOCINQ) })
	return n > 0
}

// withFD calls f with c's socket, when c is one (otherwise f is not called).
func withFD(c net.Conn, f func(fd int)) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { f(int(fd)) })
}
