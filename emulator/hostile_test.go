package emulator_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spillway-io/spillway/emulator"
)

// rawCall posts form parameters to an API handler and returns the status,
// the error code (EC2's XML or ECS's JSON envelope) and the body size.
func rawCall(t *testing.T, hc *http.Client, u string, form url.Values, header http.Header) (status int, code string, size int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	status, body := send(t, hc, req)
	return status, errorCode(body), len(body)
}

// send makes a request and returns its status and whole body.
func send(t *testing.T, hc *http.Client, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// errorCode reads the code of an EC2 XML or ECS JSON error body ("" if the
// body is not an error).
func errorCode(body []byte) string {
	var x struct {
		Errors []struct {
			Code string `xml:"Code"`
		} `xml:"Errors>Error"`
	}
	if xml.Unmarshal(body, &x) == nil && len(x.Errors) > 0 {
		return x.Errors[0].Code
	}
	var j struct{ Code string }
	if json.Unmarshal(body, &j) == nil {
		return j.Code
	}
	return ""
}

func ec2Form(kv ...string) url.Values {
	f := url.Values{"Version": {"2016-11-15"}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

func ecsForm(kv ...string) url.Values {
	f := url.Values{"Version": {emulator.ECSVersion}, "RegionId": {"cn-hangzhou"}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

func runForm(minCount, maxCount string) url.Values {
	return ec2Form("Action", "RunInstances", "ImageId", "ami-0abcdef1234567890", "InstanceType", "p4d.24xlarge",
		"MinCount", minCount, "MaxCount", maxCount)
}

// TestUnknownActionsAreNotRemembered: 1 MB action names are refused with the
// APIs' own codes and never enter the call counts, so /_emulator/state
// stays small however many arrive.
func TestUnknownActionsAreNotRemembered(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	ec2Srv := httptest.NewServer(emu.EC2Handler())
	defer ec2Srv.Close()
	ecsSrv := httptest.NewServer(emu.ECSHandler())
	defer ecsSrv.Close()
	hc := testHTTPClient(t)
	name := strings.Repeat("A", 900<<10)
	for i := range 5 {
		action := name + strconv.Itoa(i)
		if status, code, size := rawCall(t, hc, ec2Srv.URL, ec2Form("Action", action), nil); status != 400 || code != "InvalidAction" || size > 4096 {
			t.Errorf("EC2 unknown action: %d %q, %d-byte body; want 400 InvalidAction, a short body", status, code, size)
		}
		if status, code, size := rawCall(t, hc, ecsSrv.URL, ecsForm("Action", action), nil); status != 404 || code != "InvalidAction.NotFound" || size > 4096 {
			t.Errorf("ECS unknown action: %d %q, %d-byte body; want 404 InvalidAction.NotFound, a short body", status, code, size)
		}
	}
	if calls := emu.Snapshot().Calls; len(calls) != 0 {
		t.Errorf("call counts after unknown actions only: %d entries, want none", len(calls))
	}
	if status, code, _ := rawCall(t, hc, ec2Srv.URL, ec2Form("Action", "DescribeInstances"), nil); status != 200 {
		t.Fatalf("DescribeInstances: %d %s", status, code)
	}
	if n := emu.Calls("ec2:DescribeInstances"); n != 1 {
		t.Errorf("a known action is still counted: %d, want 1", n)
	}
}

// TestEC2LaunchCounts: counts beyond int32 are malformed, MaxCount is capped
// at MaxEC2LaunchCount (EC2 launches the largest possible number) and a
// MinCount beyond it is InstanceLimitExceeded.
func TestEC2LaunchCounts(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewServer(emu.EC2Handler())
	defer srv.Close()
	hc := testHTTPClient(t)
	for _, tt := range []struct {
		name, min, max string
		status         int
		code           string
	}{
		{"MaxCount beyond int64", "1", "92233720368547758070", 400, "InvalidParameterValue"},
		{"MaxCount max int64", "1", "9223372036854775807", 400, "InvalidParameterValue"},
		{"MaxCount beyond int32", "1", "2147483648", 400, "InvalidParameterValue"},
		{"MinCount max int64", "9223372036854775807", "9223372036854775807", 400, "InvalidParameterValue"},
		{"MinCount negative", "-1", "1", 400, "InvalidParameterValue"},
		{"MinCount beyond the launch quota", "5001", "6000", 400, "InstanceLimitExceeded"},
		{"MaxCount not a number", "1", "1e3", 400, "InvalidParameterValue"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status, code, _ := rawCall(t, hc, srv.URL, runForm(tt.min, tt.max), nil); status != tt.status || code != tt.code {
				t.Errorf("MinCount=%s MaxCount=%s: %d %q, want %d %s", tt.min, tt.max, status, code, tt.status, tt.code)
			}
		})
	}
	if n := len(emu.Instances()); n != 0 {
		t.Fatalf("refused launches created %d instances", n)
	}
	// MaxCount 1,000,000 through the real SDK: capped, not a 1 GB body.
	client := ec2.New(ec2.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: hc, Retryer: aws.NopRetryer{},
		Credentials: aws.AnonymousCredentials{}})
	out, err := client.RunInstances(context.Background(), &ec2.RunInstancesInput{
		ImageId: aws.String("ami-0abcdef1234567890"), InstanceType: types.InstanceTypeP4d24xlarge,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1_000_000),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Instances) != emulator.MaxEC2LaunchCount {
		t.Errorf("MaxCount 1000000 launched %d, want the cap %d", len(out.Instances), emulator.MaxEC2LaunchCount)
	}
}

// TestEC2RepeatedAndOutOfRangeParameters: a parameter given twice, and a
// list index that is 0, beyond MaxListIndex or not written plainly, are
// refused with InvalidParameterValue naming the parameter, and change
// nothing; the largest index is accepted.
func TestEC2RepeatedAndOutOfRangeParameters(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewServer(emu.EC2Handler())
	defer srv.Close()
	hc := testHTTPClient(t)
	with := func(f url.Values, kv ...string) url.Values {
		for i := 0; i+1 < len(kv); i += 2 {
			f.Add(kv[i], kv[i+1])
		}
		return f
	}
	describe := func(kv ...string) url.Values { return with(ec2Form("Action", "DescribeInstances"), kv...) }
	maxIndex := strconv.Itoa(emulator.MaxListIndex)
	for _, tt := range []struct {
		name      string
		form      url.Values
		status    int
		code, msg string
	}{
		{"MinCount twice", with(runForm("1", "1"), "MinCount", "3"), 400, "InvalidParameterValue", "MinCount is given 2 times"},
		{"MaxCount twice, same value", with(runForm("1", "1"), "MaxCount", "1"), 400, "InvalidParameterValue", "MaxCount is given 2 times"},
		{"Filter.0", describe("Filter.0.Name", "instance-type", "Filter.0.Value.1", "x"), 400, "InvalidParameterValue", "Filter.0."},
		{"Filter.99999999999", describe("Filter.99999999999.Name", "instance-type", "Filter.99999999999.Value.1", "x"), 400, "InvalidParameterValue", "list indexes run from 1 to " + maxIndex},
		{"Filter.01", describe("Filter.01.Name", "instance-type", "Filter.01.Value.1", "x"), 400, "InvalidParameterValue", "Filter.01."},
		{"Value.0", describe("Filter.1.Name", "instance-type", "Filter.1.Value.0", "x"), 400, "InvalidParameterValue", "Filter.1.Value.0"},
		{"InstanceId.-1", describe("InstanceId.-1", "i-0123456789abcdef0"), 400, "InvalidParameterValue", "InstanceId.-1"},
		{"InstanceId.+1", describe("InstanceId.+1", "i-0123456789abcdef0"), 400, "InvalidParameterValue", "InstanceId.+1"},
		{"the largest index", describe("Filter."+maxIndex+".Name", "instance-type", "Filter."+maxIndex+".Value.1", "x"), 200, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, body := send(t, hc, req)
			if code := errorCode(body); status != tt.status || code != tt.code || !strings.Contains(string(body), tt.msg) {
				t.Errorf("%d %q %s, want %d %q naming %q", status, code, body, tt.status, tt.code, tt.msg)
			}
		})
	}
	// Action in the query string and again in the body counts as twice.
	if status, code, _ := rawCall(t, hc, srv.URL+"?Action=RunInstances", ec2Form("Action", "DescribeInstances"), nil); status != 400 || code != "InvalidParameterValue" {
		t.Errorf("Action in the query and the body: %d %q, want 400 InvalidParameterValue", status, code)
	}
	if n := len(emu.Instances()); n != 0 {
		t.Errorf("refused calls launched %d instances", n)
	}
}

// TestECSRepeatedAndOutOfRangeParameters: as on EC2, a parameter given
// twice and an InstanceId.N index that is 0, negative, beyond MaxListIndex
// or not written plainly are refused with InvalidParameter naming the
// parameter, and change nothing. DeleteInstances read the first of
// InstanceId.1=a&InstanceId.1=b, released a alone and answered success, so
// a client believed b released while it ran on; an index of 0 or -1 counted
// as an id.
func TestECSRepeatedAndOutOfRangeParameters(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewServer(emu.ECSHandler())
	defer srv.Close()
	hc := testHTTPClient(t)
	launch := ecsForm("Action", "RunInstances", "ImageId", "m-1", "InstanceType", "ecs.gn7i-c8g1.2xlarge", "VSwitchId", "vsw-cn-hangzhou-h", "Amount", "2")
	if status, code, _ := rawCall(t, hc, srv.URL, launch, nil); status != 200 {
		t.Fatalf("RunInstances: %d %q", status, code)
	}
	var ids []string
	for _, in := range emu.Instances() {
		ids = append(ids, in.ID)
	}
	del := func(kv ...string) url.Values {
		f := ecsForm("Action", "DeleteInstances", "Force", "true")
		for i := 0; i+1 < len(kv); i += 2 {
			f.Add(kv[i], kv[i+1])
		}
		return f
	}
	maxIndex := strconv.Itoa(emulator.MaxListIndex)
	for _, tt := range []struct {
		name      string
		form      url.Values
		code, msg string
	}{
		{"InstanceId.1 twice", del("InstanceId.1", ids[0], "InstanceId.1", ids[1]), "InvalidParameter", `InstanceId.1\" is given 2 times`},
		{"Force twice", del("InstanceId.1", ids[0], "Force", "false"), "InvalidParameter", `Force\" is given 2 times`},
		{"InstanceId.0", del("InstanceId.0", ids[0]), "InvalidParameter", `InstanceId.0\" has the list index 0`},
		{"InstanceId.-1", del("InstanceId.-1", ids[0]), "InvalidParameter", `InstanceId.-1\" has the list index -1`},
		{"InstanceId.01", del("InstanceId.01", ids[0]), "InvalidParameter", `InstanceId.01\" has the list index 01`},
		{"InstanceId past MaxListIndex", del("InstanceId.99999999999999999999", ids[0]), "InvalidParameter", "list indexes run from 1 to " + maxIndex},
		{"Tag.0 keeps ECS's code", ecsForm("Action", "DescribeInstances", "Tag.0.Key", "a"), "InvalidTagCount", "Tag.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, body := send(t, hc, req)
			if code := errorCode(body); status != 400 || code != tt.code || !strings.Contains(string(body), tt.msg) {
				t.Errorf("%d %q %s, want 400 %q naming %s", status, code, body, tt.code, tt.msg)
			}
		})
	}
	for _, in := range emu.Instances() {
		if in.State != "pending" && in.State != "running" {
			t.Errorf("instance %s is %s after refused deletes, want it live", in.ID, in.State)
		}
	}
	// The largest index is an index like any other.
	if status, code, _ := rawCall(t, hc, srv.URL, del("InstanceId."+maxIndex, ids[0]), nil); status != 200 {
		t.Errorf("InstanceId.%s: %d %q, want 200", maxIndex, status, code)
	}
}

// TestECSBounds: ECS's Amount, PageNumber, SpotPriceLimit and RegionId
// are bounded with ECS's codes.
func TestECSBounds(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewServer(emu.ECSHandler())
	defer srv.Close()
	hc := testHTTPClient(t)
	run := func(kv ...string) url.Values {
		return ecsForm(append([]string{"Action", "RunInstances", "ImageId", "m-1", "InstanceType", "ecs.gn7i-c8g1.2xlarge"}, kv...)...)
	}
	for _, tt := range []struct {
		name string
		form url.Values
		code string
	}{
		{"Amount max int64", run("Amount", "9223372036854775807"), "InvalidParameter"},
		{"Amount 101", run("Amount", "101"), "InvalidParameter"},
		{"MinAmount beyond Amount", run("Amount", "2", "MinAmount", "3"), "InvalidParameter"},
		{"SpotPriceLimit NaN", run("SpotStrategy", "SpotWithPriceLimit", "SpotPriceLimit", "NaN"), "InvalidParameter"},
		{"SpotPriceLimit Inf", run("SpotStrategy", "SpotWithPriceLimit", "SpotPriceLimit", "+Inf"), "InvalidParameter"},
		{"SpotPriceLimit 1e300", run("SpotStrategy", "SpotWithPriceLimit", "SpotPriceLimit", "1e300"), "InvalidParameter"},
		{"InstanceType 1 KB", run("InstanceType", "ecs."+strings.Repeat("g", 1024)), "InvalidInstanceType.ValueNotSupported"},
		{"PageNumber max int64", ecsForm("Action", "DescribeInstances", "PageNumber", "9223372036854775807", "PageSize", "100"), "InvalidParameter"},
		{"PageNumber at int32 max", ecsForm("Action", "DescribeInstances", "PageNumber", "2147483647", "PageSize", "100"), ""},
		{"RegionId 1 KB", url.Values{"Version": {emulator.ECSVersion}, "Action": {"DescribeZones"}, "RegionId": {strings.Repeat("cn-", 300) + "1"}}, "InvalidRegionId.MalFormed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, code, _ := rawCall(t, hc, srv.URL, tt.form, nil)
			if code != tt.code || (tt.code == "" && status != 200) {
				t.Errorf("%d %q, want %q", status, code, tt.code)
			}
		})
	}
}

// TestTagAndNameLengths: a tag, an InstanceName or a HostName longer than
// the clouds allow is refused with their codes and launches nothing (each
// instance of a launch carried it, and each answer listing them repeated
// it: a 900 KB tag made a 100-instance launch's answer 90 MB); the longest
// allowed, counted in characters, launches. Bytes that are not UTF-8, in a
// tag or an ECS name, are refused as the clouds refuse them.
func TestTagAndNameLengths(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	ec2Srv := httptest.NewServer(emu.EC2Handler())
	defer ec2Srv.Close()
	ecsSrv := httptest.NewServer(emu.ECSHandler())
	defer ecsSrv.Close()
	hc := testHTTPClient(t)
	tagged := func(k, v string) url.Values {
		f := runForm("1", "1")
		f.Set("TagSpecification.1.ResourceType", "instance")
		f.Set("TagSpecification.1.Tag.1.Key", k)
		f.Set("TagSpecification.1.Tag.1.Value", v)
		return f
	}
	twice := func(k1, v1, k2, v2 string) url.Values {
		f := tagged(k1, v1)
		f.Set("TagSpecification.1.Tag.2.Key", k2)
		f.Set("TagSpecification.1.Tag.2.Value", v2)
		return f
	}
	ecsRun := func(kv ...string) url.Values {
		return ecsForm(append([]string{"Action", "RunInstances", "ImageId", "m-1", "InstanceType", "ecs.gn7i-c8g1.2xlarge"}, kv...)...)
	}
	r := strings.Repeat
	for _, tt := range []struct {
		name, url string
		form      url.Values
		code, msg string
	}{
		{"EC2 tag key of 129", ec2Srv.URL, tagged(r("k", 129), "v"), "InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters"},
		{"EC2 tag value of 257", ec2Srv.URL, tagged("k", r("v", 257)), "InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters (key "},
		{"EC2 tag value of 900 KB", ec2Srv.URL, tagged("k", r("v", 900_000)), "InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters"},
		{"EC2 tag of 128 and 256 characters", ec2Srv.URL, tagged(r("é", 128), r("é", 256)), "", ""},
		{"ECS tag value of 129", ecsSrv.URL, ecsRun("Tag.1.Key", "k", "Tag.1.Value", r("v", 129)), "InvalidTagValue.Malformed", "Tag.1.Value is not valid: at most 128 characters, it has 129"},
		// ECS counts a key's characters, not its bytes, and refuses a URL
		// in a key or value and acs: before a value (RunInstances'
		// Tag.N.Key and Tag.N.Value, TagResources): a key of 128 é (256
		// bytes) was refused, and keys and values holding https:// taken.
		{"ECS tag key of 128 characters", ecsSrv.URL, ecsRun("Tag.1.Key", r("é", 128), "Tag.1.Value", "v"), "", ""},
		{"ECS tag key of 129 characters", ecsSrv.URL, ecsRun("Tag.1.Key", r("é", 129), "Tag.1.Value", "v"), "InvalidTagKey.Malformed", "1 to 128 characters"},
		{"ECS tag key with a URL", ecsSrv.URL, ecsRun("Tag.1.Key", "see https://example.com", "Tag.1.Value", "v"), "InvalidTagKey.Malformed", "without http:// or https://"},
		{"ECS tag value with a URL", ecsSrv.URL, ecsRun("Tag.1.Key", "k", "Tag.1.Value", "http://example.com"), "InvalidTagValue.Malformed", "must not start with acs: or contain http:// or https://"},
		{"ECS tag value starting acs:", ecsSrv.URL, ecsRun("Tag.1.Key", "k", "Tag.1.Value", "acs:x"), "InvalidTagValue.Malformed", "must not start with acs:"},
		{"ECS InstanceName of 129", ecsSrv.URL, ecsRun("InstanceName", r("n", 129)), "InvalidInstanceName.Malformed", "at most 128 characters, it has 129"},
		{"ECS HostName of 65", ecsSrv.URL, ecsRun("HostName", r("h", 65)), "InvalidHostName.Malformed", "at most 64 characters, it has 65"},
		{"EC2 tag key twice", ec2Srv.URL, twice("Name", "a", "Name", "b"), "InvalidParameterValue", "Duplicate tag key &#39;Name&#39; specified."},
		{"EC2 tag keys differing in case", ec2Srv.URL, twice("Name", "a", "name", "b"), "", ""},
		// Bytes that are not UTF-8 were kept and came back as U+FFFD.
		{"EC2 tag key not UTF-8", ec2Srv.URL, tagged("k\xff", "v"), "InvalidParameterValue", "is not valid UTF-8"},
		{"EC2 tag value not UTF-8", ec2Srv.URL, tagged("k", "\xc3("), "InvalidParameterValue", "Tag 1 of TagSpecification 1 is not valid UTF-8 (key &#39;k&#39;)"},
		{"ECS tag key not UTF-8", ecsSrv.URL, ecsRun("Tag.1.Key", "k\xff", "Tag.1.Value", "v"), "InvalidTagKey.Malformed", "it is not UTF-8"},
		{"ECS tag value not UTF-8", ecsSrv.URL, ecsRun("Tag.1.Key", "k", "Tag.1.Value", "\xed\xa0\x80"), "InvalidTagValue.Malformed", "it is not UTF-8"},
		{"ECS InstanceName not UTF-8", ecsSrv.URL, ecsRun("InstanceName", "n\x80"), "InvalidInstanceName.Malformed", "InstanceName \\\"n\\\\x80\\\" is not valid: it is not UTF-8"},
		{"ECS HostName not UTF-8", ecsSrv.URL, ecsRun("HostName", "h\xfe"), "InvalidHostName.Malformed", "it is not UTF-8"},
		{"ECS longest tag value, InstanceName and HostName", ecsSrv.URL, ecsRun("Tag.1.Key", "k", "Tag.1.Value", r("é", 128), "InstanceName", r("n", 128), "HostName", r("h", 64)), "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(emu.Instances())
			req, err := http.NewRequest(http.MethodPost, tt.url, strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, body := send(t, hc, req)
			code := errorCode(body)
			launched := len(emu.Instances()) - before
			switch {
			case tt.code == "" && (status != 200 || launched != 1):
				t.Errorf("%d %.300s, %d launched; want one instance", status, body, launched)
			case tt.code != "" && (status != 400 || code != tt.code || !strings.Contains(string(body), tt.msg) || launched != 0 || len(body) > 1024):
				t.Errorf("%d %q %.300s (%d bytes), %d launched; want 400 %s naming %q, nothing launched, a short answer", status, code, body, len(body), launched, tt.code, tt.msg)
			}
		})
	}
}

// TestRequestSizeBounds: oversized bodies, too many parameters, too many
// filters, a pathological wildcard and an overlong region are refused (or
// answered) at once.
func TestRequestSizeBounds(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewServer(emu.EC2Handler())
	defer srv.Close()
	hc := testHTTPClient(t)

	big := ec2Form("Action", "DescribeInstances", "Pad", strings.Repeat("x", emulator.MaxRequestBytes))
	if status, code, _ := rawCall(t, hc, srv.URL, big, nil); status != 413 || code != "RequestEntityTooLarge" {
		t.Errorf("2 MB body: %d %q, want 413 RequestEntityTooLarge", status, code)
	}
	many := ec2Form("Action", "DescribeInstances")
	for i := range emulator.MaxParams + 1 {
		many.Set("P"+strconv.Itoa(i), "")
	}
	if status, code, _ := rawCall(t, hc, srv.URL, many, nil); status != 400 || code != "MalformedQueryString" {
		t.Errorf("%d parameters: %d %q, want 400 MalformedQueryString", len(many), status, code)
	}
	filters := ec2Form("Action", "DescribeInstances")
	for i := 1; i <= emulator.MaxEC2Filters+1; i++ {
		filters.Set("Filter."+strconv.Itoa(i)+".Name", "instance-type")
		filters.Set("Filter."+strconv.Itoa(i)+".Value.1", "p4d.24xlarge")
	}
	if status, code, _ := rawCall(t, hc, srv.URL, filters, nil); status != 400 || code != "FilterLimitExceeded" {
		t.Errorf("%d filters: %d %q, want 400 FilterLimitExceeded", emulator.MaxEC2Filters+1, status, code)
	}
	// A filter value beyond the bound, in each Describe call that filters;
	// a value at the bound is matched.
	for _, tt := range []struct{ action, filter string }{
		{"DescribeInstances", "instance-type"},
		{"DescribeSubnets", "subnet-id"},
		{"DescribeSpotInstanceRequests", "state"},
	} {
		for _, n := range []int{emulator.MaxEC2FilterValueLen, emulator.MaxEC2FilterValueLen + 1} {
			long := ec2Form("Action", tt.action, "Filter.1.Name", tt.filter, "Filter.1.Value.1", "x", "Filter.1.Value.2", strings.Repeat("*", n))
			want, wantCode := 200, ""
			if n > emulator.MaxEC2FilterValueLen {
				want, wantCode = 400, "InvalidParameterValue"
			}
			if status, code, _ := rawCall(t, hc, srv.URL, long, nil); status != want || code != wantCode {
				t.Errorf("%s with a %d-byte filter value: %d %q, want %d %q", tt.action, n, status, code, want, wantCode)
			}
		}
	}
	specs := runForm("1", "1")
	for i := 1; i <= emulator.MaxTagSpecifications+1; i++ {
		specs.Set("TagSpecification."+strconv.Itoa(i)+".ResourceType", "volume")
	}
	if status, code, _ := rawCall(t, hc, srv.URL, specs, nil); status != 400 || code != "InvalidParameterValue" {
		t.Errorf("%d tag specifications: %d %q, want 400 InvalidParameterValue", emulator.MaxTagSpecifications+1, status, code)
	}

	// A pattern with many stars against a long value that nearly matches
	// made the old backtracking matcher run for ages.
	tagged := runForm("1", "1")
	tagged.Set("TagSpecification.1.ResourceType", "instance")
	tagged.Set("TagSpecification.1.Tag.1.Key", "Name")
	tagged.Set("TagSpecification.1.Tag.1.Value", strings.Repeat("a", 200))
	if status, code, _ := rawCall(t, hc, srv.URL, tagged, nil); status != 200 {
		t.Fatalf("launch: %d %s", status, code)
	}
	glob := ec2Form("Action", "DescribeInstances", "Filter.1.Name", "tag:Name", "Filter.1.Value.1", strings.Repeat("*a", 40)+"*b")
	if status, code, _ := rawCall(t, hc, srv.URL, glob, nil); status != 200 {
		t.Errorf("pathological wildcard: %d %q, want 200", status, code)
	}

	auth := http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=AKID/20260302/" + strings.Repeat("us-east-", 100) + "1/ec2/aws4_request"}}
	if status, code, _ := rawCall(t, hc, srv.URL, ec2Form("Action", "DescribeInstances"), auth); status != 401 || code != "AuthFailure" {
		t.Errorf("800-character region: %d %q, want 401 AuthFailure", status, code)
	}
}

// TestVCPUsOfHugeSizes: a size whose vCPU count would overflow counts as an
// unknown size, so quotas never divide by zero.
func TestVCPUsOfHugeSizes(t *testing.T) {
	for _, typ := range []string{"p4d.4611686018427387904xlarge", "p4d.9223372036854775807xlarge", "x.99999999999999999999xlarge", "p4d.1025xlarge"} {
		if n := emulator.VCPUs(typ); n != 2 {
			t.Errorf("VCPUs(%q) = %d, want 2 (an unknown size)", typ, n)
		}
	}
	emu := emulator.New(emulator.Options{})
	emu.SetVCPUQuota(emulator.APIEC2, "", 8)
	srv := httptest.NewServer(emu.EC2Handler())
	defer srv.Close()
	f := runForm("1", "1")
	f.Set("InstanceType", "p4d.4611686018427387904xlarge")
	if status, code, _ := rawCall(t, testHTTPClient(t), srv.URL, f, nil); status != 200 {
		t.Errorf("launch of a huge size under a quota: %d %q", status, code)
	}
}

// TestControlValuesCheckedLikeFlags: the control API refuses what the flags
// refuse, names the field and the range, and changes nothing.
func TestControlValuesCheckedLikeFlags(t *testing.T) {
	emu := emulator.New(emulator.Options{Latency: time.Millisecond, BootDelay: time.Second})
	srv := httptest.NewServer(emu.EC2Handler())
	defer srv.Close()
	hc := testHTTPClient(t)
	for _, tt := range []struct{ path, body, field string }{
		{"/_emulator/faults", `{"latency":"-1s","boot_delay":-5}`, `"latency" -1s is out of range`},
		{"/_emulator/faults", `{"latency":"-1s","boot_delay":-5}`, `"boot_delay" -5s is out of range`},
		{"/_emulator/faults", `{"boot_delay":1e300}`, `out of range`},
		{"/_emulator/faults", `{"latency":"25h"}`, `"latency" 25h0m0s is out of range: want a duration from 0s to 24h0m0s`},
		{"/_emulator/faults", `{"fault_rate":-0.5,"latency":"1s"}`, `"fault_rate" -0.5 is out of range`},
		{"/_emulator/stall", `{"action":"` + strings.Repeat("X", 4096) + `","count":1}`, `is not an action the emulator serves`},
		{"/_emulator/stall", `{"action":"ec2:DeleteInstances","count":1}`, `is not an action the emulator serves`},
		{"/_emulator/stall", `{"action":"RunInstances","count":1,"duration":"-1s"}`, `"duration" -1s is out of range`},
		{"/_emulator/stall", `{"action":"RunInstances","count":-1,"duration":"1s"}`, `"count" -1 is out of range`},
		{"/_emulator/stall", `{"action":"RunInstances","count":1000000000,"duration":"1s"}`, `"count" 1000000000 is out of range: want the number of calls to stall, from 0 (clears the stall) to 10000`},
		{"/_emulator/stall", `{"action":"RunInstances","duration":"1s"}`, `"count" missing`},
		{"/_emulator/interrupt", `{"instance_id":"i-1","in":1e300}`, `out of range`},
		{"/_emulator/stock", `{"instance_type":"` + strings.Repeat("p", 1000) + `.x","count":1}`, `instance type`},
		{"/_emulator/stock", `{"instance_type":"p4d.24xlarge","zone":"Mars!","count":1}`, `zone "Mars!"`},
		{"/_emulator/quota", `{"api":"ec2","region":"` + strings.Repeat("a", 100) + `","vcpus":1}`, `"region"`},
	} {
		code, out := postJSON(t, hc, srv.URL+tt.path, tt.body)
		msg, _ := out["error"].(string)
		if code != 400 || !strings.Contains(msg, tt.field) {
			t.Errorf("POST %s %.80s: %d %q, want 400 naming %s", tt.path, tt.body, code, msg, tt.field)
		}
	}
	st := emu.Snapshot().Settings
	if time.Duration(st.Latency) != time.Millisecond || time.Duration(st.BootDelay) != time.Second || st.FaultRate != 0 {
		t.Errorf("settings after refused changes: %+v, want them unchanged", st)
	}
	if len(emu.Stock()) != 0 || len(emu.Quotas()) != 0 || len(emu.Stalls()) != 0 {
		t.Errorf("refused stock, quota or stall settings were kept: %v %v %v", emu.Stock(), emu.Quotas(), emu.Stalls())
	}
}

// TestStateListsStalls: an armed stall shows in /_emulator/state with the
// calls it has left, and clearing it (count 0) removes it.
func TestStateListsStalls(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewServer(emu.EC2Handler())
	defer srv.Close()
	hc := testHTTPClient(t)
	stalls := func() []emulator.StallEntry {
		t.Helper()
		var st emulator.State
		if _, body := getState(t, hc, srv.URL+"/_emulator/state"); json.Unmarshal(body, &st) != nil {
			t.Fatalf("state is not JSON: %.200s", body)
		}
		return st.Stalls
	}
	for _, tt := range []struct {
		body string
		want []emulator.StallEntry
	}{
		{`{"action":"ec2:RunInstances","count":3,"duration":"24h"}`,
			[]emulator.StallEntry{{Action: "ec2:RunInstances", Count: 3, Duration: emulator.Duration(24 * time.Hour)}}},
		{`{"action":"DescribeInstances","count":1,"duration":"0s"}`,
			[]emulator.StallEntry{{Action: "DescribeInstances", Count: 1}, {Action: "ec2:RunInstances", Count: 3, Duration: emulator.Duration(24 * time.Hour)}}},
		{`{"action":"ec2:RunInstances","count":0}`,
			[]emulator.StallEntry{{Action: "DescribeInstances", Count: 1}}},
	} {
		if code, out := postJSON(t, hc, srv.URL+"/_emulator/stall", tt.body); code != 200 {
			t.Fatalf("POST /_emulator/stall %s: %d %v", tt.body, code, out)
		}
		if got := stalls(); !slices.Equal(got, tt.want) {
			t.Errorf("after %s: stalls %+v, want %+v", tt.body, got, tt.want)
		}
	}
	// The stalled DescribeInstances (0s) uses the stall up.
	if status, code, _ := rawCall(t, hc, srv.URL, ec2Form("Action", "DescribeInstances"), nil); status != 200 {
		t.Fatalf("DescribeInstances: %d %s", status, code)
	}
	if got := stalls(); len(got) != 0 {
		t.Errorf("stalls after the stalled call: %+v, want none", got)
	}
}

// serveOnLoopback runs Serve with short read and idle timeouts on a
// loopback listener until the test ends.
func serveOnLoopback(t *testing.T, opts emulator.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- emulator.New(opts).Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestShortAndSilentRequestsAreCutOff: a request announcing more body than
// it sends, and a connection that sends nothing, are closed after the read
// timeout instead of being held open forever.
func TestShortAndSilentRequestsAreCutOff(t *testing.T) {
	addr := serveOnLoopback(t, emulator.Options{ReadTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	for _, tt := range []struct{ name, send string }{
		{"short body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nAction=Des"},
		{"half a header", "POST / HTTP/1.1\r\nHost: x\r\nContent-Le"},
		{"nothing", ""},
		{"idle after a request", "GET /_emulator/state HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.send); err != nil {
				t.Fatal(err)
			}
			// The guard is far beyond the 200 ms timeout: reaching it means
			// the emulator held the connection open.
			if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(conn)
			for {
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						t.Fatal("the emulator held the connection open")
					}
					return // closed by the server
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// TestInstanceLimit: each API keeps a bounded number of instances. A launch
// that would need more not yet terminated fails with the API's quota code
// and a message naming the emulator's bound; a MaxCount is cut to what is
// left; one API's instances leave the other's launches alone; terminated
// instances are forgotten, oldest first, to make room, and a client token
// whose instances are all forgotten is forgotten with them.
func TestInstanceLimit(t *testing.T) {
	clk := newFakeClock()
	emu := emulator.New(emulator.Options{MaxInstances: 5, Clock: clk.Now, BootDelay: time.Minute})
	ec2URL, ecsURL, call := serveForms(t, emu)
	tokened := runForm("1", "1")
	tokened.Set("ClientToken", "first")
	if status, code, _ := call(ec2URL, tokened); status != 200 {
		t.Fatalf("1 instance: %d %s", status, code)
	}
	if status, code, _ := call(ec2URL, runForm("3", "3")); status != 200 {
		t.Fatalf("3 instances: %d %s", status, code)
	}
	status, code, body := call(ec2URL, runForm("2", "2"))
	if status != 400 || code != "InstanceLimitExceeded" || !strings.Contains(body, "emulator bound") {
		t.Errorf("2 more beyond 5: %d %q %s, want 400 InstanceLimitExceeded naming the emulator's bound", status, code, body)
	}
	if status, code, _ := call(ec2URL, runForm("1", "3")); status != 200 {
		t.Errorf("1 to 3 more with room for 1: %d %q", status, code)
	}
	ecs := ecsForm("Action", "RunInstances", "ImageId", "m-1", "InstanceType", "ecs.gn7i-c8g1.2xlarge", "Amount", "5")
	if status, code, body := call(ecsURL, ecs); status != 200 {
		t.Errorf("ECS launch of 5 while EC2 is full: %d %q %s, want 200 (each API has its own bound)", status, code, body)
	}
	if status, code, body := call(ecsURL, ecs); status != 403 || code != "QuotaExceed.ElasticQuota" || !strings.Contains(body, "emulator bound") {
		t.Errorf("ECS launch when full: %d %q %s, want 403 QuotaExceed.ElasticQuota naming the emulator's bound", status, code, body)
	}

	// Terminate all five EC2 instances: once terminated they no longer
	// count, and the oldest are forgotten to make room.
	var ids []string
	for _, in := range emu.Instances() {
		if in.API == emulator.APIEC2 {
			ids = append(ids, in.ID)
		}
	}
	term := ec2Form("Action", "TerminateInstances")
	for i, id := range ids {
		term.Set(fmt.Sprintf("InstanceId.%d", i+1), id)
	}
	if status, code, _ := call(ec2URL, term); status != 200 {
		t.Fatalf("terminate: %d %s", status, code)
	}
	if status, code, _ := call(ec2URL, runForm("1", "1")); status != 400 || code != "InstanceLimitExceeded" {
		t.Errorf("launch while the five are shutting down: %d %q, want 400 InstanceLimitExceeded", status, code)
	}
	clk.Advance(2 * time.Minute)
	if status, code, _ := call(ec2URL, runForm("4", "4")); status != 200 {
		t.Errorf("4 instances after the five terminated: %d %q, want 200", status, code)
	}
	ec2Kept := 0
	for _, in := range emu.Instances() {
		if in.API == emulator.APIEC2 {
			ec2Kept++
		}
	}
	if ec2Kept > 5 {
		t.Errorf("%d EC2 instances kept, want at most 5", ec2Kept)
	}
	if status, code, _ := call(ec2URL, ec2Form("Action", "DescribeInstances", "InstanceId.1", ids[0])); status != 400 || code != "InvalidInstanceID.NotFound" {
		t.Errorf("the oldest terminated instance: %d %q, want it forgotten (400 InvalidInstanceID.NotFound)", status, code)
	}
	// Its client token went with it: the same token launches anew.
	if status, code, body := call(ec2URL, tokened); status != 200 || strings.Contains(body, ids[0]) {
		t.Errorf("the forgotten token again: %d %q, want a new launch", status, code)
	}
}

// TestInstanceBytesLimit: the user data, tags and names the kept instances
// carry are bounded as their number is: a launch past the bound fails
// with the API's quota error naming it, terminated instances are forgotten
// to make room, and each API has its own. One-instance launches of 12 KiB
// of user data each could hold a GiB within MaxInstances.
func TestInstanceBytesLimit(t *testing.T) {
	clk := newFakeClock()
	emu := emulator.New(emulator.Options{MaxInstanceBytes: 60_000, Clock: clk.Now, BootDelay: time.Minute})
	ec2URL, ecsURL, call := serveForms(t, emu)
	launch := func(i int) url.Values {
		f := runForm("1", "1")
		f.Set("UserData", base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%05d", i)+strings.Repeat("x", 11_995))))
		return f
	}
	for i := range 5 {
		if status, code, body := call(ec2URL, launch(i)); status != 200 {
			t.Fatalf("launch %d of 12 KB: %d %s %s", i, status, code, body)
		}
	}
	status, code, body := call(ec2URL, launch(5))
	if status != 400 || code != "InstanceLimitExceeded" || !strings.Contains(body, "carry at most 60000 bytes of user data and tags, and carry 60000; each of these would carry 12000") {
		t.Errorf("a sixth launch of 12 KB: %d %q %s, want 400 InstanceLimitExceeded naming the bound", status, code, body)
	}
	if status, code, _ := call(ec2URL, runForm("3", "3")); status != 200 {
		t.Errorf("a launch carrying nothing: %d %q, want 200", status, code)
	}
	ecs := ecsForm("Action", "RunInstances", "ImageId", "m-1", "InstanceType", "ecs.gn7i-c8g1.2xlarge", "Amount", "6",
		"UserData", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("u", 12_000))))
	status, code, body = call(ecsURL, ecs)
	if status != 403 || code != "QuotaExceed.ElasticQuota" || !strings.Contains(body, "carry at most 60000 bytes of user data, tags and names, and carry 0") {
		t.Errorf("ECS launch of 6 × 12 KB: %d %q %s, want 403 QuotaExceed.ElasticQuota naming the bound", status, code, body)
	}
	ecs.Set("Amount", "5")
	if status, code, body := call(ecsURL, ecs); status != 200 {
		t.Errorf("ECS launch of 5 × 12 KB while EC2 is full: %d %q %s, want 200 (each API has its own bound)", status, code, body)
	}

	// Terminated, the five make room once they are forgotten.
	term := ec2Form("Action", "TerminateInstances")
	for i, in := range emu.Instances() {
		if in.API == emulator.APIEC2 && in.UserData != "" {
			term.Set(fmt.Sprintf("InstanceId.%d", i+1), in.ID)
		}
	}
	if status, code, _ := call(ec2URL, term); status != 200 {
		t.Fatalf("terminate: %d %s", status, code)
	}
	clk.Advance(2 * time.Minute)
	for i := range 5 {
		if status, code, body := call(ec2URL, launch(10+i)); status != 200 {
			t.Fatalf("launch %d after the five terminated: %d %s %s", i, status, code, body)
		}
	}
}

// TestBadValuesAreNotEchoedWhole: a 300 KB bad value in any parameter is
// refused with the API's code and an answer of a few KB, quoting at most
// the start of it: these answers quoted it whole (several times its size
// once escaped).
func TestBadValuesAreNotEchoedWhole(t *testing.T) {
	emu := emulator.New(emulator.Options{})
	ec2Srv := httptest.NewServer(emu.EC2Handler())
	defer ec2Srv.Close()
	ecsSrv := httptest.NewServer(emu.ECSHandler())
	defer ecsSrv.Close()
	hc := testHTTPClient(t)
	big := strings.Repeat("\x01", 300<<10)
	with := func(f url.Values, kv ...string) url.Values {
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	ecsRun := func(kv ...string) url.Values {
		return with(ecsForm("Action", "RunInstances", "ImageId", "m-1", "InstanceType", "ecs.gn7i-c8g1.2xlarge"), kv...)
	}
	for _, tt := range []struct {
		name string
		url  string
		form url.Values
		code string
	}{
		{"EC2 ImageId", ec2Srv.URL, with(runForm("1", "1"), "ImageId", "ami-"+big), "InvalidAMIID.Malformed"},
		{"EC2 ClientToken", ec2Srv.URL, with(runForm("1", "1"), "ClientToken", big), "InvalidParameterValue"},
		{"EC2 SubnetId", ec2Srv.URL, with(runForm("1", "1"), "SubnetId", big), "InvalidSubnetID.NotFound"},
		{"EC2 availability zone", ec2Srv.URL, with(runForm("1", "1"), "Placement.AvailabilityZone", big), "InvalidParameterValue"},
		{"EC2 market type", ec2Srv.URL, with(runForm("1", "1"), "InstanceMarketOptions.MarketType", big), "InvalidParameterValue"},
		{"EC2 instance id", ec2Srv.URL, ec2Form("Action", "DescribeInstances", "InstanceId.1", big), "InvalidInstanceID.Malformed"},
		{"EC2 instance id to terminate", ec2Srv.URL, ec2Form("Action", "TerminateInstances", "InstanceId.1", big), "InvalidInstanceID.Malformed"},
		{"EC2 subnet id", ec2Srv.URL, ec2Form("Action", "DescribeSubnets", "SubnetId.1", big), "InvalidSubnetID.NotFound"},
		{"EC2 spot request id", ec2Srv.URL, ec2Form("Action", "DescribeSpotInstanceRequests", "SpotInstanceRequestId.1", big), "InvalidSpotInstanceRequestID.NotFound"},
		{"EC2 filter name", ec2Srv.URL, ec2Form("Action", "DescribeInstances", "Filter.1.Name", big), "InvalidParameterValue"},
		{"EC2 MaxResults", ec2Srv.URL, ec2Form("Action", "DescribeInstanceStatus", "MaxResults", big), "InvalidParameterValue"},
		{"EC2 NextToken", ec2Srv.URL, ec2Form("Action", "DescribeSpotInstanceRequests", "NextToken", big), "InvalidPaginationToken"},
		{"ECS InstanceType", ecsSrv.URL, ecsRun("InstanceType", "ecs."+big), "InvalidInstanceType.ValueNotSupported"},
		{"ECS charge type", ecsSrv.URL, ecsRun("InstanceChargeType", big), "InvalidParameter"},
		{"ECS spot strategy", ecsSrv.URL, ecsRun("SpotStrategy", big), "InvalidParameter"},
		{"ECS VSwitchId", ecsSrv.URL, ecsRun("VSwitchId", big), "InvalidVSwitchId.NotFound"},
		{"ECS ZoneId", ecsSrv.URL, ecsRun("ZoneId", big), "InvalidZoneId.NotFound"},
		{"ECS InstanceIds", ecsSrv.URL, ecsForm("Action", "DescribeInstances", "InstanceIds", big), "InvalidInstanceIds.Malformed"},
		{"ECS Status", ecsSrv.URL, ecsForm("Action", "DescribeInstances", "Status", big), "InvalidParameter"},
		{"ECS MaxResults", ecsSrv.URL, ecsForm("Action", "DescribeInstances", "MaxResults", big), "InvalidParameter"},
		{"ECS NextToken", ecsSrv.URL, ecsForm("Action", "DescribeInstances", "NextToken", big), "InvalidParameter"},
		{"ECS PageSize", ecsSrv.URL, ecsForm("Action", "DescribeInstances", "PageSize", big), "InvalidParameter"},
	} {
		if status, code, size := rawCall(t, hc, tt.url, tt.form, nil); status/100 != 4 || code != tt.code || size > 4096 {
			t.Errorf("%s of 300 KB: %d %q, a %d-byte answer; want %s in at most 4096 bytes", tt.name, status, code, size, tt.code)
		}
	}
}

// serveForms serves emu's EC2 and ECS APIs and returns their URLs and a
// function that POSTs a form to one of them, answering the status, the
// error code and the body.
func serveForms(t *testing.T, emu *emulator.Emulator) (ec2URL, ecsURL string, call func(u string, form url.Values) (int, string, string)) {
	t.Helper()
	ec2Srv := httptest.NewServer(emu.EC2Handler())
	t.Cleanup(ec2Srv.Close)
	ecsSrv := httptest.NewServer(emu.ECSHandler())
	t.Cleanup(ecsSrv.Close)
	hc := testHTTPClient(t)
	call = func(u string, form url.Values) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		status, body := send(t, hc, req)
		return status, errorCode(body), string(body)
	}
	return ec2Srv.URL, ecsSrv.URL, call
}
