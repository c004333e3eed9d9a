package emulator_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/spillway-io/spillway/emulator"
)

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkEC2RunInstancesSDK: one-instance launches through the AWS SDK,
// eight clients in parallel.
func BenchmarkEC2RunInstancesSDK(b *testing.B) {
	_, c := newEC2(b, emulator.Options{})
	in := runInput(1, 1, "", map[string]string{"spillway:cluster": "bench"})
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.RunInstances(context.Background(), in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkEC2DescribeInstancesSDK: a tag-filtered page of 100 instances
// out of 2,000 (half of them tagged), through the AWS SDK.
func BenchmarkEC2DescribeInstancesSDK(b *testing.B) {
	_, c := newEC2(b, emulator.Options{})
	ctx := context.Background()
	for range 2 {
		if _, err := c.RunInstances(ctx, runInput(500, 500, "", map[string]string{"spillway:cluster": "bench"})); err != nil {
			b.Fatal(err)
		}
		if _, err := c.RunInstances(ctx, runInput(500, 500, "", nil)); err != nil {
			b.Fatal(err)
		}
	}
	in := &ec2.DescribeInstancesInput{MaxResults: aws.Int32(100),
		Filters: []types.Filter{{Name: aws.String("tag:spillway:cluster"), Values: []string{"bench"}}}}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			out, err := c.DescribeInstances(ctx, in)
			if err != nil || len(out.Reservations) == 0 {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkEC2DescribeInstancesRaw measures the emulator alone: the same
// page requested with a plain HTTP client, no signing or XML decoding.
func BenchmarkEC2DescribeInstancesRaw(b *testing.B) {
	emu := emulator.New(emulator.Options{})
	srv := httptest.NewServer(emu.EC2Handler())
	b.Cleanup(srv.Close)
	hc := testHTTPClient(b)
	post := func(form url.Values) {
		resp, err := hc.PostForm(srv.URL, form)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	for range 2 {
		post(url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}, "ImageId": {"ami-1"}, "InstanceType": {"p4d.24xlarge"},
			"MinCount": {"500"}, "MaxCount": {"500"}, "TagSpecification.1.ResourceType": {"instance"},
			"TagSpecification.1.Tag.1.Key": {"spillway:cluster"}, "TagSpecification.1.Tag.1.Value": {"bench"}})
		post(url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}, "ImageId": {"ami-1"}, "InstanceType": {"p4d.24xlarge"},
			"MinCount": {"500"}, "MaxCount": {"500"}})
	}
	form := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "MaxResults": {"100"},
		"Filter.1.Name": {"tag:spillway:cluster"}, "Filter.1.Value.1": {"bench"}}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			post(form)
		}
	})
	reportRate(b)
}

// BenchmarkECSRunInstancesSDK: one-instance launches through the Alibaba SDK.
func BenchmarkECSRunInstancesSDK(b *testing.B) {
	_, c := newECS(b, emulator.Options{})
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.RunInstances(ecsRun(1, 0, "", map[string]string{"spillway:cluster": "bench"})); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkECSDescribeInstancesSDK: a tag-filtered page of 100 out of 2,000
// instances through the Alibaba SDK.
func BenchmarkECSDescribeInstancesSDK(b *testing.B) {
	_, c := newECS(b, emulator.Options{})
	for i := range 20 {
		var tags map[string]string
		if i%2 == 0 {
			tags = map[string]string{"spillway:cluster": "bench"}
		}
		if _, err := c.RunInstances(ecsRun(100, 0, "", tags)); err != nil {
			b.Fatal(err)
		}
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := ecs.CreateDescribeInstancesRequest()
			req.RegionId = "cn-hangzhou"
			req.PageSize = requests.NewInteger(100)
			req.Tag = &[]ecs.DescribeInstancesTag{{Key: "spillway:cluster", Value: "bench"}}
			out, err := c.DescribeInstances(req)
			if err != nil || len(out.Instances.Instance) != 100 {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkEC2LaunchWithStock measures launches against a stock limit,
// which counts the instances holding stock on every launch.
func BenchmarkEC2LaunchWithStock(b *testing.B) {
	for _, existing := range []int{100, 2500} {
		b.Run(fmt.Sprintf("existing=%d", existing), func(b *testing.B) {
			emu, c := newEC2(b, emulator.Options{})
			emu.SetStock("p4d.24xlarge", "", existing+b.N+1)
			if _, err := c.RunInstances(context.Background(), runInput(int32(existing), 1, "", nil)); err != nil {
				b.Fatal(err)
			}
			in := runInput(1, 1, "", nil)
			b.ResetTimer()
			for range b.N {
				if _, err := c.RunInstances(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b)
		})
	}
}

// BenchmarkEC2DescribeInstancesHostileWildcards: the tester's hostile
// request, one DescribeInstances with 100 filter values of "*a"×N+"b"
// against 1,000 instances: on the instance type (short), within and beyond
// the value bound, and on a 256-character tag value of a's, which every
// piece of the pattern nearly matches.
func BenchmarkEC2DescribeInstancesHostileWildcards(b *testing.B) {
	for _, tt := range []struct {
		name, filter string
		stars        int
	}{
		{"type/pattern=1001B", "instance-type", 500},
		{"type/pattern=4801B", "instance-type", 2400},
		{"tag/pattern=241B", "tag:Name", 120},
	} {
		b.Run(tt.name, func(b *testing.B) {
			emu := emulator.New(emulator.Options{})
			srv := httptest.NewServer(emu.EC2Handler())
			b.Cleanup(srv.Close)
			hc := testHTTPClient(b)
			post := func(form url.Values) int {
				resp, err := hc.PostForm(srv.URL, form)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			if st := post(url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}, "ImageId": {"ami-1"},
				"InstanceType": {"t3.micro"}, "MinCount": {"1000"}, "MaxCount": {"1000"},
				"TagSpecification.1.ResourceType": {"instance"}, "TagSpecification.1.Tag.1.Key": {"Name"},
				"TagSpecification.1.Tag.1.Value": {strings.Repeat("a", 256)}}); st != 200 {
				b.Fatalf("launch: status %d", st)
			}
			form := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "Filter.1.Name": {tt.filter}}
			pattern := strings.Repeat("*a", tt.stars) + "b"
			for i := 1; i <= 100; i++ {
				form.Set(fmt.Sprintf("Filter.1.Value.%d", i), pattern)
			}
			b.ResetTimer()
			for range b.N {
				post(form) // 200 (nothing matches) or 400 (over the value bound): either way it must be quick
			}
		})
	}
}
