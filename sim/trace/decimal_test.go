package trace

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestGoNumberSyntax: Go's strconv reads 1_000 as 1000 and 0x1p4 as 16,
// and a trace's fields were read with it, so a field no trace writes (a
// hand edit, a script's formatting) became a job of other sizes and
// times than the file says; each is refused, naming file, line, column
// and value and saying what number would be valid.
func TestGoNumberSyntax(t *testing.T) {
	const want = "not a decimal number: write digits with an optional point and exponent (1000, 1.5, 2e3), without '_' between them or a 0x prefix"
	for _, tt := range []struct {
		name, data, err string
	}{
		{"generic.csv", "submit_s,duration_s,gpus\n0,60,1\n10,1_000,1\n", `generic.csv:3: column duration_s: "1_000": ` + want},
		{"generic.csv", "submit_s,duration_s,gpus\n0,60,1\n0x1p4,60,1\n", `generic.csv:3: column submit_s: "0x1p4": ` + want},
		{"generic.csv", "submit_s,duration_s,gpus\n0,60,1\n10,60,0x8p0\n", `generic.csv:3: column gpus: "0x8p0": ` + want},
		{"generic.csv", "submit_s,duration_s,gpus\n0,60,1\n10,60,1_6\n", `generic.csv:3: column gpus: "1_6": ` + want},
		{"generic.csv", "submit_s,duration_s,gpus\n0,60,1\n10,-0X1P4,1\n", `generic.csv:3: column duration_s: "-0X1P4": ` + want},
		{"generic.csv", "submit_s,duration_s,gpus,cpus\n0,60,1,1_6\n", `generic.csv:2: column cpus: "1_6": ` + want},
		{"itp.csv", "job_id,submission_time,duration,num_gpu\na,0,1_0.5,1\n", `itp.csv:2: column duration: "1_0.5": ` + want},
		{"joblog.csv", "job_id,submit_time,duration,gpu_num\n1,0x1p30,60,1\n", `joblog.csv:2: column submit_time: "0x1p30": ` + want},
		{"joblog.csv", "job_id,submit_time,duration,gpu_num\n1,2020-05-01 00:00:00,60,0x1p-1\n", `joblog.csv:2: column gpu_num: "0x1p-1": ` + want},
		{"tasks.csv", "a,worker,1.0,Terminated,10.0,20.0,600.0,29.3,1_00,V100\n", `tasks.csv:1: column plan_gpu: "1_00": ` + want},
	} {
		_, err := Read(tt.name, strings.NewReader(tt.data))
		var te *Error
		if !errors.As(err, &te) || !errors.Is(err, errNotDecimal) || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("%s %q: got %v;\nwant it refused: %s", tt.name, tt.data, err, tt.err)
		}
	}
	// Decimals, exponents and signs as traces write them are read still.
	tr, err := Read("generic.csv", strings.NewReader("submit_s,duration_s,gpus\n0,6e1,1\n+10,.5e2,8.0\n20,60.,+2\n"))
	if err != nil || len(tr.Jobs) != 3 || tr.Jobs[1].Duration.Seconds() != 50 || tr.Jobs[1].GPUs != 8 || tr.Jobs[2].GPUs != 2 {
		t.Errorf("decimals: got %v, %v; want 3 jobs, the second of 50 s on 8 GPUs", tr, err)
	}
}

// TestPhillyNumberTimestamp: Philly's traces (the raw job log and the CSV
// derived from it) write their times as dates; a timestamp written as a
// number (a Unix time, a conversion's offset) was refused as "not a
// date-time" with no word on what to do; it says the number is none and
// which header reads numbers.
func TestPhillyNumberTimestamp(t *testing.T) {
	for _, v := range []string{"1507532515", "1507532515.0", "0", "1.5e9"} {
		_, err := Read("philly.csv", strings.NewReader("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,1,66.0,x\n"+v+",66.0,1,66.0,x\n"))
		want := `philly.csv:3: column timestamp: "` + v + `": a number, not a date-time (want a date-time, as Philly's traces write timestamp (2017-10-09 07:01:55); a trace of Unix times or seconds reads with the header submit_s,duration_s,gpus)`
		if !errors.Is(err, errNumberNotDate) || err.Error() != want {
			t.Errorf("%s: got %v;\nwant %s", v, err, want)
		}
	}
	// Other text is not a date-time, as before.
	_, err := Read("philly.csv", strings.NewReader("timestamp,duration,num_gpus,gpu_time,cluster\nyesterday,66.0,1,66.0,x\n"))
	if err == nil || errors.Is(err, errNumberNotDate) || !strings.Contains(err.Error(), "not a date-time") {
		t.Errorf("yesterday: got %v; want not a date-time", err)
	}
}

// TestPAITrailingEmptyColumn: PAI's task table, headerless as published,
// with a comma ending every row (saved by a spreadsheet, or joined by a
// script) was an unknown trace format, where a table with a header and
// the same commas reads; it reads as the table does without them.
func TestPAITrailingEmptyColumn(t *testing.T) {
	// The last task's gpu_type is empty, as PAI's CPU tasks' are.
	const rows = "a,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0,V100\nb,worker,2.0,Terminated,15.0,45.0,600.0,29.3,50.0,T4\nc,worker,1.0,Terminated,15.0,45.0,600.0,29.3,100.0,\n"
	want, err := Read("tasks.csv", strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	for _, end := range []string{",", ", ", ",,", "\t", ",\r"} {
		data := strings.ReplaceAll(rows, "\n", end+"\n")
		if end == "\t" {
			data = strings.ReplaceAll(strings.ReplaceAll(rows, ",", "\t"), "\n", "\t\n")
		}
		tr, err := Read("tasks.csv", strings.NewReader(data))
		if err != nil || tr.Format != FormatPAITask || !slices.Equal(tr.Jobs, want.Jobs) {
			t.Errorf("rows ending %q: got %v, %v; want the jobs %v", end, tr, err, want.Jobs)
		}
	}
	// A field past the table's ten that holds something is no PAI table.
	if _, err := Read("tasks.csv", strings.NewReader(strings.ReplaceAll(rows, "\n", ",x\n"))); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("an eleventh field: got %v, want ErrUnknownFormat", err)
	}
}
