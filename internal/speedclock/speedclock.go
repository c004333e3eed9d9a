// Package speedclock is a clock that runs faster than the wall clock: a
// fixed number of simulated seconds pass per real second. The demo shares
// one between the emulator, the server and the simulated cluster, so that a
// busy day of a real trace passes in minutes while every component keeps
// reading the same time.
package speedclock

import (
	"fmt"
	"math"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// MaxSpeed bounds the speed-up: beyond it a one-second tick would be
// shorter than a millisecond of real time.
const MaxSpeed = 3600

// Clock is a clock.WithTicker whose time starts at Epoch and advances Speed
// times as fast as the real clock. Durations handed to its timers, tickers
// and Sleep are simulated durations. The times delivered on its channels
// are simulated times. It is safe for concurrent use.
type Clock struct {
	epoch time.Time
	start time.Time
	speed float64
	real  clock.PassiveClock
}

var _ clock.WithTicker = (*Clock)(nil)

// New returns a clock reading epoch now and advancing speed times as fast
// as real (clock.RealClock{} when nil; its timers are always real ones).
// speed must be in [1, MaxSpeed].
func New(epoch time.Time, speed float64, real clock.PassiveClock) (*Clock, error) {
	if math.IsNaN(speed) || speed < 1 || speed > MaxSpeed {
		return nil, fmt.Errorf("speed %v: want a number from 1 to %d (simulated seconds per real second)", speed, MaxSpeed)
	}
	if real == nil {
		real = clock.RealClock{}
	}
	return &Clock{epoch: epoch, start: real.Now(), speed: speed, real: real}, nil
}

// Speed is how many simulated seconds pass per real second.
func (c *Clock) Speed() float64 { return c.speed }

// Now returns the simulated time.
func (c *Clock) Now() time.Time { return c.simAt(c.real.Now()) }

// Since returns the simulated time elapsed since t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Real converts a simulated duration into the real duration it takes.
func (c *Clock) Real(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return max(time.Duration(float64(d)/c.speed), 1)
}

// Sim converts a real duration into the simulated duration that passes.
func (c *Clock) Sim(d time.Duration) time.Duration { return time.Duration(float64(d) * c.speed) }

func (c *Clock) simAt(real time.Time) time.Time {
	return c.epoch.Add(c.Sim(real.Sub(c.start)))
}

// After returns a channel that receives the simulated time once d of
// simulated time has passed.
func (c *Clock) After(d time.Duration) <-chan time.Time { return c.NewTimer(d).C() }

// Sleep blocks for d of simulated time.
func (c *Clock) Sleep(d time.Duration) { time.Sleep(c.Real(d)) }

// Tick returns the channel of a new ticker (never stopped; prefer NewTicker).
func (c *Clock) Tick(d time.Duration) <-chan time.Time { return c.NewTicker(d).C() }

// NewTimer returns a timer that fires once d of simulated time has passed.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	t := &timer{c: c, out: make(chan time.Time, 1)}
	t.t = time.AfterFunc(c.Real(d), t.fire)
	return t
}

// NewTicker returns a ticker with a period of d simulated time.
func (c *Clock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic(fmt.Sprintf("speedclock: non-positive ticker period %v", d))
	}
	t := &ticker{c: c, out: make(chan time.Time, 1), period: c.Real(d)}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t = time.AfterFunc(t.period, t.fire)
	return t
}

// timer delivers simulated times on its own channel; time.AfterFunc starts
// no goroutine until it fires, so a stopped timer leaves nothing behind.
type timer struct {
	c   *Clock
	t   *time.Timer
	out chan time.Time
}

func (t *timer) fire() {
	select {
	case t.out <- t.c.Now():
	default:
	}
}

func (t *timer) C() <-chan time.Time { return t.out }
func (t *timer) Stop() bool          { return t.t.Stop() }
func (t *timer) Reset(d time.Duration) bool {
	return t.t.Reset(t.c.Real(d))
}

type ticker struct {
	c      *Clock
	out    chan time.Time
	period time.Duration

	mu      sync.Mutex // guards t and stopped against fire
	t       *time.Timer
	stopped bool
}

// fire delivers a tick, dropping it when the reader lags (as time.Ticker
// does), and arms the next one.
func (t *ticker) fire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	select {
	case t.out <- t.c.Now():
	default:
	}
	t.t.Reset(t.period)
}

func (t *ticker) C() <-chan time.Time { return t.out }

// Stop stops the ticker; no tick is sent after it returns.
func (t *ticker) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.t.Stop()
}
