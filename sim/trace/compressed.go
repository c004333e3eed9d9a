package trace

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// ErrArchive is returned (wrapped in *Error) for a compressed file or
// archive that holds no trace to read.
var ErrArchive = errors.New("no trace in the archive")

// decompress is r's content as a trace reads it: gzip and bzip2 data
// decompressed (trace datasets ship as .csv.gz or .tar.gz), and of a tar
// archive the member named (its path in the archive), or when member is ""
// the first regular file that starts as a trace (macOS's "._" resource
// files, hidden files and a dataset's other files, such as Philly's
// utilisation logs beside its job log, passed over). name is what errors
// and the trace are named: "a.tar.gz/dir/member.csv" for a tar member;
// picked is the member read when none was named ("" otherwise). Each layer
// is read as a stream: nothing is unpacked to disk or held whole, and the
// parser's bounds (a record's bytes, the job limit) hold on the
// decompressed content. A compressed file in an archive is decompressed
// too (depth counts such levels: one at most). What is decompressed may be
// at most MaxExpansion times what was read of r (inflated).
func decompress(name string, r io.Reader, member string) (string, io.Reader, string, error) {
	return decompressAs(name, r, member, looksLikeTrace)
}

// decompressAs is decompress, picking a tar archive's first member whose
// first bytes are what accept accepts when none is named.
func decompressAs(name string, r io.Reader, member string, accept func(head []byte) bool) (string, io.Reader, string, error) {
	src := &counted{r: r}
	return decompressIn(name, src, src.read, true, 0, member, accept)
}

// decompressIn is decompressAs, with in the bytes of the file itself (an
// archive's, for a member) read so far through r, or when plain is false
// (r is a compressed archive's member) by the archive's decompressor:
// what every layer decompresses is bounded by it, and its messages say
// it. What a buffer over the file's bytes holds unread is not counted
// (consumed): a bomb's message named 64 KiB of read-ahead as read, and
// its bound let a thousand times that more through.
func decompressIn(name string, r io.Reader, in func() int64, plain bool, depth int, member string, accept func(head []byte) bool) (string, io.Reader, string, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	in = consumed(in, br, plain)
	var out io.Reader = br
	switch head, _ := br.Peek(len(xzMagic)); {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return name, nil, "", &Error{File: name, Err: err, Want: "gzip data, as its first bytes say"}
		}
		zr.Multistream(false)
		out = &inflated{r: &gzipStream{br: br, zr: zr}, name: name, in: in}
	case bytes.HasPrefix(head, []byte("BZh")):
		src := &endSeen{br: br}
		out = &inflated{r: &bzip2Stream{r: bzip2.NewReader(src), src: src}, name: name, in: in}
	case bytes.HasPrefix(head, []byte(zstdMagic)):
		// One goroutine (none of its own), and a window bounded: a frame
		// may name one of up to 3.75 TiB, which the decoder would hold.
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(MaxZstdWindow))
		if err != nil {
			return name, nil, "", &Error{File: name, Err: err, Want: "zstd data, as its first bytes say"}
		}
		out = &inflated{r: &zstdStream{zr: zr, name: name}, name: name, in: in}
	case bytes.HasPrefix(head, []byte(xzMagic)):
		out = &inflated{r: newXzStream(name, br), name: name, in: in}
	}
	magic, _ := br.Peek(8)
	if c := unreadCompression(magic); c != nil {
		return name, nil, "", &Error{File: name, Err: fmt.Errorf("%s-compressed data, which is not read", c.kind),
			Want: "a trace as it is, gzipped, bzip2ed, zstd- or xz-compressed, or in a tar or zip archive: decompress it first with " + c.undo}
	}
	if k := unreadFile(magic); k != nil {
		return name, nil, "", &Error{File: name, Err: fmt.Errorf("%s, which is not read", k.kind), Want: "a trace as CSV: " + strings.ReplaceAll(k.undo, "FILE", name)}
	}
	if head, _ := br.Peek(4); string(head) == zipMagic {
		return name, nil, "", &Error{File: name, Err: errors.New("a zip archive read as a stream"), Want: "its path, so that its directory can be read, or its trace unzipped"}
	}
	tb := bufio.NewReaderSize(out, 1<<16)
	plain = plain && out == br
	in = consumed(in, tb, plain)
	if h, _ := tb.Peek(262); len(h) < 262 || string(h[257:262]) != "ustar" {
		if member != "" {
			return name, nil, "", &Error{File: name, Value: member, Err: fmt.Errorf("names a file inside %s, which is not a tar or zip archive", clip(name)),
				Want: "the path of a trace, or of an archive followed by its member's path"}
		}
		return name, tb, "", nil
	}
	th := &tarHeaders{r: tb, name: name}
	ar := tar.NewReader(th)
	var seen, traces, links memberList
	for {
		hdr, err := th.nextOf(ar)
		if err == io.EOF {
			if member != "" {
				return name, nil, "", noMember(name, member, traces)
			}
			return name, nil, "", &Error{File: name, Value: seen.String(), Err: seen.noTrace(), Want: "a tar archive holding a trace file" + linksHint(links, tarDeref+", and --hard-dereference for hard links")}
		}
		if err != nil {
			return name, nil, "", tarError(name, err)
		}
		seen.add(hdr.Name)
		mpath := memberPath(hdr.Name)
		base := path.Base(mpath)
		if kind := linkKind(hdr.Typeflag); kind != "" {
			if member != "" && mpath == member {
				return name, nil, "", linkError(name, member, kind, hdr.Linkname, tarDeref)
			}
			links.add(fmt.Sprintf("%s (%s to %s)", clip(mpath), kind, clip(hdr.Linkname)))
			continue
		}
		if !regular(hdr.Typeflag) || hdr.Size == 0 || (member == "" && strings.HasPrefix(base, ".")) {
			continue
		}
		if member != "" && mpath != member {
			if !strings.HasPrefix(base, ".") {
				if head, _ := bufio.NewReaderSize(ar, 4096).Peek(4096); looksLikeTrace(head) || compressedHead(head) {
					traces.add(mpath)
				}
			}
			continue
		}
		// Past any white space it starts with, so that a job log padded
		// before its array is seen as one.
		mb, err := pastLeadingSpace(name+"/"+clip(mpath), bufio.NewReaderSize(memberContent(ar, hdr, name+"/"+clip(mpath), in), 1<<16))
		// A sparse member's holes are bytes the archive does not hold.
		plain := plain && !sparse(hdr)
		if err != nil {
			if member == "" {
				continue
			}
			return name, nil, "", err
		}
		head, _ := mb.Peek(4096)
		if compressedHead(head) && depth == 0 {
			// A compressed trace in the archive; one level only, so that
			// data that decompresses to itself cannot recurse.
			n, r, _, err := decompressIn(name+"/"+clip(mpath), mb, consumed(in, mb, plain), plain, depth+1, "", accept)
			return n, r, pickedIf(member, mpath), err
		}
		if member == "" && !accept(head) {
			continue // a dataset's other files (Philly's utilisation logs beside its job log)
		}
		return name + "/" + clip(mpath), mb, pickedIf(member, mpath), nil
	}
}

// regular reports whether a tar member of type flag is a file whose
// content the archive holds: a regular one, or a sparse one of GNU tar's
// (tar -S; its holes read as NUL bytes, as a crash leaves in a log), or a
// contiguous one (type '7', which GNU tar and POSIX read as a regular
// file). A sparse member in the POSIX format (tar --format=posix -S) is
// regular.
func regular(flag byte) bool {
	return flag == tar.TypeReg || flag == tar.TypeGNUSparse || flag == tar.TypeCont
}

// ErrSparseHoles is returned (wrapped in *Error) for a sparse tar member
// whose holes read as more than MaxExpansion times the archive's bytes
// read: a few KiB of sparse map can stand for terabytes of NUL bytes,
// which the parser passes over as padding (in runs of up to MaxBlankRun).
var ErrSparseHoles = fmt.Errorf("a sparse member whose holes read as more than %d times the archive's size", MaxExpansion)

// memberContent is the content of the tar member hdr, bounded as a
// decompressor's output is (inflated) when the member is sparse: its
// holes are read from no bytes of the archive. Its floor is MaxBlankRun,
// so that one hole the parser would read (a crashed log's preallocated
// tail) is never refused for its size alone.
func memberContent(ar *tar.Reader, hdr *tar.Header, name string, in func() int64) io.Reader {
	if !sparse(hdr) {
		return ar
	}
	return &inflated{r: ar, name: name, in: in, floor: MaxBlankRun, refuse: func(out, in int64) *Error {
		return &Error{File: name, Err: fmt.Errorf("%w: %d bytes from its first %d", ErrSparseHoles, out, in),
			Want: "a trace with fewer holes: unpack it (tar -xf) and drop its NUL bytes (tr -d '\\000')"}
	}}
}

// sparse reports whether hdr is a sparse member, of GNU tar's or the
// POSIX format.
func sparse(hdr *tar.Header) bool {
	return hdr.Typeflag == tar.TypeGNUSparse || paxSparse(hdr)
}

// paxSparse reports whether hdr is a sparse member of the POSIX format
// (its GNU.sparse records).
func paxSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// ErrLinkMember is returned (wrapped in *Error) for the member a path
// names when it is a symbolic or hard link: a tar holds a link's target's
// name, not its content.
var ErrLinkMember = errors.New("a link, whose content the archive does not hold under this name")

// linkKind is what a tar member of type flag is when it is a link, "" for
// another.
func linkKind(flag byte) string {
	switch flag {
	case tar.TypeSymlink:
		return "a symbolic link"
	case tar.TypeLink:
		return "a hard link"
	}
	return ""
}

// How to archive the file a symbolic link points to, rather than the link.
const (
	tarDeref = "tar --dereference (-h)"
	zipDeref = "zip without -y (--symlinks)"
)

// linkError is the member named, a link (kind) to target: a symbolic
// link's content is not in the archive (deref says how to make one that
// holds it), and a hard link's is under its target's name, which it says
// to name.
func linkError(name, member, kind, target, deref string) error {
	want := "the trace itself in the archive: make it with " + deref + ", which stores the file a symbolic link points to"
	if kind == "a hard link" {
		want = fmt.Sprintf("the member the archive holds its content under, %s/%s, or an archive made with tar --hard-dereference", clip(name), clip(memberPath(target)))
	}
	return &Error{File: name, Value: member, Err: fmt.Errorf("%w (%s to %q)", ErrLinkMember, kind, clip(target)), Want: want}
}

// linksHint is what an archive with no trace is told of its links, if it
// has any: a trace among them is held without its content.
func linksHint(links memberList, deref string) string {
	if len(links.names) == 0 {
		return ""
	}
	return "; its links, " + links.String() + ", are held without their content: make the archive with " + deref
}

// zipLink is the target of zf when it is a symbolic link (zip -y stores
// the link's target as its content), ok false for another member.
func zipLink(zf *zip.File) (target string, ok bool) {
	if zf.Mode()&fs.ModeSymlink == 0 {
		return "", false
	}
	rc, err := zf.Open()
	if err != nil {
		return "", true
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 4096))
	return string(b), true
}

// ErrNoMember is returned (wrapped in *Error) when the archive member a
// path names is not in the archive.
var ErrNoMember = errors.New("no such file in the archive")

// memberPath is an archive member's path as a trace path names it: slashes,
// without "./" or a leading "/".
func memberPath(name string) string {
	return strings.TrimPrefix(path.Clean("/"+strings.ReplaceAll(name, "\\", "/")), "/")
}

// pickedIf is mpath when no member was named (it was picked as the first
// trace), else "".
func pickedIf(member, mpath string) string {
	if member != "" {
		return ""
	}
	return mpath
}

// noMember is the error for a member not in the archive, listing (up to
// 8) the members that start as a trace.
func noMember(name, member string, traces memberList) error {
	want := "a member of the archive; none of its files starts as a trace"
	if len(traces.names) > 0 {
		want = "a member of the archive: its traces are " + traces.String()
	}
	return &Error{File: name, Value: member, Err: ErrNoMember, Want: want}
}

// shownMembers is how many of an archive's members a message names.
const shownMembers = 8

// memberList is the members of an archive a message names: the first
// shownMembers of them, clipped, and a count of the rest. An archive may
// hold millions of members, each named by up to a MiB (a PAX header), in
// a few KiB compressed: held whole, their names took 1.9 GB.
type memberList struct {
	names []string
	more  int
}

func (m *memberList) add(name string) {
	if len(m.names) == shownMembers {
		m.more++
		return
	}
	m.names = append(m.names, clip(name))
}

// String is the names, and how many more there are.
func (m memberList) String() string {
	s := strings.Join(m.names, ", ")
	if m.more > 0 {
		s += fmt.Sprintf(", and %d more", m.more)
	}
	return s
}

// noTrace is ErrArchive for an archive of these members, saying how many
// there are when not all are named (the value quoted is cut short, and
// with it the count of the rest).
func (m memberList) noTrace() error {
	if m.more == 0 {
		return ErrArchive
	}
	return fmt.Errorf("%w (%d members, the first %d named)", ErrArchive, len(m.names)+m.more, len(m.names))
}

// looksLikeTrace reports whether a file starting with head is in a format
// Load reads: a JSON array, a header it knows, or a PAI task row.
func looksLikeTrace(head []byte) bool {
	head = utf8Head(head)
	if isJSON(head) {
		return true
	}
	line := firstLine(bytes.TrimPrefix(head, []byte("\ufeff")))
	cr := csv.NewReader(bytes.NewReader(line))
	cr.Comma = separator(line)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	rec, err := cr.Read()
	return err == nil && (formatOf(loose(rec)) != "" || paiTable(rec) == "task")
}

// zipMagic starts a zip archive's local file header.
const zipMagic = "PK\x03\x04"

// zipped reports whether f starts as a zip archive; it leaves f at 0.
func zipped(f *os.File) bool {
	var head [4]byte
	n, _ := f.ReadAt(head[:], 0)
	return n == 4 && string(head[:]) == zipMagic
}

// zipMember opens the member of the zip archive f named (its path in the
// archive), or when member is "" the first that starts as a trace (as a
// tar's, decompress), passing over directories, macOS's "__MACOSX/" and
// "._" files and hidden files; name is the archive's. It returns the name
// errors give ("a.zip/dir/member.csv"), the member's content, what closes
// it, and the member picked when none was named.
func zipMember(name string, f *os.File, member string) (string, io.Reader, func() error, string, error) {
	fi, err := f.Stat()
	if err != nil {
		return name, nil, nil, "", fmt.Errorf("read trace %s: %w", name, err)
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return name, nil, nil, "", &Error{File: name, Err: err, Want: "a readable zip archive"}
	}
	var seen, traces, links memberList
	var kinds workbookParts
	for _, zf := range zr.File {
		seen.add(zf.Name)
		kinds.note(zf.Name)
		mpath := memberPath(zf.Name)
		base := path.Base(mpath)
		if target, ok := zipLink(zf); ok {
			if member != "" && mpath == member {
				return name, nil, nil, "", linkError(name, member, "a symbolic link", target, zipDeref)
			}
			links.add(fmt.Sprintf("%s (a symbolic link to %s)", clip(mpath), clip(target)))
			continue
		}
		if zf.FileInfo().IsDir() || strings.HasPrefix(zf.Name, "__MACOSX/") || strings.HasPrefix(base, ".") || zf.UncompressedSize64 == 0 {
			continue
		}
		if member != "" && mpath != member {
			if rc, err := zf.Open(); err == nil {
				head, _ := bufio.NewReaderSize(rc, 4096).Peek(4096)
				if looksLikeTrace(head) || compressedHead(head) {
					traces.add(mpath)
				}
				rc.Close()
			}
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return name, nil, nil, "", &Error{File: name + "/" + clip(mpath), Err: err, Want: "a readable zip archive"}
		}
		mb, err := pastLeadingSpace(name+"/"+clip(mpath), bufio.NewReaderSize(rc, 1<<16))
		if err != nil && member != "" {
			rc.Close()
			return name, nil, nil, "", err
		}
		if head, _ := mb.Peek(4096); err != nil || (member == "" && !looksLikeTrace(head) && !compressedHead(head)) {
			rc.Close()
			continue
		}
		return name + "/" + clip(mpath), mb, rc.Close, pickedIf(member, mpath), nil
	}
	if member != "" {
		return name, nil, nil, "", noMember(name, member, traces)
	}
	// A spreadsheet's workbook is a zip archive of XML files.
	switch {
	case kinds.xlsx:
		return name, nil, nil, "", &Error{File: name, Err: errors.New("an Excel workbook (.xlsx), which is not read"),
			Want: "its sheet saved as CSV (Excel: File > Save As > CSV UTF-8), or python3 -c \"import pandas; pandas.read_excel('" + name + "').to_csv('jobs.csv', index=False)\""}
	case kinds.mimetype && kinds.content:
		return name, nil, nil, "", &Error{File: name, Err: errors.New("an OpenDocument file (.ods), which is not read"),
			Want: "its sheet saved as CSV (LibreOffice: File > Save As > Text CSV), or soffice --headless --convert-to csv " + name}
	}
	return name, nil, nil, "", &Error{File: name, Value: seen.String(), Err: seen.noTrace(), Want: "a zip archive holding a trace file" + linksHint(links, zipDeref)}
}

// workbookParts notes which of a spreadsheet's parts a zip archive holds
// (its members' names are not all kept: memberList).
type workbookParts struct{ xlsx, mimetype, content bool }

func (w *workbookParts) note(name string) {
	switch name {
	case "xl/workbook.xml":
		w.xlsx = true
	case "mimetype":
		w.mimetype = true
	case "content.xml":
		w.content = true
	}
}

// gzipStream reads the members of gzip data one after another (gzip -d
// reads concatenated files so), and ends at zero bytes after a member, as
// gzip -d does (a file padded to a block size); anything else after a
// member is refused rather than misread as a member cut short.
type gzipStream struct {
	br *bufio.Reader
	zr *gzip.Reader
}

// errGzipTrailing is data after a gzip member that is neither another
// member nor zero padding.
var errGzipTrailing = errors.New("data after the gzip data that is not gzip (trailing garbage)")

func (g *gzipStream) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		switch {
		case err != io.EOF:
			return n, err
		case n > 0:
			return n, nil // the member's end is read again, as io.EOF alone
		}
		next, _ := g.br.Peek(2)
		switch {
		case len(next) == 0:
			return 0, io.EOF
		case len(next) == 2 && next[0] == 0x1f && next[1] == 0x8b:
			if err := g.zr.Reset(g.br); err != nil {
				return 0, err
			}
			g.zr.Multistream(false)
		case zerosToEnd(g.br):
			return 0, io.EOF
		default:
			return 0, errGzipTrailing
		}
	}
}

// endSeen is the compressed data a bzip2 reader reads, noting whether it
// asked for a byte past its end.
type endSeen struct {
	br  *bufio.Reader
	end bool
}

func (e *endSeen) Read(p []byte) (int, error) {
	n, err := e.br.Read(p)
	e.end = e.end || err == io.EOF
	return n, err
}

func (e *endSeen) ReadByte() (byte, error) {
	c, err := e.br.ReadByte()
	e.end = e.end || err == io.EOF
	return c, err
}

// bzip2Stream is bzip2 data decompressed, a file cut short read as
// io.ErrUnexpectedEOF. compress/bzip2 reads past the end of the data as
// zero bits, so a file cut inside a block reads to the block's end and
// fails its checksum ("block checksum mismatch", said as if the file were
// corrupt), where gzip says the data ends early: any failure once the
// data's end was reached (which a whole file reaches only after its last
// stream) is the file cut short.
type bzip2Stream struct {
	r   io.Reader
	src *endSeen
}

func (b *bzip2Stream) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.src.end {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// zstdMagic starts a zstd frame.
const zstdMagic = "\x28\xb5\x2f\xfd"

// MaxZstdWindow bounds the window a zstd frame may need, which the
// decoder holds in memory: zstd -19 uses 8 MiB, --long 128 MiB (27).
const MaxZstdWindow = 128 << 20

// zstdStream is zstd data decompressed: frames concatenated read one
// after another (as zstd -d reads them), a frame cut short read as
// io.ErrUnexpectedEOF, and one needing a window past MaxZstdWindow
// refused naming it.
type zstdStream struct {
	zr   *zstd.Decoder
	name string
}

func (z *zstdStream) Read(p []byte) (int, error) {
	n, err := z.zr.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		err = fmt.Errorf("a zstd frame needs a window of more than %d MiB (compressed with --long=31?): %w", MaxZstdWindow>>20, err)
	case errors.Is(err, zstd.ErrMagicMismatch):
		// The first frame's magic was seen: this is after a frame.
		err = errZstdTrailing
	}
	return n, err
}

// errZstdTrailing is data after a zstd frame that is neither another
// frame nor a skippable one.
var errZstdTrailing = errors.New("data after the zstd data that is not zstd (trailing garbage)")

// zerosToEnd reports whether r holds nothing but zero bytes to its end.
func zerosToEnd(r *bufio.Reader) bool {
	for {
		c, err := r.ReadByte()
		if err != nil {
			return err == io.EOF
		}
		if c != 0 {
			return false
		}
	}
}

// MaxExpansion bounds what a compressed trace decompresses to: at most
// MaxExpansion times the compressed bytes read, beyond the first
// expansionFloor bytes. Traces compress 5 to 60 times (the bundled ones,
// gzip -9 and bzip2 -9), and gzip (and a zip member's deflate) cannot pass
// about 1,030 times; bzip2 packs a run of one byte a million times, so a
// few hundred bytes of it would otherwise be read for hours. The floor
// is not lowered to spare memory: a synthetic trace of one row repeated
// (200,000 of "0,60,1", 1.4 MB) bzip2s to 139 bytes, 10,000 times, and a
// floor under its size would refuse it; past 16 KiB read the bound is
// MaxExpansion's anyway, and what rows a bomb holds, the job limit
// (Options.MaxJobs) bounds as it does a trace's.
const (
	MaxExpansion   = 1000
	expansionFloor = 16 << 20
)

// ErrExpansion is returned (wrapped in *Error) for compressed data that
// decompresses to more than MaxExpansion times its size.
var ErrExpansion = fmt.Errorf("decompresses to more than %d times its size (a decompression bomb?)", MaxExpansion)

// counted passes r's bytes on and counts them.
type counted struct {
	r io.Reader
	n int64
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *counted) read() int64 { return c.n }

// consumed is in less what b holds unread, when b buffers the file's own
// bytes (plain); else in.
func consumed(in func() int64, b *bufio.Reader, plain bool) func() int64 {
	if !plain {
		return in
	}
	return func() int64 { return in() - int64(b.Buffered()) }
}

// inflated passes a decompressor's output on and fails once it grows past
// MaxExpansion times in (the compressed bytes read so far) plus
// expansionFloor.
type inflated struct {
	r    io.Reader
	name string
	in   func() int64
	out  int64
	// floor is what may be read beyond MaxExpansion times in
	// (expansionFloor when 0), and refuse the error past the bound (a
	// decompression bomb's when nil).
	floor  int64
	refuse func(out, in int64) *Error
}

func (g *inflated) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.out += int64(n)
	floor := g.floor
	if floor == 0 {
		floor = expansionFloor
	}
	if in := g.in(); g.out > MaxExpansion*in+floor {
		if g.refuse != nil {
			return 0, expansionError{g.refuse(g.out, in)}
		}
		return 0, expansionError{&Error{File: g.name, Err: fmt.Errorf("%w: %d bytes from its first %d", ErrExpansion, g.out, in),
			Want: fmt.Sprintf("compressed data that decompresses to at most %d times its size; a real trace that does is read decompressed (zcat, bzcat, zstdcat, xzcat)", MaxExpansion)}}
	}
	return n, err
}

// expansionError carries an inflated's *Error through the layers that
// wrap read errors (the CSV reader's, a tar archive's), so that ReadWith
// returns it as it is (asExpansion).
type expansionError struct{ err *Error }

func (e expansionError) Error() string { return e.err.Error() }

// asExpansion is err's expansion *Error, when err is one, else err.
func asExpansion(err error) error {
	var ee expansionError
	if errors.As(err, &ee) {
		return ee.err
	}
	return err
}

// compression is a compressed format by its magic bytes, with the command
// that undoes it.
type compression struct{ magic, kind, undo string }

// unreadCompressions are formats trace datasets and their users compress
// with that are not read: without their names, such a file is an "unknown
// trace format" whose header is binary.
var unreadCompressions = []compression{
	{"\x04\x22\x4d\x18", "lz4", "lz4 -dc"},
	{"7z\xbc\xaf\x27\x1c", "7-Zip", "7z e -so"},
}

// unreadFiles are binary formats that data frames are saved in (pandas,
// Arrow, spreadsheets) that are not read: without their names, such a
// file is an "unknown trace format" whose header is binary. undo says how
// to write it as CSV.
var unreadFiles = []compression{
	{"PAR1", "Parquet data", "python3 -c \"import pandas; pandas.read_parquet('FILE').to_csv('jobs.csv', index=False)\""},
	{"ARROW1", "Arrow or Feather data", "python3 -c \"import pandas; pandas.read_feather('FILE').to_csv('jobs.csv', index=False)\""},
	{"\x89HDF\r\n\x1a\n", "HDF5 data (pandas' to_hdf)", "python3 -c \"import pandas; pandas.read_hdf('FILE').to_csv('jobs.csv', index=False)\""},
	{"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)", "its sheet saved as CSV (Excel: File > Save As > CSV UTF-8), or python3 -c \"import pandas; pandas.read_excel('FILE').to_csv('jobs.csv', index=False)\""},
}

// unreadFile is the format of the unread files head starts with, or nil.
func unreadFile(head []byte) *compression {
	for i := range unreadFiles {
		if bytes.HasPrefix(head, []byte(unreadFiles[i].magic)) {
			return &unreadFiles[i]
		}
	}
	return nil
}

// unreadCompression is the format of the unread compressions head starts
// with, or nil.
func unreadCompression(head []byte) *compression {
	for i := range unreadCompressions {
		if bytes.HasPrefix(head, []byte(unreadCompressions[i].magic)) {
			return &unreadCompressions[i]
		}
	}
	return nil
}

// compressedHead reports whether head starts gzip, bzip2, zstd or xz data
// (a compressed trace inside an archive, which decompress then reads).
func compressedHead(head []byte) bool {
	return (len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b) || bytes.HasPrefix(head, []byte("BZh")) ||
		bytes.HasPrefix(head, []byte(zstdMagic)) || bytes.HasPrefix(head, []byte(xzMagic))
}
