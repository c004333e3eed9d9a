package terraform_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// The test module's local-exec provisioners run the test binary itself as
// a small cloud CLI (TestMain sees SPILLWAY_TF_HELPER=1): `launch` starts
// one instance on the EC2 emulator with the real SDK and writes it as a
// state file's output for terraform_remote_state to read back;
// `terminate` ends it. Errors go to stderr with the SDK's text, which
// quotes EC2's error code, as the AWS Terraform provider's errors do.

const helperImage = "ami-0abcdef1234567890"

// helperSpec is one entry of the module's var.instances.
type helperSpec struct {
	InstanceType string            `json:"instance_type"`
	Zone         string            `json:"zone"`
	Market       string            `json:"market"`
	GPUs         int               `json:"gpus"`
	Tags         map[string]string `json:"tags"`
	UserData     string            `json:"user_data"`
}

func helperMain(args []string) int {
	dieWithParent()
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "helper: want launch or terminate")
		return 2
	}
	// Bounds a helper run's calls generously (the SDK retries each; under
	// a loaded CI machine a call may take seconds); the helper also dies
	// with the Terraform that runs it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	switch args[0] {
	case "launch":
		err = helperLaunch(ctx)
	case "terminate":
		err = helperTerminate(ctx)
	default:
		err = fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func helperClient() (*ec2.Client, error) {
	timeout := 5 * time.Second
	if s := os.Getenv("HTTP_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("HTTP_TIMEOUT %q: %w", s, err)
		}
		timeout = d
	}
	return ec2.New(ec2.Options{
		Region:       os.Getenv("REGION"),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", ""),
		BaseEndpoint: awssdk.String(os.Getenv("ENDPOINT")),
		HTTPClient:   &http.Client{Timeout: timeout, Transport: bufferedBody{http.DefaultTransport}},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.MaxBackoff = 100 * time.Millisecond
			o.RateLimiter = noRateLimit{}
			// EC2 answers a stock-out with a 500; retrying it in the
			// same zone is pointless (Spillway moves the key to the next).
			o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) awssdk.Ternary {
				var ae smithy.APIError
				if errors.As(err, &ae) && (ae.ErrorCode() == "InsufficientInstanceCapacity" || ae.ErrorCode() == "VcpuLimitExceeded") {
					return awssdk.FalseTernary
				}
				return awssdk.UnknownTernary
			})}, o.Retryables...)
		}),
	}), nil
}

// noRateLimit lets the retryer retry as often as MaxAttempts says (the
// SDK's default token bucket gives up after a burst of failures).
type noRateLimit struct{}

func (noRateLimit) GetToken(context.Context, uint) (func() error, error) {
	return func() error { return nil }, nil
}
func (noRateLimit) AddTokens(uint) error { return nil }

// bufferedBody hands the transport a private copy of each request body
// (aws-sdk-go-v2 #2737), as the AWS provider's transport does.
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

func helperLaunch(ctx context.Context) error {
	var spec helperSpec
	if err := json.Unmarshal([]byte(os.Getenv("SPEC")), &spec); err != nil {
		return fmt.Errorf("SPEC: %w", err)
	}
	client, err := helperClient()
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(os.Getenv("TOKEN")))
	in := &ec2.RunInstancesInput{
		ImageId: awssdk.String(helperImage), InstanceType: types.InstanceType(spec.InstanceType),
		MinCount: awssdk.Int32(1), MaxCount: awssdk.Int32(1),
		SubnetId:    awssdk.String("subnet-" + spec.Zone),
		ClientToken: awssdk.String(hex.EncodeToString(sum[:16])),
		UserData:    awssdk.String(base64.StdEncoding.EncodeToString([]byte(spec.UserData))),
	}
	if spec.Market == "spot" {
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot}
	}
	if len(spec.Tags) > 0 {
		ts := types.TagSpecification{ResourceType: types.ResourceTypeInstance}
		keys := make([]string, 0, len(spec.Tags))
		for k := range spec.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ts.Tags = append(ts.Tags, types.Tag{Key: awssdk.String(k), Value: awssdk.String(spec.Tags[k])})
		}
		in.TagSpecifications = []types.TagSpecification{ts}
	}
	out, err := client.RunInstances(ctx, in)
	if err != nil {
		return err
	}
	if len(out.Instances) != 1 {
		return fmt.Errorf("RunInstances returned %d instances, want 1", len(out.Instances))
	}
	inst := out.Instances[0]
	zone := ""
	if inst.Placement != nil {
		zone = awssdk.ToString(inst.Placement.AvailabilityZone)
	}
	value := map[string]any{
		"id": awssdk.ToString(inst.InstanceId), "zone": zone,
		"private_ip": awssdk.ToString(inst.PrivateIpAddress), "gpus": spec.GPUs,
		"state": string(inst.State.Name),
	}
	state := map[string]any{
		"version": 4, "terraform_version": "1.5.0", "serial": 1, "lineage": "spillway-test-helper",
		"outputs": map[string]any{"instance": map[string]any{
			"value": value,
			"type":  []any{"object", map[string]any{"id": "string", "zone": "string", "private_ip": "string", "gpus": "number", "state": "string"}},
		}},
		"resources": []any{},
	}
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	path := os.Getenv("OUT")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func helperTerminate(ctx context.Context) error {
	path := os.Getenv("OUT")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // never launched
	}
	if err != nil {
		return err
	}
	var st struct {
		Outputs struct {
			Instance struct {
				Value struct {
					ID string `json:"id"`
				} `json:"value"`
			} `json:"instance"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	client, err := helperClient()
	if err != nil {
		return err
	}
	_, err = client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{st.Outputs.Instance.Value.ID}})
	var ae smithy.APIError
	if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "InvalidInstanceID.NotFound") {
		return err
	}
	return os.Remove(path)
}
