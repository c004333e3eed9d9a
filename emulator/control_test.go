package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spillway-io/spillway/emulator"
)

// TestStalledResponseRetriedWithSameToken is the lost-response case: the
// launch is executed, its response never reaches a client with a shorter
// timeout, and the retry with the same client token gets the same instances.
func TestStalledResponseRetriedWithSameToken(t *testing.T) {
	emu, c := newEC2(t, emulator.Options{})
	emu.StallResponses("RunInstances", 1, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := c.RunInstances(ctx, runInput(4, 4, "intent-lost", nil))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled launch: %v, want the client's deadline", err)
	}
	if n := len(emu.Instances()); n != 4 {
		t.Fatalf("the stalled launch created %d instances, want 4 (executed before the stall)", n)
	}
	out, err := c.RunInstances(context.Background(), runInput(4, 4, "intent-lost", nil))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(out.Instances) != 4 || len(emu.Instances()) != 4 {
		t.Errorf("retry returned %d and the emulator holds %d instances, want 4 and 4 (no duplicate)", len(out.Instances), len(emu.Instances()))
	}
	if n := emu.Calls("ec2:RunInstances"); n != 2 {
		t.Errorf("Calls = %d, want 2", n)
	}
}

func TestLatencyIsAdded(t *testing.T) {
	emu, c := newEC2(t, emulator.Options{Latency: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a call shorter than the latency: %v, want a deadline error", err)
	}
	emu.SetLatency(0)
	if _, err := c.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("latency 0: %v", err)
	}
}

func postJSON(t *testing.T, hc *http.Client, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := hc.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: response is not JSON: %v", url, err)
	}
	return resp.StatusCode, out
}

// getState GETs the control API's state (u, with any query) and returns
// the status and the body.
func getState(t *testing.T, hc *http.Client, u string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, hc, req)
}

func TestControlAPI(t *testing.T) {
	emu, c := newEC2(t, emulator.Options{})
	srv := httptest.NewServer(emu.ECSHandler()) // the control API is on both listeners
	defer srv.Close()
	hc := testHTTPClient(t)
	ctx := context.Background()

	if code, out := postJSON(t, hc, srv.URL+"/_emulator/stock", `{"instance_type":"p4d.24xlarge","zone":"us-east-1a","count":1}`); code != 200 {
		t.Fatalf("stock: %d %v", code, out)
	}
	if _, err := c.RunInstances(ctx, runInput(2, 2, "", nil)); apiCode(err) != "InsufficientInstanceCapacity" {
		t.Errorf("after stock=1, MinCount 2: %v", err)
	}
	if code, out := postJSON(t, hc, srv.URL+"/_emulator/faults", `{"fault_rate":1}`); code != 200 || out["fault_rate"] != 1.0 {
		t.Fatalf("faults: %d %v", code, out)
	}
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); apiCode(err) != "InternalError" && apiCode(err) != "ServiceUnavailable" {
		t.Errorf("after fault_rate=1: %v", err)
	}
	postJSON(t, hc, srv.URL+"/_emulator/faults", `{"fault_rate":0,"boot_delay":"1m","throttle":true}`)
	out, err := c.RunInstances(ctx, runInput(1, 1, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	if code, body := postJSON(t, hc, srv.URL+"/_emulator/interrupt", `{"instance_id":"`+id+`","in":"2m"}`); code != 200 {
		t.Errorf("interrupt: %d %v", code, body)
	}
	if code, _ := postJSON(t, hc, srv.URL+"/_emulator/interrupt", `{"instance_id":"i-00000000000000000","in":"2m"}`); code != 404 {
		t.Errorf("interrupt of an unknown instance: %d, want 404", code)
	}
	if code, _ := postJSON(t, hc, srv.URL+"/_emulator/stall", `{"action":"DescribeInstances","count":1,"duration":"10ms"}`); code != 200 {
		t.Errorf("stall: %d", code)
	}
	if code, body := postJSON(t, hc, srv.URL+"/_emulator/quota", `{"api":"ec2","vcpus":96000}`); code != 200 {
		t.Errorf("quota: %d %v", code, body)
	}
	for _, bad := range []struct{ path, body string }{
		{"/_emulator/quota", `{"api":"gce","vcpus":1}`},
		{"/_emulator/quota", `{"api":"ec2"}`},
		{"/_emulator/faults", `{"fault_rate":2}`},
		{"/_emulator/faults", `{"latency":"soon"}`},
		{"/_emulator/stock", `{"zone":"us-east-1a","count":1}`},
		{"/_emulator/stall", `{"count":1}`},
		{"/_emulator/stock", `{"instance_type":"x","count":1,"extra":true}`},
	} {
		if code, body := postJSON(t, hc, srv.URL+bad.path, bad.body); code != 400 || body["error"] == "" {
			t.Errorf("POST %s %s: %d %v, want 400 with an error", bad.path, bad.body, code, body)
		}
	}

	var st emulator.State
	if _, body := getState(t, hc, srv.URL+"/_emulator/state"); json.Unmarshal(body, &st) != nil {
		t.Fatalf("state is not JSON: %.200s", body)
	}
	if !st.Settings.Throttle || time.Duration(st.Settings.BootDelay) != time.Minute || len(st.Instances) != 1 ||
		st.Instances[0].InterruptAt == nil || len(st.Quotas) != 1 || st.Quotas[0].VCPUs != 96000 || st.Calls["ec2:RunInstances"] != 2 || len(st.Stock) != 1 || st.Stock[0].Available != 0 {
		t.Errorf("state: %+v", st)
	}
}

func TestParseStock(t *testing.T) {
	tests := []struct {
		in      string
		typ     string
		zone    string
		n       int
		offered bool
		wantErr bool
	}{
		{"p4d.24xlarge@us-east-1a=4", "p4d.24xlarge", "us-east-1a", 4, true, false},
		{"ecs.gn7i-c8g1.2xlarge=10", "ecs.gn7i-c8g1.2xlarge", "", 10, true, false},
		{"p5.48xlarge=unlimited", "p5.48xlarge", "", emulator.Unlimited, true, false},
		{"p5.48xlarge@us-east-1c=none", "p5.48xlarge", "us-east-1c", 0, false, false},
		{"p5.48xlarge=none", "", "", 0, false, true},
		{"p5.48xlarge", "", "", 0, false, true},
		{"=3", "", "", 0, false, true},
		{"p5.48xlarge=many", "", "", 0, false, true},
	}
	for _, tt := range tests {
		typ, zone, n, offered, err := emulator.ParseStock(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseStock(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (typ != tt.typ || zone != tt.zone || n != tt.n || offered != tt.offered) {
			t.Errorf("ParseStock(%q) = %q %q %d %v", tt.in, typ, zone, n, offered)
		}
	}
}

func TestParseQuota(t *testing.T) {
	api, region, n, err := emulator.ParseQuota("ecs@cn-hangzhou=64")
	if err != nil || api != "ecs" || region != "cn-hangzhou" || n != 64 {
		t.Errorf("ParseQuota: %q %q %d %v", api, region, n, err)
	}
	for _, bad := range []string{"ec2", "gce=4", "ec2=-1", "ec2=lots"} {
		if _, _, _, err := emulator.ParseQuota(bad); err == nil {
			t.Errorf("ParseQuota(%q) accepted", bad)
		}
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	ec2Ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ecsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- emu.Serve(ctx, ec2Ln, ecsLn) }()
	hc := testHTTPClient(t)
	for _, ln := range []net.Listener{ec2Ln, ecsLn} {
		resp, err := hc.Get("http://" + ln.Addr().String() + "/_emulator/state")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", ln.Addr(), resp.StatusCode)
		}
	}
	hc.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled")
	}
}

// TestStatePagesInstances: GET /_emulator/state lists at most a page of
// instances (1000 unless ?limit= says otherwise), with the total and the
// offset of the next page, so the answer stays small however many
// instances there are; a bad offset or limit is a 400 naming it.
func TestStatePagesInstances(t *testing.T) {
	emu, c := newEC2(t, emulator.Options{})
	if _, err := c.RunInstances(context.Background(), runInput(1500, 1500, "", nil)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu.EC2Handler())
	defer srv.Close()
	hc := testHTTPClient(t)
	get := func(query string) (int, emulator.State, string) {
		t.Helper()
		status, body := getState(t, hc, srv.URL+"/_emulator/state"+query)
		var st emulator.State
		_ = json.Unmarshal(body, &st)
		return status, st, string(body)
	}
	all := emu.Instances()
	for _, tt := range []struct {
		query       string
		first, n    int
		next, total int
	}{
		{"", 0, emulator.DefaultStateInstances, emulator.DefaultStateInstances, 1500},
		{"?offset=1000", 1000, 500, 0, 1500},
		{"?limit=10&offset=20", 20, 10, 30, 1500},
		{"?offset=1499&limit=10000", 1499, 1, 0, 1500},
		{"?offset=99999", 0, 0, 0, 1500},
	} {
		status, st, body := get(tt.query)
		if status != 200 || len(st.Instances) != tt.n || st.NextOffset != tt.next || st.InstancesTotal != tt.total {
			t.Errorf("state%s: %d, %d instances, next %d, total %d; want 200, %d, %d, %d (%.200s)", tt.query, status,
				len(st.Instances), st.NextOffset, st.InstancesTotal, tt.n, tt.next, tt.total, body)
			continue
		}
		if tt.n > 0 && st.Instances[0].ID != all[tt.first].ID {
			t.Errorf("state%s starts at %s, want instance %d (%s)", tt.query, st.Instances[0].ID, tt.first, all[tt.first].ID)
		}
	}
	for _, tt := range []struct{ query, want string }{
		{"?limit=0", "limit"},
		{"?limit=10001", "limit"},
		{"?limit=x", "limit"},
		{"?offset=-1", "offset"},
		{"?offset=1&offset=2", "offset"},
		{"?page=2", "unknown parameter"},
	} {
		if status, _, body := get(tt.query); status != 400 || !strings.Contains(body, tt.want) {
			t.Errorf("state%s: %d %.200s, want 400 naming %s", tt.query, status, body, tt.want)
		}
	}
}
