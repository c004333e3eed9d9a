package trace

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// xzOf is data xz-compressed by github.com/ulikunitz/xz's writer, with
// the check named (xz.None, xz.CRC32, xz.CRC64, xz.SHA256).
func xzOf(t *testing.T, data []byte, check byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := xz.WriterConfig{CheckSum: check, NoCheckSum: check == xz.None}.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestXz: an xz-compressed trace (.csv.xz, .tar.xz) is read as a zstd
// one is; it was refused with the command that decompresses it, because
// the LZMA2 decoder allocates whatever dictionary a block header names
// (up to 4 GiB) before it reads a byte. A block naming one past
// MaxXzDictionary is refused naming it, before anything is allocated;
// streams concatenated, with zero padding, read whole as xz -d reads
// them; data cut short is refused at the line reached, saying so; data
// after it that is not xz is trailing garbage; a corrupt block is
// corrupt; and one that decompresses past MaxExpansion is a bomb.
// jobs2000.csv.xz is jobs2000.csv.bz2's 2001 lines by xz 5.4.1 (-9e:
// one block, a 64 MiB dictionary, CRC64); jobs2000.blocks.csv.xz by xz
// -T2 --block-size=4KiB --check=sha256 (five blocks, their sizes in their
// headers); bad_bomb.csv.xz (xz -9e, 9,920 bytes) holds bad_bomb.csv.zst's
// 64 MiB of blank lines and a header; bad_dict.csv.xz is three lines by
// xz --lzma2=dict=4KiB whose block header was patched (its CRC32 redone)
// to name a 4 GiB dictionary, which xz -dc decodes, needing 4097 MiB;
// bad_filter.csv.xz the three lines by xz --x86 (BCJ, then LZMA2).
func TestXz(t *testing.T) {
	one := []byte(testdataFile(t, "jobs2000.csv.xz"))
	blocks := []byte(testdataFile(t, "jobs2000.blocks.csv.xz"))
	plain := []byte("submit_s,duration_s,gpus\n0,60,1\n10,600,8\n")
	corrupt := slices.Clone(one)
	corrupt[len(corrupt)/2] ^= 0x40
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tt := range []struct {
		name string
		data []byte
		jobs int    // the jobs it loads, where it loads
		want string // the start of the refusal
		is   error
	}{
		{"jobs.csv.xz", one, 2000, "", nil},
		{"blocks.csv.xz", blocks, 2000, "", nil},
		{"concatenated.csv.xz", cat(one, make([]byte, 8), blocks, make([]byte, 4)), 4000, "", nil},
		{"crc32.csv.xz", xzOf(t, plain, xz.CRC32), 2, "", nil},
		{"nocheck.csv.xz", xzOf(t, plain, xz.None), 2, "", nil},
		{"jobs.tar.xz", xzOf(t, tarred(t, [2]string{"README", "a dataset"}, [2]string{"jobs.csv", string(plain)}), xz.SHA256), 2, "", nil},
		{"member.tar", tarred(t, [2]string{"README", "a dataset"}, [2]string{"jobs.csv.xz", string(one)}), 2000, "", nil},
		{"half.csv.xz", one[:len(one)/2], 0, "half.csv.xz:", io.ErrUnexpectedEOF},
		{"blocks-half.csv.xz", blocks[:len(blocks)/2], 0, "blocks-half.csv.xz:", io.ErrUnexpectedEOF},
		{"header.csv.xz", one[:12], 0, "header.csv.xz:1: the file ends early, inside this line (cut short", io.ErrUnexpectedEOF},
		{"nofooter.csv.xz", one[:len(one)-12], 0, "nofooter.csv.xz:2002: the file ends early, inside this line (cut short", io.ErrUnexpectedEOF},
		{"garbage.csv.xz", cat(one, []byte("<html>")), 0, "garbage.csv.xz:2002: data after the xz data that is not xz (trailing garbage)", errXzTrailing},
		{"oddpadding.csv.xz", cat(one, make([]byte, 2)), 0, "oddpadding.csv.xz:2002: data after the xz data that is not xz (trailing garbage)", errXzTrailing},
		{"corrupt.csv.xz", corrupt, 0, "corrupt.csv.xz:", errXzCorrupt},
		{"bad_bomb.csv.xz", []byte(testdataFile(t, "bad_bomb.csv.xz")), 0, "bad_bomb.csv.xz: decompresses to more than 1000 times its size (a decompression bomb?)", ErrExpansion},
		{"bad_filter.csv.xz", []byte(testdataFile(t, "bad_filter.csv.xz")), 0,
			"bad_filter.csv.xz:1: an xz block whose filters are not LZMA2 alone (the first's id is 0x4, xz's --x86 or --delta?), which is not read: decompress it first with xz -dc", nil},
		{"bad_dict.csv.xz", []byte(testdataFile(t, "bad_dict.csv.xz")), 0,
			"bad_dict.csv.xz:1: an xz block needs a dictionary of more than 128 MiB: this one names 4095 MiB (xz -9 uses 64 MiB): decompress it first with xz -dc", ErrXzDictionary},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := readExpecting(t, tt.name, tt.data, tt.jobs, tt.want, tt.is)
			if tt.want == "" {
				return
			}
			if errors.Is(err, io.ErrUnexpectedEOF) != (tt.is == io.ErrUnexpectedEOF) || (tt.is == io.ErrUnexpectedEOF && !strings.Contains(err.Error(), "the file ends early, inside this line (cut short")) {
				t.Errorf("got %v: said to be cut short (or not) wrongly", err)
			}
		})
	}
}
