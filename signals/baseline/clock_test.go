package baseline

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// TestPrometheusQueriesAtItsClock: the baseline's queries are evaluated at
// the injected clock's instant (the API's time parameter), not wall time.
func TestPrometheusQueriesAtItsClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var got []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.FormValue("time"))
		w.Header().Set("Content-Type", "application/json")
		if r.FormValue("query") == AgentUnhealthyQuery {
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"Hostname":"gpu-01","gpu":"0","UUID":"GPU-1","modelName":"H100"},"value":[%d,"50"]}]}}`, at.Unix())
	}))
	defer api.Close()
	src, err := NewPrometheus(PrometheusConfig{Name: "site", URL: api.URL, Clock: clocktesting.NewFakePassiveClock(at)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(at.Unix(), 10)
	if len(got) != 2 || got[0] != want || got[1] != want || !b.Time.Equal(at) || len(b.GPUs) != 1 || !b.GPUs[0].Busy {
		t.Errorf("queries at %v, baseline %+v; want both queries (utilisation, unhealthy) at %s and one busy GPU read at %v", got, b, want, at)
	}
}
