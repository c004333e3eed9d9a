package providers_test

import (
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/spillway-io/spillway/providers"
)

// What the providers remember to ride out the clouds' eventual
// consistency is forgotten after its window, so it neither grows without
// bound nor keeps a long-gone instance "fresh".
func TestConsistencyRecordsExpire(t *testing.T) {
	cases := []struct {
		name         string
		after        time.Duration
		wantFresh    []string
		wantAttempts []string
	}{
		{"at once", 0, []string{"i-1", "i-2"}, []string{"subnet-b", "subnet-a"}},
		{"just inside the launch window", providers.ConsistencyWindow - time.Second, []string{"i-1", "i-2"}, []string{"subnet-b", "subnet-a"}},
		{"past the launch window", providers.ConsistencyWindow, nil, []string{"subnet-b", "subnet-a"}},
		{"past the resume window", providers.ResumeWindow, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
			recent := providers.NewRecentLaunches(clk)
			recent.Add("i-1", "i-2")
			attempts := providers.NewLaunchAttempts(clk)
			attempts.Note("tok", "subnet-b")
			attempts.Note("tok", "subnet-a")
			attempts.Note("tok", "subnet-b")
			clk.Step(tc.after)
			if got := recent.Fresh([]string{"i-1", "i-0", "i-2"}); !slices.Equal(got, tc.wantFresh) {
				t.Errorf("Fresh after %s = %v, want %v", tc.after, got, tc.wantFresh)
			}
			if got := attempts.Where("tok"); !slices.Equal(got, tc.wantAttempts) {
				t.Errorf("Where after %s = %v, want %v", tc.after, got, tc.wantAttempts)
			}
			recent.Add("i-3")
			if want := 1 + len(tc.wantFresh); recent.Len() != want {
				t.Errorf("after %s and one more launch, %d launches are remembered, want %d (older ones forgotten)", tc.after, recent.Len(), want)
			}
		})
	}
}
