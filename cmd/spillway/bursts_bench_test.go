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

// BenchmarkAPIBurstsOnSQLite is GET /v1/bursts over a long-lived server's
// SQLite state: 20,000 ended manual bursts and 50 open ones.
func BenchmarkAPIBurstsOnSQLite(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "state.db"), sqlite.WithSync(sqlite.SyncNormal))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	t0 := now.Add(-30000 * time.Minute)
	for i := range 20050 {
		fl := state.Floor{ID: fmt.Sprintf("b-%08d", i), Pool: "train", Kind: state.FloorManual, Owner: "oncall", Reason: "incident", GPUs: 8,
			Start: t0.Add(time.Duration(i) * time.Minute), Until: t0.Add(time.Duration(i)*time.Minute + time.Hour), CreatedAt: t0}
		if i >= 20000 {
			fl.Until = now.Add(time.Hour)
		}
		if err := st.CreateFloor(ctx, fl); err != nil {
			b.Fatal(err)
		}
		if i < 20000 {
			if err := st.EndFloor(ctx, fl.ID, fl.Until, "ttl"); err != nil {
				b.Fatal(err)
			}
		}
	}
	srv := backendOver(b, st, policy.Pool{Name: "train", Manual: policy.Manual{MaxGPUs: 8}})
	for _, path := range []string{"/v1/bursts", "/v1/bursts?all=true&limit=100"} {
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
