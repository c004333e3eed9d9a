package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/spillway-io/spillway/emulator"
)

func init() { register(newEmulatorCmd) }

type emulatorOptions struct {
	ec2, ecs  string
	stock     []string
	quotas    []string
	bootDelay time.Duration
	faultRate float64
	latency   time.Duration
	throttle  bool
	logLevel  string
	privIPs   string
}

func newEmulatorCmd() *cobra.Command {
	o := emulatorOptions{}
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Serve emulated AWS EC2 and Alibaba Cloud ECS APIs on loopback",
		Long: `The emulator serves the parts of the EC2 Query API (XML) and the ECS RPC API
(JSON) that Spillway uses: RunInstances, DescribeInstances,
TerminateInstances / DeleteInstances and a few lookups, with client-token
idempotency, MinCount/MinAmount, tag filters, pagination, boot and shutdown
delays, per type and zone stock, the published throttling buckets, injected
5xx faults and latency, and spot interruptions. Any credentials are
accepted. Point the AWS SDK at --ec2 (BaseEndpoint / --endpoint-url) and the
Alibaba SDK at --ecs (client.Domain, scheme HTTP).

Both listeners also serve a JSON control API under /_emulator/:
  GET  /_emulator/state
  POST /_emulator/stock      {"instance_type":"p4d.24xlarge","zone":"us-east-1a","count":2}
  POST /_emulator/faults     {"fault_rate":0.05,"latency":"50ms","boot_delay":"10s","throttle":true}
  POST /_emulator/quota      {"api":"ec2","region":"us-east-1","vcpus":192}
  POST /_emulator/stall      {"action":"RunInstances","count":1,"duration":"30s"}
  POST /_emulator/interrupt  {"instance_id":"i-0123456789abcdef0","in":"2m"}
See docs/emulator.md.

Exit status: 0 after Ctrl-C or SIGTERM; 2 when a flag is refused; 1 when
an address cannot be listened on (--ec2 or --ecs in use).`,
		Example: `  spillway emulator
  spillway emulator --stock p4d.24xlarge@us-east-1a=2 --stock ecs.gn7i-c8g1.2xlarge=10 --boot-delay 5s
  spillway emulator --ec2 127.0.0.1:8780 --ecs "" --fault-rate 0.01 --latency 50ms --throttle`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runEmulator(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.ec2, "ec2", "127.0.0.1:8780", `address of the EC2 API ("" to serve none)`)
	f.StringVar(&o.ecs, "ecs", "127.0.0.1:8781", `address of the ECS API ("" to serve none)`)
	f.StringArrayVar(&o.stock, "stock", nil, "stock as TYPE[@ZONE]=N (repeatable); N may be unlimited, or none for a type not sold in ZONE; unlisted types are unlimited")
	f.StringArrayVar(&o.quotas, "vcpu-quota", nil, "account vCPU quota as API[@REGION]=N (repeatable), e.g. ec2=192; beyond it launches fail with VcpuLimitExceeded / QuotaExceed.ElasticQuota")
	settingMax := fmt.Sprintf("%gh", emulator.MaxSettingDuration.Hours())
	f.DurationVar(&o.bootDelay, "boot-delay", 5*time.Second, "time from pending to running, and from shutting-down to terminated, 0s to "+settingMax)
	f.Float64Var(&o.faultRate, "fault-rate", 0, "fraction of API calls answered with a 5xx (InternalError / ServiceUnavailable), 0 (none) to 1")
	f.DurationVar(&o.latency, "latency", 0, "delay added to every API call, 0s (none) to "+settingMax)
	settingRange := fmt.Sprintf("want a duration from 0s to %v", emulator.MaxSettingDuration) // as emulator.CheckSetting says
	flagRange(f, "boot-delay", settingRange)
	flagRange(f, "latency", settingRange)
	flagRange(f, "fault-rate", "want a fraction from 0 to 1")
	f.BoolVar(&o.throttle, "throttle", false, "refuse calls beyond the request-rate buckets (RequestLimitExceeded, Throttling.User)")
	f.StringVar(&o.privIPs, "private-ips", "", `hand out instances' private addresses from this range in order, e.g. 127.1.0.0/16 so a simulated agent can serve at each instance's address (default 10.ZONE.x.y)`)
	f.StringVar(&o.logLevel, "log-level", "info", "debug (one line per API call), info, warn or error")
	return cmd
}

func runEmulator(ctx context.Context, o emulatorOptions) error {
	// The same ranges as the control API's POST /_emulator/faults.
	if err := errors.Join(
		emulator.CheckFaultRate("--fault-rate", o.faultRate),
		emulator.CheckSetting("--boot-delay", o.bootDelay),
		emulator.CheckSetting("--latency", o.latency),
	); err != nil {
		return &usageError{err: err} // a flag out of range: exit 2, as the help says
	}
	if o.ec2 == "" && o.ecs == "" {
		return usagef("--ec2 and --ecs are both empty: give at least one address to serve, e.g. --ec2 127.0.0.1:8780")
	}
	level, err := parseLogLevel(o.logLevel)
	if err != nil {
		return err
	}
	var privIPs netip.Prefix
	if o.privIPs != "" {
		p, err := netip.ParsePrefix(o.privIPs)
		if err != nil || p.Bits() == p.Addr().BitLen() {
			return usagef("--private-ips %q: want an address range in CIDR form with room for addresses, e.g. 127.1.0.0/16", o.privIPs)
		}
		privIPs = p
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	emu := emulator.New(emulator.Options{
		BootDelay: o.bootDelay, FaultRate: o.faultRate, Latency: o.latency, Throttle: o.throttle,
		Logger: log.WithGroup("emulator"), PrivateIPs: privIPs,
	})
	for _, s := range o.stock {
		typ, zone, n, offered, err := emulator.ParseStock(s)
		if err != nil {
			return &usageError{fmt.Errorf("--stock: %w", err)}
		}
		if offered {
			emu.SetStock(typ, zone, n)
		} else {
			emu.SetOffered(typ, zone, false)
		}
	}
	for _, s := range o.quotas {
		api, region, n, err := emulator.ParseQuota(s)
		if err != nil {
			return &usageError{fmt.Errorf("--vcpu-quota: %w", err)}
		}
		emu.SetVCPUQuota(api, region, n)
	}
	var ec2Ln, ecsLn net.Listener
	if o.ec2 != "" {
		if ec2Ln, err = net.Listen("tcp", o.ec2); err != nil {
			return fmt.Errorf("--ec2 %s: %w", o.ec2, err)
		}
		url := "http://" + ec2Ln.Addr().String()
		log.Info("EC2 API listening", "url", url, "region", emulator.DefaultEC2Region,
			"zones", "us-east-1a,us-east-1b,us-east-1c", "subnets", "subnet-us-east-1a,subnet-us-east-1b,subnet-us-east-1c")
		log.Info("point the AWS SDK at it", "go", "ec2.NewFromConfig(cfg, func(o *ec2.Options){ o.BaseEndpoint = aws.String(\""+url+"\") })",
			"cli", "AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x aws ec2 describe-instances --region us-east-1 --endpoint-url "+url)
	}
	if o.ecs != "" {
		if ecsLn, err = net.Listen("tcp", o.ecs); err != nil {
			if ec2Ln != nil {
				ec2Ln.Close()
			}
			return fmt.Errorf("--ecs %s: %w", o.ecs, err)
		}
		log.Info("ECS API listening", "url", "http://"+ecsLn.Addr().String(), "region", emulator.DefaultECSRegion,
			"zones", "cn-hangzhou-h,cn-hangzhou-i,cn-hangzhou-j", "vswitches", "vsw-cn-hangzhou-h,vsw-cn-hangzhou-i,vsw-cn-hangzhou-j")
		log.Info("point the Alibaba SDK at it", "go", "client.Domain = \""+ecsLn.Addr().String()+"\" with sdk.NewConfig().WithScheme(\"HTTP\")")
	}
	log.Info("emulator ready", "boot_delay", o.bootDelay, "fault_rate", o.faultRate, "latency", o.latency, "throttle", o.throttle, "control", "/_emulator/state")
	err = emu.Serve(ctx, ec2Ln, ecsLn)
	log.Info("emulator stopped")
	return err
}
