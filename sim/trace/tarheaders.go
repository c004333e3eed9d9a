package trace

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxTarHeaders bounds the bytes of headers (PAX extended headers, GNU
// long names and links, sparse maps) that the members of a tar archive
// read up to its trace carry, beyond tarHeaderSlack a member. archive/tar
// bounds one such header at 1 MiB but not how many come in a row or
// member after member, so only the expansion bound stopped them: 100 MiB
// of PAX records from 860 KB of gzip took 1.9 s of parsing and loaded,
// 750 MiB would have taken ~15 s. Members as tar writes them carry a few
// KiB each (a path, times, extended attributes).
const MaxTarHeaders = 16 << 20

// tarHeaderSlack is what a member's headers take before they count
// toward MaxTarHeaders: its header block, a PAX header's block and its
// records' and the padding of the member before.
const tarHeaderSlack = 4 << 10

// ErrTarHeaders is returned (wrapped in *Error) for the headers of a tar
// archive's members past MaxTarHeaders.
var ErrTarHeaders = fmt.Errorf("tar headers (PAX extended headers, GNU long names) of more than %d MiB", MaxTarHeaders>>20)

// tarHeaders passes a tar archive's bytes to archive/tar and counts those
// its Next reads, past the member data it skips (Seek, which archive/tar
// calls to pass over a member's data): the headers.
type tarHeaders struct {
	r       *bufio.Reader
	name    string
	pos     int64 // bytes read or skipped
	inNext  bool
	next    int64 // bytes this Next has read
	over    int64 // bytes of the members' headers past tarHeaderSlack each
	members int
}

func (t *tarHeaders) Read(p []byte) (int, error) {
	if t.inNext && t.over+t.next-tarHeaderSlack > MaxTarHeaders {
		return 0, expansionError{&Error{File: t.name, Err: fmt.Errorf("%w, up to its member number %d", ErrTarHeaders, t.members+1),
			Want: fmt.Sprintf("a tar archive whose members carry a few KiB of headers each, as tar writes them (at most %d MiB in all up to the trace); a real one with more is read unpacked: tar -xf, then the trace's path", MaxTarHeaders>>20)}}
	}
	n, err := t.r.Read(p)
	t.pos += int64(n)
	if t.inNext {
		t.next += int64(n)
	}
	return n, err
}

// Seek passes over offset bytes of a member's data (whence io.SeekCurrent
// only, as archive/tar calls it), which count as no header.
func (t *tarHeaders) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekCurrent || offset < 0 {
		return t.pos, errors.New("tarHeaders: only a forward seek from the current position")
	}
	for offset > 0 {
		n, err := t.r.Discard(int(min(offset, 1<<30)))
		t.pos += int64(n)
		offset -= int64(n)
		if err == io.EOF {
			return t.pos, io.ErrUnexpectedEOF
		}
		if err != nil {
			return t.pos, err
		}
	}
	return t.pos, nil
}

// nextOf is ar.Next, its headers counted.
func (t *tarHeaders) nextOf(ar *tar.Reader) (*tar.Header, error) {
	t.inNext, t.next = true, 0
	hdr, err := ar.Next()
	t.inNext = false
	t.over += max(0, t.next-tarHeaderSlack)
	t.members++
	return hdr, err
}

// tarError is the error of a tar archive name that archive/tar cannot
// read: a header past MaxTarHeaders as it is, and one field past
// archive/tar's own bound said so.
func tarError(name string, err error) error {
	if ee := (expansionError{}); errors.As(err, &ee) {
		return ee.err
	}
	want := "a readable tar archive"
	if errors.Is(err, tar.ErrFieldTooLong) {
		want = "a tar archive whose headers each hold at most 1 MiB (a PAX extended header, a GNU long name or a sparse map: archive/tar's bound); a real one with more is read unpacked: tar -xf, then the trace's path"
	}
	return &Error{File: name, Err: err, Want: want}
}
