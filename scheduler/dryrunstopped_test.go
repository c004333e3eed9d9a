package scheduler_test

import (
	"context"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// TestDryRunSaysOnceItWouldTerminateAStoppedInstance: a dry-run server
// terminates nothing, so an instance stopped by hand stays stopped, and
// every tick recorded a decision "terminate 1" for it, and logged it, for
// as long as it stayed stopped. It is said once.
func TestDryRunSaysOnceItWouldTerminateAStoppedInstance(t *testing.T) {
	h := newHarness(t, testPool())
	id := h.joinOne(30*time.Second, 10)
	h.opts.DryRun = true
	h.restart()
	client := ec2.New(ec2.Options{Region: "us-east-1", Credentials: staticCreds, BaseEndpoint: awssdk.String(h.url)})
	if _, err := client.StopInstances(context.Background(), &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatalf("StopInstances: %v", err)
	}
	for range 5 {
		h.step(30 * time.Second)
	}
	said := 0
	for _, d := range h.decisions() {
		for _, a := range d.Terminates {
			if a.Instance == id {
				said++
				if a.Outcome != "dry run: not terminated" {
					t.Errorf("record %+v, want the dry run's outcome", a)
				}
			}
		}
	}
	if said != 1 {
		t.Errorf("%d decisions of 5 dry-run ticks say they would terminate stopped instance %s, want 1", said, id)
	}
	for _, in := range h.emu.Instances() {
		if in.ID == id && in.State != "stopped" && in.State != "stopping" {
			t.Errorf("instance %s is %s, want stopped: a dry run leaves it as it is", id, in.State)
		}
	}
}
