package api_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/apitest"
	"github.com/spillway-io/spillway/api/tokens"
)

// scene is a backend at scale: pools pool-00… each with a six-hour
// timeline sampled every tick and one schedule floor, and in pool-00 the
// given numbers of manual bursts (by alice, b-0001 the oldest) and
// instances.
type scene struct {
	pools, bursts, instances int
	tick                     time.Duration
	// schedules adds as many more active schedule floors to pool-00.
	schedules int
}

func (sc scene) backend(t testing.TB) *apitest.Memory {
	t.Helper()
	t0 := apitest.FixtureTime
	m := apitest.NewMemory("acme", func() time.Time { return t0 })
	for p := range sc.pools {
		var tl []api.TimelinePoint
		for at := t0.Add(-6 * time.Hour); !at.After(t0); at = at.Add(sc.tick) {
			k := int(at.Sub(t0) / sc.tick)
			tl = append(tl, api.TimelinePoint{Time: at, OnPremBusy: 60 + k%4, CloudGPUs: 8 * (k % 3), QueuedGPUs: k % 7, Spend: 900 + float64(k)/10})
		}
		d := api.PoolDetail{Name: fmt.Sprintf("pool-%02d", p), Manual: api.ManualLimits{MaxGPUs: 64},
			Snapshot: api.Snapshot{Time: t0.Add(-10 * time.Second), OnPremTotal: 64, OnPremBusy: 60},
			Spend:    api.Spend{Accrued: 900, Budget: 20000},
			Floors:   []api.Floor{{Kind: "schedule", Owner: "weekday-peak", Reason: "cron 0 8 * * 1-5", GPUs: 16, Until: t0.Add(8 * time.Hour)}}}
		if p == 0 {
			for i := range sc.schedules {
				d.Floors = append(d.Floors, api.Floor{Kind: "schedule", Owner: fmt.Sprintf("team-%03d", i), Reason: "cron 0 9 * * *", GPUs: 1, Until: t0.Add(time.Hour)})
			}
			for i := range sc.instances {
				d.Instances = append(d.Instances, api.Instance{ID: fmt.Sprintf("i-%017d", i), Pool: d.Name, Provider: "aws-use1", Offering: "aws-p5-spot",
					InstanceType: "p5.48xlarge", Zone: "us-east-1a", Spot: true, GPUs: 8, BusyGPUs: i % 9, State: "running", LaunchedAt: t0.Add(-time.Hour), PricePerHour: 31.04})
			}
		}
		m.AddPool(d, tl)
	}
	for i := range sc.bursts {
		if _, err := m.CreateBurst(context.Background(), api.CreateBurstRequest{Pool: "pool-00", GPUs: 1, For: api.Duration(time.Hour),
			Reason: fmt.Sprintf("INC-%d: a script opening bursts in a loop", i+1)}, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// get is GET path with the viewer's token, the raw body (as the server
// sent it: compact JSON) decoded into out when set.
func (e *env) get(path string, out any) []byte {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.tok[tokens.Viewer])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return b
}

// TestStatusAndPoolAreBounded: GET /v1/status and GET /v1/pools/{pool}
// carried every active floor and instance, so a script that opened 2,000
// bursts made the status (which the CLI and every dashboard poll) 216 kB
// and a pool of 5,000 instances made its answer megabytes. Status now
// carries each pool's schedules' floors and newest bursts' (10), the pool
// 100 floors and the first 100 instances by ID, each saying how many it
// left out and where they are listed, and following those links lists
// exactly the rest.
func TestStatusAndPoolAreBounded(t *testing.T) {
	e := newEnvWith(t, api.Options{Backend: scene{pools: 1, bursts: 2000, instances: 5000, tick: time.Minute}.backend(t)})

	var st api.Status
	raw := e.get("/v1/status", &st)
	t.Logf("GET /v1/status with 2,000 bursts and 5,000 instances: %d bytes", len(raw))
	if len(raw) > 8<<10 {
		t.Errorf("GET /v1/status is %d bytes, want at most 8 KiB", len(raw))
	}
	p := st.Pools[0]
	var shown []string
	for _, f := range p.ActiveFloors {
		shown = append(shown, cmp.Or(f.Burst, f.Owner))
	}
	want := "weekday-peak b-2000 b-1999 b-1998 b-1997 b-1996 b-1995 b-1994 b-1993 b-1992 b-1991"
	if got := strings.Join(shown, " "); got != want || p.Floors != 2001 || p.FloorsOmitted != 1990 ||
		p.MoreFloors != "/v1/bursts?limit=1000&pool=pool-00" || p.Instances != 5000 {
		t.Errorf("status's pool: floors %d, active_floors %s, floors_omitted %d, more_floors %q, instances %d\nwant 2001, %s, 1990, /v1/bursts?limit=1000&pool=pool-00, 5000",
			p.Floors, got, p.FloorsOmitted, p.MoreFloors, p.Instances, want)
	}
	// The link lists the bursts left out, oldest first.
	var more api.Page[api.Burst]
	e.get(p.MoreFloors, &more)
	if n := len(more.Items); n != 1000 || more.Items[0].ID != "b-0001" || more.Items[n-1].ID != "b-1000" {
		t.Errorf("more_floors lists %d bursts, want b-0001 to b-1000", n)
	}
	var pools api.Page[api.PoolSummary]
	if raw := e.get("/v1/pools", &pools); len(raw) > 8<<10 || len(pools.Items[0].ActiveFloors) != 11 || pools.Items[0].FloorsOmitted != 1990 {
		t.Errorf("GET /v1/pools: %d bytes, %d active floors, %d omitted; want at most 8 KiB, 11, 1990", len(raw), len(pools.Items[0].ActiveFloors), pools.Items[0].FloorsOmitted)
	}

	var d api.PoolDetail
	raw = e.get("/v1/pools/pool-00", &d)
	t.Logf("GET /v1/pools/pool-00: %d bytes", len(raw))
	if len(raw) > 64<<10 {
		t.Errorf("GET /v1/pools/pool-00 is %d bytes, want at most 64 KiB", len(raw))
	}
	if len(d.Floors) != 101 || d.Floors[0].Owner != "weekday-peak" || d.Floors[1].Burst != "b-2000" || d.FloorsOmitted != 1900 ||
		d.MoreFloors != "/v1/bursts?limit=1000&pool=pool-00" {
		t.Errorf("pool's floors: %d from %s, omitted %d, more %q; want 101 from weekday-peak then b-2000, 1900 omitted", len(d.Floors), d.Floors[0].Owner, d.FloorsOmitted, d.MoreFloors)
	}
	if len(d.Instances) != 100 || d.Instances[99].ID != "i-00000000000000099" || d.InstancesOmitted != 4900 ||
		d.MoreInstances != "/v1/instances?cursor=i-00000000000000099&pool=pool-00" {
		t.Errorf("pool's instances: %d, omitted %d, more %q; want the first 100 by ID, 4900 omitted, the next page", len(d.Instances), d.InstancesOmitted, d.MoreInstances)
	}
	// The next page of instances, followed to its end, is the rest.
	seen, next := map[string]bool{}, d.MoreInstances
	for next != "" {
		var pg api.Page[api.Instance]
		e.get(next, &pg)
		for _, in := range pg.Items {
			seen[in.ID] = true
		}
		next = ""
		if pg.Next != "" {
			next = "/v1/instances?pool=pool-00&cursor=" + pg.Next
		}
	}
	if len(seen) != 4900 || seen["i-00000000000000099"] || !seen["i-00000000000000100"] || !seen["i-00000000000004999"] {
		t.Errorf("more_instances led to %d instances, want the 4,900 after the first 100", len(seen))
	}

	// A pool within the bounds says nothing is left out.
	small := newEnv(t, false)
	for _, path := range []string{"/v1/status", "/v1/pools/training"} {
		if body := string(small.get(path, nil)); strings.Contains(body, "omitted") || strings.Contains(body, "more_") {
			t.Errorf("GET %s with nothing left out: %s", path, body)
		}
	}
}

// TestPageIsBoundedAtScale: the status page listed every active floor,
// each with its Cancel form, and drew every timeline sample, so 2,000
// bursts made it 832 kB and 50 pools at a 10 s tick 5.2 MB, fetched again
// at every refresh (30 s). Each pool's floors table now shows its
// schedules and 20 newest bursts and counts the rest, with the command
// that lists them, and its chart thins to what its pixels can show.
func TestPageIsBoundedAtScale(t *testing.T) {
	e := newEnvWith(t, api.Options{Backend: scene{pools: 50, bursts: 2000, instances: 5000, tick: 10 * time.Second}.backend(t)})
	b := newBrowser(e)
	b.login(tokens.Operator)
	resp, page := b.get("/")
	t.Logf("the page with 50 pools at a 10 s tick, 2,000 bursts and 5,000 instances: %d bytes", len(page))
	if resp.StatusCode != http.StatusOK || len(page) > 1<<20 {
		t.Errorf("the page: %d, %d bytes; want 200, at most 1 MiB", resp.StatusCode, len(page))
	}
	pool0 := page[strings.Index(page, `id="pool-pool-00"`):strings.Index(page, `id="pool-pool-01"`)]
	if n := strings.Count(pool0, `<tr class="floor">`); n != 21 || strings.Count(pool0, `class="cancel"`) != 20 ||
		!strings.Contains(pool0, `id="cancel-b-2000"`) || !strings.Contains(pool0, `id="cancel-b-1981"`) || strings.Contains(pool0, `id="cancel-b-1980"`) {
		t.Errorf("pool-00's floors table: %d rows, want weekday-peak and the newest bursts b-2000 to b-1981", n)
	}
	if want := `<p id="more-floors-pool-00">… and 1980 older manual bursts: <code>spillway burst list --pool pool-00</code> lists them all, <code>spillway burst cancel ID</code> cancels one.</p>`; !strings.Contains(pool0, want) {
		t.Errorf("pool-00 does not say what it left out: want %s", want)
	}
	if n := strings.Count(pool0, `<tr class="instance">`); n != 50 || !strings.Contains(pool0, "… and 4950 more") {
		t.Errorf("pool-00's instances: %d rows, want 50 and the 4950 more counted", n)
	}
	if strings.Contains(page, `id="more-floors-pool-01"`) {
		t.Error("pool-01, with one floor, says floors were left out")
	}
}

// TestEveryFloorIsReachable: what /v1/status and /v1/pools/{pool} leave
// out of a pool's floors must be listed where more_floors points, and the
// lists' next cursors followed to their end. They cut the floors to 10 (100)
// counting the schedules', so a pool with more schedules firing at once
// than that lost the rest, which more_floors (a burst listing) never
// lists, and its count of older bursts was wrong; more than 1,000 omitted
// bursts are reached through the listing's next cursor.
func TestEveryFloorIsReachable(t *testing.T) {
	for _, tc := range []struct {
		name                string
		schedules, bursts   int
		path                string
		wantShown, wantMore int
	}{
		{"status, 12 schedules", 11, 30, "/v1/status", 12 + 10, 20},
		{"status, 2,500 bursts", 0, 2500, "/v1/status", 1 + 10, 2490},
		{"pool, 120 schedules", 119, 150, "/v1/pools/pool-00", 120 + 100, 50},
		{"pool, 2,500 bursts", 0, 2500, "/v1/pools/pool-00", 1 + 100, 2400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, api.Options{Backend: scene{pools: 1, bursts: tc.bursts, schedules: tc.schedules, tick: time.Minute}.backend(t)})
			var floors []api.Floor
			var omitted int
			var more string
			if tc.path == "/v1/status" {
				var st api.Status
				e.get(tc.path, &st)
				floors, omitted, more = st.Pools[0].ActiveFloors, st.Pools[0].FloorsOmitted, st.Pools[0].MoreFloors
			} else {
				var d api.PoolDetail
				e.get(tc.path, &d)
				floors, omitted, more = d.Floors, d.FloorsOmitted, d.MoreFloors
			}
			reached := map[string]bool{}
			for _, f := range floors {
				reached[cmp.Or(f.Burst, f.Owner)] = true
			}
			if len(floors) != tc.wantShown || omitted != tc.wantMore {
				t.Errorf("%s shows %d floors and omits %d, want %d and %d", tc.path, len(floors), omitted, tc.wantShown, tc.wantMore)
			}
			listed := 0
			for next := more; next != ""; {
				var pg api.Page[api.Burst]
				e.get(next, &pg)
				for _, b := range pg.Items {
					if listed < omitted && reached[b.ID] {
						t.Errorf("more_floors lists %s, which %s shows, among the %d it left out", b.ID, tc.path, omitted)
					}
					listed++
					reached[b.ID] = true
				}
				next = ""
				if pg.Next != "" {
					next = "/v1/bursts?pool=pool-00&cursor=" + pg.Next
				}
			}
			if want := 1 + tc.schedules + tc.bursts; len(reached) != want {
				t.Errorf("%s and the links from it reach %d floors, want all %d", tc.path, len(reached), want)
			}
			for i := range tc.schedules {
				if o := fmt.Sprintf("team-%03d", i); !reached[o] {
					t.Errorf("schedule %s's floor is neither shown nor listed", o)
					break
				}
			}
		})
	}
}
