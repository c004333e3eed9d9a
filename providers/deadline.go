package providers

import (
	"context"
	"fmt"
	"time"
)

// PastDeadline is an error wrapping context.DeadlineExceeded when ctx's
// deadline has passed by the clock, whether or not ctx is done yet; nil
// otherwise. net/http and exec check only whether a context is done, and
// its timer may not have fired: in a process resumed after a SIGSTOP, or
// starved on a loaded machine, the goroutine making a call runs before
// the timer's. A leader's cloud call, Terraform run or drain hook,
// bounded by its term's end (scheduler.Leader), then went out after the
// term had ended, when another server may act. Each checks this last,
// just before it sends or starts; the window left is from the check to
// the write. what names what is not done ("POST / not sent").
//
// It reads the wall clock, not an injected one, on purpose: what it
// guards against is the process's own timers lagging the clock.
func PastDeadline(ctx context.Context, what string) error {
	dl, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	if late := time.Since(dl); late >= 0 {
		return fmt.Errorf("%s: its deadline passed %s ago, before this process could act (paused or starved): %w",
			what, late.Round(time.Millisecond), context.DeadlineExceeded)
	}
	return nil
}
