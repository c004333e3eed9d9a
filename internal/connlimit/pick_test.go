package connlimit

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// idlePair opens two connections to addr and has each served a request:
// both idle, the first the one idle longest.
func idlePair(t *testing.T, addr string, idle chan struct{}) (first, second *client) {
	t.Helper()
	first, second = dial(t, addr), dial(t, addr)
	for _, c := range []*client{first, second} {
		c.send(request)
		if err := c.answer(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		seenIdle(t, idle)
	}
	return first, second
}

// gate holds one goroutine until released.
type gate struct {
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

// newGate returns a gate, closed: its test opens it before the server
// closes (which waits for a goroutine it holds).
func newGate() *gate {
	return &gate{held: make(chan struct{}, 1), release: make(chan struct{})}
}

// hold holds its caller until release, if the gate is armed (once).
func (g *gate) hold() {
	if g.armed.CompareAndSwap(true, false) {
		g.held <- struct{}{}
		<-g.release
	}
}

func (g *gate) waitHeld(t *testing.T, what string) {
	t.Helper()
	select {
	case <-g.held:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: not held in 20 s", what)
	}
}

func (g *gate) open() {
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

// waitUnread waits until the connection l accepted seq-th has bytes the
// server has not read.
func waitUnread(t *testing.T, l *Listener, seq uint64) {
	t.Helper()
	until(t, l, func() (bool, string) {
		waiting := false
		for c, e := range l.conns {
			waiting = waiting || e.seq == seq && unread(c.(*conn).Conn)
		}
		return waiting, fmt.Sprintf("connection %d has nothing unread after 20 s", seq)
	})
}

// gatedListener accepts gatedConns.
type gatedListener struct {
	net.Listener
	// before holds the read a connection idle between two requests
	// begins, before it reads (the request's bytes wait in the kernel);
	// after holds a read that got bytes, before it returns them.
	before, after *gate
	// touched receives when a gated connection, its read held, is closed
	// or given a read deadline already past.
	touched chan struct{}
}

// serveGated serves as serve does, its connections gatedConns.
func serveGated(t *testing.T, n int) (addr string, l *Listener, gl *gatedListener, idle chan struct{}) {
	gl = &gatedListener{before: newGate(), after: newGate(), touched: make(chan struct{}, 1)}
	addr, l, _, idle = serveWith(t, n, serveOptions{wrap: func(ln net.Listener) net.Listener {
		gl.Listener = ln
		return gl
	}})
	return addr, l, gl, idle
}

// open opens both gates: a test defers it, so that its server closes.
func (l *gatedListener) open() {
	l.before.open()
	l.after.open()
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gatedConn{TCPConn: c.(*net.TCPConn), l: l}, nil
}

// gatedConn holds a read that got bytes when its gate is armed: the
// server's goroutine between the system's read and what follows it.
type gatedConn struct {
	*net.TCPConn
	l       *gatedListener
	holding atomic.Bool
	// idleRead is set when the server sets the read deadline of a
	// connection gone idle (its IdleTimeout, minutes away): its next read
	// waits for the next request.
	idleRead atomic.Bool
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if c.idleRead.Swap(false) {
		c.l.before.hold()
	}
	n, err := c.TCPConn.Read(p)
	if n > 0 {
		c.holding.Store(true)
		c.l.after.hold()
		c.holding.Store(false)
	}
	return n, err
}

func (c *gatedConn) touch() {
	if c.holding.Load() {
		select {
		case c.l.touched <- struct{}{}:
		default:
		}
	}
}

func (c *gatedConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		c.touch()
	}
	if t.After(time.Now().Add(5 * time.Minute)) {
		c.idleRead.Store(true)
	}
	return c.TCPConn.SetReadDeadline(t)
}

func (c *gatedConn) Close() error {
	c.touch()
	return c.TCPConn.Close()
}

// TestIdleConnectionWhoseRequestIsReadKeepsItsPlace: a connection idle
// between two requests whose next request the server has just read (the
// read returned, what follows it not yet run) is not closed for a
// newcomer: the newcomer waits for the server to see the request begun,
// then takes the place of the connection idle next longest. Before, the
// pick closed it, the bytes were read but the answer was never written:
// the request was lost (its client read EOF).
func TestIdleConnectionWhoseRequestIsReadKeepsItsPlace(t *testing.T) {
	addr, _, gl, idle := serveGated(t, 2)
	defer gl.open()
	kept, _ := idlePair(t, addr, idle)
	gl.after.armed.Store(true)
	kept.send(request)
	gl.after.waitHeld(t, "the server reading the next request on the connection idle longest")
	c := dialFrom(t, "127.0.0.2", addr)
	c.send(request)
	select {
	case <-gl.touched:
	case <-time.After(20 * time.Second):
		t.Fatal("a newcomer with both places idle: neither closed nor asked to give way in 20 s")
	}
	gl.after.open()
	if err := kept.answer(20 * time.Second); err != nil {
		t.Fatalf("the request read on the connection idle longest: %v, want it answered", err)
	}
	if err := c.answer(20 * time.Second); err != nil {
		t.Fatalf("the newcomer: %v, want it served in the other idle connection's place", err)
	}
}

// TestIdleConnectionWithARequestWaitingKeepsItsPlace: a connection idle
// between two requests whose client has sent its next request, which the
// server has not read yet (its goroutine had yet to begin the read), is
// not the one a newcomer closes: the connection idle next longest is.
// Before, the pick read only the idle mark and closed it: the request
// sent on it was lost (its client read EOF).
func TestIdleConnectionWithARequestWaitingKeepsItsPlace(t *testing.T) {
	addr, l, gl, idle := serveGated(t, 2)
	defer gl.open()
	gl.before.armed.Store(true)
	kept, _ := idlePair(t, addr, idle)
	gl.before.waitHeld(t, "the server beginning its read on the first connection gone idle")
	kept.send(request)
	waitUnread(t, l, 1)
	c := dialFrom(t, "127.0.0.2", addr)
	c.send(request)
	if err := c.answer(20 * time.Second); err != nil {
		t.Fatalf("a newcomer with both places idle: %v, want it served", err)
	}
	gl.before.open()
	if err := kept.answer(20 * time.Second); err != nil {
		t.Fatalf("the request waiting on the connection idle longest: %v, want it answered (the other idle connection closed)", err)
	}
}
