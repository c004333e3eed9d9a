// Package connlimit bounds the connections an HTTP server serves at once,
// as golang.org/x/net/netutil.LimitListener does, without letting idle or
// silent connections hold the server: when every place is taken, a new
// connection takes the place of the oldest connection that has not sent a
// byte in the second since its client connected (SilentGrace), else of the
// connection idle longest (one between two requests), and waits only while
// every connection is in a request or has just been accepted. When none
// is silent or idle, a newcomer takes the place of the oldest connection
// still sending its first request's headers, or whose answer has waited
// past its grace to be written (its client reads none), from the source (an IPv4
// address or IPv6 /64, see Source) holding the most places, if that source holds more than the newcomer's
// would: one client sending a byte on each of its connections, then
// stalling, holds its places only until another client comes; and a
// newcomer from a source already holding such a stalled connection is
// closed at once rather than queued behind it (with the clients queued
// behind the newcomer). A
// client holding its connections open between requests (a browser, a
// dashboard, or one opening hundreds on purpose), or opening connections
// and sending nothing on them, therefore cannot keep other clients out for
// the server's idle or header timeout; a client whose idle connection is
// closed opens another, as HTTP clients do. A connection that has sent
// part of a request keeps its place, as does one idle between two
// requests once its client has sent the next, read by the server or not
// (an idle connection is asked to give way, and its server's read
// decides: see giveWay): a flood of new connections does not cut
// requests under way.
package connlimit

import (
	"cmp"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// SilentGrace is how long a connection may send nothing before a
// newcomer may take its place: a client sends its request as soon as it
// has connected, but the server reads it only once it has accepted the
// connection and started serving it, so a connection just accepted is
// not yet known to be silent. The grace runs from when the client
// connected, where the system says (Linux: TCP_INFO), not from when the
// server accepted it: a connection that waited in the listen queue behind
// others, as every one does during a flood, has had the time to be heard
// (connectedAt). One whose client has sent bytes the server has not read
// yet (its request came while it waited in the listen queue) is not
// silent, whenever its client connected.
const SilentGrace = time.Second

// Listener is a net.Listener serving at most a number of connections at
// once. Its ConnState method must be the http.Server's ConnState hook: it
// is how the Listener learns which connections are idle.
type Listener struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns map[net.Conn]*entry // by the connection Accept returned
	// changed is closed, and replaced, when a connection closes or goes
	// idle: an Accept waiting for a place looks again.
	changed chan struct{}
	closed  bool
	idles   uint64 // connections gone idle so far: orders them
	accepts uint64 // connections accepted so far: orders them
	// grace is SilentGrace (tests change it).
	grace time.Duration
}

// entry is what the Listener knows of one connection it accepted.
type entry struct {
	idle  bool
	since uint64    // l.idles when it went idle
	seq   uint64    // l.accepts when it was accepted
	at    time.Time // when it connected (connectedAt), or began its next request
	src   string    // its client's source (Source)
	// served is set once the server has read a request's headers whole
	// (http.StateActive): before, a connection heard from is still
	// sending its first request's headers.
	served bool
	// sent is set when the connection, not yet read from, was found with
	// bytes waiting (unread): its client is not silent but waits for the
	// server, as one whose request came while it waited in the listen
	// queue does. Its first read wakes an Accept waiting for it.
	sent bool
	// h2 is set while the connection is idle over HTTP/2, whose idle
	// mark its reads do not clear (ConnState): it is closed to give way.
	h2 bool
}

// source is the source of a connection's client (see Source).
func source(c net.Conn) string {
	a := c.RemoteAddr()
	if a == nil {
		return ""
	}
	return Source(a.String())
}

// Source is the client a remote address ("host:port") is counted as: its
// IPv4 address, or the /64 of its IPv6 address (an IPv4-mapped one is its
// IPv4 address). One host is given a /64 and may use any address in it,
// so counted by address an IPv6 client would be 2^64 sources. A remote
// address that is no IP address is its own source.
func Source(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// New returns a Listener that serves at most n connections of ln at once
// (n at least 1).
func New(ln net.Listener, n int) *Listener {
	return &Listener{Listener: ln, max: max(n, 1), conns: map[net.Conn]*entry{}, changed: make(chan struct{}), grace: SilentGrace}
}

// Accept waits for a connection of the underlying listener, then for a
// place for it: at once while fewer than the limit are open; else it
// closes the oldest connection that has sent nothing since SilentGrace
// ago or longer, else the one idle longest, else the oldest one past its
// grace still sending its first request's headers from the source holding
// the most places (more than the newcomer's would); it closes the newcomer
// instead when its own source holds such a stalled connection; and while
// every one is in a request or just accepted, it waits until one closes,
// goes idle or stays silent past its grace. A connection accepted waits unserved meanwhile
// (one at most: the server accepts one at a time; further clients wait in
// the kernel's listen queue).
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if wc, err := l.place(c); wc != nil || err != nil {
			return wc, err
		}
	}
}

// place waits for a place for c (see Accept). It returns nil and no error
// when it closed c instead: when every place is taken and c's source
// holds one with a request's headers stalled (past its grace), c would
// only wait behind it, and keep the clients queued behind c waiting too.
func (l *Listener) place(c net.Conn) (net.Conn, error) {
	src := source(c)
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return nil, net.ErrClosed
		}
		if len(l.conns) < l.max {
			wc := &conn{Conn: c, l: l}
			l.accepts++
			l.conns[wc] = &entry{seq: l.accepts, at: connectedAt(c, time.Now()), src: src}
			l.mu.Unlock()
			return wc, nil
		}
		victim, ask, wake, refuse := l.victim(time.Now(), src)
		changed := l.changed
		l.mu.Unlock()
		if refuse {
			c.Close()
			return nil, nil
		}
		if victim != nil {
			// Its Close frees its place (forget, below); an HTTP/1
			// connection idle is asked to give it (giveWay).
			if !ask {
				victim.Close()
			} else if victim.giveWay() {
				<-changed
			}
			continue
		}
		if wake == 0 {
			<-changed
			continue
		}
		t := time.NewTimer(wake)
		select {
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// victim returns the connection a newcomer from src replaces: the oldest
// one that has sent nothing in its grace (a client that connects and stays
// silent would otherwise hold its place for the server's header timeout,
// and a few hundred of them, renewed as they are closed, every place), else
// the one idle longest, else the oldest past its grace still sending its
// first request's headers, or waiting to write an answer its client does
// not read, from the source holding the most places, when
// that source holds more than src would with the newcomer (a client
// sending one byte on each connection would otherwise hold them as long).
// A connection the server has not read from yet is silent only if nothing
// waits to be read on it (unread): a client whose request came while it
// waited in the listen queue is past its grace when accepted, as its
// grace runs from its request's arrival, and was closed before the server
// read it. It returns nil while none is, with how long until a grace ends
// that may change that (0: none will; a connection's first read or close
// wakes the wait), and whether src itself holds a place with its headers
// stalled past its grace (the newcomer is refused). An idle connection
// whose client has sent its next request, read or not, is in a request
// (idleVictim); an HTTP/1 one idle is asked to give way rather than
// closed (ask, giveWay), and while one asked has neither given way nor
// begun a request, victim returns none. l.mu is held.
func (l *Listener) victim(now time.Time, src string) (c *conn, ask bool, wake time.Duration, refuse bool) {
	var silent []*conn
	var idle []*conn
	waitFor := func(age time.Duration) {
		if left := l.grace - age; wake == 0 || left < wake {
			wake = left
		}
	}
	places := map[string]int{}
	for c, e := range l.conns {
		places[e.src]++
		wc := c.(*conn)
		if wc.leaving.Load() {
			return nil, false, 0, false
		}
		switch age := now.Sub(e.at); {
		case wc.heard.Load(): // in a request, or idle between two
			if e.idle {
				idle = append(idle, wc)
			}
		case e.sent: // waits for the server to read it
		case age < l.grace:
			waitFor(age)
		default:
			silent = append(silent, wc)
		}
	}
	slices.SortFunc(silent, func(a, b *conn) int { return cmp.Compare(l.conns[a].seq, l.conns[b].seq) })
	for _, c := range silent {
		if !unread(c.Conn) && !c.heard.Load() {
			return c, false, 0, false
		}
		l.conns[c].sent = true
	}
	c, h2, begun := l.idleVictim(idle)
	if c != nil {
		return c, !h2, 0, false
	}
	var slow *conn
	var slowPlaces int
	var slowAt uint64
	stalled := false // src holds a place whose headers stall
	waiting := false // a connection has sent bytes the server has not read
	for c, e := range l.conns {
		wc := c.(*conn)
		var age time.Duration // how long it has stalled
		switch {
		case e.idle:
			continue
		case e.served: // in a request: stalled while its answer is not read
			w := wc.writing.Load()
			if w == 0 {
				continue
			}
			age = now.Sub(time.Unix(0, w))
		case !wc.heard.Load():
			waiting = waiting || e.sent
			continue
		default: // sending its headers
			age = now.Sub(e.at)
		}
		if age < l.grace {
			// Past its grace it is a victim, or refuses src.
			if e.src == src || places[e.src] > places[src]+1 {
				waitFor(age)
			}
			continue
		}
		if e.src == src {
			stalled = true
		}
		if places[e.src] <= places[src]+1 {
			continue
		}
		if n := places[e.src]; slow == nil || n > slowPlaces || n == slowPlaces && e.seq < slowAt {
			slow, slowPlaces, slowAt = wc, n, e.seq
		}
	}
	if slow != nil {
		return slow, false, 0, false
	}
	// A newcomer waits for a grace to end, or for the server to read what
	// was sent, rather than be refused.
	return nil, false, wake, stalled && wake == 0 && !waiting && !begun
}

// idleVictim returns the connection of idle (each idle between two
// requests) idle longest whose client has not begun its next request,
// and whether it is idle over HTTP/2; begun says whether one was passed
// over for having begun it: its bytes are read or wait to be (unread),
// and the server will see them (begun). l.mu is held.
func (l *Listener) idleVictim(idle []*conn) (c *conn, h2 bool, begun bool) {
	slices.SortFunc(idle, func(a, b *conn) int { return cmp.Compare(l.conns[a].since, l.conns[b].since) })
	for _, c := range idle {
		if e := l.conns[c]; e.h2 {
			return c, true, begun
		}
		if c.idle.Load() && !unread(c.Conn) {
			return c, false, begun
		}
		begun = true
	}
	return nil, false, begun
}

// Close closes the underlying listener; an Accept waiting for a place
// returns net.ErrClosed. Only the first Close closes it: an Accept woken
// by one returns net.ErrClosed, upon which http.Server.Serve closes the
// listener too, and that second Close is no error of the first.
func (l *Listener) Close() error {
	l.mu.Lock()
	first := !l.closed
	if first {
		l.closed = true
		l.signal()
	}
	l.mu.Unlock()
	if !first {
		return nil
	}
	return l.Listener.Close()
}

// signal wakes Accepts waiting for a place. l.mu is held.
func (l *Listener) signal() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// ConnState is the http.Server's ConnState hook: it marks a connection
// idle between two requests, and busy again when a request comes. (A
// connection served over TLS is the *tls.Conn around the one Accept
// returned.) An HTTP/1.1 connection idle is in a request again from the
// first byte read, its next request's; an HTTP/2 one only once a request
// has come whole, as its client sends frames that are no request between
// two (flow-control updates, pings).
func (l *Listener) ConnState(c net.Conn, st http.ConnState) {
	h2 := false
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
		h2 = st == http.StateIdle && tc.ConnectionState().NegotiatedProtocol == "h2"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.conns[c]
	if !ok {
		return
	}
	switch st {
	case http.StateIdle:
		l.idles++
		e.idle, e.since, e.h2 = true, l.idles, h2
		c.(*conn).wentIdle(!h2)
		l.signal()
	case http.StateActive:
		e.idle, e.served, e.h2 = false, true, false
		c.(*conn).idle.Store(false)
		// A request read whole from what the server had buffered: it
		// stays (giveWay).
		if c.(*conn).stay() {
			l.signal()
		}
	case http.StateHijacked, http.StateClosed:
		// Its Close (or the hijacker's) frees its place.
	}
}

// begun marks c, idle until its Read, in a request again: its client has
// begun the next one, which a newcomer does not cut. Until the server has
// read the request's headers whole it is a connection sending its headers,
// with a grace from now, as a connection just accepted.
func (l *Listener) begun(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.conns[c]; ok && e.idle {
		e.idle, e.served, e.at = false, false, time.Now()
		l.signal() // an Accept may have passed it over (idleVictim)
	}
}

// heardFrom wakes an Accept waiting for the server to read c, found with
// bytes waiting (entry.sent): it may now be in a request, or stalled.
func (l *Listener) heardFrom(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.conns[c]; ok && e.sent {
		l.signal()
	}
}

// stayed wakes an Accept waiting for c, asked to give way, which stays.
func (l *Listener) stayed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.signal()
}

// forget frees c's place.
func (l *Listener) forget(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.conns[c]; ok {
		delete(l.conns, c)
		l.signal()
	}
}

// conn is a connection the Listener accepted: closing it frees its place.
type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
	// heard is set once the connection has sent a byte: the start of a
	// request (or of a TLS handshake), which a newcomer does not cut.
	heard atomic.Bool
	// idle is set while the server counts the connection idle between two
	// requests (ConnState); the first byte read then is the next request's.
	idle atomic.Bool
	// writing is when the Write under way began (Unix nanoseconds), 0
	// while none is: one blocked past the grace is an answer its client
	// does not read (its window and the server's send buffer are full).
	writing atomic.Int64

	// mu guards deadline and the setting of leaving.
	mu sync.Mutex
	// leaving is set while the connection, idle over HTTP/1, is asked to
	// give its place to a newcomer (giveWay): its read deadline is past,
	// and the server's read decides.
	leaving atomic.Bool
	// deadline is the read deadline the server set, put back when the
	// connection stays.
	deadline time.Time
	// idleDeadlines counts the read deadlines the server has set since
	// the connection went idle (wentIdle): see SetReadDeadline.
	idleDeadlines int
}

// wentIdle marks c idle between two requests (HTTP/1) or not (HTTP/2).
func (c *conn) wentIdle(idle bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idleDeadlines = 0
	c.idle.Store(idle)
}

// aLongTimeAgo is a read deadline past: a read waiting returns at once.
var aLongTimeAgo = time.Unix(1, 0)

// giveWay asks c, an HTTP/1 connection idle between two requests chosen
// to give its place to a newcomer, to give it (leaving): the server's read on it
// decides, as only it knows whether its client's next request has come:
// a read that returns bytes keeps its place (stay), a read that times out
// with nothing waiting closes it (leave). Closing it here could cut a
// request whose bytes the server has just read. It returns false when c
// has begun a request meanwhile (nothing to wait for).
func (c *conn) giveWay() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.idle.Load() || unread(c.Conn) {
		return false
	}
	c.leaving.Store(true)
	if err := c.Conn.SetReadDeadline(aLongTimeAgo); err != nil {
		c.leaving.Store(false) // closed already: its close frees its place
	}
	return true
}

// stay keeps c's place, asked to give it (giveWay), when its read has
// returned a request's bytes: the server's read deadline is put back. It
// says whether c was asked.
func (c *conn) stay() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.leaving.Load() {
		return false
	}
	c.leaving.Store(false)
	c.Conn.SetReadDeadline(c.deadline)
	return true
}

// leave decides, after a read of c ended with err and no bytes, whether
// c gives way: it closes c when it was asked to and nothing waits to be
// read; when a request's bytes came meanwhile it stays, and its read is
// tried again (true).
func (c *conn) leave(err error) bool {
	var ne net.Error
	if !c.leaving.Load() || !errors.As(err, &ne) || !ne.Timeout() {
		return false
	}
	if unread(c.Conn) {
		if c.stay() {
			c.l.stayed()
		}
		return true
	}
	c.Close()
	return false
}

// SetReadDeadline sets the server's read deadline; while c is asked to
// give way (giveWay) it is kept, and set once c stays.
//
// Idle over HTTP/1, net/http sets the idle timeout once, then waits for
// the next request's first bytes (bufio Peek) and sets its header
// deadline: a second deadline says those bytes are in its buffer, where
// neither unread nor Read sees them (a pipelined request, sent with the
// one before it). The request has begun: c is no longer idle, and, asked
// to give way, stays; else the server's read of its rest timed out and c
// was closed, the request lost.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	begun := false
	if c.idle.Load() {
		c.idleDeadlines++
		begun = c.idleDeadlines > 1
	}
	stays := begun && c.leaving.Load()
	if stays {
		c.leaving.Store(false)
	}
	var err error
	if !c.leaving.Load() {
		err = c.Conn.SetReadDeadline(t)
	}
	c.mu.Unlock()
	if begun && c.idle.CompareAndSwap(true, false) {
		c.l.begun(c)
	}
	if stays {
		c.l.stayed()
	}
	return err
}

// SetDeadline sets both deadlines, as SetReadDeadline and SetWriteDeadline.
func (c *conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *conn) Write(p []byte) (int, error) {
	c.writing.Store(time.Now().UnixNano())
	n, err := c.Conn.Write(p)
	c.writing.Store(0)
	return n, err
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	for n == 0 && err != nil && c.leave(err) {
		n, err = c.Conn.Read(p)
	}
	if n > 0 {
		if c.leaving.Load() && c.stay() {
			c.l.stayed()
		}
		if !c.heard.Load() && c.heard.CompareAndSwap(false, true) {
			c.l.heardFrom(c)
		}
		if c.idle.Load() && c.idle.CompareAndSwap(true, false) {
			c.l.begun(c)
		}
	}
	return n, err
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.forget(c) })
	return err
}
