package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startTLSServer starts `spillway server` with server.tls (a certificate
// made for the test) and anonymous reads; it returns its address and the
// pool that verifies it.
func startTLSServer(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	cfg, _, _, pool := tlsServerConfig(t)
	return startServer(t, cfg).addr, pool
}

// h2Settings opens an HTTP/2 connection to addr and returns the settings
// the server's first SETTINGS frame sends (RFC 9113 section 6.5).
func h2Settings(t *testing.T, addr string, pool *x509.CertPool) map[uint16]uint32 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2 (the server speaks HTTP/2 over TLS)", p)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	// The client preface, then an empty SETTINGS frame.
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for {
		var head [9]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			t.Fatalf("reading the server's frames: %v", err)
		}
		n := int(head[0])<<16 | int(head[1])<<8 | int(head[2])
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			t.Fatal(err)
		}
		if head[3] != 0x4 || head[4]&0x1 != 0 { // not SETTINGS, or an ACK
			continue
		}
		out := map[uint16]uint32{}
		for i := 0; i+6 <= len(payload); i += 6 {
			out[binary.BigEndian.Uint16(payload[i:])] = binary.BigEndian.Uint32(payload[i+2:])
		}
		return out
	}
}

// TestServerBoundsHTTP2StreamsAndHeaders: over TLS the server speaks
// HTTP/2, where one connection carried up to 250 requests at once (Go's
// default), so max_connections, which counts connections, bounded one
// client's requests 250 times less than it said; and a request's headers
// could take 1 MB (on HTTP/1.1 too), 256 MB over max_connections' 256
// connections. An HTTP/2 connection now carries at most
// maxStreamsPerConn requests at once, and headers over maxHeaderBytes are
// refused (431).
func TestServerBoundsHTTP2StreamsAndHeaders(t *testing.T) {
	addr, pool := startTLSServer(t)
	set := h2Settings(t, addr, pool)
	const maxConcurrentStreams, maxHeaderListSize = 0x3, 0x6
	if got, ok := set[maxConcurrentStreams]; !ok || got != 8 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent: %v), want 8 requests at once on a connection", got, ok)
	}
	// Go adds 320 bytes for the fields' overhead to MaxHeaderBytes.
	if got := set[maxHeaderListSize]; got == 0 || got > 64<<10+320 {
		t.Errorf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, want at most %d", got, 64<<10+320)
	}

	h1 := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: new(http.Protocols)}}
	h1.Transport.(*http.Transport).Protocols.SetHTTP1(true)
	for _, tc := range []struct {
		pad  int
		want int
	}{
		{pad: 8 << 10, want: http.StatusOK},
		{pad: 100 << 10, want: http.StatusRequestHeaderFieldsTooLarge},
		{pad: 900 << 10, want: http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, err := http.NewRequest("GET", "https://"+addr+"/v1/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Pad", strings.Repeat("a", tc.pad))
		resp, err := h1.Do(req)
		if err != nil {
			t.Fatalf("GET /v1/status with a %d-byte header: %v", tc.pad, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET /v1/status over HTTP/1.1 with a %d-byte header: %d, want %d", tc.pad, resp.StatusCode, tc.want)
		}
	}
}
