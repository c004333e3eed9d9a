package terraform

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkBoundedWriterAtItsBound reads what `terraform output` or
// `state pull` prints into readCommand's writer, through a pipe's
// io.Copy (32 KiB writes), at the output bound: just over half of it, and
// all of it. Its buffer grows by doubling, so its capacity ends at the
// next power of two at or above what was read, which is the bound itself
// for the shipped bounds (16 MiB of output, 64 MiB of state: both powers
// of two): never over it.
func BenchmarkBoundedWriterAtItsBound(b *testing.B) {
	for _, tc := range []struct {
		name string
		n    int
	}{{"half+1", maxOutputBytes/2 + 1}, {"bound", maxOutputBytes}} {
		b.Run(tc.name, func(b *testing.B) {
			src := make([]byte, tc.n)
			b.SetBytes(int64(tc.n))
			for b.Loop() {
				w := &boundedWriter{max: maxOutputBytes, over: func() {}}
				if _, err := io.Copy(w, struct{ io.Reader }{bytes.NewReader(src)}); err != nil {
					b.Fatal(err)
				}
				if w.buf.Cap() > maxOutputBytes {
					b.Fatalf("the buffer's capacity is %d, over the bound %d", w.buf.Cap(), maxOutputBytes)
				}
			}
		})
	}
}
