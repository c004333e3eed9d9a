// Package connlimit bounds the connections an HTTP server serves at once,
// as golang.org/x/net/netutil.LimitListener does, without letting idle or
// silent connections hold the server: when every place is taken, a new
// connection takes the place of the oldest connection that has not sent a
// byte in the second since it was accepted (SilentGrace), else of the
// connection idle longest (one between two requests), and waits only while
// every connection is in a request or has just been accepted. A
// client holding its connections open between requests (a browser, a
// dashboard, or one opening hundreds on purpose), or opening connections
// and sending nothing on them, therefore cannot keep other clients out for
// the server's idle or header timeout; a client whose idle connection is
// closed opens another, as HTTP clients do. A connection that has sent
// part of a request keeps its place: a flood of new connections does not
// cut requests under way.
package connlimit

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// SilentGrace is how long a connection accepted may send nothing before a
// newcomer may take its place: a client sends its request as soon as it
// has connected, but the server reads it only once it has accepted the
// connection and started serving it, so a connection just accepted is
// not yet known to be silent.
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
	at    time.Time // when it was accepted
}

// New returns a Listener that serves at most n connections of ln at once
// (n at least 1).
func New(ln net.Listener, n int) *Listener {
	return &Listener{Listener: ln, max: max(n, 1), conns: map[net.Conn]*entry{}, changed: make(chan struct{}), grace: SilentGrace}
}

// Accept waits for a connection of the underlying listener, then for a
// place for it: at once while fewer than the limit are open; else it
// closes the oldest connection that has sent nothing since SilentGrace
// ago or longer, or the one idle longest, or, while every one is in a
// request or just accepted, waits until one closes, goes idle or stays
// silent past its grace. A connection accepted waits unserved meanwhile
// (one at most: the server accepts one at a time; further clients wait in
// the kernel's listen queue).
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
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
			l.conns[wc] = &entry{seq: l.accepts, at: time.Now()}
			l.mu.Unlock()
			return wc, nil
		}
		victim, wake := l.victim(time.Now())
		changed := l.changed
		l.mu.Unlock()
		if victim != nil {
			// Its Close frees its place (forget, below).
			victim.Close()
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

// victim returns the connection a newcomer replaces: the oldest one that
// has sent nothing in its grace (a client that connects and stays silent
// would otherwise hold its place for the server's header timeout, and a
// few hundred of them, renewed as they are closed, every place), else the
// one idle longest; nil while every connection is in a request or in its
// grace, with how long until the first silent one's grace ends (0: none
// is silent). l.mu is held.
func (l *Listener) victim(now time.Time) (net.Conn, time.Duration) {
	var silent, idle *conn
	var silentAt, idleAt uint64
	var wake time.Duration
	for c, e := range l.conns {
		wc := c.(*conn)
		switch age := now.Sub(e.at); {
		case wc.heard.Load(): // in a request, or idle between two
			if e.idle && (idle == nil || e.since < idleAt) {
				idle, idleAt = wc, e.since
			}
		case age < l.grace:
			if left := l.grace - age; wake == 0 || left < wake {
				wake = left
			}
		case silent == nil || e.seq < silentAt:
			silent, silentAt = wc, e.seq
		}
	}
	if silent != nil {
		return silent, 0
	}
	if idle != nil {
		return idle, 0
	}
	return nil, wake
}

// Close closes the underlying listener; an Accept waiting for a place
// returns net.ErrClosed.
func (l *Listener) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.signal()
	}
	l.mu.Unlock()
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
// returned.)
func (l *Listener) ConnState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
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
		e.idle, e.since = true, l.idles
		l.signal()
	case http.StateActive:
		e.idle = false
	case http.StateHijacked, http.StateClosed:
		// Its Close (or the hijacker's) frees its place.
	}
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
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.heard.Load() {
		c.heard.Store(true)
	}
	return n, err
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.forget(c) })
	return err
}
