package providers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPastDeadline(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   time.Duration // the deadline from now; 0: none
		past bool
	}{
		{"no deadline", 0, false},
		{"deadline ahead", time.Hour, false},
		{"deadline passed", -time.Second, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.in != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, time.Now().Add(tt.in))
				defer cancel()
			}
			err := PastDeadline(ctx, "POST / not sent")
			if !tt.past {
				if err != nil {
					t.Fatalf("PastDeadline = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "POST / not sent: its deadline passed 1") {
				t.Errorf("PastDeadline = %v, want context.DeadlineExceeded naming what was not done and how late", err)
			}
		})
	}
}
