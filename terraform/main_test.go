package terraform_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"go.uber.org/goleak"

	"github.com/spillway-io/spillway/emulator"
	"github.com/spillway-io/spillway/policy"
	"github.com/spillway-io/spillway/terraform"
)

func TestMain(m *testing.M) {
	if os.Getenv("SPILLWAY_TF_HELPER") == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	if os.Getenv("SPILLWAY_TF_CRASHER") == "1" {
		os.Exit(crasherMain())
	}
	goleak.VerifyTestMain(m)
}

const (
	providerName = "tf-test"
	region       = "us-east-1"
	gpuType      = "p4d.24xlarge"
)

var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// testProcsEnv marks every process a test's Terraform runs start (the
// providers' WithEnv), so that the test can find those left running.
const testProcsEnv = "SPILLWAY_TEST_PROCS"

// emulated is the EC2 emulator on a loopback listener.
type emulated struct {
	emu *emulator.Emulator
	srv *httptest.Server
}

func startEmulator(t testing.TB) *emulated {
	t.Helper()
	e := &emulated{emu: emulator.New(emulator.Options{Seed: 7})}
	ec2 := e.emu.EC2Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/observe" {
			e.observe(w, r)
			return
		}
		ec2.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// observe is the test module's view of the cloud on refresh (a Terraform
// http state backend, read by terraform_remote_state): for ?file=<the
// helper's state file> it answers that state with the instance's state as
// the emulator has it now ("terminated" once it is gone).
func (e *emulated) observe(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "read only", http.StatusMethodNotAllowed)
		return
	}
	data, err := os.ReadFile(r.URL.Query().Get("file"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	value := st["outputs"].(map[string]any)["instance"].(map[string]any)["value"].(map[string]any)
	state := "terminated"
	for _, in := range e.emu.Instances() {
		if in.ID == value["id"] {
			state = in.State
		}
	}
	value["state"] = state
	json.NewEncoder(w).Encode(st)
}

// helperPath is the test binary, which the test module runs as its cloud CLI.
func helperPath(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// config is the emulated module's provider config on e, with its state
// under workDir.
func (e *emulated) config(t testing.TB, workDir string, httpTimeout time.Duration) terraform.Config {
	return terraform.Config{
		Module: "testdata/emulated", Region: region, Zones: zones, WorkDir: workDir,
		Variables: map[string]any{
			"helper": helperPath(t), "endpoint": e.srv.URL, "region": region,
			"http_timeout": httpTimeout.String(), "observer": e.srv.URL + "/observe",
		},
	}
}

func newProvider(t testing.TB, cfg terraform.Config, opts ...terraform.Option) *terraform.Provider {
	t.Helper()
	p, err := terraform.New(providerName, cfg, opts...)
	if err != nil {
		t.Fatalf("terraform.New: %v", err)
	}
	return p
}

var offering = policy.Offering{Provider: providerName, Region: region, InstanceType: gpuType, GPUs: 8, Market: policy.MarketOnDemand}

// launchRaw launches instances on the emulator through the SDK directly,
// bypassing Terraform: instances no burst state holds.
func (e *emulated) launchRaw(ctx context.Context, count int, tags map[string]string) ([]string, error) {
	client := ec2.New(ec2.Options{
		Region: region, Credentials: staticCreds(), BaseEndpoint: awssdk.String(e.srv.URL),
	})
	in := &ec2.RunInstancesInput{
		ImageId: awssdk.String(helperImage), InstanceType: types.InstanceType(gpuType),
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
	out, err := client.RunInstances(ctx, in)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(out.Instances))
	for _, i := range out.Instances {
		ids = append(ids, awssdk.ToString(i.InstanceId))
	}
	return ids, nil
}

// live lists the emulator's instances that are not terminated or ending.
func (e *emulated) live() []emulator.Instance {
	var out []emulator.Instance
	for _, in := range e.emu.Instances() {
		if in.State == "pending" || in.State == "running" {
			out = append(out, in)
		}
	}
	return out
}
