package speedclock

import (
	"testing"
	"time"

	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNowAdvancesSpeedTimesFaster(t *testing.T) {
	epoch := time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		speed float64
		real  time.Duration
		want  time.Duration
	}{
		{1, time.Second, time.Second},
		{60, time.Second, time.Minute},
		{360, 4 * time.Minute, 24 * time.Hour},
		{3600, 500 * time.Millisecond, 30 * time.Minute},
	} {
		real := clocktesting.NewFakePassiveClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
		c, err := New(epoch, tc.speed, real)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Now(); !got.Equal(epoch) {
			t.Fatalf("speed %v: Now at start = %v, want the epoch %v", tc.speed, got, epoch)
		}
		real.SetTime(real.Now().Add(tc.real))
		if got := c.Since(epoch); got != tc.want {
			t.Errorf("speed %v: after %v real, %v simulated passed; want %v", tc.speed, tc.real, got, tc.want)
		}
		if got := c.Real(tc.want); got != tc.real {
			t.Errorf("speed %v: Real(%v) = %v, want %v", tc.speed, tc.want, got, tc.real)
		}
	}
}

func TestNewRefusesBadSpeeds(t *testing.T) {
	for _, s := range []float64{0, 0.5, -1, MaxSpeed + 1} {
		if _, err := New(time.Time{}, s, nil); err == nil {
			t.Errorf("speed %v accepted", s)
		}
	}
}

// TestTimersRunOnSimulatedTime: a 10-minute simulated ticker at 3600× ticks
// every 1/6 s of real time and delivers simulated times 10 minutes apart
// (give or take scheduling); a stopped ticker sends nothing more.
func TestTimersRunOnSimulatedTime(t *testing.T) {
	c, err := New(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), 3600, nil)
	if err != nil {
		t.Fatal(err)
	}
	tk := c.NewTicker(10 * time.Minute)
	a, b := <-tk.C(), <-tk.C()
	tk.Stop()
	if d := b.Sub(a); d < 9*time.Minute || d > 20*time.Minute {
		t.Errorf("two ticks %v apart in simulated time, want about 10m", d)
	}
	select {
	case <-tk.C(): // one tick may have been buffered before Stop
	default:
	}
	select {
	case v := <-tk.C():
		t.Errorf("stopped ticker sent %v", v)
	case <-time.After(400 * time.Millisecond):
	}

	start := c.Now()
	got := <-c.After(30 * time.Minute)
	if d := got.Sub(start); d < 30*time.Minute {
		t.Errorf("After(30m) fired after %v of simulated time", d)
	}
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Error("Stop of a pending timer returned false")
	}
	tm.Reset(time.Minute)
	<-tm.C()
	before := c.Now()
	c.Sleep(time.Minute)
	if d := c.Since(before); d < time.Minute {
		t.Errorf("Sleep(1m) returned after %v simulated", d)
	}
}
