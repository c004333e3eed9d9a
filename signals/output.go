package signals

import (
	"bytes"
	"io"
)

// LimitedBuffer is where a program a source runs writes: it keeps the
// first Max bytes written and notes the rest (Truncated), so that a
// program printing without end is held to Max. It holds its bytes.Buffer
// in a field, not embedded: an embedded one would lend it ReadFrom, which
// os/exec's io.Copy prefers to Write, and which would read the whole of a
// pipe, past Max.
type LimitedBuffer struct {
	Max       int
	buf       bytes.Buffer
	truncated bool
}

var _ io.Writer = (*LimitedBuffer)(nil)

// Write keeps what fits under Max and drops the rest, never failing (a
// writer's error would leave the program blocked on a full pipe).
func (b *LimitedBuffer) Write(p []byte) (int, error) {
	if room := b.Max - b.buf.Len(); len(p) > room {
		b.truncated = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

// String returns the bytes kept.
func (b *LimitedBuffer) String() string { return b.buf.String() }

// Truncated reports whether more than Max bytes were written.
func (b *LimitedBuffer) Truncated() bool { return b.truncated }
