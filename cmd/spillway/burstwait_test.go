package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/api"
	"github.com/spillway-io/spillway/api/tokens"
)

// TestBurstSaysWhyItWaits: a burst the server's tick cannot launch for
// says why on GET /v1/bursts/{id}, in the list, on its pool's floor and in
// spillway burst list: the limit with its numbers (two bursts of 16 GPUs
// hold the pool's max_gpus 32, a third waits), or the offering out of
// stock. Before, it read 0 instances and nothing else; the reason was only
// in the pool's decisions.
func TestBurstSaysWhyItWaits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stock    int // p4d in us-east-1a; -1 leaves the emulator's
		before   int // bursts of 16 GPUs opened and launched for first
		heldBy   string
		wantWhy  []string
		wantList string
	}{
		{name: "max_gpus", stock: -1, before: 2, heldBy: "max_gpus",
			wantWhy:  []string{"wants 16 more burst GPUs (2 × ", "launching 0; limit max_gpus 32 (32 burst GPUs held)"},
			wantList: "waits (max_gpus): floor "},
		{name: "out of stock", stock: 0, heldBy: "no_offering",
			wantWhy:  []string{"wants 16 more burst GPUs: no offering can be launched (", "p4d.24xlarge", "skipped: out of stock until "},
			wantList: "waits (no_offering): floor "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startAPIServer(t)
			if tc.stock >= 0 {
				s.emu.SetStock("p4d.24xlarge", "us-east-1a", tc.stock)
			}
			ctx := context.Background()
			tok := s.token(t, "alice", tokens.Operator)
			op := s.client(t, tok)
			last := api.CreateBurstRequest{Pool: "train", GPUs: 16, For: api.Duration(time.Hour), Reason: "INC-9", IdempotencyKey: "inc-9-last"}
			open := func(req api.CreateBurstRequest) api.Burst {
				t.Helper()
				b, err := op.CreateBurst(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			for range tc.before {
				b := open(api.CreateBurstRequest{Pool: "train", GPUs: 16, For: api.Duration(time.Hour), Reason: "INC-9"})
				eventually(t, "burst "+b.ID+" launched for", func() bool {
					got, err := op.Burst(ctx, b.ID)
					return err == nil && got.Instances+got.LaunchingGPUs/8 >= 2
				})
			}
			b := open(last)
			var got api.Burst
			eventually(t, "burst "+b.ID+" saying why it waits", func() bool {
				var err error
				got, err = op.Burst(ctx, b.ID)
				return err == nil && got.Waiting != ""
			})
			t.Logf("burst %s waits (%s): %s", got.ID, got.HeldBy, got.Waiting)
			if got.HeldBy != tc.heldBy || got.Instances != 0 || got.WaitingAt.Before(got.CreatedAt) {
				t.Errorf("burst %s: held_by %q, %d instances, waiting at %v, want held by %s, none, after its creation at %v",
					got.ID, got.HeldBy, got.Instances, got.WaitingAt, tc.heldBy, got.CreatedAt)
			}
			for _, w := range tc.wantWhy {
				if !strings.Contains(got.Waiting, w) {
					t.Errorf("burst %s waiting %q, want it to say %q", got.ID, got.Waiting, w)
				}
			}
			// A client's retry with the burst's key (its answer lost)
			// reads the same.
			if again := open(last); !again.Replayed || again.HeldBy != tc.heldBy {
				t.Errorf("the create sent again with its key: replayed %v, held_by %q; want the burst replayed, held by %s", again.Replayed, again.HeldBy, tc.heldBy)
			}
			bs, err := op.Bursts(ctx, "train", false)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range bs {
				if x.ID == b.ID && x.HeldBy != tc.heldBy {
					t.Errorf("listed burst %s held by %q, want %s", x.ID, x.HeldBy, tc.heldBy)
				}
			}
			d, err := op.Pool(ctx, "train")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range d.Floors {
				if f.Burst == b.ID {
					found = true
					if f.HeldBy != tc.heldBy || !strings.Contains(f.Waiting, tc.wantWhy[0]) {
						t.Errorf("pool floor of %s: held_by %q waiting %q, want %s", b.ID, f.HeldBy, f.Waiting, tc.wantWhy[0])
					}
				}
			}
			if !found {
				t.Errorf("pool floors %+v lack burst %s", d.Floors, b.ID)
			}
			t.Setenv("SPILLWAY_TOKEN", tok)
			out, _, err := runCLI(t, "burst", "list", "--server", s.url)
			if err != nil || !strings.Contains(out, b.ID+" "+tc.wantList) {
				t.Errorf("spillway burst list: %v\n%s\nwant a line %q", err, out, b.ID+" "+tc.wantList)
			}
		})
	}
}

// TestBurstOfARemovedPoolSaysSo: a burst opened in a pool that the config
// no longer has when the server starts again on the same state read
// active, with 0 instances, as if it waited its turn; nothing will launch
// for it. It says that its pool is not in the config, and how to end it.
func TestBurstOfARemovedPoolSaysSo(t *testing.T) {
	s := startAPIServer(t)
	s.emu.SetStock("p4d.24xlarge", "us-east-1a", 0) // nothing to launch, nothing left running
	tok := s.token(t, "alice", tokens.Operator)
	b, err := s.client(t, tok).CreateBurst(t.Context(), api.CreateBurstRequest{Pool: "train", GPUs: 8, For: api.Duration(time.Hour), Reason: "INC-78"})
	if err != nil {
		t.Fatal(err)
	}
	restartRenamed(t, s)
	got, err := s.client(t, tok).Burst(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := `pool "train" is not in this server's config (removed or renamed since the burst was opened): nothing launches for it; end it with spillway burst cancel ` + b.ID
	if got.State != "active" || got.HeldBy != "no_pool" || got.Waiting != want {
		t.Errorf("burst %s of a removed pool: state %s, held_by %q, waiting %q; want active, no_pool, %q", b.ID, got.State, got.HeldBy, got.Waiting, want)
	}
	bs, err := s.client(t, tok).Bursts(t.Context(), "train", false)
	if err != nil || len(bs) != 1 || bs[0].Waiting != want {
		t.Errorf("burst list --pool train: %+v, %v; want %s saying %q", bs, err, b.ID, want)
	}
}

// TestListedWaitingIsBounded: a floor's waiting names every offering
// skipped, so a pool of 60 offerings out of stock wrote about 5 kB for each
// of its floors into every /v1/status, /v1/pools and page answer; a
// listing cuts it and says where it is whole.
func TestListedWaitingIsBounded(t *testing.T) {
	skipped := strings.Repeat("aws/us-east-1/p5.48xlarge/spot skipped: out of stock until 09:12:00 UTC; ", 60)
	long := `floor "b-1" (manual) wants 16 more burst GPUs: no offering can be launched (` + skipped + ")"
	for _, tc := range []struct {
		name, why, burst, want string
	}{
		{"short", "limit max_gpus 32 (32 burst GPUs held)", "b-1", "limit max_gpus 32 (32 burst GPUs held)"},
		{"burst", long, "b-1", string([]rune(long)[:300]) + "… (GET /v1/bursts/b-1 says it whole)"},
		{"schedule", long, "", string([]rune(long)[:300]) + "… (the pool's decisions say it whole)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := listedWaiting(tc.why, tc.burst); got != tc.want {
				t.Errorf("listedWaiting(%d bytes) = %q\nwant %q", len(tc.why), got, tc.want)
			}
		})
	}
}
