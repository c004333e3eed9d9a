package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestEmulatorFlagRanges: the flags take the control API's ranges, and the
// error names the flag, the value and the range.
func TestEmulatorFlagRanges(t *testing.T) {
	base := emulatorOptions{ec2: "127.0.0.1:0", logLevel: "info"}
	for _, tt := range []struct {
		set  func(*emulatorOptions)
		want string
	}{
		{func(o *emulatorOptions) { o.latency = -time.Second }, "--latency -1s is out of range: want a duration from 0s to 24h0m0s"},
		{func(o *emulatorOptions) { o.bootDelay = 25 * time.Hour }, "--boot-delay 25h0m0s is out of range"},
		{func(o *emulatorOptions) { o.faultRate = 1.5 }, "--fault-rate 1.5 is out of range: want a fraction from 0 to 1"},
		{func(o *emulatorOptions) { o.stock = []string{strings.Repeat("p", 100) + ".x=1"} }, "at most 64 characters"},
		{func(o *emulatorOptions) { o.quotas = []string{"ec2@" + strings.Repeat("a", 40) + "=1"} }, "at most 32 characters"},
	} {
		o := base
		tt.set(&o)
		err := runEmulator(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
}
