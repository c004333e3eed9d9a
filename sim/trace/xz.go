package trace

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// xzMagic starts an xz stream.
const xzMagic = "\xfd7zXZ\x00"

// MaxXzDictionary bounds the dictionary an xz block may name, which the
// LZMA2 decoder allocates whole before it reads a byte: xz -9 uses 64
// MiB; a block header may name 4 GiB. It is zstd's bound (MaxZstdWindow).
const MaxXzDictionary = 128 << 20

// ErrXzDictionary is returned (wrapped in *Error) for an xz block whose
// dictionary is larger than MaxXzDictionary.
var ErrXzDictionary = fmt.Errorf("an xz block needs a dictionary of more than %d MiB", MaxXzDictionary>>20)

// errXzTrailing is data after an xz stream that is neither stream
// padding (zero bytes) nor another stream.
var errXzTrailing = errors.New("data after the xz data that is not xz (trailing garbage)")

// errXzCorrupt is xz data that breaks its format.
var errXzCorrupt = errors.New("xz data invalid")

// xzStream is xz data decompressed. The container (streams, block
// headers, checks, the index) is read here, so that a block's dictionary
// size is known and bounded before github.com/ulikunitz/xz's LZMA2
// decoder allocates it (the library's own reader takes a block's size as
// a minimum, not a limit); the LZMA2 data is the library's to decode.
// Streams concatenated, and zero padding between and after them, read
// whole, as xz -d reads them; data cut short is io.ErrUnexpectedEOF.
type xzStream struct {
	br   *bufio.Reader
	name string

	inStream bool
	flags    [2]byte // the stream's flags, which its footer repeats
	check    func() hash.Hash
	checkLen int
	records  [][2]uint64 // each block's unpadded and uncompressed size

	block   io.Reader // the block's LZMA2 data decompressed; nil between blocks
	packed  *counted  // the block's compressed bytes
	sum     hash.Hash // the block's check, over what it decompresses to
	hdrLen  int
	out     uint64
	wantIn  int64 // the header's compressed size, -1 if none
	wantOut int64 // its uncompressed size, -1 if none
	err     error
}

func newXzStream(name string, br *bufio.Reader) *xzStream {
	return &xzStream{br: br, name: name}
}

func (x *xzStream) Read(p []byte) (int, error) {
	for x.err == nil {
		if x.block == nil {
			x.err = x.next()
			continue
		}
		n, err := x.block.Read(p)
		x.sum.Write(p[:n])
		x.out += uint64(n)
		switch {
		case x.wantOut >= 0 && x.out > uint64(x.wantOut):
			err = fmt.Errorf("%w: a block decompresses to more than its header's %d bytes", errXzCorrupt, x.wantOut)
		case err == io.EOF:
			err = x.endBlock()
		case err != nil && err != io.ErrUnexpectedEOF:
			err = fmt.Errorf("%w: %w", errXzCorrupt, err)
		}
		if err != nil {
			x.err = err
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, x.err
}

// next reads up to the next block's data: a stream's header, or padding
// and the next stream's, or a stream's index and footer, and then a block
// header. It is io.EOF at the end of the data.
func (x *xzStream) next() error {
	if !x.inStream {
		return x.streamHeader()
	}
	c, err := x.br.ReadByte()
	if err != nil {
		return cutShort(err)
	}
	if c == 0 {
		return x.index()
	}
	return x.blockHeader(c)
}

// cutShort is err of a read inside xz data, the data ending there said
// as io.ErrUnexpectedEOF.
func cutShort(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// xzCheckLen are the sizes of the checks a stream may name, by its check
// type (the xz file format, 2.1.1.2).
var xzCheckLen = [16]int{0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64}

func (x *xzStream) streamHeader() error {
	// Stream padding (groups of four zero bytes), the end, or a stream.
	var head [12]byte
	for {
		n, err := io.ReadFull(x.br, head[:4])
		switch {
		case n == 0 && err == io.EOF:
			return io.EOF
		case n == 4 && allZero(head[:4]):
			continue
		case !bytes.HasPrefix([]byte(xzMagic), head[:n]):
			return errXzTrailing
		case err != nil:
			return cutShort(err)
		}
		break
	}
	n, err := io.ReadFull(x.br, head[4:])
	if !bytes.HasPrefix([]byte(xzMagic), head[:min(6, 4+n)]) {
		return errXzTrailing
	}
	if err != nil {
		return cutShort(err)
	}
	if crc32.ChecksumIEEE(head[6:8]) != binary.LittleEndian.Uint32(head[8:]) {
		return fmt.Errorf("%w: the stream header's checksum does not match", errXzCorrupt)
	}
	if head[6] != 0 || head[7] > 0x0f {
		return fmt.Errorf("%w: stream flags %#02x%02x name a feature this reader does not know (want those of xz 5)", errXzCorrupt, head[6], head[7])
	}
	switch head[7] {
	case 0x00:
		x.check = func() hash.Hash { return noCheck{} }
	case 0x01:
		x.check = func() hash.Hash { return crc32.NewIEEE() }
	case 0x04:
		x.check = func() hash.Hash { return crc64.New(crc64Table) }
	case 0x0a:
		x.check = sha256.New
	default:
		return fmt.Errorf("%w: check type %#x, which xz does not write (want none, CRC32, CRC64 or SHA-256)", errXzCorrupt, head[7])
	}
	x.checkLen = xzCheckLen[head[7]]
	x.flags = [2]byte{head[6], head[7]}
	x.inStream, x.records = true, x.records[:0]
	return nil
}

var crc64Table = crc64.MakeTable(crc64.ECMA)

// xzSum is h's sum as xz writes it: a CRC little-endian.
func xzSum(h hash.Hash) []byte {
	switch h := h.(type) {
	case hash.Hash32:
		return binary.LittleEndian.AppendUint32(nil, h.Sum32())
	case hash.Hash64:
		return binary.LittleEndian.AppendUint64(nil, h.Sum64())
	}
	return h.Sum(nil)
}

// noCheck is the check of a stream that has none.
type noCheck struct{}

func (noCheck) Write(p []byte) (int, error) { return len(p), nil }
func (noCheck) Sum(b []byte) []byte         { return b }
func (noCheck) Reset()                      {}
func (noCheck) Size() int                   { return 0 }
func (noCheck) BlockSize() int              { return 1 }

// blockHeader reads a block header whose first byte is size, and starts
// decoding its data. A filter other than LZMA2 alone (xz's BCJ and delta
// filters, which xz writes only when asked) is refused, and so is a
// dictionary larger than MaxXzDictionary.
func (x *xzStream) blockHeader(size byte) error {
	hdr := make([]byte, (int(size)+1)*4)
	hdr[0] = size
	if _, err := io.ReadFull(x.br, hdr[1:]); err != nil {
		return cutShort(err)
	}
	body := hdr[:len(hdr)-4]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(hdr[len(hdr)-4:]) {
		return fmt.Errorf("%w: a block header's checksum does not match", errXzCorrupt)
	}
	flags := body[1]
	if flags&0x3c != 0 {
		return fmt.Errorf("%w: block flags %#02x name a feature this reader does not know", errXzCorrupt, flags)
	}
	r := bytes.NewReader(body[2:])
	x.wantIn, x.wantOut = -1, -1
	for _, f := range []struct {
		bit  byte
		into *int64
	}{{0x40, &x.wantIn}, {0x80, &x.wantOut}} {
		if flags&f.bit == 0 {
			continue
		}
		v, err := xzVarint(r)
		if err != nil || v > 1<<62 {
			return fmt.Errorf("%w: a block header's size field is malformed", errXzCorrupt)
		}
		*f.into = int64(v)
	}
	filters := int(flags&3) + 1
	id, err1 := xzVarint(r)
	props, err2 := xzVarint(r)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("%w: a block header's filter is malformed", errXzCorrupt)
	}
	if filters != 1 || id != 0x21 {
		return fmt.Errorf("an xz block whose filters are not LZMA2 alone (the first's id is %#x, xz's --x86 or --delta?), which is not read: decompress it first with xz -dc", id)
	}
	dict, err := r.ReadByte()
	if props != 1 || err != nil || dict > 40 {
		return fmt.Errorf("%w: the LZMA2 filter's properties are malformed", errXzCorrupt)
	}
	for r.Len() > 0 {
		if c, _ := r.ReadByte(); c != 0 {
			return fmt.Errorf("%w: a block header's padding is not zero", errXzCorrupt)
		}
	}
	// The dictionary size (the xz file format, 5.3.1): 2 or 3 times a
	// power of two from 4 KiB, the largest 4 GiB - 1.
	size64 := uint64(0xffffffff)
	if dict < 40 {
		size64 = uint64(2|dict&1) << (dict/2 + 11)
	}
	if size64 > MaxXzDictionary {
		return fmt.Errorf("%w: this one names %d MiB (xz -9 uses 64 MiB): decompress it first with xz -dc", ErrXzDictionary, size64>>20)
	}
	// A block's matches reach back no further than its own start, so a
	// block whose header gives its size needs no larger a dictionary
	// (xz -T writes the sizes): a 20 KB block of xz -9 (64 MiB) allocates 20 KB.
	if x.wantOut >= 0 && uint64(x.wantOut) < size64 {
		size64 = uint64(x.wantOut)
	}
	x.packed = &counted{r: x.br}
	lr, err := lzma.Reader2Config{DictCap: max(int(size64), lzma.MinDictCap)}.NewReader2(x.packed)
	if err != nil {
		return fmt.Errorf("%w: %w", errXzCorrupt, err)
	}
	x.block, x.sum, x.hdrLen, x.out = lr, x.check(), len(hdr), 0
	return nil
}

// endBlock reads a block's padding and check once its data is read.
func (x *xzStream) endBlock() error {
	in := x.packed.n
	switch {
	case x.wantIn >= 0 && in != x.wantIn:
		return fmt.Errorf("%w: a block's compressed size is not its header's", errXzCorrupt)
	case x.wantOut >= 0 && x.out != uint64(x.wantOut):
		return fmt.Errorf("%w: a block's uncompressed size is not its header's", errXzCorrupt)
	}
	tail := make([]byte, (4-in%4)%4+int64(x.checkLen))
	if _, err := io.ReadFull(x.br, tail); err != nil {
		return cutShort(err)
	}
	pad := len(tail) - x.checkLen
	if !allZero(tail[:pad]) {
		return fmt.Errorf("%w: a block's padding is not zero", errXzCorrupt)
	}
	if !bytes.Equal(tail[pad:], xzSum(x.sum)) {
		return fmt.Errorf("%w: a block's check does not match its data", errXzCorrupt)
	}
	x.records = append(x.records, [2]uint64{uint64(x.hdrLen) + uint64(in) + uint64(x.checkLen), x.out})
	x.block = nil
	return nil
}

// index reads a stream's index (its indicator read) and footer, each
// record checked against the block read.
func (x *xzStream) index() error {
	crc := crc32.NewIEEE()
	crc.Write([]byte{0})
	r := &hashedBytes{br: x.br, h: crc, n: 1}
	count, err := xzVarint(r)
	if err != nil {
		return cutShort(err)
	}
	if count != uint64(len(x.records)) {
		return fmt.Errorf("%w: the index counts %d blocks where the stream has %d", errXzCorrupt, count, len(x.records))
	}
	for _, rec := range x.records {
		for _, want := range rec {
			v, err := xzVarint(r)
			if err != nil {
				return cutShort(err)
			}
			if v != want {
				return fmt.Errorf("%w: the index does not match the blocks", errXzCorrupt)
			}
		}
	}
	for r.n%4 != 0 {
		c, err := r.ReadByte()
		if err != nil {
			return cutShort(err)
		}
		if c != 0 {
			return fmt.Errorf("%w: the index's padding is not zero", errXzCorrupt)
		}
	}
	var tail [16]byte
	if _, err := io.ReadFull(x.br, tail[:]); err != nil {
		return cutShort(err)
	}
	foot := tail[4:]
	switch {
	case binary.LittleEndian.Uint32(tail[:4]) != crc.Sum32():
		return fmt.Errorf("%w: the index's checksum does not match", errXzCorrupt)
	case crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot[:4]),
		string(foot[10:]) != "YZ", [2]byte(foot[8:10]) != x.flags,
		int64(binary.LittleEndian.Uint32(foot[4:8])+1)*4 != r.n+4:
		return fmt.Errorf("%w: the stream footer does not match its header and index", errXzCorrupt)
	}
	x.inStream = false
	return nil
}

// hashedBytes reads bytes of br, hashing and counting them.
type hashedBytes struct {
	br *bufio.Reader
	h  hash.Hash
	n  int64
}

func (r *hashedBytes) ReadByte() (byte, error) {
	c, err := r.br.ReadByte()
	if err == nil {
		r.h.Write([]byte{c})
		r.n++
	}
	return c, err
}

// xzVarint reads a multibyte integer of the xz format: 7 bits a byte,
// low first, at most 9 bytes, none of them a needless zero.
func xzVarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := range 9 {
		c, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				break
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: a malformed number", errXzCorrupt)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
