package connlimit

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// serve starts an HTTP server on a loopback Listener of at most n
// connections, as cmd/spillway's server uses it; tls serves HTTPS. Each
// time the server sees a connection go idle, idle receives.
func serve(t *testing.T, n int, tls bool) (addr string, l *Listener, srv *httptest.Server, idle chan struct{}) {
	t.Helper()
	return serveWith(t, n, serveOptions{tls: tls})
}

// serveOptions are what a test changes of serve's server.
type serveOptions struct {
	tls bool
	// wrap, when set, wraps the server's TCP listener under the Listener.
	wrap func(net.Listener) net.Listener
}

func serveWith(t *testing.T, n int, o serveOptions) (addr string, l *Listener, srv *httptest.Server, idle chan struct{}) {
	t.Helper()
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			// More than the kernel buffers between server and client.
			w.Write(make([]byte, 64<<20))
			return
		}
		io.WriteString(w, "ok")
	}))
	ln := srv.Listener
	if o.wrap != nil {
		ln = o.wrap(ln)
	}
	l = New(ln, n)
	srv.Listener = l
	idle = make(chan struct{}, 64)
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		l.ConnState(c, st)
		if st == http.StateIdle {
			select {
			case idle <- struct{}{}:
			default: // more than a test waits for
			}
		}
	}
	srv.Config.IdleTimeout = 10 * time.Minute // longer than any test: an idle connection stays open
	if o.tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return l.Addr().String(), l, srv, idle
}

// seenIdle waits until the server has seen a connection go idle: a client
// reads its answer before the server marks the connection idle.
func seenIdle(t *testing.T, idle chan struct{}) {
	t.Helper()
	select {
	case <-idle:
	case <-time.After(20 * time.Second):
		t.Fatal("the server saw no connection go idle in 20 s")
	}
}

// client is one raw connection, so that a test decides when it sends.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	return dialFrom(t, "127.0.0.1", addr)
}

// dialFrom dials addr from the loopback address from: another client's
// source.
func dialFrom(t *testing.T, from, addr string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

const request = "GET / HTTP/1.1\r\nHost: spillway\r\n\r\n"

// answer reads one response within wait.
func (c *client) answer(wait time.Duration) error {
	c.c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// waits says whether c gets no answer within a short wait: a place not
// given. A limit that holds cannot fail this, however slow the machine.
func (c *client) waits() bool {
	var ne net.Error
	err := c.answer(300 * time.Millisecond)
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// TestIdleConnectionsGiveWay: with every place held by a connection idle
// between requests, a new client is served at once and the connection
// idle longest is closed. With netutil.LimitListener the new client waited
// for the server's idle timeout (2 minutes in spillway's server): one
// client keeping its connections alive kept everyone else out.
func TestIdleConnectionsGiveWay(t *testing.T) {
	const n = 3
	addr, _, _, idle := serve(t, n, false)
	var held []*client
	for i := range n {
		c := dial(t, addr)
		c.send(request)
		if err := c.answer(20 * time.Second); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, n, err)
		}
		seenIdle(t, idle)
		held = append(held, c)
	}
	// The second goes idle again after the others: the first is the one
	// idle longest.
	held[1].send(request)
	if err := held[1].answer(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	seenIdle(t, idle)
	c := dial(t, addr)
	c.send(request)
	if err := c.answer(20 * time.Second); err != nil {
		t.Fatalf("a new client with %d idle connections open: %v, want it served", n, err)
	}
	// The first connection was idle longest: closed by the server.
	if err := held[0].answer(20 * time.Second); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the connection idle longest: read %v, want it closed (EOF)", err)
	}
	for i, h := range held[1:] {
		h.send(request)
		if err := h.answer(20 * time.Second); err != nil {
			t.Fatalf("connection %d, idle for less long: %v, want it kept", i+2, err)
		}
	}
}

// heard waits until l holds n connections of which want have sent a byte
// that the server has read.
func heard(t *testing.T, l *Listener, n, want int) {
	t.Helper()
	until(t, l, func() (bool, string) {
		got := 0
		for c := range l.conns {
			if c.(*conn).heard.Load() {
				got++
			}
		}
		return len(l.conns) == n && got == want, fmt.Sprintf("the listener holds %d connections, %d of them heard from; want %d and %d", len(l.conns), got, n, want)
	})
}

// until polls l, locked, until done says it is done, for up to 20 s; then
// it fails saying what done saw.
func until(t *testing.T, l *Listener, done func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		l.mu.Lock()
		ok, saw := done()
		l.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal(saw)
		case <-tick.C:
		}
	}
}

// setGrace sets how long l's connections may stay silent.
func setGrace(l *Listener, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.grace = d
}

// TestSilentConnectionsGiveWay: with places held by connections that have
// sent nothing in their grace, a new client is served once the grace ends
// and the oldest silent connection is closed, before any idle one; a
// connection in a request keeps its place. Before, a silent connection
// held its place until the server's header timeout (10 s in spillway's
// server): 256 of them, renewed as the server closed them, kept an
// operator's curl waiting 10 s a time.
func TestSilentConnectionsGiveWay(t *testing.T) {
	const n = 3
	addr, l, _, idle := serve(t, n, false)
	setGrace(l, time.Hour)
	busy := dial(t, addr) // half its headers sent
	busy.send("GET / HTTP/1.1\r\n")
	heard(t, l, 1, 1)
	silent := []*client{dial(t, addr)}
	heard(t, l, 2, 1)
	silent = append(silent, dial(t, addr))
	heard(t, l, n, 1)
	// A newcomer finding every place taken waits for the first silent
	// connection's grace to end, not for another event.
	setGrace(l, 100*time.Millisecond)

	var served []*client
	for i := range 2 {
		c := dial(t, addr)
		c.send(request)
		if err := c.answer(20 * time.Second); err != nil {
			t.Fatalf("newcomer %d with %d places held, %d by silent connections: %v, want it served", i+1, n, len(silent)-i, err)
		}
		seenIdle(t, idle)
		served = append(served, c)
		// The oldest silent connection made way, not the newcomer before,
		// idle since.
		if err := silent[i].answer(20 * time.Second); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("silent connection %d: read %v, want it closed (EOF)", i+1, err)
		}
		// The second silent connection may have been accepted after the
		// first's grace ended; an idle connection gives way before a
		// newcomer waits for a grace to end.
		setGrace(l, 0)
	}
	served[0].send(request)
	if err := served[0].answer(20 * time.Second); err != nil {
		t.Fatalf("the first newcomer, idle while a silent connection was there to close: %v, want it kept", err)
	}
	busy.send("Host: spillway\r\n\r\n")
	if err := busy.answer(20 * time.Second); err != nil {
		t.Fatalf("the connection in a request: %v, want its request answered", err)
	}
}

// TestJustAcceptedConnectionsKeepTheirPlaces: a connection accepted
// within its grace has not been read from yet, whatever its client sent:
// a newcomer waits rather than closing it (a burst of clients at the limit
// would otherwise cut one another's requests).
func TestJustAcceptedConnectionsKeepTheirPlaces(t *testing.T) {
	const n = 2
	addr, l, _, _ := serve(t, n, false)
	setGrace(l, time.Hour)
	var fresh []*client
	for i := range n {
		fresh = append(fresh, dial(t, addr))
		heard(t, l, i+1, 0)
	}
	c := dial(t, addr)
	c.send(request)
	if !c.waits() {
		t.Fatalf("a newcomer with %d connections in their grace: answered, want it to wait", n)
	}
	for i, f := range fresh {
		f.send(request)
		if err := f.answer(20 * time.Second); err != nil {
			t.Fatalf("connection %d, silent within its grace: %v, want it kept and its request answered", i+1, err)
		}
	}
	// Both idle now: the newcomer takes the place of one.
	if err := c.answer(20 * time.Second); err != nil {
		t.Fatalf("the newcomer once a connection was idle: %v, want it served", err)
	}
}

// TestStalledHeadersGiveWayToAnotherSource: a client that sends one byte
// of a request on each connection and stalls held every place for the
// server's header timeout (10 s in spillway's server), as a silent one
// did. A newcomer from another source now takes the place of the oldest
// stalled connection of the source holding the most places; a newcomer
// from that source is refused at once rather than queued, so that it does
// not hold up the clients behind it in the listen queue; and the stalled
// connections not closed keep their places.
func TestStalledHeadersGiveWayToAnotherSource(t *testing.T) {
	const n = 3
	addr, l, _, _ := serve(t, n, false)
	setGrace(l, time.Hour)
	var stalled []*client
	for i := range n {
		c := dial(t, addr)
		c.send("G")
		heard(t, l, i+1, i+1)
		stalled = append(stalled, c)
	}
	setGrace(l, 0)

	same := dial(t, addr)
	same.send(request)
	// Closed with the request unread: reset, or EOF.
	if err := same.answer(20 * time.Second); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a newcomer from the source whose %d connections stall: read %v, want it refused (EOF)", n, err)
	}
	other := dialFrom(t, "127.0.0.2", addr)
	other.send(request)
	if err := other.answer(20 * time.Second); err != nil {
		t.Fatalf("a newcomer from another source, with %d stalled connections from one: %v, want it served", n, err)
	}
	if err := stalled[0].answer(20 * time.Second); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the oldest stalled connection: read %v, want it closed (EOF)", err)
	}
	for i, c := range stalled[1:] {
		c.send(request[1:])
		if err := c.answer(20 * time.Second); err != nil {
			t.Fatalf("stalled connection %d, not the oldest: %v, want it kept and answered", i+2, err)
		}
	}
}

// TestNewcomerFromAStallingSourceRefusedOnceTheirGraceEnds: a newcomer
// from a source whose connections, all read from, are still in their
// grace sending their headers waited for a place until one closed (the
// header timeout, 10 s in spillway's server), keeping every client queued
// behind it waiting as long: nothing woke it when their grace ended. It is
// refused once their grace ends, as a newcomer coming then would be.
func TestNewcomerFromAStallingSourceRefusedOnceTheirGraceEnds(t *testing.T) {
	const n = 2
	addr, l, _, _ := serve(t, n, false)
	// Long enough for both to be read within it, on a busy machine too.
	setGrace(l, 500*time.Millisecond)
	for i := range n {
		c := dial(t, addr)
		c.send("GET / HTTP/1.1\r\n")
		heard(t, l, i+1, i+1)
	}
	same := dial(t, addr)
	same.send(request)
	if err := same.answer(20 * time.Second); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a newcomer from the source whose %d connections stall: read %v, want it refused (EOF) once their grace ends", n, err)
	}
}

// TestUnreadAnswersGiveWayToAnotherSource: a client asking for a large
// answer on each of its connections and reading none of it held every
// place while the server waited to write (60 s, the write timeout, in
// spillway's server; here for ever), as one stalling its headers did. A
// connection whose answer has waited past its grace to be written now
// gives way to a newcomer from another source, as stalled headers do.
func TestUnreadAnswersGiveWayToAnotherSource(t *testing.T) {
	const n = 2
	addr, l, _, _ := serve(t, n, false)
	setGrace(l, 100*time.Millisecond)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: spillway\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	writing(t, l, n)
	other := dial(t, addr)
	other.send(request)
	if err := other.answer(20 * time.Second); err != nil {
		t.Fatalf("a newcomer from another source, with %d connections whose answers are not read: %v, want it served", n, err)
	}
}

// writing waits until l holds n connections all waiting to write.
func writing(t *testing.T, l *Listener, n int) {
	t.Helper()
	until(t, l, func() (bool, string) {
		got := 0
		for c := range l.conns {
			if c.(*conn).writing.Load() != 0 {
				got++
			}
		}
		return len(l.conns) == n && got == n, fmt.Sprintf("the listener holds %d connections, %d of them writing; want %d and %d", len(l.conns), got, n, n)
	})
}

// TestBusyConnectionsHoldTheirPlaces: connections in a request (headers
// half sent) are not closed for a newcomer, who waits until one of them is
// done and idle.
func TestBusyConnectionsHoldTheirPlaces(t *testing.T) {
	const n = 2
	addr, l, _, _ := serve(t, n, false)
	var busy []*client
	for range n {
		c := dial(t, addr)
		c.send("GET / HTTP/1.1\r\n")
		busy = append(busy, c)
	}
	// A connection is in a request once the server has read its first
	// bytes (before, a newcomer takes its place).
	heard(t, l, n, n)
	c := dial(t, addr)
	c.send(request)
	if !c.waits() {
		t.Fatalf("a client with %d connections in a request: answered, want it to wait", n)
	}
	busy[0].send("Host: spillway\r\n\r\n")
	if err := busy[0].answer(20 * time.Second); err != nil {
		t.Fatalf("the busy connection's request: %v", err)
	}
	if err := c.answer(20 * time.Second); err != nil {
		t.Fatalf("the waiting client once a connection was idle: %v, want it served", err)
	}
	busy[1].send("Host: spillway\r\n\r\n")
	if err := busy[1].answer(20 * time.Second); err != nil {
		t.Fatalf("the other busy connection: %v, want it kept", err)
	}
}

// TestTLSIdleConnectionsGiveWay: over TLS the server's hook sees the
// *tls.Conn around the accepted connection; its idle state still counts.
func TestTLSIdleConnectionsGiveWay(t *testing.T) {
	const n = 2
	_, _, srv, _ := serve(t, n, true)
	var clients []*http.Client
	for range n + 1 {
		// One connection each (a transport of its own keeps it alive).
		tr := srv.Client().Transport.(*http.Transport).Clone()
		t.Cleanup(tr.CloseIdleConnections)
		clients = append(clients, &http.Client{Transport: tr, Timeout: 20 * time.Second})
	}
	for i, cl := range clients {
		resp, err := cl.Get(srv.URL)
		if err != nil {
			t.Fatalf("client %d of %d, %d places: %v, want it served", i+1, n+1, n, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// TestCloseEndsAWaitingAccept: a server stopping while a newcomer waits
// for a place stops serving at once.
func TestCloseEndsAWaitingAccept(t *testing.T) {
	addr, l, srv, _ := serve(t, 1, false)
	busy := dial(t, addr)
	busy.send("GET / HTTP/1.1\r\n")
	heard(t, l, 1, 1)
	c := dial(t, addr)
	c.send(request)
	if !c.waits() {
		t.Fatal("a second client with one place busy: answered, want it to wait")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.answer(20 * time.Second); err == nil {
		t.Fatal("the waiting client after the listener closed: answered, want its connection closed")
	}
	srv.Config.Close()
}

// begun waits until l holds no idle connection: the server has read the
// first bytes of the next request on each connection that was idle.
func begun(t *testing.T, l *Listener) {
	t.Helper()
	until(t, l, func() (bool, string) {
		idle := 0
		for _, e := range l.conns {
			if e.idle {
				idle++
			}
		}
		return idle == 0, fmt.Sprintf("%d connections still idle, want the next request begun on each", idle)
	})
}

// TestNextRequestBegunKeepsItsPlace: a connection idle between two
// requests that has begun sending its next one is in a request: a
// newcomer from another source waits rather than close it. It was still
// counted idle until the server had read the request's headers whole, so
// a client at the limit cut the request of a dashboard polling on its
// kept-alive connection (a POST, which its client does not retry, lost
// its answer).
func TestNextRequestBegunKeepsItsPlace(t *testing.T) {
	addr, l, _, idle := serve(t, 1, false)
	kept := dial(t, addr)
	kept.send(request)
	if err := kept.answer(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	seenIdle(t, idle)
	kept.send("GET / HTTP/1.1\r\n")
	begun(t, l)
	c := dialFrom(t, "127.0.0.2", addr)
	c.send(request)
	if !c.waits() {
		t.Fatal("a newcomer with the one place held by a connection that has begun its next request: answered, want it to wait")
	}
	kept.send("Host: spillway\r\n\r\n")
	if err := kept.answer(20 * time.Second); err != nil {
		t.Fatalf("the next request begun on a kept-alive connection: %v, want it answered", err)
	}
	if err := c.answer(20 * time.Second); err != nil {
		t.Fatalf("the newcomer once the connection was idle again: %v, want it served", err)
	}
}

// fromAddr is a connection whose client is at addr.
type fromAddr struct {
	net.Conn
	addr net.Addr
}

func (c fromAddr) RemoteAddr() net.Addr { return c.addr }

// TestSourceGroupsAnIPv6HostsAddresses: the connections of one IPv6 /64
// count as one source, as an IPv4 address does. Counted by address, one
// host (given a /64, 2^64 addresses) opened each connection from an
// address of its own, so the stalled connections of the source holding
// the most places were never its, and its newcomers were never refused.
func TestSourceGroupsAnIPv6HostsAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr, want string
	}{
		{"127.0.0.1:4000", "127.0.0.1"},
		{"127.0.0.2:4000", "127.0.0.2"},
		{"[::ffff:127.0.0.2]:4000", "127.0.0.2"},
		{"[2001:db8:0:1::1]:4000", "2001:db8:0:1::/64"},
		{"[2001:db8:0:1:ffff:ffff:ffff:ffff]:4001", "2001:db8:0:1::/64"},
		{"[2001:db8:0:2::1]:4000", "2001:db8:0:2::/64"},
		{"[fe80::1%eth0]:4000", "fe80::/64"},
		{"[::1]:4000", "::/64"},
	} {
		tcp, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := source(fromAddr{addr: tcp}); got != tc.want {
			t.Errorf("source of a connection from %s = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// h2Frame writes one HTTP/2 frame.
func h2Frame(t *testing.T, c net.Conn, typ, flags byte, stream uint32, payload []byte) {
	t.Helper()
	n := len(payload)
	head := []byte{byte(n >> 16), byte(n >> 8), byte(n), typ, flags, byte(stream >> 24), byte(stream >> 16), byte(stream >> 8), byte(stream)}
	if _, err := c.Write(append(head, payload...)); err != nil {
		t.Fatal(err)
	}
}

// h2Until reads HTTP/2 frames until one of type typ with all of flags.
func h2Until(t *testing.T, r *bufio.Reader, typ, flags byte) {
	t.Helper()
	for {
		var head [9]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			t.Fatalf("reading the server's frames: %v", err)
		}
		if _, err := io.CopyN(io.Discard, r, int64(head[0])<<16|int64(head[1])<<8|int64(head[2])); err != nil {
			t.Fatal(err)
		}
		if head[3] == typ && head[4]&flags == flags {
			return
		}
	}
}

// TestHTTP2IdleConnectionGivesWayAfterAPing: an HTTP/2 connection idle
// between two requests still gives way to a newcomer after its client
// has sent frames that are no request (a ping here; flow-control updates
// follow every answer), not taken as a request begun.
func TestHTTP2IdleConnectionGivesWayAfterAPing(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	l := New(srv.Listener, 1)
	srv.Listener = l
	idle := make(chan struct{}, 64)
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		l.ConnState(c, st)
		if st == http.StateIdle {
			idle <- struct{}{}
		}
	}
	srv.Config.IdleTimeout = 10 * time.Minute
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", l.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	h2Frame(t, c, 0x4, 0, 0, nil) // SETTINGS
	var block []byte
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":path", "/"}, {":authority", "spillway"}} {
		block = append(block, 0, byte(len(f[0])))
		block = append(append(block, f[0]...), byte(len(f[1])))
		block = append(block, f[1]...)
	}
	h2Frame(t, c, 0x1, 0x5, 1, block) // HEADERS, END_STREAM|END_HEADERS
	h2Until(t, r, 0x0, 0x1)           // its answer's last DATA
	seenIdle(t, idle)
	h2Frame(t, c, 0x6, 0, 0, make([]byte, 8)) // PING
	h2Until(t, r, 0x6, 0x1)                   // its ACK: the server read it

	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr, Timeout: 20 * time.Second}).Get(srv.URL)
	if err != nil {
		t.Fatalf("a newcomer with the one place held by an idle HTTP/2 connection that sent a ping: %v, want it served", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestPipelinedRequestPartlyReadKeepsItsPlace: a client that pipelines,
// sending its next request's first line with the request before it, has
// that line in net/http's buffer once the first is answered, where the
// connection's own reads do not see it: it was counted idle, and a
// newcomer from another source had it give way, the server's read of the
// rest timing out and the connection closed, the request lost. It is in
// a request: the newcomer waits, and the request is answered.
func TestPipelinedRequestPartlyReadKeepsItsPlace(t *testing.T) {
	addr, _, _, idle := serve(t, 1, false)
	kept := dial(t, addr)
	kept.send(request + "GET / HTTP/1.1\r\n")
	if err := kept.answer(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	seenIdle(t, idle)
	c := dialFrom(t, "127.0.0.2", addr)
	c.send(request)
	if !c.waits() {
		t.Fatal("a newcomer with the one place held by a connection whose pipelined request is partly read: answered, want it to wait")
	}
	kept.send("Host: spillway\r\n\r\n")
	if err := kept.answer(20 * time.Second); err != nil {
		t.Fatalf("the pipelined request partly read when a newcomer came: %v, want it answered", err)
	}
	if err := c.answer(20 * time.Second); err != nil {
		t.Fatalf("the newcomer once the connection was idle again: %v, want it served", err)
	}
}
