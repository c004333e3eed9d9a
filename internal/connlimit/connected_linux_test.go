package connlimit

import (
	"net"
	"testing"
	"time"
)

// TestQueuedClientsGraceByWhatTheySent: a client that connects during a
// flood waits in the listen queue before the server accepts it. Silent
// there, its grace runs from when it connected (it may make way as soon
// as it is accepted); but one whose request came while it waited was
// timed from the request's arrival too, so it was past its grace when
// accepted and the next newcomer closed it before the server read it: an
// operator's request cut in a flood. Bytes waiting to be read on it now
// keep its place until the server has read them, and a newcomer from its
// source waits rather than being refused as if it stalled.
func TestQueuedClientsGraceByWhatTheySent(t *testing.T) {
	const grace = 100 * time.Millisecond
	for _, c := range []struct {
		name    string
		sends   string
		giveWay bool
	}{
		{"silent while queued", "", true},
		{"its request sent while queued", request, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := New(ln, 1)
			t.Cleanup(func() { l.Close() })
			setGrace(l, grace)
			queued := dial(t, l.Addr().String())
			if c.sends != "" {
				queued.send(c.sends)
			}
			// It waits in the listen queue past its grace (the kernel's
			// clock times it: real time must pass).
			<-time.After(3 * grace)
			ac, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ac.Close() })
			// The next newcomer finds every place taken before the
			// server has read the one just accepted.
			l.mu.Lock()
			v, _, _, refused := l.victim(time.Now(), "127.0.0.1")
			l.mu.Unlock()
			if got := v != nil; got != c.giveWay {
				t.Fatalf("a client %s, accepted a moment ago and not read yet: made way for a newcomer %v, want %v", c.name, got, c.giveWay)
			}
			if refused {
				t.Fatalf("a client %s, accepted a moment ago and not read yet: a newcomer from its source refused as behind a stalled connection, want it to wait", c.name)
			}
		})
	}
}
