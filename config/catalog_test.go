package config

import (
	"strings"
	"testing"

	"github.com/spillway-io/spillway/policy"
)

func TestDefaultCatalog(t *testing.T) {
	c := DefaultCatalog()
	if n := len(c.Entries()); n < 25 {
		t.Fatalf("bundled catalog has %d entries, want the 27 rows of gpu-offerings.csv", n)
	}
	tests := []struct {
		provider     ProviderType
		instanceType string
		gpus         int
		model        string
		onDemand     float64
		spot         float64
	}{
		{ProviderAWS, "p5.48xlarge", 8, "H100", 55.04, 31.04},
		{ProviderAWS, "g6e.xlarge", 1, "L40S", 1.861, 0.89},
		{ProviderAlicloud, "ecs.gn7e-c16g1.32xlarge", 8, "A100-80GB (inferred)", 38.0730, 0},
		{ProviderAlicloud, "ecs.gn8is.2xlarge", 1, "L20", 0, 0}, // shape only
	}
	for _, tt := range tests {
		e, ok := c.Lookup(tt.provider, tt.instanceType)
		if !ok {
			t.Errorf("%s %s not in the bundled catalog", tt.provider, tt.instanceType)
			continue
		}
		if e.GPUs != tt.gpus || e.GPUModel != tt.model || e.OnDemandPerHour != tt.onDemand || e.SpotPerHour != tt.spot {
			t.Errorf("%s = %+v", tt.instanceType, e)
		}
		if e.Source == "" || e.SourceDate == "" {
			t.Errorf("%s lacks its source or date: %+v", tt.instanceType, e)
		}
		_, odOK := e.Price(policy.MarketOnDemand)
		_, spotOK := e.Price(policy.MarketSpot)
		if odOK != (tt.onDemand > 0) || spotOK != (tt.spot > 0) {
			t.Errorf("%s Price known = %v/%v", tt.instanceType, odOK, spotOK)
		}
	}
	if _, ok := c.Lookup(ProviderAlicloud, "p5.48xlarge"); ok {
		t.Error("lookup ignores the provider type")
	}
}

func TestParseCatalogErrors(t *testing.T) {
	const header = "provider,region,instance_type,gpu_model,gpus,gpu_mem_gb,vcpus,mem_gib,on_demand_usd_per_hour,spot_usd_per_hour,source,source_date\n"
	tests := []struct {
		name, csv, want string
	}{
		{"missing column", "provider,instance_type,gpus\naws,x,1\n", "catalog header lacks columns region, gpu_model"},
		{"unknown provider", header + "gcp,r,a2,A100,8,40,96,1000,10,,s,d\n", `catalog line 2: unknown provider "gcp"`},
		{"bad number", header + "aws,r,p5,H100,8,80,192,2048,cheap,,s,d\n", `catalog line 2: on_demand_usd_per_hour "cheap" is not a non-negative number`},
		{"no gpus", header + "aws,r,p5,H100,,80,192,2048,1,,s,d\n", "catalog line 2: empty gpus"},
		{"fractional gpus", header + "aws,r,p5,H100,0.5,80,192,2048,1,,s,d\n", "catalog line 2: gpus 0.5 is not a whole number"},
		{"duplicate", header + "aws,r,p5,H100,8,80,192,2048,1,,s,d\naws,r2,p5,H100,8,80,192,2048,2,,s,d\n", "catalog line 3: aws p5 is listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCatalog(strings.NewReader(tt.csv))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestCatalogFillAndOverride: omitted gpus and price come from the
// catalog (spot from the spot column); explicit values win.
func TestCatalogFillAndOverride(t *testing.T) {
	cat, err := ParseCatalog(strings.NewReader(
		"provider,region,instance_type,gpu_model,gpus,gpu_mem_gb,vcpus,mem_gib,on_demand_usd_per_hour,spot_usd_per_hour,source,source_date\n" +
			"aws,us-east-1,x8.big,H100,8,80,192,2048,40,12,test,2026-01-01\n" +
			"alibaba,cn-hangzhou,ecs.x1,A10,1,24,8,30,2,,test,2026-01-01\n"))
	if err != nil {
		t.Fatal(err)
	}
	const cfg = `
cluster: t
providers:
  aws: {type: aws, region: us-east-1}
  ali: {type: alicloud, region: cn-hangzhou}
pools:
  - name: p
    offerings:
      - {provider: aws, instance_type: x8.big}
      - {provider: aws, instance_type: x8.big, market: spot}
      - {provider: aws, instance_type: x8.big, market: spot, price_per_hour: 15, name: pinned}
      - {provider: aws, instance_type: x8.big, gpus: 4, name: half}
      - {provider: ali, instance_type: ecs.x1}
      - {provider: aws, instance_type: x8.big, gpus: 8, price_per_hour: 40, vcpus: 96, name: fewer-cpus}
`
	got, err := Parse("fill.yaml", []byte(cfg), WithCatalog(cat))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		gpus  int
		price float64
		vcpus int
		mem   float64
	}{{8, 40, 192, 2048}, {8, 12, 192, 2048}, {8, 15, 192, 2048}, {4, 40, 0, 0}, {1, 2, 8, 30}, {8, 40, 96, 2048}}
	for i, w := range want {
		o := got.Pools[0].Policy.Offerings[i]
		if o.GPUs != w.gpus || o.PricePerHour != w.price || o.VCPUs != w.vcpus || o.MemoryGiB != w.mem {
			t.Errorf("offering %d (%s): gpus %d price %v vcpus %d memory %v GiB, want %d %v %d %v", i, o.Name, o.GPUs, o.PricePerHour, o.VCPUs, o.MemoryGiB,
				w.gpus, w.price, w.vcpus, w.mem)
		}
	}

	// With the custom catalog, a type only the bundled one knows is unknown.
	_, err = Parse("fill.yaml", []byte(strings.Replace(cfg, "ecs.x1", "ecs.gn7i-c8g1.2xlarge", 1)), WithCatalog(cat))
	if err == nil || !strings.Contains(err.Error(), `instance type "ecs.gn7i-c8g1.2xlarge" is not in the alicloud catalog: set gpus and price_per_hour`) {
		t.Errorf("err = %v", err)
	}
}
