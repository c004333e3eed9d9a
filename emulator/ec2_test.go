package emulator_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/spillway-io/spillway/emulator"
)

// newEC2 starts an emulator's EC2 listener and returns the real SDK client
// pointed at it (retries off, so every error reaches the test).
func newEC2(t testing.TB, opts emulator.Options) (*emulator.Emulator, *ec2.Client) {
	t.Helper()
	emu := emulator.New(opts)
	srv := httptest.NewServer(emu.EC2Handler())
	t.Cleanup(srv.Close)
	client := ec2.New(ec2.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   testHTTPClient(t),
		Retryer:      aws.NopRetryer{},
	})
	return emu, client
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func runInput(n, min int32, token string, tags map[string]string) *ec2.RunInstancesInput {
	in := &ec2.RunInstancesInput{
		ImageId:      aws.String("ami-0abcdef1234567890"),
		InstanceType: types.InstanceTypeP4d24xlarge,
		MinCount:     aws.Int32(min),
		MaxCount:     aws.Int32(n),
		SubnetId:     aws.String("subnet-us-east-1a"),
	}
	if token != "" {
		in.ClientToken = aws.String(token)
	}
	if len(tags) > 0 {
		spec := types.TagSpecification{ResourceType: types.ResourceTypeInstance}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range tags {
				if !yield(k) {
					return
				}
			}
		}) {
			spec.Tags = append(spec.Tags, types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
		}
		in.TagSpecifications = []types.TagSpecification{spec}
	}
	return in
}

func TestEC2LaunchListTerminate(t *testing.T) {
	ctx := context.Background()
	emu, c := newEC2(t, emulator.Options{})
	in := runInput(3, 1, "", map[string]string{"spillway:cluster": "lab", "spillway:pool": "a100"})
	in.UserData = aws.String(base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho join\n")))
	run, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	if len(run.Instances) != 3 || aws.ToString(run.ReservationId) == "" {
		t.Fatalf("RunInstances returned %d instances, reservation %q; want 3 in one reservation", len(run.Instances), aws.ToString(run.ReservationId))
	}
	got := run.Instances[0]
	if az := aws.ToString(got.Placement.AvailabilityZone); az != "us-east-1a" {
		t.Errorf("zone = %q, want us-east-1a (from subnet-us-east-1a)", az)
	}
	if got.InstanceType != types.InstanceTypeP4d24xlarge || got.LaunchTime == nil || aws.ToString(got.PrivateIpAddress) == "" {
		t.Errorf("instance lacks type/launch time/private ip: %+v", got)
	}
	if len(aws.ToString(got.InstanceId)) != len("i-")+17 {
		t.Errorf("instance id %q does not look like EC2's i- + 17 hex", aws.ToString(got.InstanceId))
	}
	if ud := emu.Instances()[0].UserData; ud != "#!/bin/sh\necho join\n" {
		t.Errorf("user data stored as %q", ud)
	}

	// An untagged instance launched outside Spillway.
	if _, err := c.RunInstances(ctx, runInput(1, 1, "", nil)); err != nil {
		t.Fatalf("RunInstances untagged: %v", err)
	}
	desc, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:spillway:cluster"), Values: []string{"lab"}},
		{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
	}})
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	var ids []string
	for _, r := range desc.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, aws.ToString(i.InstanceId))
			if len(i.Tags) != 2 {
				t.Errorf("instance %s has tags %v, want 2", aws.ToString(i.InstanceId), i.Tags)
			}
		}
	}
	if len(ids) != 3 {
		t.Fatalf("tag filter listed %d instances, want the 3 tagged ones", len(ids))
	}

	term, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatalf("TerminateInstances: %v", err)
	}
	for _, ch := range term.TerminatingInstances {
		if ch.PreviousState.Name != types.InstanceStateNameRunning || ch.CurrentState.Name != types.InstanceStateNameTerminated {
			t.Errorf("%s went %s -> %s, want running -> terminated with no boot delay", aws.ToString(ch.InstanceId), ch.PreviousState.Name, ch.CurrentState.Name)
		}
	}
	// Terminating twice is fine while EC2 still lists the instance.
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Errorf("second TerminateInstances: %v", err)
	}
	// Unknown ids are refused the way EC2 refuses them.
	_, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	if apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("terminate unknown id: %v, want InvalidInstanceID.NotFound", err)
	}
	if n := emu.Calls("RunInstances"); n != 2 {
		t.Errorf("Calls(RunInstances) = %d, want 2", n)
	}
}

func TestEC2ClientTokenIdempotency(t *testing.T) {
	ctx := context.Background()
	emu, c := newEC2(t, emulator.Options{})
	first, err := c.RunInstances(ctx, runInput(2, 2, "intent-42", map[string]string{"spillway:intent": "42"}))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.RunInstances(ctx, runInput(2, 2, "intent-42", map[string]string{"spillway:intent": "42"}))
	if err != nil {
		t.Fatalf("retry with the same token: %v", err)
	}
	if aws.ToString(first.ReservationId) != aws.ToString(again.ReservationId) || aws.ToString(first.Instances[1].InstanceId) != aws.ToString(again.Instances[1].InstanceId) {
		t.Errorf("same token returned a different reservation: %s vs %s", aws.ToString(first.ReservationId), aws.ToString(again.ReservationId))
	}
	if n := len(emu.Instances()); n != 2 {
		t.Errorf("%d instances exist after a retried launch, want 2", n)
	}
	_, err = c.RunInstances(ctx, runInput(3, 2, "intent-42", map[string]string{"spillway:intent": "42"}))
	if apiCode(err) != "IdempotentParameterMismatch" {
		t.Errorf("same token, other MaxCount: %v, want IdempotentParameterMismatch", err)
	}
}

func TestEC2MinCountAgainstStock(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		stock         int
		max, min      int32
		wantLaunched  int
		wantErrorCode string
	}{
		{"enough", 10, 4, 4, 4, ""},
		{"partial", 3, 8, 2, 3, ""},
		{"below minimum launches nothing", 3, 8, 4, 0, "InsufficientInstanceCapacity"},
		{"sold out", 0, 1, 1, 0, "InsufficientInstanceCapacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, c := newEC2(t, emulator.Options{})
			emu.SetStock("p4d.24xlarge", "us-east-1a", tt.stock)
			out, err := c.RunInstances(ctx, runInput(tt.max, tt.min, "", nil))
			if code := apiCode(err); code != tt.wantErrorCode {
				t.Fatalf("error %v, want code %q", err, tt.wantErrorCode)
			}
			if err == nil && len(out.Instances) != tt.wantLaunched {
				t.Errorf("launched %d, want %d", len(out.Instances), tt.wantLaunched)
			}
			if n := len(emu.Instances()); n != tt.wantLaunched {
				t.Errorf("emulator holds %d instances, want %d", n, tt.wantLaunched)
			}
		})
	}
}

func TestEC2StockReturnedOnTerminateAndOtherZone(t *testing.T) {
	ctx := context.Background()
	emu, c := newEC2(t, emulator.Options{})
	emu.SetStock("p4d.24xlarge", "", 1)
	out, err := c.RunInstances(ctx, runInput(1, 1, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunInstances(ctx, runInput(1, 1, "", nil)); apiCode(err) != "InsufficientInstanceCapacity" {
		t.Fatalf("second launch in a sold-out zone: %v", err)
	}
	other := runInput(1, 1, "", nil)
	other.SubnetId = aws.String("subnet-us-east-1b")
	if _, err := c.RunInstances(ctx, other); err != nil {
		t.Fatalf("the next zone has its own stock: %v", err)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(out.Instances[0].InstanceId)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunInstances(ctx, runInput(1, 1, "", nil)); err != nil {
		t.Errorf("stock was not returned on termination: %v", err)
	}
	emu.SetOffered("p4d.24xlarge", "us-east-1c", false)
	third := runInput(1, 1, "", nil)
	third.SubnetId = aws.String("subnet-us-east-1c")
	if _, err := c.RunInstances(ctx, third); apiCode(err) != "Unsupported" {
		t.Errorf("type not offered in zone: %v, want Unsupported", err)
	}
	bad := runInput(1, 1, "", nil)
	bad.SubnetId = aws.String("subnet-nope")
	if _, err := c.RunInstances(ctx, bad); apiCode(err) != "InvalidSubnetID.NotFound" {
		t.Errorf("unknown subnet: %v, want InvalidSubnetID.NotFound", err)
	}
}

func TestEC2Pagination(t *testing.T) {
	ctx := context.Background()
	_, c := newEC2(t, emulator.Options{})
	tags := map[string]string{"spillway:cluster": "big"}
	for range 5 {
		if _, err := c.RunInstances(ctx, runInput(500, 500, "", tags)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.RunInstances(ctx, runInput(7, 7, "", nil)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	pages := 0
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{
		Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{"spillway:cluster"}}},
	}, func(o *ec2.DescribeInstancesPaginatorOptions) { o.Limit = 1000 })
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("page %d: %v", pages+1, err)
		}
		pages++
		for _, r := range page.Reservations {
			for _, i := range r.Instances {
				if seen[aws.ToString(i.InstanceId)] {
					t.Fatalf("instance %s listed twice", aws.ToString(i.InstanceId))
				}
				seen[aws.ToString(i.InstanceId)] = true
			}
		}
	}
	if len(seen) != 2500 || pages != 3 {
		t.Errorf("listed %d instances in %d pages, want 2500 in 3", len(seen), pages)
	}
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), NextToken: aws.String("forged")}); apiCode(err) != "InvalidPaginationToken" {
		t.Errorf("forged NextToken: %v, want InvalidPaginationToken", err)
	}
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(4)}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("MaxResults 4: %v, want InvalidParameterValue", err)
	}
}

// TestEC2StatusAndSpotRequestsPaginate: DescribeInstanceStatus and
// DescribeSpotInstanceRequests answer MaxResults items a page with a
// NextToken, so the SDK's paginators list every item once, and check
// MaxResults and NextToken as EC2 does (they answered everything at once
// and ignored both).
func TestEC2StatusAndSpotRequestsPaginate(t *testing.T) {
	ctx := context.Background()
	_, c := newEC2(t, emulator.Options{})
	spot := runInput(12, 12, "", nil)
	spot.InstanceType = types.InstanceTypeG5Xlarge
	spot.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot}
	if _, err := c.RunInstances(ctx, spot); err != nil {
		t.Fatal(err)
	}
	type lister struct {
		name string
		next func() bool
		page func() ([]string, error)
	}
	status := ec2.NewDescribeInstanceStatusPaginator(c, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)},
		func(o *ec2.DescribeInstanceStatusPaginatorOptions) { o.Limit = 5 })
	requests := ec2.NewDescribeSpotInstanceRequestsPaginator(c, &ec2.DescribeSpotInstanceRequestsInput{},
		func(o *ec2.DescribeSpotInstanceRequestsPaginatorOptions) { o.Limit = 5 })
	for _, l := range []lister{
		{"DescribeInstanceStatus", status.HasMorePages, func() ([]string, error) {
			out, err := status.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			var ids []string
			for _, s := range out.InstanceStatuses {
				ids = append(ids, aws.ToString(s.InstanceId))
			}
			return ids, nil
		}},
		{"DescribeSpotInstanceRequests", requests.HasMorePages, func() ([]string, error) {
			out, err := requests.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			var ids []string
			for _, r := range out.SpotInstanceRequests {
				ids = append(ids, aws.ToString(r.SpotInstanceRequestId))
			}
			return ids, nil
		}},
	} {
		seen := map[string]bool{}
		var sizes []int
		for l.next() {
			ids, err := l.page()
			if err != nil {
				t.Fatalf("%s page %d: %v", l.name, len(sizes)+1, err)
			}
			sizes = append(sizes, len(ids))
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("%s: %s listed twice", l.name, id)
				}
				seen[id] = true
			}
		}
		if len(seen) != 12 || !slices.Equal(sizes, []int{5, 5, 2}) {
			t.Errorf("%s: %d items in pages of %v; want 12 in pages of [5 5 2]", l.name, len(seen), sizes)
		}
	}

	for _, tt := range []struct {
		name string
		call func() error
		code string
	}{
		{"status, MaxResults 4", func() error {
			_, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{MaxResults: aws.Int32(4)})
			return err
		}, "InvalidParameterValue"},
		{"status, MaxResults 1001", func() error {
			_, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{MaxResults: aws.Int32(1001)})
			return err
		}, "InvalidParameterValue"},
		{"status, MaxResults with instance ids", func() error {
			_, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{MaxResults: aws.Int32(5), InstanceIds: []string{"i-0123456789abcdef0"}})
			return err
		}, "InvalidParameterCombination"},
		{"status, forged NextToken", func() error {
			_, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{NextToken: aws.String("forged")})
			return err
		}, "InvalidPaginationToken"},
		{"spot requests, MaxResults 4", func() error {
			_, err := c.DescribeSpotInstanceRequests(ctx, &ec2.DescribeSpotInstanceRequestsInput{MaxResults: aws.Int32(4)})
			return err
		}, "InvalidParameterValue"},
		{"spot requests, forged NextToken", func() error {
			_, err := c.DescribeSpotInstanceRequests(ctx, &ec2.DescribeSpotInstanceRequestsInput{MaxResults: aws.Int32(5), NextToken: aws.String("forged")})
			return err
		}, "InvalidPaginationToken"},
	} {
		if err := tt.call(); apiCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
}

func TestEC2StateTransitionsWithFakeClock(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	emu, c := newEC2(t, emulator.Options{BootDelay: 30 * time.Second, Clock: clk.Now})
	out, err := c.RunInstances(ctx, runInput(1, 1, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	state := func() types.InstanceStateName {
		t.Helper()
		d, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatalf("DescribeInstances: %v", err)
		}
		return d.Reservations[0].Instances[0].State.Name
	}
	if s := state(); s != types.InstanceStateNamePending {
		t.Errorf("at launch: %s, want pending", s)
	}
	clk.Advance(31 * time.Second)
	if s := state(); s != types.InstanceStateNameRunning {
		t.Errorf("after boot delay: %s, want running", s)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != types.InstanceStateNameShuttingDown {
		t.Errorf("after terminate: %s, want shutting-down", s)
	}
	clk.Advance(31 * time.Second)
	if s := state(); s != types.InstanceStateNameTerminated {
		t.Errorf("after shutdown delay: %s, want terminated", s)
	}
	clk.Advance(emulator.TerminatedRetention)
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}}); apiCode(err) != "InvalidInstanceID.NotFound" {
		t.Errorf("an hour after termination: %v, want InvalidInstanceID.NotFound", err)
	}
	if n := len(emu.Instances()); n != 1 {
		t.Errorf("Instances() = %d, want the terminated instance kept for assertions", n)
	}
}

func TestEC2SpotInterruption(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	emu, c := newEC2(t, emulator.Options{Clock: clk.Now})
	in := runInput(1, 1, "", nil)
	in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot,
		SpotOptions: &types.SpotMarketOptions{SpotInstanceType: types.SpotInstanceTypeOneTime, InstanceInterruptionBehavior: types.InstanceInterruptionBehaviorTerminate}}
	out, err := c.RunInstances(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	if out.Instances[0].InstanceLifecycle != types.InstanceLifecycleTypeSpot {
		t.Errorf("lifecycle %q, want spot", out.Instances[0].InstanceLifecycle)
	}
	spotStatus := func() string {
		t.Helper()
		out, err := c.DescribeSpotInstanceRequests(ctx, &ec2.DescribeSpotInstanceRequestsInput{
			Filters: []types.Filter{{Name: aws.String("instance-id"), Values: []string{id}}}})
		if err != nil || len(out.SpotInstanceRequests) != 1 {
			t.Fatalf("DescribeSpotInstanceRequests: %v, %d requests", err, len(out.SpotInstanceRequests))
		}
		return aws.ToString(out.SpotInstanceRequests[0].Status.Code)
	}
	if s := spotStatus(); s != "fulfilled" {
		t.Errorf("spot request status %q before the notice, want fulfilled", s)
	}
	if !emu.Interrupt(id, 2*time.Minute) {
		t.Fatal("Interrupt refused a running instance")
	}
	clk.Advance(time.Minute)
	if s := spotStatus(); s != "marked-for-termination" {
		t.Errorf("spot request status %q during the notice, want marked-for-termination", s)
	}
	clk.Advance(time.Minute)
	d, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	i := d.Reservations[0].Instances[0]
	if i.State.Name != types.InstanceStateNameTerminated || i.StateReason == nil || aws.ToString(i.StateReason.Code) != "Server.SpotInstanceTermination" {
		t.Errorf("after the interruption: state %s reason %+v, want terminated with Server.SpotInstanceTermination", i.State.Name, i.StateReason)
	}
}

func TestEC2Lookups(t *testing.T) {
	ctx := context.Background()
	_, c := newEC2(t, emulator.Options{BootDelay: time.Hour})
	subnets, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	if err != nil || len(subnets.Subnets) != 3 || aws.ToString(subnets.Subnets[1].SubnetId) != "subnet-us-east-1b" || aws.ToString(subnets.Subnets[1].AvailabilityZone) != "us-east-1b" {
		t.Errorf("DescribeSubnets: %v %+v", err, subnets)
	}
	one, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1c"}}}})
	if err != nil || len(one.Subnets) != 1 {
		t.Errorf("DescribeSubnets by zone: %v %+v", err, one)
	}
	zones, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil || len(zones.AvailabilityZones) != 3 {
		t.Errorf("DescribeAvailabilityZones: %v %+v", err, zones)
	}
	run, err := c.RunInstances(ctx, runInput(1, 1, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)})
	if err != nil || len(st.InstanceStatuses) != 1 || aws.ToString(st.InstanceStatuses[0].InstanceId) != aws.ToString(run.Instances[0].InstanceId) ||
		st.InstanceStatuses[0].InstanceState.Name != types.InstanceStateNamePending {
		t.Errorf("DescribeInstanceStatus: %v %+v", err, st)
	}
}

func TestEC2ThrottlingBuckets(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	emu, c := newEC2(t, emulator.Options{Throttle: true, Clock: clk.Now})
	filtered := &ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{"x"}}}}
	for i := range int(emulator.EC2NonMutatingBucket.Capacity) {
		if _, err := c.DescribeInstances(ctx, filtered); err != nil {
			t.Fatalf("call %v within the bucket: %v", i+1, err)
		}
	}
	_, err := c.DescribeInstances(ctx, filtered)
	if apiCode(err) != "RequestLimitExceeded" {
		t.Fatalf("call beyond the bucket: %v, want RequestLimitExceeded", err)
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != 503 {
		t.Errorf("RequestLimitExceeded with HTTP %d, want 503", re.HTTPStatusCode())
	}
	// Other actions have their own buckets.
	if _, err := c.RunInstances(ctx, runInput(1, 1, "", nil)); err != nil {
		t.Errorf("RunInstances throttled by DescribeInstances' bucket: %v", err)
	}
	clk.Advance(time.Second) // refills 20 tokens
	for i := range 20 {
		if _, err := c.DescribeInstances(ctx, filtered); err != nil {
			t.Fatalf("call %d after a one-second refill: %v", i+1, err)
		}
	}
	if _, err := c.DescribeInstances(ctx, filtered); apiCode(err) != "RequestLimitExceeded" {
		t.Errorf("21st call after a one-second refill: %v, want RequestLimitExceeded", err)
	}
	// The RunInstances resource bucket: 1000 instances, then 2 per second.
	if _, err := c.RunInstances(ctx, runInput(1000, 1, "", nil)); err != nil {
		t.Fatalf("launching the rest of the resource bucket: %v", err)
	}
	if _, err := c.RunInstances(ctx, runInput(1, 1, "", nil)); apiCode(err) != "RequestLimitExceeded" {
		t.Errorf("launch beyond 1000 instances: %v, want RequestLimitExceeded", err)
	}
	emu.SetThrottle(false)
	if _, err := c.DescribeInstances(ctx, filtered); err != nil {
		t.Errorf("with throttling off: %v", err)
	}
}

func TestEC2FaultsAndProtocolErrors(t *testing.T) {
	ctx := context.Background()
	emu, c := newEC2(t, emulator.Options{FaultRate: 1, Seed: 7})
	_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if code := apiCode(err); code != "InternalError" && code != "ServiceUnavailable" {
		t.Fatalf("fault rate 1: %v, want InternalError or ServiceUnavailable", err)
	}
	emu.SetFaultRate(0)
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("fault rate 0: %v", err)
	}
	if _, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), MinCount: aws.Int32(2), MaxCount: aws.Int32(1)}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("MinCount > MaxCount: %v", err)
	}
	if _, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1), DryRun: aws.Bool(true)}); apiCode(err) != "DryRunOperation" {
		t.Errorf("DryRun: %v, want DryRunOperation", err)
	}
}

func TestEC2VCPUQuota(t *testing.T) {
	ctx := context.Background()
	emu, c := newEC2(t, emulator.Options{})
	emu.SetVCPUQuota(emulator.APIEC2, "", 3*96) // three p4d.24xlarge
	out, err := c.RunInstances(ctx, runInput(5, 2, "", nil))
	if err != nil || len(out.Instances) != 3 {
		t.Fatalf("launch within the quota: %v; want 3 of MaxCount 5", err)
	}
	if _, err := c.RunInstances(ctx, runInput(1, 1, "", nil)); apiCode(err) != "VcpuLimitExceeded" {
		t.Errorf("beyond the quota: %v, want VcpuLimitExceeded", err)
	}
	spot := runInput(1, 1, "", nil)
	spot.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot}
	if _, err := c.RunInstances(ctx, spot); apiCode(err) != "MaxSpotInstanceCountExceeded" {
		t.Errorf("spot beyond the quota: %v, want MaxSpotInstanceCountExceeded", err)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(out.Instances[0].InstanceId)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunInstances(ctx, runInput(1, 1, "", nil)); err != nil {
		t.Errorf("terminating returned no quota: %v", err)
	}
	emu.SetVCPUQuota(emulator.APIEC2, "", -1)
	if _, err := c.RunInstances(ctx, runInput(10, 10, "", nil)); err != nil {
		t.Errorf("quota removed: %v", err)
	}
}

func TestEC2DescribeFilters(t *testing.T) {
	ctx := context.Background()
	_, c := newEC2(t, emulator.Options{})
	a, err := c.RunInstances(ctx, runInput(2, 2, "tok-a", map[string]string{"spillway:cluster": "lab-1", "spillway:pool": "a100"}))
	if err != nil {
		t.Fatal(err)
	}
	b := runInput(1, 1, "", map[string]string{"spillway:cluster": "lab-2"})
	b.SubnetId = aws.String("subnet-us-east-1b")
	if _, err := c.RunInstances(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RunInstances(ctx, runInput(1, 1, "", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(a.Instances[1].InstanceId)}}); err != nil {
		t.Fatal(err)
	}
	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	tests := []struct {
		name    string
		filters []types.Filter
		want    int
	}{
		{"no filter lists terminated ones too", nil, 4},
		{"tag value", []types.Filter{f("tag:spillway:cluster", "lab-1")}, 2},
		{"tag wildcard", []types.Filter{f("tag:spillway:cluster", "lab-*")}, 3},
		{"tag ? wildcard", []types.Filter{f("tag:spillway:cluster", "lab-?")}, 3},
		{"values are ORed", []types.Filter{f("tag:spillway:cluster", "lab-1", "lab-2")}, 3},
		{"filters are ANDed", []types.Filter{f("tag-key", "spillway:cluster"), f("instance-state-name", "pending", "running")}, 2},
		{"tag key", []types.Filter{f("tag-key", "spillway:pool")}, 2},
		{"zone", []types.Filter{f("availability-zone", "us-east-1b")}, 1},
		{"subnet", []types.Filter{f("subnet-id", "subnet-us-east-1a")}, 3},
		{"client token", []types.Filter{f("client-token", "tok-a")}, 2},
		{"terminated", []types.Filter{f("instance-state-name", "terminated")}, 1},
		{"instance id", []types.Filter{f("instance-id", aws.ToString(a.Instances[0].InstanceId))}, 1},
		{"no match", []types.Filter{f("tag:spillway:cluster", "other")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: tt.filters})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range out.Reservations {
				n += len(r.Instances)
			}
			if n != tt.want {
				t.Errorf("%d instances, want %d", n, tt.want)
			}
		})
	}
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{f("colour", "blue")}}); apiCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter: %v, want InvalidParameterValue", err)
	}
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-nothex"}}); apiCode(err) != "InvalidInstanceID.Malformed" {
		t.Errorf("malformed id: %v, want InvalidInstanceID.Malformed", err)
	}
}
