package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/state"
	"github.com/spillway-io/spillway/state/sqlite"
)

// BenchmarkAPIPoolOnSQLite is GET /v1/pools/{pool} through the real backend
// over a SQLite state holding 5,000 live instances and 100,000 decisions.
func BenchmarkAPIPoolOnSQLite(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "state.db"), sqlite.WithSync(sqlite.SyncNormal))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	rows := make([]state.Instance, 0, 5000)
	for i := range 5000 {
		rows = append(rows, state.Instance{ID: fmt.Sprintf("i-%017x", i), Provider: "aws", Pool: "train", Offering: "p5",
			InstanceType: "p5.48xlarge", State: state.InstanceRunning, GPUs: 8, BusyGPUs: 8, PricePerHour: 98.32,
			LaunchedAt: now, JoinedAt: now, UpdatedAt: now})
	}
	if err := st.PutInstances(ctx, rows); err != nil {
		b.Fatal(err)
	}
	plan := []byte(`{"pool":"train","summary":"launch 1× p5","launches":[{"offering":"p5","count":1,"reason":"queue overflow"}]}`)
	for i := range 100000 {
		if _, err := st.AddDecision(ctx, state.Decision{Pool: "train", Time: now.Add(time.Duration(i) * time.Second), Summary: "launch 1× p5", Plan: plan}); err != nil {
			b.Fatal(err)
		}
	}
	srv := backendOver(b, st, policy.Pool{Name: "train", Manual: policy.Manual{MaxGPUs: 8}})
	for _, path := range []string{"/v1/pools/train", "/v1/decisions?pool=train&limit=100"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n == 0 {
					b.Fatalf("%s: %s", path, resp.Status)
				}
			}
		})
	}
}
