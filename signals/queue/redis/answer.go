package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
)

// Bounds on what one reply may announce. go-redis allocates what a
// string's or an aggregate's header announces before it reads a byte of
// it: from a server that is not Redis, or a broken one, "$999999999999"
// would take a terabyte, a fatal out-of-memory that no recover catches.
const (
	// MaxReplyString is the longest string (bulk, verbatim or blob error)
	// read: a job's member or a stream entry's field is far shorter.
	MaxReplyString = 64 << 20
	// MaxReplyElements bounds an array's, set's or push's elements, and a
	// map's pairs: room for the MaxListedWaits members or entries read
	// per job, and for a stream grown well past them since XLEN.
	MaxReplyElements = 1 << 22
	// MaxReplyLine bounds a line: a simple string (TYPE's answer), an
	// error, a number or a header. Redis's are under a kilobyte; one
	// without end was read whole until the deadline, an error of 50 MB
	// became a 50 MB message.
	MaxReplyLine = 64 << 10
)

// maxAnnounced is where a length or count read saturates (it is then
// named as "over" it).
const maxAnnounced = 1e15

// announced writes a length or count for a message.
func announced(n int64) string {
	if n >= maxAnnounced {
		return fmt.Sprintf("over %d", int64(maxAnnounced))
	}
	return fmt.Sprint(n)
}

// dials follows the source's dials, which go-redis makes apart from the
// command waiting for one (under its own DialTimeout, not the command's
// deadline): a command whose deadline passes while its dial goes on, or
// after it timed out, ends as "context deadline exceeded", which says
// nothing of the connection.
type dials struct {
	inFlight atomic.Int32
	timedOut atomic.Bool // the last dial to end timed out
}

// unreached reports whether a dial is going on or the last one timed out.
func (d *dials) unreached() bool { return d.inFlight.Load() > 0 || d.timedOut.Load() }

// boundedDialer dials as dial does (go-redis's own dialer), following it
// in d, and returns a connection whose replies are checked against
// MaxReplyString and MaxReplyElements as they are read.
func boundedDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), d *dials) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.inFlight.Add(1)
		c, err := dial(ctx, network, addr)
		var ne net.Error
		d.timedOut.Store(errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded))
		d.inFlight.Add(-1)
		if err != nil {
			return nil, err
		}
		if sc, ok := c.(syscall.Conn); ok {
			return &boundedSocket{boundedConn: boundedConn{Conn: c}, sc: sc}, nil
		}
		return &boundedConn{Conn: c}, nil
	}
}

// boundedSocket is a boundedConn over a socket, which it lends to
// go-redis's pool: the pool checks an idle connection's socket before it
// hands it out, and dials again for one the server closed (its timeout,
// a restart). Without it, the next read took the closed connection and
// failed.
type boundedSocket struct {
	boundedConn
	sc syscall.Conn
}

// SyscallConn is the socket's, for go-redis's health check, which peeks
// at it and consumes nothing.
func (c *boundedSocket) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }

// boundedConn follows the RESP2/RESP3 framing of the bytes read from Conn:
// each reply element is a type byte and a line, and a string's line, its
// length, is followed by that many bytes and CRLF. A length or count past
// the bounds fails the read (with a *ReplyTooLargeError) before go-redis
// sees the header that would make it allocate.
type boundedConn struct {
	net.Conn
	state   int   // one of the scan states below
	kind    byte  // the current line's type byte
	n       int64 // the number read so far from the current line
	neg     bool  // the number is negative (-1: a null)
	skip    int64 // string bytes (and CRLF) left to pass over
	line    int   // bytes of the current line so far
	invalid error // set once a bound is passed: every later read fails
}

const (
	atType  = iota // the next byte is a type byte
	inLine         // within a line, up to its LF
	inBytes        // within a string's bytes
)

// ReplyTooLargeError is a reply header announcing more than a bound.
type ReplyTooLargeError struct {
	// What is "a string of N bytes" or "N elements".
	What string
	Max  int64
	// Line is the type byte of a line past MaxReplyLine (0 for a length
	// or count announced past its bound).
	Line byte
}

func (e *ReplyTooLargeError) Error() string {
	if e.Line != 0 {
		return fmt.Sprintf("a reply line (type %q) runs past %d bytes, the most this source reads of one: is addr a Redis server?", e.Line, e.Max)
	}
	return fmt.Sprintf("the reply announces %s, more than the %d this source reads: is addr a Redis server?", e.What, e.Max)
}

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.invalid != nil {
		return 0, c.invalid
	}
	n, err := c.Conn.Read(p)
	if scanErr := c.scan(p[:n]); scanErr != nil {
		c.invalid = scanErr
		return 0, scanErr
	}
	return n, err
}

// scan moves the framing state over b.
func (c *boundedConn) scan(b []byte) error {
	for i := 0; i < len(b); i++ {
		switch c.state {
		case inBytes:
			k := min(int64(len(b)-i), c.skip)
			c.skip -= k
			i += int(k) - 1
			if c.skip == 0 {
				c.state = atType
			}
		case atType:
			c.kind, c.n, c.neg, c.line, c.state = b[i], 0, false, 0, inLine
		case inLine:
			if c.line++; c.line > MaxReplyLine {
				return &ReplyTooLargeError{Line: c.kind, Max: MaxReplyLine}
			}
			switch ch := b[i]; {
			case ch == '\n':
				if err := c.endLine(); err != nil {
					return err
				}
			case ch == '-' && c.n == 0:
				c.neg = true
			case ch >= '0' && ch <= '9':
				// Saturated far past both bounds, short of overflow.
				c.n = min(c.n*10+int64(ch-'0'), maxAnnounced)
			}
		}
	}
	return nil
}

// endLine checks the line just ended and sets what comes next.
func (c *boundedConn) endLine() error {
	c.state = atType
	if c.neg {
		return nil // -1: a null, nothing follows
	}
	switch c.kind {
	case '$', '=', '!': // bulk string, verbatim string, blob error
		if c.n > MaxReplyString {
			return &ReplyTooLargeError{What: fmt.Sprintf("a string of %s bytes", announced(c.n)), Max: MaxReplyString}
		}
		c.skip, c.state = c.n+2, inBytes
	case '*', '~', '>', '%', '|': // array, set, push; map, attribute (pairs)
		if c.n > MaxReplyElements {
			return &ReplyTooLargeError{What: fmt.Sprintf("%s elements", announced(c.n)), Max: MaxReplyElements}
		}
	}
	return nil
}
