package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestProviderCheck: the settings each provider type takes, checked in one
// place for the config and for providers built in code.
func TestProviderCheck(t *testing.T) {
	subnets := []Subnet{{Zone: "z-a", ID: "s-a"}}
	for _, tc := range []struct {
		name string
		pc   ProviderConfig
		want []string // substrings of the error; none for a valid entry
	}{
		{"aws with image", ProviderConfig{Type: ProviderAWS, Region: "us-east-1", Subnets: subnets, Image: "ami-1"}, nil},
		{"aws with launch template", ProviderConfig{Type: ProviderAWS, Region: "us-east-1", Subnets: subnets, LaunchTemplate: "lt-1"}, nil},
		{"alicloud with launch template", ProviderConfig{Type: ProviderAlicloud, Region: "cn-hangzhou", Subnets: subnets, LaunchTemplate: "lt-1"}, nil},
		{"alicloud with image", ProviderConfig{Type: ProviderAlicloud, Region: "cn-hangzhou", Subnets: subnets, Image: "m-1"}, nil},
		{"terraform", ProviderConfig{Type: ProviderTerraform, Module: "./m", Zones: []string{"us-east-1a"}}, nil},
		{"terraform without zones", ProviderConfig{Type: ProviderTerraform, Module: "./m"}, []string{"zones: missing required field"}},
		{"terraform repeated zone", ProviderConfig{Type: ProviderTerraform, Module: "./m", Zones: []string{"a", "a"}}, []string{`zones[1]: zone "a" is empty or repeated`}},
		{"zones on aws", ProviderConfig{Type: ProviderAWS, Region: "us-east-1", Zones: []string{"a"}, Subnets: []Subnet{{Zone: "a", ID: "s"}}, Image: "ami-1"}, []string{"zones: zones is only for providers of type terraform, not aws: list subnets"}},
		{"aws bare", ProviderConfig{Type: ProviderAWS},
			[]string{"region: missing required field", "subnets: missing required field: the server launches into a subnet", "image: missing required field"}},
		{"alicloud bare", ProviderConfig{Type: ProviderAlicloud, Region: "cn-hangzhou"},
			[]string{"launches into a vSwitch", "set image to an image id (m-...)"}},
		{"aws with module", ProviderConfig{Type: ProviderAWS, Region: "r", Subnets: subnets, Image: "ami-1", Module: "./m"},
			[]string{"module: module is only for providers of type terraform, not aws"}},
		{"terraform without module", ProviderConfig{Type: ProviderTerraform}, []string{"module: missing required field"}},
		{"a region with spaces", ProviderConfig{Type: ProviderAWS, Region: "US EAST ☃", Subnets: subnets, Image: "ami-1"},
			[]string{`region: region "US EAST ☃" is not a region's name: want lowercase letters, digits and hyphens, at most 64, e.g. region: us-east-1`}},
		{"a region from the environment", ProviderConfig{Type: ProviderAlicloud, Region: "${ALI_REGION}", Subnets: subnets, Image: "m-1"},
			[]string{`region "${ALI_REGION}" is not a region's name`, "it is not read from the environment"}},
		{"a region too long", ProviderConfig{Type: ProviderAWS, Region: strings.Repeat("a", 65), Subnets: subnets, Image: "ami-1"},
			[]string{"is not a region's name"}},
		{"unknown type", ProviderConfig{Type: "gcp"}, []string{`type: unknown provider type "gcp": valid types are aws, alicloud, terraform`}},
		{"another name of alicloud", ProviderConfig{Type: "aliyun"}, []string{`type: unknown provider type "aliyun" (did you mean "alicloud"?): valid types are aws, alicloud, terraform`}},
		{"aws in capitals", ProviderConfig{Type: "AWS"}, []string{`type: unknown provider type "AWS" (did you mean "aws"?): valid types are`}},
		{"bad subnet and endpoint", ProviderConfig{Type: ProviderAWS, Region: "r", Image: "ami-1", Endpoint: "127.0.0.1:8780", Subnets: []Subnet{{ID: "s"}}},
			[]string{"subnets[0].zone: missing required field", `endpoint: bad endpoint "127.0.0.1:8780"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.pc.Check("p")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrProvider) {
				t.Fatalf("Check = %v, want an error wrapping ErrProvider", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestProviderCallTimeout: each provider's call_timeout is its type's
// default when left out (a Terraform apply waits for its instances, an SDK
// call answers in seconds) and what the config says otherwise.
func TestProviderCallTimeout(t *testing.T) {
	cfg, err := Load("testdata/call_timeout.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		provider string
		want     time.Duration
	}{
		{"aws", time.Minute},
		{"ali", time.Minute},
		{"tf", 10 * time.Minute},
		{"aws-slow", 2 * time.Minute},
		{"tf-long", 30 * time.Minute},
		{"tf-short", 5 * time.Second},
	} {
		if got := cfg.Providers[tc.provider].CallTimeout.D(); got != tc.want {
			t.Errorf("providers.%s.call_timeout = %s, want %s", tc.provider, got, tc.want)
		}
	}
}
