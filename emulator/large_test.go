package emulator_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/spillway-io/spillway/emulator"
)

// An unpaginated DescribeInstances over many instances is answered whole,
// as EC2 does, and building and sending one over the emulator's largest
// fleet takes hundreds of MB: however many such calls a client makes at
// once, at most MaxLargeAnswers are in flight; the others are throttled
// (RequestLimitExceeded, which the SDKs retry), while paginated calls go
// on being answered.
func TestLargeUnpaginatedAnswersAreBounded(t *testing.T) {
	emu, c := newEC2(t, emulator.Options{})
	ctx := context.Background()
	n := int32(emulator.LargeAnswerItems + 1)
	if _, err := c.RunInstances(ctx, runInput(n, n, "", nil)); err != nil {
		t.Fatalf("RunInstances of %d: %v", n, err)
	}
	// MaxLargeAnswers bare calls, each held after its answer is built.
	emu.StallResponses("DescribeInstances", emulator.MaxLargeAnswers, time.Hour)
	held, release := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range emulator.MaxLargeAnswers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.DescribeInstances(held, &ec2.DescribeInstancesInput{})
		}()
	}
	defer wg.Wait()
	defer release()
	poll(t, "the held calls take their stalls", func() bool { return len(emu.Stalls()) == 0 })

	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); apiCode(err) != "RequestLimitExceeded" {
		t.Errorf("a bare DescribeInstances of %d instances while %d are in flight: %v, want RequestLimitExceeded", n, emulator.MaxLargeAnswers, err)
	}
	page, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(1000)})
	if err != nil || page.NextToken == nil {
		t.Errorf("a paginated DescribeInstances meanwhile: %v (next token %v), want its first page", err, page)
	}

	release()
	wg.Wait()
	poll(t, "a bare DescribeInstances is answered once the held ones have ended", func() bool {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		return err == nil && len(out.Reservations) == 1 && len(out.Reservations[0].Instances) == int(n)
	})
}

// poll checks cond every 10ms until it holds, failing the test after 10s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: still not so after 10s", what)
		case <-tick.C:
		}
	}
}
