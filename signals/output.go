package signals

import (
	"io"
)

// LimitedBuffer is where a program a source runs writes: it keeps the
// first Max bytes written and notes the rest (Truncated), so that a
// program printing without end is held to Max. It is not a bytes.Buffer:
// one would lend os/exec's io.Copy its ReadFrom, which reads the whole of
// a pipe, past Max; and one doubles its capacity past Max as it fills,
// so that holding Max bytes took up to 4×Max of allocations (470 MB
// measured for the command source's 128 MiB).
type LimitedBuffer struct {
	Max int
	// Full, when set, is called once, by the first write past Max: a
	// program whose output is already more than is read need not run on
	// (printing without end, it ran until its timeout, and failed as
	// one that did not finish).
	Full      func()
	buf       []byte
	truncated bool
}

var _ io.Writer = (*LimitedBuffer)(nil)

// Write keeps what fits under Max and drops the rest, never failing (a
// writer's error would leave the program blocked on a full pipe). The
// buffer doubles as it fills, never past Max: holding Max bytes allocates
// at most 2×Max in all.
func (b *LimitedBuffer) Write(p []byte) (int, error) {
	keep := p
	if room := b.Max - len(b.buf); len(p) > room {
		if !b.truncated && b.Full != nil {
			defer b.Full()
		}
		b.truncated = true
		keep = p[:max(room, 0)]
	}
	if need := len(b.buf) + len(keep); need > cap(b.buf) {
		// Past half of Max, the next size is Max itself.
		size := max(2*cap(b.buf), need, 4096)
		if size > b.Max/2 {
			size = max(b.Max, need)
		}
		grown := make([]byte, len(b.buf), size)
		copy(grown, b.buf)
		b.buf = grown
	}
	b.buf = append(b.buf, keep...)
	return len(p), nil
}

// String returns the bytes kept.
func (b *LimitedBuffer) String() string { return string(b.buf) }

// Truncated reports whether more than Max bytes were written.
func (b *LimitedBuffer) Truncated() bool { return b.truncated }
