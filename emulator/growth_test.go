package emulator

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestInventedNamesDoNotGrowTheEmulator: a client naming a new region in
// every call is served MaxRegions regions per API, then refused with the
// clouds' own codes (EC2 AuthFailure, ECS InvalidRegionId.NotFound, each
// saying the bound), while the regions it already named are still served;
// the throttling buckets stay bounded by the regions served, and a launch
// that finds no stock in a zone, or no quota in a region, leaves no entry
// behind. Each new region added buckets, and each zone or region tried a
// stock or quota entry, for ever.
func TestInventedNamesDoNotGrowTheEmulator(t *testing.T) {
	e := New(Options{Throttle: true, Seed: 1})
	e.SetStock("p4d.24xlarge", "", 0)
	e.SetVCPUQuota(APIEC2, "", 100)
	ec2 := httptest.NewServer(e.EC2Handler())
	defer ec2.Close()
	ecs := httptest.NewServer(e.ECSHandler())
	defer ecs.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	call := func(u string, form url.Values, region string) (int, string) {
		t.Helper()
		form = maps.Clone(form)
		if u == ecs.URL {
			form.Set("RegionId", region)
		}
		req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if u == ec2.URL {
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260302/"+region+"/ec2/aws4_request, SignedHeaders=host, Signature=x")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	launch := url.Values{"Version": {"2016-11-15"}, "Action": {"RunInstances"}, "ImageId": {"ami-1"}, "InstanceType": {"p4d.24xlarge"}, "MinCount": {"1"}, "MaxCount": {"1"}}
	big := maps.Clone(launch)
	big.Set("InstanceType", "g5.48xlarge") // 192 vCPUs, past the quota
	describeEC2 := url.Values{"Version": {"2016-11-15"}, "Action": {"DescribeInstances"}}
	describeECS := url.Values{"Version": {ECSVersion}, "Action": {"DescribeInstances"}}
	region := func(i int) string { return fmt.Sprintf("xx-made%d-1", i) }
	for i := range MaxRegions {
		if status, body := call(ec2.URL, launch, region(i)); status != http.StatusInternalServerError || !strings.Contains(body, "InsufficientInstanceCapacity") {
			t.Fatalf("EC2 launch in region %d: %d %s; want InsufficientInstanceCapacity (no stock)", i, status, body)
		}
		if status, body := call(ec2.URL, big, region(i)); status != http.StatusBadRequest || !strings.Contains(body, "VcpuLimitExceeded") {
			t.Fatalf("EC2 launch past the quota in region %d: %d %s; want VcpuLimitExceeded", i, status, body)
		}
		if status, body := call(ecs.URL, describeECS, region(i)); status != http.StatusOK {
			t.Fatalf("ECS region %d: %d %s", i, status, body)
		}
	}
	for _, tt := range []struct {
		name, url string
		form      url.Values
		status    int
		code      string
	}{
		{"EC2", ec2.URL, describeEC2, http.StatusUnauthorized, "<Code>AuthFailure</Code><Message>Credential should be scoped to a valid region, not &#39;xx-made64-1&#39; (the emulator serves at most 64 regions, and serves xx-made0-1, "},
		{"ECS", ecs.URL, describeECS, http.StatusNotFound, `"Code":"InvalidRegionId.NotFound","Message":"The specified RegionId xx-made64-1 does not exist (the emulator serves at most 64 regions, and serves xx-made0-1, `},
	} {
		if status, body := call(tt.url, tt.form, region(MaxRegions)); status != tt.status || !strings.Contains(body, tt.code) {
			t.Errorf("%s, region %d: %d %s; want %d %s", tt.name, MaxRegions+1, status, body, tt.status, tt.code)
		}
		if status, body := call(tt.url, tt.form, region(0)); status != http.StatusOK {
			t.Errorf("%s, a region already served: %d %s; want it served", tt.name, status, body)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// Per region: DescribeInstances (unfiltered) and RunInstances with its
	// resource bucket on EC2, DescribeInstances on ECS.
	if n := len(e.buckets); n > 4*MaxRegions {
		t.Errorf("%d throttling buckets after calls naming %d regions; want at most %d", n, MaxRegions+1, 4*MaxRegions)
	}
	if len(e.byOffer) != 0 || len(e.byAccount) != 0 {
		t.Errorf("%d stock and %d quota entries after launches that created nothing; want none", len(e.byOffer), len(e.byAccount))
	}
}

// TestControlSettingsAreBounded: the control API keeps at most
// MaxOfferSettings stock settings (and as many not-sold ones), and quotas
// in at most MaxRegions regions of an API; past them a new setting is
// refused naming the bound, while one already held can still be changed.
func TestControlSettingsAreBounded(t *testing.T) {
	e := New(Options{Seed: 1})
	for i := range MaxOfferSettings {
		e.SetStock(fmt.Sprintf("t%d.large", i), "us-east-1b", 1)
		e.SetOffered(fmt.Sprintf("t%d.large", i), "us-east-1a", false)
	}
	for i := range MaxRegions {
		e.SetVCPUQuota(APIEC2, fmt.Sprintf("xx-made%d-1", i), 8)
	}
	srv := httptest.NewServer(e.EC2Handler())
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for _, tt := range []struct{ path, body, want string }{
		{"stock", `{"instance_type":"new.large","count":3}`, "at most 10000 stock settings"},
		{"stock", `{"instance_type":"new.large","zone":"us-east-1a","offered":false}`, "at most 10000 stock settings and 10000 not-sold settings"},
		{"stock", `{"instance_type":"t7.large","zone":"us-east-1b","count":3}`, ""},
		{"stock", `{"instance_type":"t7.large","zone":"us-east-1a","offered":true}`, ""},
		{"quota", `{"api":"ec2","region":"xx-new-1","vcpus":8}`, `xx-new-1\": the emulator serves at most 64 regions`},
		{"quota", `{"api":"ec2","region":"xx-made3-1","vcpus":16}`, ""},
		{"quota", `{"api":"ecs","region":"xx-new-1","vcpus":8}`, ""},
	} {
		resp, err := hc.Post(srv.URL+"/_emulator/"+tt.path, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if tt.want == "" && resp.StatusCode != http.StatusOK || tt.want != "" && (resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tt.want)) {
			t.Errorf("POST %s %s: %d %.300s; want %q", tt.path, tt.body, resp.StatusCode, body, tt.want)
		}
	}
}
