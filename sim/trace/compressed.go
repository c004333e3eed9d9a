package trace

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"io"
	"path"
	"strings"
)

// ErrArchive is returned (wrapped in *Error) for a compressed file or
// archive that holds no trace to read.
var ErrArchive = errors.New("no trace in the archive")

// decompress is r's content as a trace reads it: gzip and bzip2 data
// decompressed (trace datasets ship as .csv.gz or .tar.gz), and of a tar
// archive the first regular file that starts as a trace (macOS's "._"
// resource files, hidden files and a dataset's other files, such as
// Philly's utilisation logs beside its job log, passed over). name is
// what errors and the trace are named: "a.tar.gz/member.csv" for a tar
// member. Each layer is read as a stream: nothing is unpacked to disk or
// held whole, and the parser's bounds (a record's bytes, the job limit)
// hold on the decompressed content.
func decompress(name string, r io.Reader) (string, io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var out io.Reader = br
	switch head, _ := br.Peek(3); {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return name, nil, &Error{File: name, Err: err, Want: "gzip data, as its first bytes say"}
		}
		zr.Multistream(true)
		out = zr
	case string(head) == "BZh":
		out = bzip2.NewReader(br)
	}
	tb := bufio.NewReaderSize(out, 1<<16)
	if h, _ := tb.Peek(262); len(h) < 262 || string(h[257:262]) != "ustar" {
		return name, tb, nil
	}
	ar := tar.NewReader(tb)
	var seen []string
	for {
		hdr, err := ar.Next()
		if err == io.EOF {
			return name, nil, &Error{File: name, Value: strings.Join(seen, ", "), Err: ErrArchive, Want: "a tar archive holding a trace file"}
		}
		if err != nil {
			return name, nil, &Error{File: name, Err: err, Want: "a readable tar archive"}
		}
		seen = append(seen, hdr.Name)
		base := path.Base(hdr.Name)
		if hdr.Typeflag != tar.TypeReg || strings.HasPrefix(base, ".") || hdr.Size == 0 {
			continue
		}
		mb := bufio.NewReaderSize(ar, 1<<16)
		if head, _ := mb.Peek(4096); !looksLikeTrace(head) {
			continue // a dataset's other files (Philly's utilisation logs beside its job log)
		}
		return name + "/" + base, mb, nil
	}
}

// looksLikeTrace reports whether a file starting with head is in a format
// Load reads: a JSON array, a header it knows, or a PAI task row.
func looksLikeTrace(head []byte) bool {
	if isJSON(head) {
		return true
	}
	line, _, _ := bytes.Cut(bytes.TrimPrefix(head, []byte("\ufeff")), []byte{'\n'})
	cr := csv.NewReader(bytes.NewReader(line))
	cr.Comma = separator(line)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	rec, err := cr.Read()
	return err == nil && (formatOf(loose(rec)) != "" || paiTable(rec) == "task")
}
