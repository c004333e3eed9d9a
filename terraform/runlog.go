package terraform

import (
	"bytes"
	"fmt"
	"os"
	"sync"
)

// A run's log keeps at most the first logHeadBytes and the last
// logTailBytes of what Terraform printed, with a line saying how much was
// cut between them: a module whose provisioners print megabytes on every
// run would otherwise fill the work dir (30 logs per burst). The tail is
// what the provider reads back: a -json run's error diagnostics and the
// "outputs" message come last. An outputs message longer than the tail is
// cut with the middle, and the instances output is then read with
// `terraform output -json instances` instead (outputValue, bounded).
const (
	logHeadBytes = 256 << 10
	logTailBytes = 768 << 10
)

// runLog writes a run's output to its log file, bounded as above. Whole
// lines go to the head (command writes whole lines, from stdout and
// stderr at once: lineWriter); once a line no longer fits there, the rest
// is held in memory and only its last logTailBytes are written, from a
// line's start, by Close. A write never fails: Terraform's output pipe
// must keep draining, or Terraform blocks on it.
type runLog struct {
	mu   sync.Mutex
	f    *os.File
	head int
	// tail holds the output after the head; cut counts the bytes dropped
	// from its front.
	tail []byte
	cut  int64
	// before is the byte printed just before the tail's first (0 when
	// none): '\n' when the tail begins at a line's start.
	before byte
	err    error
}

func newRunLog(f *os.File) *runLog { return &runLog{f: f} }

// Name is the log file's path.
func (w *runLog) Name() string { return w.f.Name() }

func (w *runLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tail == nil && w.head+len(p) <= logHeadBytes {
		w.head += len(p)
		if len(p) > 0 {
			w.before = p[len(p)-1]
		}
		if _, err := w.f.Write(p); err != nil && w.err == nil {
			w.err = err
		}
		return len(p), nil
	}
	if w.tail == nil {
		w.tail = make([]byte, 0, 2*logTailBytes)
	}
	if len(p) > logTailBytes {
		// Only its end can be kept.
		w.cut += int64(len(w.tail) + len(p) - logTailBytes)
		w.before = p[len(p)-logTailBytes-1]
		w.tail = append(w.tail[:0], p[len(p)-logTailBytes:]...)
		return len(p), nil
	}
	if len(w.tail)+len(p) > cap(w.tail) {
		drop := len(w.tail) + len(p) - logTailBytes
		w.cut += int64(drop)
		w.before = w.tail[drop-1]
		w.tail = w.tail[:copy(w.tail, w.tail[drop:])]
	}
	w.tail = append(w.tail, p...)
	return len(p), nil
}

// Close writes the kept tail, after a line saying what was cut, and
// closes the file. It returns the first error writing the file met.
func (w *runLog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	tail := w.tail
	if over := len(tail) - logTailBytes; over > 0 {
		w.cut += int64(over)
		w.before = tail[over-1]
		tail = tail[over:]
	}
	if w.cut > 0 {
		// Start at a whole line: half a JSON message would read as none.
		// The tail starts at one when the cut ended a line.
		if w.before != '\n' {
			if i := bytes.IndexByte(tail, '\n'); i >= 0 {
				w.cut += int64(i + 1)
				tail = tail[i+1:]
			} else {
				w.cut += int64(len(tail))
				tail = nil
			}
		}
		_, err := fmt.Fprintf(w.f, "[spillway: %d bytes of Terraform's output cut here; a run's log keeps its first %d KiB and its last %d KiB]\n", w.cut, logHeadBytes>>10, logTailBytes>>10)
		if err != nil && w.err == nil {
			w.err = err
		}
	}
	if _, err := w.f.Write(tail); err != nil && w.err == nil {
		w.err = err
	}
	w.tail = nil
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}
