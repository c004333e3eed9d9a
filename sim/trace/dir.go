package trace

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// dirShown is how many of a directory's traces dirError names.
const dirShown = 6

// dirError refuses a directory given as the trace (a dataset unpacked, its
// folder named instead of its file), naming the files in it that start as
// a trace or are archives that may hold one.
func dirError(path string) error {
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("trace %s is a directory (want a trace file): %w", path, err)
	}
	var found []string
	more := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || !traceFile(filepath.Join(path, e.Name())) {
			continue
		}
		if len(found) == dirShown {
			more++
			continue
		}
		found = append(found, e.Name())
	}
	if len(found) == 0 {
		return fmt.Errorf("trace %s is a directory, and none of its files starts as a trace: want a trace file (the formats are in spillway simulate --help)", path)
	}
	slices.Sort(found)
	list := strings.Join(found, ", ")
	if more > 0 {
		list += fmt.Sprintf(" and %d more", more)
	}
	return fmt.Errorf("trace %s is a directory: want a trace file, such as one of its %s", path, list)
}

// IsTrace reports whether the file at path starts as a trace in a format
// Load reads, or is compressed or archived (what it holds is not looked
// at): for a hint when a trace is given where something else is wanted.
func IsTrace(path string) bool { return traceFile(path) }

// traceFile reports whether the file at path starts as a trace, or is
// compressed or archived (what it holds is seen when it is read).
func traceFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4096)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte(zipMagic)) || compressedHead(head) || (n >= 262 && string(head[257:262]) == "ustar") {
		return true
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return looksLikeTrace(head)
	}
	// Past any white space it starts with (a padded job log).
	br, err := pastLeadingSpace(path, bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return false
	}
	head, _ = br.Peek(4096)
	return looksLikeTrace(head)
}
