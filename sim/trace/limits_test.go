package trace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestJobLimit(t *testing.T) {
	csv := "submit_s,duration_s,gpus\n0,1,1\n1,1,1\n2,1,1\n"
	if tr, err := ReadWith("three.csv", strings.NewReader(csv), Options{MaxJobs: 3}); err != nil || len(tr.Jobs) != 3 {
		t.Fatalf("3 jobs at a limit of 3: %v", err)
	}
	_, err := ReadWith("three.csv", strings.NewReader(csv), Options{MaxJobs: 2})
	var te *Error
	if !errors.Is(err, ErrTooManyJobs) || !errors.As(err, &te) || te.Line != 4 {
		t.Fatalf("3 jobs at a limit of 2: %v, want ErrTooManyJobs at line 4", err)
	}
	for _, want := range []string{"at most 2 jobs", "the job limit"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not say %q", err, want)
		}
	}
	// Load counts lines first: a file beyond the limit is refused before
	// it is parsed (its last row is malformed, which parsing would report).
	path := filepath.Join(t.TempDir(), "many.csv")
	if err := os.WriteFile(path, []byte(csv+"3,1,1\n4,1,broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWith(path, Options{MaxJobs: 4}); !errors.Is(err, ErrTooManyJobs) || !strings.Contains(err.Error(), "many.csv:6") {
		t.Errorf("5 rows at a limit of 4: %v, want ErrTooManyJobs at line 6 before parsing", err)
	}
	if _, err := LoadWith(path, Options{MaxJobs: 5}); err == nil || !strings.Contains(err.Error(), `"broken"`) {
		t.Errorf("5 rows at a limit of 5: %v, want the parse error of the last row", err)
	}
	// The same file tab-separated is counted as well.
	tsv := filepath.Join(t.TempDir(), "many.tsv")
	if err := os.WriteFile(tsv, []byte(strings.ReplaceAll(csv+"3,1,1\n4,1,broken\n", ",", "\t")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadWith(tsv, Options{MaxJobs: 4}); !errors.Is(err, ErrTooManyJobs) || !strings.Contains(err.Error(), "many.tsv:6") {
		t.Errorf("5 tab-separated rows at a limit of 4: %v, want ErrTooManyJobs at line 6 before parsing", err)
	}
	// Helios jobs count too, including those still running at the end.
	helios := "time,running_gpu_num,pending_gpu_num\n2020-05-01 00:00:00,1,0\n2020-05-01 00:01:00,2,0\n2020-05-01 00:02:00,3,0\n"
	if _, err := ReadWith("h.csv", strings.NewReader(helios), Options{MaxJobs: 2}); !errors.Is(err, ErrTooManyJobs) {
		t.Errorf("3 Helios jobs at a limit of 2: %v, want ErrTooManyJobs", err)
	}
}

// endless is an io.Reader of n bytes: prefix, then fill repeated.
type endless struct {
	prefix string
	fill   byte
	n      int
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && e.n > 0 {
		if len(e.prefix) > 0 {
			p[k] = e.prefix[0]
			e.prefix = e.prefix[1:]
		} else {
			p[k] = e.fill
		}
		k++
		e.n--
	}
	return k, nil
}

func TestRecordBound(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    io.Reader
		line int
	}{
		// 100 MB on one line, and an unterminated quote with line breaks:
		// both are refused after MaxRecordBytes, not read whole.
		{"no line breaks", &endless{prefix: "submit_s,duration_s,gpus\n0,1,", fill: '1', n: 100 << 20}, 2},
		{"unterminated quote", &endless{prefix: "submit_s,duration_s,gpus\n0,1,1\n\"", fill: '\n', n: 100 << 20}, 3},
		{"header", &endless{fill: 'x', n: 100 << 20}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(tt.name, tt.r)
			var te *Error
			if !errors.As(err, &te) || te.Line != tt.line || !strings.Contains(err.Error(), fmt.Sprint(MaxRecordBytes)) {
				t.Fatalf("got %v, want a record-length error at line %d", err, tt.line)
			}
		})
	}
	// A quoted field with "" escapes and a line break inside stays one
	// record, and ordinary long files are untouched.
	var rows strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&rows, "b%d,1,1,1\n", i)
	}
	ok := "job_id,submission_time,duration,num_gpu\n\"a \"\"quoted\"\"\nid\",0,10,1\n" + rows.String()
	if tr, err := Read("ok.csv", strings.NewReader(ok)); err != nil || len(tr.Jobs) != 20001 {
		t.Fatalf("quoted id and 20000 rows: %v", err)
	}
}

func TestBoundsOfNumbers(t *testing.T) {
	for _, tt := range []struct {
		value string
		ok    bool
	}{
		{"8", true}, {"8.0", true}, {"1048576", true}, {"1048577", false}, {"0", false}, {"-1", false},
		{"1.5", false}, {"NaN", false}, {"Inf", false}, {"-Inf", false}, {"1e300", false}, {"9223372036854775808", false},
		{"99999999999999999999999", false},
	} {
		_, err := (&parser{name: "x"}).gpus(2, "gpus", tt.value)
		if (err == nil) != tt.ok {
			t.Errorf("gpus(%q): %v, want ok=%v", tt.value, err, tt.ok)
		}
	}
	for _, tt := range []struct {
		value string
		ok    bool
	}{
		{"0.001", true}, {"0.0004", true}, {"315360000", true}, {"315360001", false}, {"1e400", false}, {"NaN", false}, {"+Inf", false}, {"-0.5", false},
	} {
		_, err := (&parser{name: "x"}).seconds(2, "duration_s", tt.value, true)
		if (err == nil) != tt.ok {
			t.Errorf("seconds(%q): %v, want ok=%v", tt.value, err, tt.ok)
		}
	}
	// Which of them a row is skipped for (skipUnusable), and which stop
	// the load.
	for _, tt := range []struct {
		value    string
		duration bool
		want     error
	}{
		{"NaN", true, errNotFinite}, {"-inf", false, errNotFinite}, {"-0.5", true, errNegativeDuration},
		{"-0.5", false, nil}, {"1e400", true, nil}, {"-1e400", true, nil},
	} {
		_, err := (&parser{name: "x"}).seconds(2, "duration_s", tt.value, tt.duration)
		if tt.want != nil && !errors.Is(err, tt.want) || tt.want == nil && (err == nil || errors.Is(err, errNotFinite) || errors.Is(err, errNegativeDuration)) {
			t.Errorf("seconds(%q, duration %v): %v, want %v", tt.value, tt.duration, err, tt.want)
		}
	}
}

// checkTrace asserts what every loaded trace guarantees the simulator.
func checkTrace(t *testing.T, tr *Trace) {
	t.Helper()
	var prev time.Duration
	for i, j := range tr.Jobs {
		if j.GPUs < 1 || j.GPUs > MaxGPUs || j.Duration <= 0 || j.Duration > MaxSpan || j.Submit < prev || j.Submit > MaxSpan {
			t.Fatalf("job %d out of bounds or order: %+v", i, j)
		}
		prev = j.Submit
	}
	if len(tr.Jobs) > 0 && tr.Jobs[0].Submit != 0 {
		t.Fatalf("first submit %v, want 0", tr.Jobs[0].Submit)
	}
	if len(tr.Jobs) == 0 {
		return
	}
	if tr.Span() > MaxSpan || tr.Start.Before(MinDate.Add(-MaxSpan)) || tr.Start.After(MaxDate) {
		t.Fatalf("span %v, start %v out of bounds", tr.Span(), tr.Start)
	}
}

// fuzzFormat fuzzes the rows under one format's header; seeds are the
// testdata files with that header and the hostile values of the issue.
func fuzzFormat(f *testing.F, header string, seeds ...string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.csv"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if first, rest, ok := strings.Cut(string(data), "\n"); ok && first == header {
			f.Add(rest)
		}
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rows string) {
		fuzzRead(t, "fuzz.csv", header+"\n"+rows)
	})
}

// testdataFile is the text of a file under testdata, for a fuzzer's seeds.
func testdataFile(tb testing.TB, elem ...string) string {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, elem...)...))
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

// fuzzLoad reads a fuzzed trace with opts: it loads within bounds
// (checkTrace; ok), or is refused with a *trace.Error (not ok).
func fuzzLoad(t *testing.T, name, data string, opts Options) (*Trace, bool) {
	t.Helper()
	tr, err := ReadWith(name, strings.NewReader(data), opts)
	if err != nil {
		var te *Error
		if !errors.As(err, &te) {
			t.Fatalf("error is not a *trace.Error: %v", err)
		}
		return nil, false
	}
	checkTrace(t, tr)
	return tr, true
}

// fuzzRead reads a fuzzed trace: it loads within bounds, or is refused
// with a *trace.Error.
func fuzzRead(t *testing.T, name, data string) {
	fuzzLoad(t, name, data, Options{MaxJobs: 10000})
}

func FuzzITP(f *testing.F) {
	fuzzFormat(f, "job_id,submission_time,duration,num_gpu",
		"a,0,9999999999,1\n", "a,0,1,9223372036854775807\n", "a,9e9,1,1\nb,0,1,1\n", "a,1e-320,1e-3,8.0\n")
}

func FuzzPhilly(f *testing.F) {
	fuzzFormat(f, "timestamp,duration,num_gpus,gpu_time,cluster",
		"9999-12-31 23:59:59,10,1,10,x\n0001-01-01 00:00:00,10,1,10,x\n", "2017-10-09,1,1,1,x\n", "2017-10-09T07:01:55,315360000,1,1,x\n", "1507532515,66,1,66,x\n", "2017-10-09 07:01:55,1,1,1,x\n0x1p30,1,1,1,x\n")
}

func FuzzHelios(f *testing.F) {
	fuzzFormat(f, "time,running_gpu_num,pending_gpu_num",
		"2020-05-01 00:00:00,0,0\n2020-05-01 00:01:00,9223372036854775807,0\n2020-05-01 00:02:00,0,0\n",
		"2020-05-01 00:00:00,5,3\n2020-05-01 00:01:00,2,0\n2020-05-01 00:02:00,7,1\n2020-05-01 00:03:00,0,0\n")
}

func FuzzHeliosBySize(f *testing.F) {
	fuzzFormat(f, "time,running_gpu_num_noless_8,pending_gpu_num_noless_8,running_gpu_num_less_8,pending_gpu_num_less_8",
		"2020-05-01 00:00:00,16,8,3,1\n2020-05-01 00:01:00,8,0,5,0\n2020-05-01 00:02:00,0,0,0,0\n")
}

func FuzzPodList(f *testing.F) {
	fuzzFormat(f, "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time",
		"a,1,1,1,1000,,LS,Running,0,315360000,0\n", "a,1,1,1,1000,,LS,Running,9e9,1,0\n", "a,1,1,2,1000,,LS,Pending,5,6,\nb,1,1,1,1,,BE,Failed,0,1e-4,0\n",
		"a,1,1,1,1000,,LS,Running,,,\nb,1,1,8,1000,,LS,Running,5,,\nc,1,1,1,300,,BE,Running,,7,\nd,1,1,1,1000,,LS,Running,NaN,NaN,NaN\n")
}

// FuzzPAITask: PAI's headerless task table holds to the same bounds (the
// first row is a task, so the fuzzed rows follow one).
func FuzzPAITask(f *testing.F) {
	f.Add(testdataFile(f, "pai_task.csv"))
	f.Add("a,w,1048576.0,Terminated,0.001,315360000,1,1,100.0,V100\n")
	f.Add("a,w,1.0,Running,9e9,1e-4,1,1,1e300,\nb,w,NaN,Waiting,NaN,NaN,1,1,NaN,\n")
	f.Add("\ufeffa,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0,V100\n\ufeffb,w,1,Terminated,1,2,1,1,100,\r\n")
	f.Add("b,w,1,Terminated,1,2,1,1,100,V100,\nc,w,1,Terminated,1,2,1,1,100,V100, ,\n")
	f.Fuzz(func(t *testing.T, rows string) {
		fuzzRead(t, "fuzz.csv", "a,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0,V100\n"+rows)
	})
}

// FuzzPAIJobTable: any PAI job table is read within its job limit, or
// refused with a *trace.Error.
func FuzzPAIJobTable(f *testing.F) {
	f.Add(testdataFile(f, "pai", "pai_job_table.csv"))
	f.Add("job_name,inst_id,user,status,start_time,end_time\na,b,c,Terminated,1e300,\nb,b,c,Running,NaN,\n")
	f.Add("a,b,c,Waiting,-1,0\n")
	f.Fuzz(func(t *testing.T, table string) {
		jobs, err := readPAIJobs("pai_job_table.csv", strings.NewReader(table), 100)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error is not a *trace.Error: %v", err)
			}
			return
		}
		if len(jobs) > 100 {
			t.Fatalf("%d jobs, over the limit of 100", len(jobs))
		}
		for _, at := range jobs {
			if at <= 0 || at > MaxSpan {
				t.Fatalf("submit %v out of bounds", at)
			}
		}
	})
}

// FuzzPhillyLog: any bytes after a '[' load within bounds or are refused
// with a *trace.Error.
func FuzzPhillyLog(f *testing.F) {
	f.Add(testdataFile(f, "philly_log.json"))
	f.Add(`[{"submitted_time": "9999-12-31 23:59:59", "attempts": [{"start_time": "1970-01-01 00:00:00", "end_time": "2199-12-31 00:00:00", "detail": [{"gpus": ["a"]}]}]}]`)
	f.Add(`[{"submitted_time": "2017-10-07 01:00:00", "attempts": [{"start_time": "2017-10-07 01:00:00", "end_time": "None", "detail": null}, {"end_time": 5}]}, 7]`)
	f.Add(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`)
	f.Fuzz(func(t *testing.T, log string) {
		fuzzRead(t, "fuzz.json", log)
	})
}

func FuzzJobLog(f *testing.F) {
	fuzzFormat(f, "job_id,gpu_num,submit_time,duration",
		"a,0,2020-06-09 18:41:01,10\n", "a,8,2020-06-09 18:41:01,\nb,1,2020-06-09 18:41:01.5+08:00,1e-4\n",
		"a,1,9999-12-31 23:59:59,10\nb,1,1970-01-01 00:00:00,10\n", "a,1,2020-06-09T18:41:01Z,315360000\n",
		"a,1,0,10\nb,2,2020-06-09 18:41:01,5\n", "a,1,315360000,10\nb,2,1e-9,1e9\n",
		// Headers repeated in another order, with other columns, and back.
		"a,1,2020-06-09 18:41:01,10\nduration,submit_time,job_id,gpu_num\n5,2020-06-09 18:41:01,b,2\njob_id,gpu_num,submit_time,duration\nc,1,2020-06-09 18:41:01,5\n",
		"a,1,2020-06-09 18:41:01,10\nduration,submit_time,job_id,num_gpu\n", "job_id,job_id,submit_time,duration\n")
}

// FuzzJobLogWorkers: a job list with GPUs per worker (Alibaba's spot trace
// of 2026) holds to the same bounds.
func FuzzJobLogWorkers(f *testing.F) {
	fuzzFormat(f, "job_name,organization,gpu_model,cpu_request,gpu_request,worker_num,submit_time,duration,job_type",
		"a,1,A10,8,1048576,2,0,10,HP\n", "a,1,A10,8,0.5,3,0,10,Spot\nb,1,A10,8,1,0,5,10,HP\n", "a,1,A10,8,1,1,1591234567,10,HP\nb,1,A10,8,1,1,5,10,HP\n")
}

func FuzzGeneric(f *testing.F) {
	fuzzFormat(f, "submit_s,duration_s,gpus",
		"0,10,1\n\x00\x00\x00", "0,10,1\n\x00\x00\r\n\x00\n1,5,1\n", "\x00\x001,5,1\n", "0,10,\x00\n\x00\"\x00\n",
		"0,9999999999,1\n", "0,1,1e300\n", "0,10,1\n9e9,10,1\n", "0,NaN,1\n", "\"0\",\"1\",\"1\"\n", fmt.Sprint(math.MaxInt64)+",1,1\n",
		// Blank rows, and the header again (files concatenated).
		",,\n0,1,1\n , ,\n   \n", "0,1,1\nsubmit_s,duration_s,gpus\n1,1,1\n\ufeffSUBMIT_S, duration_s ,gpus\n",
		// Empty columns ending the rows.
		"0,1,1,\n1,1,1,, \n2,1,1,x\n",
		// A byte order mark inside (a spreadsheet's file concatenated),
		// before a row, a quoted field and a CRLF row.
		"0,1,1\n\ufeff1,1,1\n\ufeff\"2\",1,1\r\n\ufeff\ufeff3,1,1\n")
}

// FuzzUnusableRows: rows of any values (NaN, infinities, negative and
// huge numbers) between good rows are each kept or skipped and counted,
// or the load is refused with a *trace.Error; the good rows are kept.
func FuzzUnusableRows(f *testing.F) {
	for _, s := range [][3]string{{"0", "NaN", "1"}, {"-inf", "60", "1"}, {"0", "-5", "1"}, {"1", "60", "Infinity"}, {"1", "-0", "1"},
		{"1", "-1e400", "1"}, {"1", "60", "-nan"}, {"", "", ""}, {"1", " -1 ", "1"}, {"1", "+Inf", "1"},
		{"1_0", "60", "1"}, {"0x1p4", "60", "1"}, {"1", "0X1P-2", "1"}, {"1", "60", "0x8p0"}, {"1", "6_0", "1_6"}} {
		f.Add(s[0], s[1], s[2], uint8(7))
	}
	f.Fuzz(func(t *testing.T, sub, dur, gpus string, n uint8) {
		if strings.ContainsAny(sub+dur+gpus, "\",\n\r\x00") {
			return
		}
		var b strings.Builder
		b.WriteString("submit_s,duration_s,gpus\n")
		rows := int(n%20) + 1
		for i := range rows {
			if i%2 == 0 {
				fmt.Fprintf(&b, "%d,60,1\n", i)
			} else {
				fmt.Fprintf(&b, "%s,%s,%s\n", sub, dur, gpus)
			}
		}
		tr, ok := fuzzLoad(t, "fuzz.csv", b.String(), Options{MaxJobs: 10000})
		if !ok {
			return
		}
		skipped, text := SkippedText(tr.Skipped)
		if len(tr.Jobs)+skipped != rows || len(tr.Jobs) < (rows+1)/2 {
			t.Fatalf("%d rows: %d jobs kept and %d skipped (%s)", rows, len(tr.Jobs), skipped, text)
		}
	})
}

// FuzzGenericSemicolons: a semicolon-separated file (a spreadsheet's CSV
// with decimal commas) holds to the same bounds.
func FuzzGenericSemicolons(f *testing.F) {
	fuzzFormat(f, "submit_s;duration_s;gpus",
		"0;10;1\n", "0;10,5;1\n", "0,10,1\n", "\"0\";\"1;\";1\n", ";;\n9e9;1;1\n")
}

// FuzzGenericTabs: a tab-separated file (separator) holds to the same bounds.
func FuzzGenericTabs(f *testing.F) {
	fuzzFormat(f, "submit_s\tduration_s\tgpus",
		"0\t10\t1\n", "0\t9999999999\t1\n", "0,10,1\n", "\"0\"\t\"1\t\"\t1\n", "0\t10\t1\t\t\n9e9\t1\t1\n")
}

// FuzzSacct: Slurm's '|'-separated accounting log holds to the same bounds.
func FuzzSacct(f *testing.F) {
	data := testdataFile(f, "sacct.txt")
	_, rows, _ := strings.Cut(data, "\n")
	rows = strings.ReplaceAll(rows, "|gpu|", "|") // the fuzzed header has no Partition
	fuzzFormat(f, "JobID|Submit|Start|End|Elapsed|AllocTRES|State", rows,
		"1|2024-03-04T09:00:00|x|y|3650-00:00:00|gres/gpu=1|COMPLETED\n", "1|2024-03-04T09:00:00|x|y|99999999999:00:00|gres/gpu=1048577|\n",
		"1|2024-03-04T09:00:00|x|y|00:00:01.999999|gres/gpu:a=1048576,gres/gpu:b=1|\n", "\"1|2024-03-04|x|y|1:00|gres/gpu=1|\n",
		"1|2024-03-04T09:00:00|x|y|-1:00:00|gres/gpu=-1,=,gres/gpu|\n",
		// Quotes, characters of sacct's fields, and NULs beside them.
		"1\"|2024-03-04T09:00:00|x|y|\"01:00:00\"|gres/gpu=\"1\"|\"\n\"2\x00|2024-03-04T09:00:00|x|y|01:00:00|gres/gpu=1|\x00\"\n",
		// Submits sacct cannot give, GPU shares, repeated rows and headers.
		"1|Unknown|2024-03-04T09:00:00|2024-03-04T10:00:00|01:00:00|gres/gpu=1|COMPLETED\n2|None|None|None|00:00:00|gres/gpu=1|PENDING\n3|None|x|y|01:00:00|gres/gpu=1|\n",
		"1|2024-03-04T09:00:00|2024-03-04T09:00:00|y|01:00:00|gres/shard=9223372036854775807,gres/mps:a=1,node=1048576|\n2|2024-03-04T09:00:00|z|y|01:00:00|gres/mps=1,node=0|\n",
		"1|2024-03-04T09:00:00|2024-03-04T09:00:00|y|01:00:00|gres/gpu=1|\n1|2024-03-04T09:00:00|2024-03-04T09:00:00|y|01:00:00|gres/gpu=1|\nJobID|Submit|Start|End|Elapsed|AllocTRES|State\n",
		"1|2024-03-04T09:00:00+0100|2024-03-04 09:00:00-0000|y|01:00:00|gres/gpu=1|\n",
		// Heterogeneous jobs: components summed, one out of order, one
		// past the GPU bound, a component without a base.
		"7+0|2024-03-04T09:00:00|2024-03-04T09:00:00|y|01:00:00|cpu=1|\n7+1|2024-03-04T09:00:00|2024-03-04T09:00:00|y|02:00:00|gres/gpu=4|\n7+2|2024-03-04T09:00:00|2024-03-04T09:00:00|y|01:00:00|gres/gpu=1048576|\n",
		"8+1|2024-03-04T09:00:00|x|y|01:00:00|gres/gpu=2|\n9|2024-03-04T09:00:00|x|y|01:00:00|gres/gpu=1|\n8+0|2024-03-04T09:00:00|x|y|01:00:00|gres/gpu=2|\n+0|2024-03-04T09:00:00|x|y|01:00:00|gres/gpu=2|\n")
}

// FuzzSacctEligible: an sacct log with Eligible and Cluster columns
// (held jobs, repeated rows across clusters) holds to the same bounds.
func FuzzSacctEligible(f *testing.F) {
	fuzzFormat(f, "Cluster|JobID|Submit|Eligible|Start|End|Elapsed|AllocTRES",
		"a|1|2024-03-04T09:00:00|2024-03-05T09:00:00|2024-03-05T09:00:01|x|01:00:00|gres/gpu=1\n",
		"a|1|None|Unknown|2024-03-04T09:00:00|x|01:00:00|gres/gpu=1\na|1|None|Unknown|2024-03-04T09:00:00|x|01:00:00|gres/gpu=1\nb|1|None|Unknown|2024-03-04T09:00:00|x|01:00:00|gres/gpu=1\n",
		"a|1|2024-03-04T09:00:00|9999-01-01T00:00:00|2024-03-04T09:00:00|x|01:00:00|gres/gpu=1\n", "a|1|2024-03-04T09:00:00|1700000000|0|x|01:00:00|gres/mps=1,node=2\n")
}

// FuzzLeadingSpace: white space before a file's first field is dropped
// only before JSON, and otherwise given back byte for byte (a CSV's blank
// lines, whose line numbers errors quote), or refused with a *trace.Error;
// a small buffer makes the fuzzed runs cross its bound.
func FuzzLeadingSpace(f *testing.F) {
	f.Add(uint16(5000), uint8(0), "[]")
	f.Add(uint16(60000), uint8(1), "submit_s,duration_s,gpus\n0,1,1\n")
	f.Add(uint16(70000/2), uint8(2), "{\"jobid\": 1}")
	f.Add(uint16(9), uint8(3), "\ufeff[")
	f.Fuzz(func(t *testing.T, n uint16, pattern uint8, rest string) {
		units := []string{" ", "\n", "\r\n", "\t \n", "\r"}
		in := strings.Repeat(units[int(pattern)%len(units)], int(n)) + rest
		br, err := pastLeadingSpace("fuzz", bufio.NewReaderSize(strings.NewReader(in), 16))
		if err != nil {
			var te *Error
			if !errors.As(err, &te) || !errors.Is(err, errLeadingSpace) {
				t.Fatalf("error is not the leading-space *trace.Error: %v", err)
			}
			return
		}
		got, err := io.ReadAll(br)
		if err != nil {
			t.Fatal(err)
		}
		trimmed := strings.TrimLeft(strings.TrimPrefix(in, "\ufeff"), " \t\r\n")
		switch {
		case strings.HasPrefix(trimmed, "[") || strings.HasPrefix(trimmed, "{"):
			if string(got) != trimmed {
				t.Fatalf("JSON after white space: got %d bytes, want the %d from its first", len(got), len(trimmed))
			}
		case string(got) != in:
			t.Fatalf("not JSON: got %d bytes, want the input's %d as they are", len(got), len(in))
		}
	})
}

// FuzzSacctWhere: an sacct log read with --where Partition=gpu, its
// heterogeneous jobs' rows held until each job's last, holds to the same
// bounds.
func FuzzSacctWhere(f *testing.F) {
	_, rows, _ := strings.Cut(testdataFile(f, "sacct_het.txt"), "\n")
	f.Add(rows)
	f.Add("7+0|cpu|2024-03-04T09:00:00|2024-03-04T09:00:00|01:00:00|cpu=1\n7+0.batch||2024-03-04T09:00:00|x|01:00:00|cpu=1\n7+1|gpu|2024-03-04T09:00:00|2024-03-04T09:00:00|02:00:00|gres/gpu=4\n8|gpu|2024-03-04T09:00:00|x|01:00:00|gres/gpu=1\n")
	f.Add("8+1|gpu|2024-03-04T09:00:00|x|01:00:00|gres/gpu=2\n9|cpu|2024-03-04T09:00:00|x|01:00:00|gres/gpu=1\n8+0|cpu|2024-03-04T09:00:00|x|01:00:00|gres/gpu=2\n+0|gpu|x|x|x|x\n")
	// No row in the partition: refused (ErrKeptNone), steps, het
	// components and all.
	f.Add("7+0|cpu|2024-03-04T09:00:00|x|01:00:00|cpu=1\n7+0.batch|gpu|2024-03-04T09:00:00|x|01:00:00|cpu=1\n9|GPU|2024-03-04T09:00:00|x|01:00:00|gres/gpu=1\n")
	where := []Where{{Column: "Partition", Values: []string{"gpu"}}}
	f.Fuzz(func(t *testing.T, rows string) {
		fuzzLoad(t, "fuzz.txt", "JobID|Partition|Submit|Start|Elapsed|AllocTRES\n"+rows, Options{MaxJobs: 10000, Where: where})
	})
}

// FuzzUTF16: any bytes after a UTF-16 byte order mark (either order) load
// within bounds or are refused with a *trace.Error.
func FuzzUTF16(f *testing.F) {
	f.Add(true, testdataFile(f, "utf16.tsv")[2:])
	f.Add(false, testdataFile(f, "utf16be.csv")[2:])
	f.Add(true, "\x00\xd8\x00\xdc\x00")
	f.Fuzz(func(t *testing.T, little bool, text string) {
		bom := "\xfe\xff"
		if little {
			bom = "\xff\xfe"
		}
		fuzzRead(t, "fuzz.csv", bom+text)
	})
}

// FuzzDates: a job log's submit times written in any way (a year first or
// last, one-digit fields, a 12-hour clock, a zone), in either order or
// none given, load within bounds or are refused with a *trace.Error; a
// date-time read is the same read again, and one tidied is read as the
// tidied text is.
func FuzzDates(f *testing.F) {
	for _, s := range []string{"11/29/2026 9:05", "29.11.2026 09:05:00", "01/02/2026", "2026-1-5 9:05:00 PM", "2026-11-29 12:05 AM",
		"2026-11-29T9:05:00.5+08:00", "5/5/2026", "13/13/2026", "0/1/2026", "12/31/9999 23:59", "1/1/1970 0:00 PM", "2026-1-5T"} {
		f.Add(s, "11/29/2026", uint8(0))
	}
	orders := []DateOrder{DateOrderUnknown, MonthFirst, DayFirst}
	f.Fuzz(func(t *testing.T, a, b string, order uint8) {
		at, ok := parseDateTime(a, time.UTC)
		if again, ok2 := parseDateTime(a, time.UTC); ok != ok2 || !at.Equal(again) {
			t.Fatalf("parseDateTime(%q): %v %v, then %v %v", a, at, ok, again, ok2)
		}
		if tidy := tidyDateTime(strings.TrimSpace(a)); ok {
			if at2, ok2 := parseDateTime(tidy, time.UTC); !ok2 || !at.Equal(at2) {
				t.Fatalf("parseDateTime(%q) = %v, of its tidied %q: %v %v", a, at, tidy, at2, ok2)
			}
		}
		if strings.ContainsAny(a+b, "\",\n\r") {
			return
		}
		data := "job_id,submit_time,duration,gpu_num\n1," + a + ",60,1\n2," + b + ",60,2\n"
		fuzzLoad(t, "fuzz.csv", data, Options{DateOrder: orders[int(order)%len(orders)]})
	})
}

// FuzzDateOrderLookAhead: dates with the year last that read either way
// before a row shows the order are read as that row shows it: a file read
// without --trace-dates reads as with the order its first row to show one
// shows (either, where none does), or is refused with a *trace.Error.
func FuzzDateOrderLookAhead(f *testing.F) {
	for _, s := range [][3]string{{"01/02/2026", "03/04/2026", "29/11/2026"}, {"01/02/2026 9:05", "11/29/2026 9:05", "5/5/2026"},
		{"1.2.2026", "2026-01-01", "13.1.2026 00:00 +08:00"}, {"01/02/2026", "03/04/2026", "05/06/2026"}, {"12/13/2026", "01/02/2026", "13/12/2026"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		if strings.ContainsAny(a+b+c, "\",\n\r") {
			return
		}
		data := "job_id,submit_time,duration,gpu_num\n1," + a + ",60,1\n2," + b + ",60,2\n3," + c + ",60,3\n"
		tr, ok := fuzzLoad(t, "fuzz.csv", data, Options{})
		if !ok {
			return
		}
		order := MonthFirst
		for _, v := range []string{a, b, c} {
			if o, _ := orderShown([]string{v}); o != DateOrderUnknown {
				order = o
				break
			}
		}
		given, err := ReadWith("fuzz.csv", strings.NewReader(data), Options{DateOrder: order})
		if err != nil || !given.Start.Equal(tr.Start) || !slices.Equal(given.Jobs, tr.Jobs) {
			t.Fatalf("read as %s: %v (%v); without an order: %v", order, given, err, tr)
		}
	})
}

// FuzzZoneOf: a zone after a date-time's time is split off whole: the
// date-time before it is what the value starts with, the zone is within
// 14 hours of UTC, and a value it reads is read the same with the zone's
// offset written out; a value it refuses is refused as a trace row.
func FuzzZoneOf(f *testing.F) {
	for _, s := range []string{"2026-11-29 09:05:00 Asia/Shanghai", "2026-11-29 09:05 +08:00", "2026-11-29 09:05:00 UTC-5", "2026-11-29 09:05:00 PST",
		"2026-11-29 9:05 PM", "2026-11-29 09:05:00 Local", "2026-11-29 09:05:00 +14:01", "1/2/2026 0:00 Etc/GMT-14", "x: Europe/../../etc/passwd", "2026-11-29 09:05:00  GMT+0800 ", "2026-03-08 02:30:00 America/New_York", "2026-11-01 01:30 America/New_York"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rest, zone, err := zoneOf(s)
		switch {
		case err != nil:
			if zone != nil {
				t.Fatalf("zoneOf(%q): a zone and an error %v", s, err)
			}
			if strings.ContainsAny(s, "\",\n\r") {
				return
			}
			_, rerr := Read("z.csv", strings.NewReader("job_id,submit_time,duration,gpu_num\n1,"+s+",60,1\n"))
			var te *Error
			if !errors.As(rerr, &te) {
				t.Fatalf("%q: zoneOf refuses it (%v), the row reads: %v", s, err, rerr)
			}
		case zone == nil:
			if rest != s {
				t.Fatalf("zoneOf(%q): no zone, and %q", s, rest)
			}
		default:
			if !strings.HasPrefix(strings.TrimSpace(s), rest) || len(rest) >= len(strings.TrimSpace(s)) {
				t.Fatalf("zoneOf(%q): %q is not what the value starts with", s, rest)
			}
			at, ok := parseDateTime(rest, zone)
			if !ok {
				return
			}
			_, off := at.In(zone).Zone()
			if off < -14*3600 || off > 14*3600 {
				t.Fatalf("zoneOf(%q): offset %d s", s, off)
			}
			const wall = "2006-01-02 15:04:05.000"
			if w, _ := parseDateTime(rest, time.UTC); at.In(zone).Format(wall) != w.Format(wall) {
				return // a time the zone's clock skips (a daylight-saving change)
			}
			fixed := time.FixedZone("", off)
			if again, ok := parseDateTime(rest, fixed); !ok || !again.Equal(at) {
				t.Fatalf("zoneOf(%q): %v in its zone, %v at its offset", s, at, again)
			}
		}
	})
}

// TestNULPadding: a trace whose end is NUL bytes (a file padded with
// zeros, or whose last blocks a crash left zeroed) was refused as "a
// record longer than 65536 bytes", or with a line of NULs as "1 fields";
// the NULs are passed over and a note says how many and from where. NULs
// followed by text on their line are refused, naming it.
func TestNULPadding(t *testing.T) {
	nuls := func(n int) string { return strings.Repeat("\x00", n) }
	const rows = "submit_s,duration_s,gpus\n0,60,1\n30,60,2\n"
	want := []Job{job(0, 60, 1), job(30, 60, 2)}
	for _, tt := range []struct {
		name, data, note string
	}{
		{"tail.csv", rows + nuls(200000), "200000 NUL bytes from line 4 on were passed over, as padding (a file padded with zeros, or whose end a crash zeroed: check that its last rows are whole)"},
		{"line.csv", "submit_s,duration_s,gpus\n0,60,1\n" + nuls(4096) + "\n30,60,2\n", "4096 NUL bytes from line 3 on"},
		{"crlf.csv", strings.ReplaceAll(rows, "\n", "\r\n") + nuls(10) + "\r\n", "10 NUL bytes from line 4 on"},
		{"sacct.txt", "JobID|Submit|Elapsed|AllocTRES\n1|2024-03-04T09:00:00|00:01:00|gres/gpu=1\n2|2024-03-04T09:00:30|00:01:00|gres/gpu=2\n" + nuls(70000), "70000 NUL bytes from line 4 on"},
	} {
		tr, err := Read(tt.name, strings.NewReader(tt.data))
		if err != nil || !slices.Equal(tr.Jobs, want) || len(tr.Notes) != 1 || !strings.HasPrefix(tr.Notes[0], tt.note) {
			t.Errorf("%s: %v (%v), want its 2 jobs and the note %q", tt.name, tr, err, tt.note)
		}
	}
	// UTF-16 without its byte order mark is still named as such.
	be := []byte{}
	for _, c := range []byte("submit_s,duration_s,gpus\n0,60,1\n") {
		be = append(be, 0, c)
	}
	if _, err := Read("be.csv", bytes.NewReader(be)); err == nil || !strings.Contains(err.Error(), "this is UTF-16 text without a byte order mark") {
		t.Errorf("UTF-16BE without its mark: %v", err)
	}
	_, err := Read("mixed.csv", strings.NewReader(rows+nuls(3)+"90,60,1\n"))
	if want := `mixed.csv:4: NUL bytes, then text (a file whose part was zeroed, or binary data?) (want rows of text; NUL bytes only as padding, on lines of their own or at the file's end)`; err == nil || err.Error() != want {
		t.Errorf("NULs before a row's text: got %v, want %s", err, want)
	}
}

// TestBlankRunRefused: a stream of NUL bytes or empty lines that does not
// end (--trace /dev/zero, a generator stuck on empty lines piped in) was
// read for ever, at full CPU, taking no memory and giving no row; past
// MaxBlankRun bytes of them in a row it is refused, naming the line the
// run began on. Each stream here runs just past the bound, and ends, so that the
// reader before the bound returns rather than hangs.
func TestBlankRunRefused(t *testing.T) {
	endless := func(unit string) io.Reader {
		return &repeated{unit: strings.Repeat(unit, 4096), n: MaxBlankRun/4096 + 2}
	}
	const header = "submit_s,duration_s,gpus\n"
	for _, tt := range []struct {
		name string
		r    io.Reader
		line int
	}{
		{"zero", endless("\x00"), 1},
		{"lines", endless("\n"), 1},
		{"crlf-after-header", io.MultiReader(strings.NewReader(header), endless("\r\n")), 2},
		{"zeros-after-rows", io.MultiReader(strings.NewReader(header+"0,60,1\n30,60,2\n"), endless("\x00")), 4},
		{"spaces-in-json", io.MultiReader(strings.NewReader("[\n"), endless(" ")), 2},
	} {
		_, err := Read(tt.name, tt.r)
		var te *Error
		if !errors.Is(err, ErrBlankRun) || !errors.As(err, &te) || te.File != tt.name || te.Line != tt.line || !strings.Contains(te.Want, "at most 64 MiB") {
			t.Errorf("%s: %v, want ErrBlankRun at line %d", tt.name, err, tt.line)
		}
	}
}

// TestLoadStopsWhileOpeningFIFO: a FIFO given as the trace that no writer
// opens (mkfifo jobs; simulate --trace jobs, its producer not started)
// waited in open(2) for ever, Ctrl-C or not; LoadContext gives up once
// its context is done. Should the open not give up, a writer opens the
// FIFO after 30 s, and the test fails rather than hangs.
func TestLoadStopsWhileOpeningFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "jobs.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The open given up on is let go once the test is done.
	defer func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := make(chan error, 1)
	go func() {
		_, err := LoadContext(ctx, fifo, Options{})
		res <- err
	}()
	var err error
	select {
	case err = <-res:
	case <-time.After(30 * time.Second):
		w, werr := os.OpenFile(fifo, os.O_WRONLY, 0)
		if werr != nil {
			t.Fatal(werr)
		}
		w.Close()
		t.Errorf("LoadContext under a context done waited 30 s for the FIFO's writer: %v", <-res)
		return
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "reading trace jobs.csv stopped") {
		t.Fatalf("a FIFO with no writer, read under a context done: %v, want the read stopped (context.Canceled)", err)
	}
}

// TestPhillyLogFieldOfAnotherType: a Philly JSON log with a field of
// another JSON type than the log's (a Unix time as a number, from a
// conversion) was refused with Go's words, "cannot unmarshal number into
// Go struct field phillyJob.submitted_time of type string", naming a type
// of this package's; it says which field holds what, what the log has
// there, and for a time how to write one.
func TestPhillyLogFieldOfAnotherType(t *testing.T) {
	const at = `"2017-10-07 01:11:39"`
	for _, tt := range []struct{ job, want string }{
		{`{"jobid":"a","submitted_time":1507338699,"attempts":[]}`, `log.json: job 1: submitted_time is a JSON number, where the log has a string: not of the log's type (want a JSON array of Philly jobs`},
		{`{"jobid":"a","submitted_time":` + at + `,"attempts":[{"start_time":` + at + `,"end_time":true}]}`, `job 1: attempts.end_time is a JSON bool, where the log has a string`},
		{`{"jobid":"a","submitted_time":` + at + `,"attempts":{}}`, `job 1: attempts is a JSON object, where the log has an array`},
		{`{"jobid":"a","submitted_time":` + at + `,"attempts":[{"detail":[{"gpus":"gpu0"}]}]}`, `job 1: attempts.detail.gpus is a JSON string, where the log has an array`},
	} {
		_, err := Read("log.json", strings.NewReader("["+tt.job+"]"))
		if !errors.Is(err, errJSONType) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "Go struct") {
			t.Errorf("%s: %v, want %q", tt.job, err, tt.want)
		}
	}
	_, err := Read("log.json", strings.NewReader(`[{"jobid":"a","submitted_time":1507338699}]`))
	if want := `jq's strftime("%Y-%m-%d %H:%M:%S")`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a Unix time: %v, want it to say %s", err, want)
	}
}

// TestCountsSayWhatTheyCount: a count of instances (PAI's inst_num) or
// workers (worker_num; node_num's nodes likewise) out of range or not a whole
// number was refused wanting "a whole number of GPUs", which is not what
// the column holds; each wants its own.
func TestCountsSayWhatTheyCount(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"pai.csv", "job_name,task_name,inst_num,status,start_time,end_time,plan_cpu,plan_mem,plan_gpu,gpu_type\nj1,t1,1e9,Terminated,0,10,600,29,100,V100\n",
			`pai.csv:2: column inst_num: "1e9": out of range (want a whole number of instances from 0 to 1048576)`},
		{"spot.csv", "job_name,organization,gpu_model,cpu_request,gpu_request,worker_num,submit_time,duration,job_type\nj,o,A10,8,1,two,0,60,x\n",
			`spot.csv:2: column worker_num: "two": not a whole number (want a whole number of workers from 1 to 1048576)`},
	} {
		if _, err := Read(tt.name, strings.NewReader(tt.data)); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.want)
		}
	}
}

// TestPhillyLogNullTimes: a job log whose times are JSON null (a
// conversion writes Python's None so) was reported in words the log does
// not hold: a job whose last end_time is null was skipped as "end_time
// None", and a null submitted_time was shown as the string "null"; one
// written as the string "None" was "not a date-time".
func TestPhillyLogNullTimes(t *testing.T) {
	const attempt = `"attempts": [{"start_time": "2017-10-07 01:00:00", "end_time": null, "detail": [{"gpus": ["gpu0"]}]}]`
	tr, err := Read("running.json", strings.NewReader(`[{"jobid": "a", "submitted_time": "2017-10-07 01:00:00", `+attempt+`}]`))
	if err != nil || len(tr.Skipped) != 1 || !strings.Contains(tr.Skipped[0].Why, "end_time None or null") {
		t.Errorf("a last end_time null: skipped %v (%v), want the job skipped as running, its end_time null", tr, err)
	}
	_, err = Read("nosubmit.json", strings.NewReader(`[{"jobid": "a", "submitted_time": null, `+attempt+`}]`))
	if err == nil || strings.Contains(err.Error(), `"null"`) || !strings.Contains(err.Error(), "submitted_time is null or missing") {
		t.Errorf("submitted_time null: %v, want it said to be null, not the string \"null\"", err)
	}
	// As a string, "None" (Python's str(None)) was "not a date-time".
	_, err = Read("nonesubmit.json", strings.NewReader(`[{"jobid": "a", "submitted_time": "None", `+attempt+`}]`))
	if err == nil || strings.Contains(err.Error(), "not a date-time") || !strings.Contains(err.Error(), `job 1 (jobid "a"): submitted_time is "None", a null written as text, where the log has the time the job was submitted`) {
		t.Errorf("submitted_time \"None\": %v, want it said to be a null written as text", err)
	}
}

// TestEmptyRowsAreBounded: rows holding no job (a spreadsheet's ",,,"
// and repeated headers) were skipped and counted without bound, so 100
// MB of ",,\n" from 102 KB of gzip were read for 25 s, and loaded. A run
// past MaxEmptyRows is refused from the line it starts on; as many as a
// spreadsheet holds before a job still load.
func TestEmptyRowsAreBounded(t *testing.T) {
	const head = "submit_s,duration_s,gpus\n0,60,1\n"
	const want = " (want rows of jobs, with at most 1048576 empty rows and repeated headers in a row (a spreadsheet holds 1,048,576 rows); a file whose empty rows are its fault reads once they are gone: grep -v '^[,;|[:space:]]*$')"
	for _, tt := range []struct {
		name, rows, want string
		jobs             int
	}{
		{"commas.csv.gz", strings.Repeat(",,\n", MaxEmptyRows+1), "commas.csv.gz:3: more than 1048576 rows in a row that hold no job (empty rows such as ,,, and repeated headers)" + want, 0},
		{"headers.csv.gz", strings.Repeat("submit_s,duration_s,gpus\n,,\n", MaxEmptyRows/2+1), "headers.csv.gz:3: more than 1048576 rows in a row that hold no job (empty rows such as ,,, and repeated headers)" + want, 0},
		{"spreadsheet.csv.gz", strings.Repeat(",,\n", MaxEmptyRows) + "5,60,1\n" + strings.Repeat(",,\n", MaxEmptyRows), "", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			readExpecting(t, tt.name, gzipped(t, []byte(head+tt.rows)), tt.jobs, tt.want, ErrEmptyRows)
		})
	}
}
