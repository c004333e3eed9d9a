package aws_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/config"
	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/providers"
	"github.com/spillway-io/spillway/providers/aws"
	"github.com/spillway-io/spillway/providers/providertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	zones   = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	subnets = []config.Subnet{
		{Zone: "us-east-1a", ID: "subnet-us-east-1a"},
		{Zone: "us-east-1b", ID: "subnet-us-east-1b"},
		{Zone: "us-east-1c", ID: "subnet-us-east-1c"},
	}
	staticCreds = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", "")
)

const (
	providerName = "aws-test"
	image        = "ami-0abcdef1234567890"
	gpuType      = "p4d.24xlarge"
)

// emulated is the in-process EC2 emulator on a loopback listener, behind a
// handler that records how many values DescribeInstances filters carry.
type emulated struct {
	emu *emulator.Emulator
	srv *httptest.Server
	// maxFilterValues is the most values one DescribeInstances filter carried.
	maxFilterValues atomic.Int64
	// repeatToken, while set, makes DescribeInstances repeat its NextToken
	// (see repeatNextToken).
	repeatToken atomic.Bool
}

// repeatedToken is the NextToken the harness answers twice.
const repeatedToken = "spillway-contract-repeated-token"

// repeatNextToken serves r as EC2 would if it answered repeatedToken for
// every page: the page repeatedToken asks for is the first page again, with
// repeatedToken as its nextToken.
func repeatNextToken(ec2 http.Handler, w http.ResponseWriter, r *http.Request) {
	if r.Form.Get("NextToken") == repeatedToken {
		r.Form.Del("NextToken")
	}
	rec := httptest.NewRecorder()
	ec2.ServeHTTP(rec, r)
	body := rec.Body.String()
	if rec.Code == http.StatusOK {
		body = regexp.MustCompile(`<nextToken>[^<]*</nextToken>`).ReplaceAllString(body, "")
		body = strings.Replace(body, "</DescribeInstancesResponse>", "<nextToken>"+repeatedToken+"</nextToken></DescribeInstancesResponse>", 1)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = io.WriteString(w, body)
}

func startEmulator(t testing.TB, opts emulator.Options) *emulated {
	t.Helper()
	e := &emulated{emu: emulator.New(opts)}
	ec2 := e.emu.EC2Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && r.Form.Get("Action") == "DescribeInstances" {
			for f := 1; r.Form.Has(fmt.Sprintf("Filter.%d.Name", f)); f++ {
				n := int64(0)
				for r.Form.Has(fmt.Sprintf("Filter.%d.Value.%d", f, n+1)) {
					n++
				}
				if n > e.maxFilterValues.Load() {
					e.maxFilterValues.Store(n)
				}
			}
			if e.repeatToken.Load() {
				repeatNextToken(ec2, w, r)
				return
			}
		}
		ec2.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func writeEC2Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>`, code, msg)
}

func (e *emulated) config() config.ProviderConfig {
	return config.ProviderConfig{
		Type: config.ProviderAWS, Region: "us-east-1", Endpoint: e.srv.URL,
		Subnets: subnets, Image: image, SecurityGroups: []string{"sg-0123456789abcdef0"},
	}
}

func (e *emulated) provider(t testing.TB, opts ...aws.Option) *aws.Provider {
	t.Helper()
	base := []aws.Option{aws.WithCredentials(staticCreds), aws.WithRetry(10, 100*time.Millisecond)}
	p, err := aws.New(context.Background(), e.config(), providerName, append(base, opts...)...)
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// rawClient is the SDK pointed at the emulator, bypassing the provider. Its
// transport gets a copy of each request body, as the provider's does
// (aws-sdk-go-v2 #2737), so that a large RunInstances answer is not lost to
// the SDK closing the body under net/http.
func (e *emulated) rawClient() *ec2.Client {
	return ec2.New(ec2.Options{
		Region: "us-east-1", Credentials: staticCreds,
		BaseEndpoint: awssdk.String(e.srv.URL),
		HTTPClient:   &http.Client{Transport: bufferedBody{e.srv.Client().Transport}},
	})
}

// bufferedBody hands the transport a private copy of each request body.
type bufferedBody struct{ rt http.RoundTripper }

func (b bufferedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.rt.RoundTrip(r)
	}
	data, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(data))
	return b.rt.RoundTrip(r)
}

func (e *emulated) launchRaw(ctx context.Context, count int, tags map[string]string) ([]string, error) {
	in := &ec2.RunInstancesInput{
		ImageId: awssdk.String(image), InstanceType: types.InstanceType(gpuType),
		MinCount: awssdk.Int32(int32(count)), MaxCount: awssdk.Int32(int32(count)),
		SubnetId: awssdk.String("subnet-us-east-1b"),
	}
	if len(tags) > 0 {
		spec := types.TagSpecification{ResourceType: types.ResourceTypeInstance}
		keys := make([]string, 0, len(tags))
		for k := range tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			spec.Tags = append(spec.Tags, types.Tag{Key: awssdk.String(k), Value: awssdk.String(tags[k])})
		}
		in.TagSpecifications = []types.TagSpecification{spec}
	}
	out, err := e.rawClient().RunInstances(ctx, in)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out.Instances))
	for _, i := range out.Instances {
		ids = append(ids, awssdk.ToString(i.InstanceId))
	}
	return ids, nil
}

func TestContract(t *testing.T) {
	providertest.Run(t, func(t *testing.T) *providertest.Harness {
		e := startEmulator(t, emulator.Options{Seed: 7})
		return &providertest.Harness{
			Provider: e.provider(t),
			Emulator: e.emu,
			Offering: policy.Offering{Provider: providerName, Region: "us-east-1", InstanceType: gpuType, GPUs: 8, Market: policy.MarketOnDemand},
			Zones:    zones,
			AbsentID: "i-0123456789abcdef0",
			NewProviderWithTimeout: func(d time.Duration) providers.Provider {
				return e.provider(t, aws.WithHTTPTimeout(d))
			},
			LaunchRaw: e.launchRaw,
			// A vCPU quota of 0: EC2 answers VcpuLimitExceeded.
			ExhaustQuota:    func() { e.emu.SetVCPUQuota(emulator.APIEC2, "us-east-1", 0) },
			Interrupt:       func(id string, in time.Duration) { e.emu.Interrupt(id, in) },
			RepeatNextToken: e.repeatToken.Store,
		}
	})
}
