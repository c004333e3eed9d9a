package trace

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zipOf is a zip archive of the files, in order.
func zipOf(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tarred is a tar archive of the files, in order (a name ending in "/" is
// a directory).
func tarred(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		hdr := &tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(f[0], "/") {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCompressed: a trace gzipped, bzip2ed or in a tar archive (as the
// datasets ship) loads as the file itself does; the tar's member is the
// first regular file that is not macOS's resource file; a PAI task
// table's job table may be gzipped beside it; and what holds no trace, or
// decompresses to one endless line, is refused.
func TestCompressed(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join("testdata", "generic.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Read("generic.csv", bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	bz, err := os.ReadFile(filepath.Join("testdata", "generic.csv.bz2"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, traceName string
		data            []byte
	}{
		{"generic.csv.gz", "generic.csv.gz", gzipped(t, plain)},
		{"generic.csv.bz2", "generic.csv.bz2", bz},
		{"generic.tar.gz", "generic.tar.gz/data/generic.csv", gzipped(t, tarred(t, [2]string{"data/", ""}, [2]string{"data/._generic.csv", "\x00\x05\x16\x07"}, [2]string{"data/generic.csv", string(plain)}))},
		{"generic.tar", "generic.tar/generic.csv", tarred(t, [2]string{"generic.csv", string(plain)})},
		// gzip files concatenated, and gzip data padded with zeros to a
		// block size, which gzip -d reads whole: the padding was refused
		// ("gzip: invalid header").
		{"split.csv.gz", "split.csv.gz", append(gzipped(t, plain[:17]), gzipped(t, plain[17:])...)},
		{"padded.csv.gz", "padded.csv.gz", append(gzipped(t, plain), make([]byte, 1024)...)},
	} {
		tr, err := Read(tt.name, bytes.NewReader(tt.data))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if tr.Name != tt.traceName || !slices.Equal(tr.Jobs, want.Jobs) || !tr.Start.Equal(want.Start) {
			t.Errorf("%s: name %q jobs %v start %s, want %q %v %s", tt.name, tr.Name, tr.Jobs, tr.Start, tt.traceName, want.Jobs, want.Start)
		}
	}

	// Philly's tarball: its job log after files that are not traces.
	log := testdataFile(t, "philly_log.json")
	philly, err := Read("cluster_job_log", strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	tgz := gzipped(t, tarred(t, [2]string{"trace-data/", ""},
		[2]string{"trace-data/cluster_cpu_util", "time,machine_id,cpu_util\n2017-10-03 00:00:00 PST,m1,10\n"},
		[2]string{"trace-data/cluster_machine_list", "machineId,number of GPUs,single GPU mem\nm1,8,24GB\n"},
		[2]string{"trace-data/cluster_job_log", log}))
	tr, err := Read("trace-data.tar.gz", bytes.NewReader(tgz))
	if err != nil || tr.Name != "trace-data.tar.gz/trace-data/cluster_job_log" || tr.Picked != "trace-data/cluster_job_log" || !slices.Equal(tr.Jobs, philly.Jobs) {
		t.Errorf("Philly's tarball: %v (%v), want the job log's %v", tr, err, philly.Jobs)
	}

	// A tar holding a gzipped trace, and zip archives (read from their
	// paths) holding a plain or a gzipped one after files that are not.
	tr, err = Read("nested.tar", bytes.NewReader(tarred(t, [2]string{"generic.csv.gz", string(gzipped(t, plain))})))
	if err != nil || tr.Name != "nested.tar/generic.csv.gz" || !slices.Equal(tr.Jobs, want.Jobs) {
		t.Errorf("a gzipped trace in a tar: %v (%v)", tr, err)
	}
	zdir := t.TempDir()
	for _, tt := range []struct {
		member string
		data   []byte
	}{{"generic.csv", plain}, {"generic.csv.gz", gzipped(t, plain)}} {
		zb := zipOf(t, [2]string{"__MACOSX/data/._" + tt.member, "\x00\x05"}, [2]string{"data/readme.txt", "The trace of a cluster.\n"}, [2]string{"data/" + tt.member, string(tt.data)})
		zp := filepath.Join(zdir, "trace.zip")
		if err := os.WriteFile(zp, zb, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := Load(zp)
		if err != nil || tr.Name != "trace.zip/data/"+tt.member || !slices.Equal(tr.Jobs, want.Jobs) {
			t.Errorf("zip with %s: %v (%v)", tt.member, tr, err)
		}
		if note := "data/" + tt.member + " is the first trace file in trace.zip; another is read by naming it after the archive (" + zp + "/PATH)"; err == nil && !slices.Contains(tr.Notes, note) {
			t.Errorf("zip with %s: notes %q, want %q", tt.member, tr.Notes, note)
		}
		if _, err := Read("trace.zip", bytes.NewReader(zb)); err == nil || !strings.Contains(err.Error(), "a zip archive read as a stream") {
			t.Errorf("zip as a stream: got %v", err)
		}
	}

	zp := filepath.Join(zdir, "readme.zip")
	if err := os.WriteFile(zp, zipOf(t, [2]string{"readme.txt", "no jobs here\n"}), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(zp); !errors.Is(err, ErrArchive) || !strings.HasPrefix(err.Error(), `readme.zip: "readme.txt": no trace in the archive`) {
		t.Errorf("zip with no trace: got %v", err)
	}

	// A PAI task table and its gzipped job table, as shipped.
	dir := t.TempDir()
	for _, f := range []string{"pai_task_table.csv", "pai_job_table.csv"} {
		data, err := os.ReadFile(filepath.Join("testdata", "pai", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "pai_job_table.csv" {
			f, data = f+".gz", gzipped(t, data)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err = Load(filepath.Join(dir, "pai_task_table.csv"))
	if err != nil || len(tr.Notes) != 1 || !strings.HasPrefix(tr.Notes[0], "submits from pai_job_table.csv.gz: 3 of the 5 tasks") {
		t.Errorf("PAI with a gzipped job table: notes %q (%v)", tr.Notes, err)
	}

	// Or as its tarball ships (pai_job_table.tar.gz, the table alone,
	// which is no trace): the load failed, "no trace in the archive".
	jobs, err := os.ReadFile(filepath.Join("testdata", "pai", "pai_job_table.csv"))
	if err != nil {
		t.Fatal(err)
	}
	tdir := t.TempDir()
	task, err := os.ReadFile(filepath.Join("testdata", "pai", "pai_task_table.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for f, data := range map[string][]byte{"pai_task_table.csv": task, "pai_job_table.tar.gz": gzipped(t, tarred(t, [2]string{"pai_job_table.csv", string(jobs)}))} {
		if err := os.WriteFile(filepath.Join(tdir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if tr, err := Load(filepath.Join(tdir, "pai_task_table.csv")); err != nil {
		t.Errorf("PAI with its job table's tarball: %v", err)
	} else if len(tr.Notes) != 1 || !strings.HasPrefix(tr.Notes[0], "submits from pai_job_table.tar.gz: 3 of the 5 tasks") {
		t.Errorf("PAI with its job table's tarball: notes %q", tr.Notes)
	}

	for _, tt := range []struct {
		name string
		data []byte
		want string
		is   error
	}{
		{"empty.tar", tarred(t, [2]string{"data/", ""}, [2]string{"data/._x.csv", "\x00"}), `empty.tar: "data/, data/._x.csv": no trace in the archive (want a tar archive holding a trace file)`, ErrArchive},
		{"util.tar", tarred(t, [2]string{"cluster_gpu_util", "time,machineId,gpu0_util\n"}, [2]string{"cluster_machine_list", "machineId,number of GPUs\n"}),
			`util.tar: "cluster_gpu_util, cluster_machine_list": no trace in the archive (want a tar archive holding a trace file)`, ErrArchive},
		{"zeros.gz", gzipped(t, make([]byte, 1<<20)), "zeros.gz:1: empty file: 1048576 NUL bytes and nothing else (want a CSV header line)", errEmptyFile},
		{"bad.gz", []byte{0x1f, 0x8b, 0, 0}, "bad.gz: unexpected EOF (want gzip data, as its first bytes say)", nil},
		{"cut.gz", gzipped(t, plain)[:40], "cut.gz:1: the file ends early, inside this line (cut short: a download or copy that did not finish?): unexpected EOF (want a file that reads to its end (compressed ones whole and uncorrupted))", io.ErrUnexpectedEOF},
		// Not gzip after gzip data: "unexpected EOF", as if it were cut.
		{"garbage.gz", append(gzipped(t, plain), "<html>"...), "garbage.gz:4: data after the gzip data that is not gzip (trailing garbage) (want a file that reads to its end", errGzipTrailing},
		// Compressions not read were an "unknown trace format" with a
		// header of binary bytes.
		{"jobs.csv.lz4", []byte("\x04\x22\x4d\x18\x64\x40\xa7\x00\x00\x00\x00"),
			"jobs.csv.lz4: lz4-compressed data, which is not read (want a trace as it is, gzipped, bzip2ed, zstd- or xz-compressed, or in a tar or zip archive: decompress it first with lz4 -dc)", nil},
		// A few hundred bytes of bzip2 that decompress to 256 MiB of
		// blank lines (and a job), or to a tar whose first member is 256
		// MiB of zeros, were read to their end: a larger one ran for hours.
		{"bad_bomb.csv.bz2", []byte(testdataFile(t, "bad_bomb.csv.bz2")),
			"bad_bomb.csv.bz2: decompresses to more than 1000 times its size (a decompression bomb?): 16908288 bytes from its first 74 ", ErrExpansion},
		{"bad_bomb.tar.bz2", []byte(testdataFile(t, "bad_bomb.tar.bz2")),
			"bad_bomb.tar.bz2: decompresses to more than 1000 times its size (a decompression bomb?): 16908288 bytes from its first 120 ", ErrExpansion},
	} {
		_, err := Read(tt.name, bytes.NewReader(tt.data))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
			t.Errorf("%s: got %v, want %s…", tt.name, err, tt.want)
		}
	}
}

// TestCompressedCutShort: a compressed trace cut short (a download that
// did not finish) is refused at the line it ends in, saying so: it was
// "unexpected EOF" naming no line, which reads as a bug in the reader
// rather than a file to fetch again.
func TestCompressedCutShort(t *testing.T) {
	var plain bytes.Buffer
	plain.WriteString("submit_s,duration_s,gpus\n")
	for i := range 20000 {
		fmt.Fprintf(&plain, "%d,%d,%d\n", i, 60+i%97, 1+i%8)
	}
	gz := gzipped(t, plain.Bytes())
	for _, tt := range []struct {
		name     string
		cut      int
		min, max int
	}{
		{"half", len(gz) / 2, 100, 20001},
		{"all but the footer", len(gz) - 8, 20002, 20002},
		{"the header only", 12, 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read("jobs.csv.gz", bytes.NewReader(gz[:tt.cut]))
			var te *Error
			if !errors.As(err, &te) || !errors.Is(err, io.ErrUnexpectedEOF) || te.Line < tt.min || te.Line > tt.max ||
				!strings.Contains(err.Error(), fmt.Sprintf("jobs.csv.gz:%d: the file ends early, inside this line (cut short", te.Line)) {
				t.Errorf("got %v; want the line (%d to %d) it ends in, saying it is cut short", err, tt.min, tt.max)
			}
		})
	}
}

// TestBzip2CutShort: a bzip2 trace cut inside a block (a download that
// did not finish) is refused as cut short at the line reached, as gzip's
// is: compress/bzip2 reads past the data's end as zeros, and it was
// "bzip2 data invalid: block checksum mismatch" at line 1, which says the
// file is corrupt. jobs2000.csv.bz2 is one block of 2001 lines (python3's
// bz2.compress, level 9). A whole file corrupted inside its block is still
// said to be corrupt.
func TestBzip2CutShort(t *testing.T) {
	bz := []byte(testdataFile(t, "jobs2000.csv.bz2"))
	if _, err := Read("jobs.csv.bz2", bytes.NewReader(bz)); err != nil {
		t.Fatalf("the whole file: %v", err)
	}
	corrupt := slices.Clone(bz)
	corrupt[len(corrupt)/2] ^= 0x40
	for _, tt := range []struct {
		name string
		data []byte
		want string
		cut  bool
	}{
		{"half", bz[:len(bz)/2], "jobs.csv.bz2:1: the file ends early, inside this line (cut short", true},
		{"the block's first bytes", bz[:40], "jobs.csv.bz2:1: the file ends early, inside this line (cut short", true},
		{"all but the stream's checksum", bz[:len(bz)-4], "jobs.csv.bz2:2002: the file ends early, inside this line (cut short", true},
		{"a bit flipped", corrupt, "jobs.csv.bz2:1: bzip2 data invalid", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read("jobs.csv.bz2", bytes.NewReader(tt.data))
			var te *Error
			if !errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) != tt.cut || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %v\nwant %s…", err, tt.want)
			}
		})
	}
}

// TestZstd: a zstd-compressed trace (.csv.zst, .tar.zst: zstd is how
// many datasets and logs are kept now) is read as gzip's is; it was
// refused with the command that decompresses it. Its frames concatenated
// read whole, as zstd -d reads them; one cut short (a download that did
// not finish) is refused at the line reached, saying so; data after it
// that is not zstd is refused as trailing garbage; one that decompresses
// past MaxExpansion is a bomb; and a frame that needs a window past
// MaxZstdWindow (which the decoder would hold in memory: up to 3.75 TiB)
// is refused naming it. jobs2000.csv.zst is jobs2000.csv.bz2's 2001 lines
// by the zstd CLI 1.5.4 (-19); bad_bomb.csv.zst 2 KiB holding 64 MiB of
// blank lines and a header.
func TestZstd(t *testing.T) {
	zst := []byte(testdataFile(t, "jobs2000.csv.zst"))
	var enc bytes.Buffer
	zw, err := zstd.NewWriter(&enc)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(tarred(t, [2]string{"README", "a dataset"}, [2]string{"jobs.csv", "submit_s,duration_s,gpus\n0,60,1\n10,600,8\n"}))
	zw.Close()
	// A frame header naming a 2 GiB window (zstd --long=31), and one
	// empty raw block, the last.
	wide := []byte("\x28\xb5\x2f\xfd\x00\xa8\x01\x00\x00")
	for _, tt := range []struct {
		name string
		data []byte
		jobs int    // the jobs it loads, where it loads
		want string // the start of the refusal
		is   error
	}{
		{"jobs.csv.zst", zst, 2000, "", nil},
		{"concatenated.csv.zst", append(slices.Clone(zst), zst...), 4000, "", nil},
		{"jobs.tar.zst", enc.Bytes(), 2, "", nil},
		{"half.csv.zst", zst[:len(zst)/2], 0, "half.csv.zst:", io.ErrUnexpectedEOF},
		{"header.csv.zst", zst[:12], 0, "header.csv.zst:1: the file ends early, inside this line (cut short", io.ErrUnexpectedEOF},
		{"garbage.csv.zst", append(slices.Clone(zst), "<html>"...), 0, "garbage.csv.zst:2002: data after the zstd data that is not zstd (trailing garbage)", errZstdTrailing},
		{"bad_bomb.csv.zst", []byte(testdataFile(t, "bad_bomb.csv.zst")), 0, "bad_bomb.csv.zst: decompresses to more than 1000 times its size (a decompression bomb?)", ErrExpansion},
		{"wide.csv.zst", wide, 0, "wide.csv.zst:1: a zstd frame needs a window of more than 128 MiB (compressed with --long=31?)", zstd.ErrWindowSizeExceeded},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := readExpecting(t, tt.name, tt.data, tt.jobs, tt.want, tt.is)
			if tt.want == "" {
				return
			}
			if errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "the file ends early, inside this line (cut short") {
				t.Errorf("got %v: not said to be cut short", err)
			}
		})
	}
}

// FuzzCompressed: any bytes read as a possibly compressed or archived
// trace load within bounds or are refused with a *trace.Error.
func FuzzCompressed(f *testing.F) {
	plain := []byte("submit_s,duration_s,gpus\n0,60,1\n10,600,8\n")
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "a.csv", Mode: 0o644, Size: int64(len(plain)), Typeflag: tar.TypeReg})
	tw.Write(plain)
	tw.Close()
	for _, d := range [][]byte{plain, tb.Bytes()} {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(d)
		zw.Close()
		f.Add(zb.Bytes())
	}
	f.Add(tb.Bytes())
	// Members with PAX records and a GNU long name (tarHeaders counts them).
	var pb bytes.Buffer
	pw := tar.NewWriter(&pb)
	pw.WriteHeader(&tar.Header{Name: "notes.txt", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg, PAXRecords: map[string]string{"comment": "x"}, Format: tar.FormatPAX})
	pw.Write([]byte("x"))
	pw.WriteHeader(&tar.Header{Name: strings.Repeat("d/", 60) + "a.csv", Mode: 0o644, Size: int64(len(plain)), Typeflag: tar.TypeReg, Format: tar.FormatGNU})
	pw.Write(plain)
	pw.Close()
	f.Add(pb.Bytes())
	f.Add([]byte(testdataFile(f, "generic.csv.bz2")))
	bz := []byte(testdataFile(f, "jobs2000.csv.bz2"))
	f.Add(bz[:len(bz)/2]) // cut inside its block
	zst := []byte(testdataFile(f, "jobs2000.csv.zst"))
	f.Add(zst)
	f.Add(zst[:len(zst)/2])
	f.Add([]byte("\x28\xb5\x2f\xfd\x00\xa8\x01\x00\x00"))
	xzd := []byte(testdataFile(f, "jobs2000.blocks.csv.xz"))
	f.Add(xzd)
	f.Add(xzd[:len(xzd)/2])
	f.Add([]byte(testdataFile(f, "bad_dict.csv.xz")))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, "fuzz.gz", string(data))
	})
}

// TestArchiveMember: a path that runs on past an archive names the member
// to read (Helios ships one cluster_log.csv per cluster in one tarball);
// without it the first trace file is read, and a note says which and how
// to name another. A member not in the archive is refused with its traces.
func TestArchiveMember(t *testing.T) {
	venus := "submit_s,duration_s,gpus\n0,60,1\n"
	saturn := "submit_s,duration_s,gpus\n0,60,8\n30,60,8\n"
	files := [][2]string{{"./helios/", ""}, {"./helios/venus/cluster_log.csv", venus}, {"./helios/venus/cluster_gpu_number.csv", "vc,gpu_num\nvc1,8\n"},
		{"./helios/saturn/cluster_log.csv", saturn}, {"./helios/saturn/._cluster_log.csv", "\x00\x05"}}
	dir := t.TempDir()
	tgz := filepath.Join(dir, "helios.tar.gz")
	if err := os.WriteFile(tgz, gzipped(t, tarred(t, files...)), 0o644); err != nil {
		t.Fatal(err)
	}
	var zfiles [][2]string
	for _, f := range files[1:] {
		zfiles = append(zfiles, [2]string{strings.TrimPrefix(f[0], "./"), f[1]})
	}
	zp := filepath.Join(dir, "helios.zip")
	if err := os.WriteFile(zp, zipOf(t, zfiles...), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, archive := range []string{tgz, zp} {
		base := filepath.Base(archive)
		tr, err := Load(archive)
		if err != nil || len(tr.Jobs) != 1 || tr.Name != base+"/helios/venus/cluster_log.csv" || tr.Picked != "helios/venus/cluster_log.csv" ||
			!slices.Contains(tr.Notes, "helios/venus/cluster_log.csv is the first trace file in "+base+"; another is read by naming it after the archive ("+archive+"/PATH)") {
			t.Errorf("%s: %+v (%v), want venus's one job, named, with a note", base, tr, err)
		}
		tr, err = Load(archive + "/helios/saturn/cluster_log.csv")
		if err != nil || len(tr.Jobs) != 2 || tr.Name != base+"/helios/saturn/cluster_log.csv" || tr.Picked != "" || len(tr.Notes) != 0 {
			t.Errorf("%s/helios/saturn/cluster_log.csv: %+v (%v), want saturn's two jobs, no note", base, tr, err)
		}
		_, err = Load(archive + "/helios/earth/cluster_log.csv")
		if !errors.Is(err, ErrNoMember) || !strings.Contains(err.Error(), `"helios/earth/cluster_log.csv": no such file in the archive (want a member of the archive: its traces are helios/venus/cluster_log.csv, helios/saturn/cluster_log.csv)`) {
			t.Errorf("a member not in %s: %v", base, err)
		}
	}
	// A hostile member name (a PAX header may hold any length) is cut
	// short wherever it is shown.
	long := "d/" + strings.Repeat("x", 100000) + ".csv"
	lp := filepath.Join(dir, "long.tar")
	if err := os.WriteFile(lp, tarred(t, [2]string{long, venus}), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := Load(lp)
	if err != nil {
		t.Fatalf("a long member name: %v", err)
	}
	if len(tr.Name) > 400 || len(strings.Join(tr.Notes, "")) > 800 {
		t.Errorf("a long member name: name of %d bytes, notes of %d (%v); want both short", len(tr.Name), len(strings.Join(tr.Notes, "")), err)
	}
	if _, err := Load(lp + "/nope.csv"); !errors.Is(err, ErrNoMember) || len(err.Error()) > 800 {
		t.Errorf("a long member listed: %d bytes (%v)", len(err.Error()), errors.Is(err, ErrNoMember))
	}

	// A path past a file that is no archive is that file's error, and a
	// path past nothing is the open error it always was.
	plain := filepath.Join(dir, "jobs.csv")
	if err := os.WriteFile(plain, []byte(venus), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(plain + "/x.csv"); err == nil || !strings.Contains(err.Error(), `jobs.csv: "x.csv": names a file inside jobs.csv, which is not a tar or zip archive (want the path of a trace, or of an archive followed by its member's path)`) {
		t.Errorf("a member of a plain file: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing", "x.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a path past nothing: %v", err)
	}
}

// TestUnreadFiles: a data frame saved as Parquet, Feather or HDF5, or a
// spreadsheet's workbook, was an unknown trace format quoting its binary
// first bytes, or for a workbook (a zip archive of XML) "no trace in the
// archive" listing its parts; each is named, with how to save it as CSV.
func TestUnreadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"jobs.parquet", []byte("PAR1\x15\x04\x15\x10\x15\x14L\x15\x02"), `jobs.parquet: Parquet data, which is not read (want a trace as CSV: python3 -c "import pandas; pandas.read_parquet('jobs.parquet').to_csv('jobs.csv', index=False)")`},
		{"jobs.feather", []byte("ARROW1\x00\x00\xff\xff\xff\xff"), `jobs.feather: Arrow or Feather data, which is not read (want a trace as CSV: python3 -c "import pandas; pandas.read_feather('jobs.feather')`},
		{"jobs.h5", []byte("\x89HDF\r\n\x1a\n\x00\x00\x00\x00"), `jobs.h5: HDF5 data (pandas' to_hdf), which is not read (want a trace as CSV: python3 -c "import pandas; pandas.read_hdf('jobs.h5')`},
		{"jobs.xls", []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00"), `jobs.xls: an Excel 97-2003 workbook (.xls), which is not read (want a trace as CSV: its sheet saved as CSV (Excel: File > Save As > CSV UTF-8)`},
		{"jobs.xlsx", zipOf(t, [2]string{"[Content_Types].xml", "<Types/>"}, [2]string{"xl/workbook.xml", "<workbook/>"}, [2]string{"xl/worksheets/sheet1.xml", "<worksheet/>"}),
			`jobs.xlsx: an Excel workbook (.xlsx), which is not read (want its sheet saved as CSV (Excel: File > Save As > CSV UTF-8), or python3 -c "import pandas; pandas.read_excel('jobs.xlsx').to_csv('jobs.csv', index=False)")`},
		{"jobs.ods", zipOf(t, [2]string{"mimetype", "application/vnd.oasis.opendocument.spreadsheet"}, [2]string{"content.xml", "<office:document-content/>"}),
			`jobs.ods: an OpenDocument file (.ods), which is not read (want its sheet saved as CSV (LibreOffice: File > Save As > Text CSV), or soffice --headless --convert-to csv jobs.ods)`},
	} {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if te := (*Error)(nil); !errors.As(err, &te) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %s…", tt.name, err, tt.want)
		}
	}
}

// TestBombRefusedWhereSeen: a bomb of empty lines (the testdata's: 64 MiB
// of them, then a header) is refused where the reader past a file's
// leading white space meets its expansion error. That reader took the
// error for the file's end and gave the empty lines it had counted back
// to the CSV reader, which read them one by one (some 19 million) to meet
// the error again: bad_bomb.csv.zst took 1.9 s to refuse on a loaded
// 2-core machine, 0.3 s now (BenchmarkBomb). (bad_bomb.csv.bz2 has its
// header first: its empty lines are the CSV reader's to read.)
func TestBombRefusedWhereSeen(t *testing.T) {
	for _, name := range []string{"bad_bomb.csv.zst", "bad_bomb.csv.xz"} {
		t.Run(name, func(t *testing.T) {
			_, r, _, err := decompress(name, strings.NewReader(testdataFile(t, name)), "")
			if err != nil {
				t.Fatal(err)
			}
			br, err := pastLeadingSpace(name, bufio.NewReaderSize(r, 1<<16))
			var te *Error
			if !errors.As(err, &te) || !errors.Is(err, ErrExpansion) || br != nil {
				t.Errorf("got %v (a reader: %t), want ErrExpansion and no reader", err, br != nil)
			}
		})
	}
}

// TestBombSaysWhatItRead: a bomb's message counted the 64 KiB its buffer
// had read ahead of the decompressor as read ("17 MB from its first
// 65536" of a 258-byte bzip2 bomb followed by anything), and its bound let
// 1,000 times that more through (82 MB). It counts what the decompressor
// took: at most the bomb's own bytes.
func TestBombSaysWhatItRead(t *testing.T) {
	for _, name := range []string{"bad_bomb.csv.bz2", "bad_bomb.csv.zst", "bad_bomb.csv.xz", "bad_bomb.tar.bz2"} {
		t.Run(name, func(t *testing.T) {
			bomb := testdataFile(t, name)
			_, err := Read(name, strings.NewReader(bomb+strings.Repeat("\x00", 256<<10)))
			var te *Error
			var out, in int64
			if !errors.As(err, &te) || !errors.Is(err, ErrExpansion) {
				t.Fatalf("got %v, want ErrExpansion", err)
			}
			if _, serr := fmt.Sscanf(te.Err.Error()[len(ErrExpansion.Error()):], ": %d bytes from its first %d", &out, &in); serr != nil || in > int64(len(bomb)) || out > MaxExpansion*int64(len(bomb))+expansionFloor+1<<20 {
				t.Errorf("%v: want at most its %d bytes read, and at most %d decompressed", err, len(bomb), MaxExpansion*len(bomb)+expansionFloor)
			}
		})
	}
}

// BenchmarkBomb: how long a small decompression bomb (the testdata's,
// blank lines then a header) takes to be refused.
func BenchmarkBomb(b *testing.B) {
	for _, name := range []string{"bad_bomb.csv.bz2", "bad_bomb.csv.zst", "bad_bomb.csv.xz"} {
		data := []byte(testdataFile(b, name))
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Read(name, bytes.NewReader(data)); !errors.Is(err, ErrExpansion) {
					b.Fatalf("got %v, want ErrExpansion", err)
				}
			}
		})
	}
}

// TestArchiveOfManyNamesHeldBounded: a tar archive of members that hold no
// trace, each named by a long path (a PAX header may give a MiB), had every
// name held and joined into the error's value: 1,500 members of 500 KB
// names, 856 KB gzipped, took 1.9 GB (43 s at load 20) to be refused. The
// error names the first 8, clipped, and counts the rest, for a member
// picked and for one named alike.
func TestArchiveOfManyNamesHeldBounded(t *testing.T) {
	const members = 200
	var files [][2]string
	for i := range members {
		files = append(files, [2]string{fmt.Sprintf("%s/notes%d.txt", strings.Repeat("d/", 32<<10), i), "a note\n"})
	}
	for i := range 10 {
		files = append(files, [2]string{fmt.Sprintf("%s/jobs%d.csv", strings.Repeat("d/", 32<<10), i), "submit_s,duration_s,gpus\n0,60,1\n"})
	}
	tb := tarred(t, files[:members]...)
	_, err := Read("names.tar", bytes.NewReader(tb))
	var te *Error
	if !errors.As(err, &te) || !errors.Is(err, ErrArchive) || len(te.Value) > 8*(maxShown+8) || !strings.HasSuffix(te.Value, fmt.Sprintf(", and %d more", members-8)) {
		t.Errorf("an archive of %d members of 64 KiB names and no trace: %.300v, want its first 8 names and %d more", members, err, members-8)
	}
	_, err = ReadWith("names.tar", bytes.NewReader(tarred(t, files...)), Options{Member: "missing.csv"})
	if !errors.As(err, &te) || !errors.Is(err, ErrNoMember) || len(te.Want) > 8*(maxShown+8)+100 || !strings.HasSuffix(te.Want, ", and 2 more") {
		t.Errorf("a member not in an archive of 10 traces of 64 KiB names: %.300v, want its first 8 traces and 2 more", err)
	}
}

// TestZipOfManyMembersNamesAFew: a zip with no trace joined every
// member's name into its error's value (a zip of 20,000 notes: 250 KB of
// names held, and the message, cut at 120 characters, said nothing of how
// many there were). It names the first 8 and counts them all, as a tar
// does.
func TestZipOfManyMembersNamesAFew(t *testing.T) {
	const members = 20000
	files := make([][2]string, members)
	for i := range files {
		files[i] = [2]string{fmt.Sprintf("notes/n%05d.txt", i), "a note\n"}
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		data []byte
	}{{"notes.zip", zipOf(t, files...)}, {"notes.tar", tarred(t, files...)}} {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, tt.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		var te *Error
		if !errors.As(err, &te) || !errors.Is(err, ErrArchive) || len(te.Value) > 8*(maxShown+8) || !strings.HasSuffix(te.Value, fmt.Sprintf(", and %d more", members-8)) ||
			!strings.Contains(err.Error(), fmt.Sprintf("no trace in the archive (%d members, the first 8 named)", members)) {
			t.Errorf("%s of %d members and no trace: %.400v, want its first 8 names and how many in all", tt.name, members, err)
		}
	}
}

// TestTarContiguousMember: a tar member of type '7' (a contiguous file,
// which GNU tar and POSIX read as a regular one) was passed over: "no
// trace in the archive", or named, "no such file in the archive".
func TestTarContiguousMember(t *testing.T) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	jobs := "submit_s,duration_s,gpus\n0,60,1\n30,60,8\n"
	if err := tw.WriteHeader(&tar.Header{Name: "data/jobs.csv", Mode: 0o644, Size: int64(len(jobs)), Typeflag: tar.TypeCont}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(jobs)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cont.tar")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, p + "/data/jobs.csv"} {
		if tr, err := Load(path); err != nil || len(tr.Jobs) != 2 || tr.Name != "cont.tar/data/jobs.csv" {
			t.Errorf("%s: %+v (%v), want its 2 jobs", filepath.Base(path), tr, err)
		}
	}
}

// gnuTar runs GNU tar in dir with args (which make an archive) and
// returns the path of the archive, dir/out.
func gnuTar(t *testing.T, dir, out string, args ...string) string {
	t.Helper()
	return archiveIn(t, dir, out, "tar", append([]string{"-cf", out}, args...)...)
}

// archiveIn runs the archiver tool in dir with args, which make the
// archive out, and returns its path.
func archiveIn(t *testing.T, dir, out, tool string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", tool, args, err, b)
	}
	return filepath.Join(dir, out)
}

// TestArchiveLinkMembersSaySo: a trace archived as a symbolic or hard
// link (tar without --dereference) was "no trace in the archive", or
// named, "no such file in the archive", though the archive lists it; each
// says it is a link, and what to do. A zip's symbolic link (zip -y),
// named, was read as a trace whose header is the link's target:
// "link.csv:1: "../jobs.csv": unknown trace format".
func TestArchiveLinkMembersSaySo(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "jobs.csv"), []byte("submit_s,duration_s,gpus\n1,10,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../jobs.csv", filepath.Join(dir, "d", "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "jobs.csv"), filepath.Join(dir, "d", "hard.csv")); err != nil {
		t.Fatal(err)
	}
	sym := gnuTar(t, dir, "sym.tar", "d/link.csv")
	hard := gnuTar(t, dir, "hard.tar", "jobs.csv", "d/hard.csv")
	zipped := archiveIn(t, dir, "sym.zip", "zip", "-q", "-y", "sym.zip", "d/link.csv")
	for _, tt := range []struct {
		path, want string
		is         error
	}{
		{sym, `: "d/link.csv": no trace in the archive (want a tar archive holding a trace file; its links, d/link.csv (a symbolic link to ../jobs.csv), are held without their content: make the archive with tar --dereference (-h)`, ErrArchive},
		{sym + "/d/link.csv", `: "d/link.csv": a link, whose content the archive does not hold under this name (a symbolic link to "../jobs.csv") (want the trace itself in the archive: make it with tar --dereference (-h)`, ErrLinkMember},
		{zipped, `: "d/link.csv": no trace in the archive (want a zip archive holding a trace file; its links, d/link.csv (a symbolic link to ../jobs.csv), are held without their content: make the archive with zip without -y (--symlinks))`, ErrArchive},
		{zipped + "/d/link.csv", `: "d/link.csv": a link, whose content the archive does not hold under this name (a symbolic link to "../jobs.csv") (want the trace itself in the archive: make it with zip without -y (--symlinks)`, ErrLinkMember},
		{hard + "/d/hard.csv", `: "d/hard.csv": a link, whose content the archive does not hold under this name (a hard link to "jobs.csv") (want the member the archive holds its content under, hard.tar/jobs.csv, or an archive made with tar --hard-dereference)`, ErrLinkMember},
	} {
		_, err := Load(tt.path)
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want …%s…", filepath.Base(tt.path), err, tt.want)
		}
	}
}

// sparseFile writes path: each of parts, then a hole of gap bytes (which
// reads as NUL bytes), as a crashed writer's preallocated log.
func sparseFile(t *testing.T, path string, gap int64, parts ...string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range parts {
		if _, err := f.WriteString(r); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(gap, io.SeekCurrent); err != nil {
			t.Fatal(err)
		}
	}
	end, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		err = f.Truncate(end)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestTarSparseMember: a trace archived with tar -S (GNU's format, type
// 'S') was passed over as though it were no file: "no trace in the
// archive". It is read, its holes as NUL bytes; and a sparse member whose
// holes stand for more than MaxExpansion times the archive (its POSIX
// form was read before: 336 MiB of NUL bytes from 92 KiB) is refused.
func TestTarSparseMember(t *testing.T) {
	dir := t.TempDir()
	// A crashed log's preallocated tail, one hole near MaxBlankRun, is
	// read whatever the archive's size.
	sparseFile(t, filepath.Join(dir, "jobs.csv"), MaxBlankRun-1<<20, "submit_s,duration_s,gpus\n1,10,1\n2,20,2\n")
	for _, format := range []string{"gnu", "posix"} {
		tr, err := Load(gnuTar(t, dir, format+".tar", "-S", "--format="+format, "jobs.csv"))
		if err != nil || len(tr.Jobs) != 2 {
			t.Errorf("tar -S --format=%s: %v, want its 2 jobs", format, err)
		}
	}
	rows := []string{"submit_s,duration_s,gpus\n"}
	for i := range 20 {
		rows = append(rows, fmt.Sprintf("\n%d,10,1\n", i)) // the NUL bytes above on a line of their own
	}
	sparseFile(t, filepath.Join(dir, "holes.csv"), 16<<20, rows...)
	for _, format := range []string{"gnu", "posix"} {
		_, err := Load(gnuTar(t, dir, format+"-holes.tar", "-S", "--format="+format, "holes.csv"))
		if !errors.Is(err, ErrSparseHoles) {
			t.Errorf("tar -S --format=%s of 336 MiB, 20 rows between 16 MiB holes: %v, want ErrSparseHoles", format, err)
		}
	}
}

// TestExpansionFloorAdmitsRepeatedRows guards expansionFloor: a synthetic
// trace of one row repeated, 200,000 jobs in 1.4 MB, is 139 bytes of
// bzip2 -9 (10,000 times), under MaxExpansion alone refused; a floor
// lowered under its size to spare a bomb's memory would refuse it.
func TestExpansionFloorAdmitsRepeatedRows(t *testing.T) {
	tr, err := Load(filepath.Join("testdata", "same_rows.csv.bz2"))
	if err != nil || len(tr.Jobs) != 200000 {
		t.Fatalf("200,000 rows in 139 bytes of bzip2: %v, want them read", err)
	}
}

// readExpecting reads data as the trace name: with want empty, it must
// give jobs jobs; else a *Error (wrapping is, when is is not nil) whose
// text begins with want. It returns Read's error.
func readExpecting(t *testing.T, name string, data []byte, jobs int, want string, is error) error {
	t.Helper()
	tr, err := Read(name, bytes.NewReader(data))
	if want == "" {
		if err != nil || len(tr.Jobs) != jobs {
			t.Fatalf("got %v; want %d jobs", err, jobs)
		}
		return nil
	}
	var te *Error
	if !errors.As(err, &te) || (is != nil && !errors.Is(err, is)) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v\nwant %s…", err, want)
	}
	return err
}

// paxHeaders is n PAX extended headers in a row, each of about size
// bytes of records (a thousand keys over and over), which archive/tar
// reads one after another before the member they precede.
func paxHeaders(t *testing.T, n, size int) []byte {
	t.Helper()
	var recs bytes.Buffer
	for i := 0; recs.Len() < size-64; i++ {
		kv := fmt.Sprintf(" k%d=v\n", i%1000)
		l := len(kv) + 1
		for len(strconv.Itoa(l))+len(kv) != l {
			l++
		}
		fmt.Fprintf(&recs, "%d%s", l, kv)
	}
	var hb bytes.Buffer
	if err := tar.NewWriter(&hb).WriteHeader(&tar.Header{Name: "PaxHeaders/jobs.csv", Mode: 0o644, Size: int64(recs.Len()), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	blk := hb.Bytes()[:512]
	blk[156] = tar.TypeXHeader
	copy(blk[148:156], "        ")
	sum := 0
	for _, c := range blk {
		sum += int(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	one := append(slices.Clone(blk), recs.Bytes()...)
	one = append(one, make([]byte, (512-recs.Len()%512)%512)...)
	return bytes.Repeat(one, n)
}

// paxMembers is a tar archive of n members, each with a PAX header of
// about size bytes, and then the files.
func paxMembers(t *testing.T, n, size int, files ...[2]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := range n {
		hdr := &tar.Header{Name: fmt.Sprintf("notes/%d.txt", i), Mode: 0o644, Size: 1, Typeflag: tar.TypeReg,
			PAXRecords: map[string]string{"comment": strings.Repeat("x", size)}, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x"))
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	return append(b.Bytes()[:b.Len()], tarred(t, files...)...)
}

// TestTarHeadersAreBounded: archive/tar bounds one PAX extended header
// (or GNU long name) at 1 MiB, but not how many come in a row or member
// after member: only the expansion bound stopped them, so 100 MiB of PAX
// records in 860 KB of gzip were parsed for 1.9 s and loaded (750 MiB
// would take ~15 s). The headers that members carry up to the trace are
// bounded at MaxTarHeaders (past a few KiB each), refused in 0.1 s;
// member data passed over counts as no header, and members with headers
// as tar writes them load; one header past archive/tar's own 1 MiB is
// said to be one, not "header field too long" alone.
func TestTarHeadersAreBounded(t *testing.T) {
	jobs := [2]string{"jobs.csv", "submit_s,duration_s,gpus\n0,60,1\n"}
	const bound = "(want a tar archive whose members carry a few KiB of headers each, as tar writes them (at most 16 MiB in all up to the trace); a real one with more is read unpacked: tar -xf, then the trace's path)"
	for _, tt := range []struct {
		name string
		data []byte
		jobs int
		want string
		is   error
	}{
		{"inarow.tar", append(paxHeaders(t, 20, 1<<20), tarred(t, jobs)...), 0,
			"inarow.tar: tar headers (PAX extended headers, GNU long names) of more than 16 MiB, up to its member number 1 " + bound, ErrTarHeaders},
		{"inarow.tar.gz", gzipped(t, append(paxHeaders(t, 20, 1<<20), tarred(t, jobs)...)), 0,
			"inarow.tar.gz: tar headers (PAX extended headers, GNU long names) of more than 16 MiB, up to its member number 1 " + bound, ErrTarHeaders},
		{"members.tar", paxMembers(t, 20, 1<<20-1024, jobs), 0,
			"members.tar: tar headers (PAX extended headers, GNU long names) of more than 16 MiB, up to its member number 17 " + bound, ErrTarHeaders},
		{"toolong.tar", append(paxHeaders(t, 1, 2<<20), tarred(t, jobs)...), 0,
			"toolong.tar: archive/tar: header field too long (want a tar archive whose headers each hold at most 1 MiB", tar.ErrFieldTooLong},
		// Guards: data passed over, and headers as tar writes them.
		{"data.tar", tarred(t, [2]string{"weights.bin", strings.Repeat("\x01", 20<<20)}, jobs), 1, "", nil},
		{"posix.tar", paxMembers(t, 5000, 100, jobs), 1, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			readExpecting(t, tt.name, tt.data, tt.jobs, tt.want, tt.is)
		})
	}
}
