package signals

import (
	"bytes"
	"runtime"
	"testing"
)

// TestLimitedBufferKeepsMax: written in a pipe's chunks, of any size, a
// buffer keeps the first Max bytes, notes the rest, and allocates at most
// 2×Max to hold them (and a few small chunks'). A bytes.Buffer doubled
// past Max: 2.5×Max written in chunks of 4097 bytes, and 3.5×Max measured
// reading a program's 512 MiB into 128 MiB.
func TestLimitedBufferKeepsMax(t *testing.T) {
	const max = 16 << 20
	pattern := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for _, tc := range []struct {
		name      string
		written   int
		chunk     int
		truncated bool
	}{
		{"less than Max", max/2 + 5, 32 << 10, false},
		{"Max exactly", max, 32 << 10, false},
		{"one byte past Max", max + 1, 32 << 10, true},
		{"four times Max", 4 * max, 32 << 10, true},
		{"four times Max in odd chunks", 4 * max, 4097, true},
		{"twice Max in a pipe's chunks", 2 * max, 65536, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := LimitedBuffer{Max: max}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for at := 0; at < tc.written; {
				n := min(tc.chunk, tc.written-at)
				p := pattern[at%16 : at%16+n]
				if m, err := b.Write(p); m != n || err != nil {
					t.Fatalf("Write = %d, %v; want %d, nil", m, err, n)
				}
				at += n
			}
			runtime.ReadMemStats(&after)
			kept := min(tc.written, max)
			want := bytes.Repeat([]byte("0123456789abcdef"), kept/16+1)[:kept]
			if got := b.String(); got != string(want) || b.Truncated() != tc.truncated {
				t.Errorf("kept %d bytes (as written: %v), truncated %v; want the first %d, truncated %v",
					len(got), got == string(want), b.Truncated(), kept, tc.truncated)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 2*max+64<<10 {
				t.Errorf("allocated %d bytes to keep %d, want at most %d", n, kept, 2*max+64<<10)
			}
		})
	}
}
