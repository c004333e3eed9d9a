package trace

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestWhereKeepsNone: a --where that no row passes (a value misspelt, a
// column's values in another case) loaded an empty trace, and the
// backtest had nothing to run, saying only that every row was skipped;
// it is refused, naming the where, the rows it left out and the values
// the rows hold in its column.
func TestWhereKeepsNone(t *testing.T) {
	many := "submit_s,duration_s,gpus\n"
	for i := range 12 {
		many += fmt.Sprintf("%d,60,%d\n", i, i+1)
	}
	sacct, err := os.ReadFile("testdata/sacct.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, data string
		where      []Where
		err        string
	}{
		{"joblog.csv", "job_id,vc,gpu_num,submit_time,duration\n1,vca,1,2020-06-09 18:41:00,60\n2,vcb,2,2020-06-09 18:41:10,60\n3,vca,4,2020-06-09 18:41:20,60\n",
			[]Where{{"vc", []string{"VCA"}}},
			`joblog.csv: "vc=VCA": --where keeps no row: it leaves out 3 rows (want values the rows hold: vc holds "vca", "vcb")`},
		{"joblog.csv", "job_id,vc,state,gpu_num,submit_time,duration\n1,vca,FAILED,1,2020-06-09 18:41:00,60\n2,vcb,COMPLETED,2,2020-06-09 18:41:10,60\n",
			[]Where{{"vc", []string{"vca"}}, {"state", []string{"COMPLETED"}}},
			`joblog.csv: "vc=vca and state=COMPLETED": --where keeps no row: it leaves out 2 rows (want values the rows hold: vc holds "vca", "vcb"; state holds "FAILED", "COMPLETED")`},
		{"many.csv", many, []Where{{"gpus", []string{"99"}}},
			`many.csv: "gpus=99": --where keeps no row: it leaves out 12 rows (want values the rows hold: gpus holds "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", …)`},
		{"philly_log.json", `[{"status":"Pass","vc":"ee9e8c","jobid":"a","user":"u","submitted_time":"2017-10-03 02:57:38","attempts":[{"start_time":"2017-10-03 02:57:39","end_time":"2017-10-03 03:57:39","detail":[{"ip":"m1","gpus":["gpu0"]}]}]}]`,
			[]Where{{"vc", []string{"zzz"}}},
			`philly_log.json: "vc=zzz": --where keeps no row: it leaves out 1 row (want values the rows hold: vc holds "ee9e8c")`},
		{"sacct.txt", string(sacct), []Where{{"Partition", []string{"zzz"}}},
			`sacct.txt: "Partition=zzz": --where keeps no row: it leaves out 7 rows (want values the rows hold: Partition holds "gpu", "cpu")`},
		{"tasks.csv", "a,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0,V100\nb,worker,1.0,Terminated,10.0,20.0,600.0,29.3,100.0,P100\n",
			[]Where{{"gpu_type", []string{"T4"}}},
			`tasks.csv: "gpu_type=T4": --where keeps no row: it leaves out 2 rows (want values the rows hold: gpu_type holds "V100", "P100")`},
	} {
		_, err := ReadWith(tt.name, strings.NewReader(tt.data), Options{Where: tt.where})
		var te *Error
		if !errors.As(err, &te) || !errors.Is(err, ErrKeptNone) || !strings.HasPrefix(err.Error(), tt.err) {
			t.Errorf("%s %v: got %v;\nwant %s", tt.name, tt.where, err, tt.err)
		}
	}
	// Rows the where keeps that are skipped for another reason are no
	// such error: the load says why they were skipped.
	tr, err := ReadWith("joblog.csv", strings.NewReader("job_id,vc,gpu_num,submit_time,duration\n1,vca,0,2020-06-09 18:41:00,60\n2,vcb,2,2020-06-09 18:41:10,60\n"),
		Options{Where: []Where{{"vc", []string{"vca"}}}})
	if err != nil || len(tr.Jobs) != 0 || len(tr.Skipped) != 2 {
		t.Errorf("a kept row without GPUs: got %v, %v; want no jobs, 2 skips", tr, err)
	}
}
