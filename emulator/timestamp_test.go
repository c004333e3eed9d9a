package emulator_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/spillway-io/spillway/emulator"
)

// TestRequestTimestamps: both APIs refuse a signing time more than
// MaxRequestSkew off the cloud's clock (Options.RequestClock), and a
// malformed one, with the clouds' codes; a request within the bound, or
// without a signing time (signatures are not checked), is served.
func TestRequestTimestamps(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	emu := emulator.New(emulator.Options{RequestClock: func() time.Time { return now }})
	ec2URL, ecsURL, call := serveForms(t, emu)
	ec2 := func(stamp string) url.Values {
		f := url.Values{"Action": {"DescribeAvailabilityZones"}, "Version": {"2016-11-15"}}
		if stamp != "" {
			f.Set("X-Amz-Date", stamp)
		}
		return f
	}
	ecs := func(stamp string) url.Values {
		f := url.Values{"Action": {"DescribeZones"}, "Version": {emulator.ECSVersion}, "RegionId": {"cn-hangzhou"}}
		if stamp != "" {
			f.Set("Timestamp", stamp)
		}
		return f
	}
	const ec2Layout, ecsLayout = "20060102T150405Z", "2006-01-02T15:04:05Z"
	for _, tc := range []struct {
		name     string
		url      string
		form     url.Values
		wantCode string // "" = served
	}{
		{"EC2 14m59s behind", ec2URL, ec2(now.Add(-14*time.Minute - 59*time.Second).Format(ec2Layout)), ""},
		{"EC2 15m1s behind", ec2URL, ec2(now.Add(-15*time.Minute - time.Second).Format(ec2Layout)), "RequestExpired"},
		{"EC2 15m1s ahead", ec2URL, ec2(now.Add(15*time.Minute + time.Second).Format(ec2Layout)), "RequestExpired"},
		{"EC2 malformed", ec2URL, ec2("2026-12-01T12:00:00Z"), "IncompleteSignature"},
		{"EC2 unsigned", ec2URL, ec2(""), ""},
		{"ECS 14m59s ahead", ecsURL, ecs(now.Add(14*time.Minute + 59*time.Second).Format(ecsLayout)), ""},
		{"ECS 15m1s ahead", ecsURL, ecs(now.Add(15*time.Minute + time.Second).Format(ecsLayout)), "InvalidTimeStamp.Expired"},
		{"ECS 1h behind", ecsURL, ecs(now.Add(-time.Hour).Format(ecsLayout)), "InvalidTimeStamp.Expired"},
		{"ECS malformed", ecsURL, ecs("20261201T120000Z"), "InvalidTimeStamp.Format"},
		{"ECS unsigned", ecsURL, ecs(""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := call(tc.url, tc.form)
			if tc.wantCode == "" {
				if status != 200 {
					t.Errorf("status %d, want 200: %s", status, body)
				}
				return
			}
			if status != 400 || code != tc.wantCode {
				t.Errorf("status %d code %q, want 400 %s: %s", status, code, tc.wantCode, body)
			}
		})
	}
}
