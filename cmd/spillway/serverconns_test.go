package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServerLimitsConnections: with server.max_connections at n, n clients
// that keep their connections open leave the next one unanswered until one
// of them closes. The server accepted every connection, so a client
// opening thousands of idle ones could take all its file descriptors.
func TestServerLimitsConnections(t *testing.T) {
	const n = 3
	s := startAPIServerServing(t, func() string { return `{"job_gpus": [], "oldest_wait_seconds": 0}` },
		func() string { return `{"node": "burst", "gpus": []}` }, fmt.Sprintf("  max_connections: %d\n", n))
	addr := s.url[len("http://"):]
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: spillway\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}
	answer := func(c net.Conn, r *bufio.Reader, wait time.Duration) error {
		c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	var held []net.Conn
	for i := range n {
		c, r := dial()
		if err := answer(c, r, 20*time.Second); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, n, err)
		}
		held = append(held, c) // kept alive: the server's idle timeout is minutes
	}
	c, r := dial()
	// An answer within this wait is a connection served past the limit; a
	// limit that holds cannot fail here, however slow the machine.
	var ne net.Error
	switch err := answer(c, r, 500*time.Millisecond); {
	case err == nil:
		t.Fatalf("connection %d answered with %d already open: want it to wait", n+1, n)
	case !errors.As(err, &ne) || !ne.Timeout():
		t.Fatalf("connection %d: %v, want it to wait unanswered", n+1, err)
	}
	held[0].Close()
	if err := answer(c, r, 20*time.Second); err != nil {
		t.Fatalf("connection %d once one closed: %v, want it answered", n+1, err)
	}
}
