package statetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spillway-io/spillway/state"
)

// ok fails the case at once on an error.
func ok(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one matching %v", what, err, target)
	}
}

// same fails unless got and want are deeply equal.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, show(got), show(want))
	}
}

// show prints a value for a failure message, one slice element a line.
func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Struct {
		var b strings.Builder
		fmt.Fprintf(&b, "%d items", rv.Len())
		for i := range rv.Len() {
			fmt.Fprintf(&b, "\n  %+v", rv.Index(i).Interface())
		}
		return b.String()
	}
	return fmt.Sprintf("%+v", v)
}

// intent is a pending intent with every field set.
func intent(id, pool string, created time.Time) state.Intent {
	return state.Intent{
		ID:          id,
		Pool:        pool,
		Provider:    "aws",
		Offering:    "p5-use1-spot",
		Count:       2,
		Floor:       "",
		Reason:      "demand 16 GPUs over baseline",
		ClientToken: "spw-" + id,
		Epoch:       7,
		Params:      "3f2a9c",
		Status:      state.IntentPending,
		CreatedAt:   created,
		UpdatedAt:   created,
	}
}

// instance is a running instance with every field set.
func instance(provider, id, pool string, launched time.Time) state.Instance {
	return state.Instance{
		ID:             id,
		Provider:       provider,
		Pool:           pool,
		Offering:       "p5-use1-spot",
		IntentID:       "intent-" + id,
		Floor:          "floor-nightly",
		Zone:           "us-east-1a",
		InstanceType:   "p5.48xlarge",
		Market:         "spot",
		PrivateIP:      "10.0.3.17",
		State:          state.InstanceRunning,
		GPUs:           8,
		PricePerHour:   31.464,
		Billing:        "per-second",
		LaunchedAt:     launched,
		JoinedAt:       launched.Add(3 * time.Minute),
		BusyGPUs:       5,
		IdleSince:      launched.Add(40 * time.Minute),
		DrainStartedAt: launched.Add(50 * time.Minute),
		DrainHookAt:    launched.Add(50*time.Minute + time.Second),
		ReclaimedAt:    launched.Add(49 * time.Minute),
		EndedAt:        time.Time{},
		EndReason:      "",
		UpdatedAt:      launched.Add(51 * time.Minute),
	}
}

// floor is an open manual floor from start until start+d.
func floor(id, pool string, start time.Time, d time.Duration) state.Floor {
	return state.Floor{
		ID:        id,
		Pool:      pool,
		Kind:      state.FloorManual,
		Owner:     "alice@example.org",
		Reason:    "paper deadline",
		GPUs:      16,
		Offering:  "p5-use1-od",
		Start:     start,
		Until:     start.Add(d),
		CreatedAt: start.Add(-time.Minute),
	}
}

// ids returns the IDs of floors, in order.
func floorIDs(fls []state.Floor) []string {
	out := []string{}
	for _, f := range fls {
		out = append(out, f.ID)
	}
	return out
}

func intentIDs(ins []state.Intent) []string {
	out := []string{}
	for _, in := range ins {
		out = append(out, in.ID)
	}
	return out
}

func instanceKeys(ins []state.Instance) []string {
	out := []string{}
	for _, in := range ins {
		out = append(out, in.Provider+"/"+in.ID)
	}
	return out
}

func decisionIDs(ds []state.Decision) []int64 {
	out := []int64{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func auditIDs(es []state.AuditEntry) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}
