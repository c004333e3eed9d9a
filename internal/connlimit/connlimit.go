// Package connlimit bounds the connections an HTTP server serves at once,
// as golang.org/x/net/netutil.LimitListener does, without letting idle
// keep-alive connections hold the server: when every place is taken, a
// new connection takes the place of the connection idle longest (one
// between two requests), and waits only while every connection is in a
// request. A client holding its connections open between requests (a
// browser, a dashboard, or one opening hundreds on purpose) therefore
// cannot keep other clients out for the server's idle timeout; a client
// whose idle connection is closed opens another, as HTTP clients do.
package connlimit

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
)

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
}

// entry is what the Listener knows of one connection it accepted.
type entry struct {
	idle  bool
	since uint64 // l.idles when it went idle
}

// New returns a Listener that serves at most n connections of ln at once
// (n at least 1).
func New(ln net.Listener, n int) *Listener {
	return &Listener{Listener: ln, max: max(n, 1), conns: map[net.Conn]*entry{}, changed: make(chan struct{})}
}

// Accept waits for a connection of the underlying listener, then for a
// place for it: at once while fewer than the limit are open; else it
// closes the connection idle longest, or, while none is idle, waits until
// one closes or goes idle. A connection accepted waits unserved meanwhile
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
			l.conns[wc] = &entry{}
			l.mu.Unlock()
			return wc, nil
		}
		victim := l.idlest()
		changed := l.changed
		l.mu.Unlock()
		if victim != nil {
			// Its Close frees its place (forget, below).
			victim.Close()
			continue
		}
		<-changed
	}
}

// idlest returns the connection idle longest, nil when none is idle.
// l.mu is held.
func (l *Listener) idlest() net.Conn {
	var out net.Conn
	var at uint64
	for c, e := range l.conns {
		if e.idle && (out == nil || e.since < at) {
			out, at = c, e.since
		}
	}
	return out
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
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.forget(c) })
	return err
}
