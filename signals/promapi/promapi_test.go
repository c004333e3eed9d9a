package promapi

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/spillway-io/spillway/signals/httpclient"
)

// TestLimit: a body up to the limit reads whole; a byte more fails with
// ErrTooLarge, whether the answer announces its length, streams it
// without one, or is gzipped (the limit is on what the gzip unpacks to).
func TestLimit(t *testing.T) {
	const max = 1000
	for _, tc := range []struct {
		name    string
		size    int
		length  bool // send Content-Length
		gzipped bool
		tooBig  bool
	}{
		{"short", 10, true, false, false},
		{"exactly the limit", max, true, false, false},
		{"exactly the limit, streamed", max, false, false, false},
		{"a byte over, announced", max + 1, true, false, true},
		{"a byte over, streamed", max + 1, false, false, true},
		{"far over, streamed", 100 * max, false, false, true},
		{"gzipped, small", max / 2, false, true, false},
		{"gzipped, unpacks past the limit", 50 * max, false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Repeat("x", tc.size)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case tc.gzipped:
					w.Header().Set("Content-Encoding", "gzip")
					zw := gzip.NewWriter(w)
					io.WriteString(zw, body)
					zw.Close()
				case tc.length:
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
					io.WriteString(w, body)
				default:
					w.(http.Flusher).Flush() // chunked: no length
					io.WriteString(w, body)
				}
			}))
			defer srv.Close()
			c := &http.Client{Transport: Limit(http.DefaultTransport, max)}
			resp, err := c.Get(srv.URL)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			switch {
			case tc.tooBig && !errors.Is(err, ErrTooLarge):
				t.Fatalf("read %d bytes, err %v: want ErrTooLarge", len(got), err)
			case !tc.tooBig && (err != nil || string(got) != body):
				t.Fatalf("read %d of %d bytes, err %v: want all of it", len(got), len(body), err)
			}
		})
	}
}

// TestNewRefusesAHugeAnswer: a query whose answer is past the limit fails,
// naming it, after reading no more than the limit of an answer that goes
// on and on (a smaller limit than MaxBody, to keep the test light).
func TestNewRefusesAHugeAnswer(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`)
		chunk := []byte(strings.Repeat(`{"metric":{"gpu":"0"},"value":[1,"1"]},`, 1000))
		for r.Context().Err() == nil && sent.Load() < 64<<20 {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	api, err := newWith(srv.URL, nil, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, _, err = api.Query(ctx, "up", time.Now())
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "longer than 1048576 bytes") || sent.Load() >= 64<<20 {
		t.Fatalf("err %v after %d bytes sent: want the answer refused for its size", err, sent.Load())
	}
}

func TestNewBadURL(t *testing.T) {
	if _, err := New("://nope", nil, nil); err == nil {
		t.Fatal("no error for a URL that does not parse")
	}
}

// TestNewRedirects: a query redirected within Prometheus's host is
// answered; one redirected to another host is refused, naming both URLs,
// and the other host never asked.
func TestNewRedirects(t *testing.T) {
	const answer = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"7"]}]}}`
	var elsewhere atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/prom/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	})
	mux.HandleFunc("/moved/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/prom/api/v1/query?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/away/api/v1/query", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/api/v1/query?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range []struct{ path, want string }{
		{"/moved", ""},
		{"/away", "redirected from " + srv.URL + "/away/api/v1/query"},
	} {
		api, err := New(srv.URL+tt.path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, _, _, err := api.Query(ctx, "up", time.Unix(1, 0))
		switch {
		case tt.want == "" && (err != nil || v.String() != "{} => 7 @[1]"):
			t.Errorf("%s: %v, error %v; want the answer", tt.path, v, err)
		case tt.want != "" && (!httpclient.IsRedirect(err) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), other.URL)):
			t.Errorf("%s: error %v; want a refused redirect containing %q and %s", tt.path, err, tt.want, other.URL)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host was asked %d times, want never", n)
	}
}

// TestQueryRefusesAnswersWithoutANumber: an answer client_golang decodes
// but that holds no number fails the query with ErrNoNumber, saying what
// is missing: the sources dereferenced its nil result or null sample (a
// panic that ended the server), or read a native histogram's sample as 0.
// A well-formed answer reads as before.
func TestQueryRefusesAnswersWithoutANumber(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"no data", `{"status":"success"}`, "the answer has no result (check that the url is Prometheus's)"},
		{"null data", `{"status":"success","data":null}`, "the answer has no result"},
		{"null answer", `null`, "the answer has no result"},
		{"null sample", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2"]},null]}}`, "sample 1 of 2 is null"},
		{"native histogram", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"q"},"histogram":[1,{"count":"3","sum":"9"}]}]}}`,
			`series {job="q"} is a native histogram, not a number (read one of its numbers, e.g. histogram_count(...)`},
		{"a sample with a timestamp only", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"q"},"value":[1,"2"]},{"metric":{"job":"r"},"value":[1]}]}}`,
			`sample 1 of 2 (series {"job":"r"}): its value is [1]: want [timestamp, "number"]`},
		{"a sample with an empty value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[]}]}}`, `its value is []: want [timestamp, "number"]`},
		{"a sample with a null value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":null}]}}`, `its value is null: want`},
		{"a sample with a null number", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,null]}]}}`, `its value is [1,null]: want`},
		{"a sample without a value", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"q"}}]}}`, `(series {"job":"q"}): its value is missing`},
		{"a sample of three", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"2",3]}]}}`, `its value is [1,"2",3]: want`},
		{"a scalar with a timestamp only", `{"status":"success","data":{"resultType":"scalar","result":[1]}}`, `the scalar is [1]: want`},
		{"a matrix point with a timestamp only", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"q"},"values":[[1,"2"],[2]]}]}}`, `point 1 of series 0 ({"job":"q"}): is [2]: want`},
		{"Go's hexadecimal float", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"q"},"value":[1,"0x1p4"]}]}}`, `"0x1p4" is not a number`},
		{"digits with underscores", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"q"},"values":[[1,"1_000"]]}]}}`, `"1_000" is not a number`},
		{"a null series in a matrix", `{"status":"success","data":{"resultType":"matrix","result":[null]}}`, "series 0 of 1 is null"},
		{"a vector", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"q"},"value":[1,"2"]}]}}`, ""},
		{"a vector of NaN and infinities (the sources bound what they read)", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"NaN"]},{"metric":{"a":"2"},"value":[1,"+Inf"]},{"metric":{"a":"3"},"value":[1,"-Inf"]}]}}`, ""},
		{"a scalar", `{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}`, ""},
		{"a matrix", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"q"},"values":[[1,"2"],[2,"3"]]}]}}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			api, err := New(srv.URL, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, _, _, err := api.Query(context.Background(), "q", time.Unix(1, 0))
			switch {
			case tt.want == "" && (err != nil || v == nil):
				t.Errorf("%v, error %v; want the answer", v, err)
			case tt.want != "" && (!errors.Is(err, ErrNoNumber) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("%v, error %v; want ErrNoNumber saying %q", v, err, tt.want)
			}
		})
	}
}

// TestQueryRangeRefusesPointsWithoutANumber: a range query's point that
// is not [timestamp, "number"] fails it with ErrNoNumber, as an instant
// query's sample does.
func TestQueryRangeRefusesPointsWithoutANumber(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"q"},"values":[[1,"2"],[2,[]]]}]}}`)
	}))
	defer srv.Close()
	api, err := New(srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, _, _, err := api.QueryRange(context.Background(), "q", v1.Range{Start: time.Unix(1, 0), End: time.Unix(2, 0), Step: time.Second})
	if !errors.Is(err, ErrNoNumber) || !strings.Contains(err.Error(), `point 1 of series 0 ({"job":"q"}): is [2,[]]: want [timestamp, "number"]`) {
		t.Fatalf("%v, error %v; want ErrNoNumber naming the point", v, err)
	}
}

// TestQueryBoundsWarnings: an answer with a million warnings, or one of a
// megabyte, returns MaxNotes warnings of at most MaxNoteLen bytes, the
// last counting the rest: the sources log each warning every tick.
func TestQueryBoundsWarnings(t *testing.T) {
	for _, tt := range []struct {
		name     string
		warnings []string
		want     []string
	}{
		{"a few", []string{"a", "b"}, []string{"a", "b"}},
		{"a million", slices.Repeat([]string{"w"}, 1e6), append(slices.Repeat([]string{"w"}, MaxNotes-1), "… and 999991 more")},
		{"a long one", []string{strings.Repeat("x", 1<<20)}, []string{strings.Repeat("x", MaxNoteLen) + "…"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]any{"status": "success", "warnings": tt.warnings,
				"data": map[string]any{"resultType": "scalar", "result": []any{1, "2"}}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write(body)
			}))
			defer srv.Close()
			api, err := New(srv.URL, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, warnings, _, err := api.Query(context.Background(), "q", time.Unix(1, 0))
			if err != nil || !slices.Equal(warnings, tt.want) {
				t.Errorf("%d warnings (%v), first %.40q; want %d", len(warnings), err, warnings, len(tt.want))
			}
		})
	}
}

// TestQueryBusy: a 429 or 503 answer whose Retry-After reads as seconds
// or a date fails the query with a *BusyError carrying the wait (read at
// New's clock, within httpclient.MaxRetryAfter), which the demand sources'
// retries honour; any other failing answer keeps client_golang's error.
func TestQueryBusy(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		status int
		header string
		want   time.Duration // 0: no *BusyError
	}{
		{"429 in seconds", 429, "30", 30 * time.Second},
		{"503 as a date", 503, "Sun, 01 Mar 2026 12:02:00 GMT", 2 * time.Minute},
		{"a day, read as the cap", 503, "86400", httpclient.MaxRetryAfter},
		{"429 without Retry-After", 429, "", 0},
		{"junk", 503, "later", 0},
		{"500 with Retry-After", 500, "30", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				http.Error(w, "overloaded", tt.status)
			}))
			defer srv.Close()
			api, err := New(srv.URL, nil, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = api.Query(context.Background(), "q", now)
			var busy *BusyError
			switch {
			case err == nil:
				t.Fatal("the query succeeded; want an error")
			case tt.want == 0 && errors.As(err, &busy):
				t.Errorf("error %v is a *BusyError; want client_golang's own", err)
			case tt.want > 0 && (!errors.As(err, &busy) || busy.After != tt.want):
				t.Errorf("error %v; want a *BusyError asking for %v", err, tt.want)
			case tt.want > 0 && !strings.Contains(err.Error(), `(want 2xx): "overloaded", asking to be retried after `+tt.want.String()):
				t.Errorf("error %q does not quote the answer and the wait", err)
			}
		})
	}
}

// TestQueryRefusesPartialAnswers: VictoriaMetrics answers "isPartial":
// true, with status success, when a storage node did not answer: the
// series it holds are missing, and a sum of pending jobs read low (or a
// baseline without some GPUs) was read as the whole. Such an answer fails
// the query with ErrPartial; "isPartial": false is read.
func TestQueryRefusesPartialAnswers(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		partial    bool
	}{
		{"partial vector", `{"status":"success","isPartial":true,"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}`, true},
		{"partial scalar", `{"status":"success","isPartial":true,"data":{"resultType":"scalar","result":[1,"3"]}}`, true},
		{"whole", `{"status":"success","isPartial":false,"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"3"]}]}}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			api, err := New(srv.URL, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, _, _, err := api.Query(context.Background(), "sum(q)", time.Unix(1, 0))
			if got := errors.Is(err, ErrPartial); got != tt.partial || (!tt.partial && err != nil) {
				t.Errorf("%v, error %v; want partial %v", v, err, tt.partial)
			}
			if tt.partial && err != nil && !strings.Contains(err.Error(), "storage node did not answer") {
				t.Errorf("error %q does not say why", err)
			}
		})
	}
}

// FuzzPointsHaveNumbers: whatever a query's answer holds, checking it
// ends; an answer that says it is partial is refused as partial, and one
// that is not a successful query's is left to client_golang.
func FuzzPointsHaveNumbers(f *testing.F) {
	for _, s := range []string{`{"status":"success","isPartial":true,"data":{"resultType":"vector","result":[]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0x1p4"]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2]]}]}}`,
		`{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}`,
		`{"status":"error","isPartial":true}`, `null`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := pointsHaveNumbers(body)
		var a struct {
			Status    string `json:"status"`
			IsPartial bool   `json:"isPartial"`
		}
		decoded := json.Unmarshal(body, &a) == nil
		switch {
		case err != nil && !errors.Is(err, ErrPartial) && !errors.Is(err, ErrNoNumber):
			t.Fatalf("error %v, want ErrPartial or ErrNoNumber", err)
		case err != nil && (!decoded || a.Status != "success"):
			t.Fatalf("error %v for an answer that is not a successful query's", err)
		case decoded && a.Status == "success" && a.IsPartial && !errors.Is(err, ErrPartial):
			t.Fatalf("a partial answer: error %v, want ErrPartial", err)
		}
	})
}

// TestQueryPastTheLimitAllocatesNearIt: client_golang read an answer into
// a bytes.Buffer, doubling as it filled, and one streaming past a limit of
// 32 MiB took 128 MB (a gigabyte at MaxBody), each read.
func TestQueryPastTheLimitAllocatesNearIt(t *testing.T) {
	const max = 32 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[`)
		chunk := strings.Repeat(" ", 1<<16)
		for sent := 0; r.Context().Err() == nil && sent <= max; sent += len(chunk) {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	api, err := newWith(srv.URL, nil, nil, max)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, _, _, err = api.Query(context.Background(), "up", time.Now())
	runtime.ReadMemStats(&after)
	got := after.TotalAlloc - before.TotalAlloc
	if !errors.Is(err, ErrTooLarge) || got > max+max/4 {
		t.Errorf("allocated %d bytes, error %v; want ErrTooLarge having allocated at most %d", got, err, max+max/4)
	}
}
