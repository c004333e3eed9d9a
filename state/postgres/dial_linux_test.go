package postgres

import (
	"net"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSessionsGiveUpOnAVanishedHost checks the socket of a pooled session
// as the kernel has it: a short keepalive, and TCP_USER_TIMEOUT, so that a
// database host that vanished without closing its sessions fails them
// within half a minute (before: Go's keepalive of 15s then 9 probes 15s
// apart, and no user timeout, so that a statement or rollback sent into it
// was retransmitted for about 15 minutes). A loopback proxy cannot show the
// hang itself: its own kernel acknowledges every byte. A session over a
// Unix socket opens as before.
func TestSessionsGiveUpOnAVanishedHost(t *testing.T) {
	name, err := pg.CreateDatabase("t")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		dsn  string
		tcp  bool
	}{
		{"tcp", pg.DSN(name), true},
		{"unix socket", pg.SocketDSN(name), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t, c.dsn)
			pc, err := s.pool.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Release()
			conn := pc.Conn().PgConn().Conn()
			if !c.tcp {
				if _, ok := conn.(*net.UnixConn); !ok {
					t.Fatalf("session over %T, want a Unix socket", conn)
				}
				return
			}
			rc, err := conn.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range []struct {
				name       string
				level, opt int
				want       int
			}{
				{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
				{"TCP_KEEPIDLE (s)", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepAliveIdle.Seconds())},
				{"TCP_KEEPINTVL (s)", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepAliveInterval.Seconds())},
				{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount},
				{"TCP_USER_TIMEOUT (ms)", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout.Milliseconds())},
			} {
				var got int
				var gerr error
				if err := rc.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), o.level, o.opt) }); err != nil {
					t.Fatal(err)
				}
				if gerr != nil {
					t.Fatalf("%s: %v", o.name, gerr)
				}
				if got != o.want {
					t.Errorf("%s of a pooled session = %d, want %d", o.name, got, o.want)
				}
			}
		})
	}
}
