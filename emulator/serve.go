package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Serve serves the EC2 API on ec2 and the ECS API on ecs (either may be nil)
// until ctx ends, then shuts both down, giving in-flight calls up to five
// seconds. It returns nil after a clean shutdown.
func (e *Emulator) Serve(ctx context.Context, ec2, ecs net.Listener) error {
	type served struct {
		srv *http.Server
		ln  net.Listener
	}
	var all []served
	if ec2 != nil {
		all = append(all, served{e.server(e.EC2Handler()), ec2})
	}
	if ecs != nil {
		all = append(all, served{e.server(e.ECSHandler()), ecs})
	}
	if len(all) == 0 {
		return errors.New("emulator: nothing to serve: give an EC2 or an ECS listener")
	}
	errs := make(chan error, len(all))
	for _, s := range all {
		go func() {
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("emulator: serving on %s: %w", s.ln.Addr(), err)
				return
			}
			errs <- nil
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
		// One listener failed (or closed): stop the other one too.
		if first == nil {
			first = errors.New("emulator: a listener closed unexpectedly")
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, s := range all {
		_ = s.srv.Shutdown(shutdownCtx)
	}
	n := len(all)
	if first != nil {
		n--
	}
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// server returns an http.Server for h whose reads are bounded: headers of
// at most MaxHeaderBytes, the whole request within the read timeout, idle
// connections closed after the idle timeout. Writes are not bounded, so a
// stalled response (StallResponses) is held as long as it was asked to be.
func (e *Emulator) server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: e.readTimeout,
		ReadTimeout:       e.readTimeout,
		IdleTimeout:       e.idleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(e.logger.Handler(), slog.LevelDebug),
	}
}

// ParseStock parses a stock setting written TYPE[@ZONE]=N, as the --stock
// flag takes it: "p4d.24xlarge@us-east-1a=4", "ecs.gn7i-c8g1.2xlarge=0". N
// is a count, "unlimited" (or a negative number), or "none" for a type that
// is not sold in the zone (offered=false).
func ParseStock(s string) (instanceType, zone string, n int, offered bool, err error) {
	lhs, rhs, ok := strings.Cut(s, "=")
	if !ok || lhs == "" || rhs == "" {
		return "", "", 0, false, fmt.Errorf("stock %q: want TYPE[@ZONE]=N, e.g. p4d.24xlarge@us-east-1a=4 or ecs.gn7i-c8g1.2xlarge=10", s)
	}
	instanceType, zone, _ = strings.Cut(lhs, "@")
	if instanceType == "" || strings.ContainsAny(instanceType, " \t") {
		return "", "", 0, false, fmt.Errorf("stock %q: the instance type before '@' or '=' is empty or has spaces", s)
	}
	if err := checkOffer(instanceType, zone); err != nil {
		return "", "", 0, false, fmt.Errorf("stock %q: %w", s, err)
	}
	switch rhs {
	case "unlimited":
		return instanceType, zone, Unlimited, true, nil
	case "none":
		if zone == "" {
			return "", "", 0, false, fmt.Errorf("stock %q: \"none\" needs a zone (TYPE@ZONE=none); use =0 for a type sold out everywhere", s)
		}
		return instanceType, zone, 0, false, nil
	}
	n, err = strconv.Atoi(rhs)
	if err != nil {
		return "", "", 0, false, fmt.Errorf("stock %q: count %q is not an integer, \"unlimited\" or \"none\"", s, rhs)
	}
	if n < 0 {
		n = Unlimited
	}
	return instanceType, zone, n, true, nil
}

// ParseQuota parses a vCPU quota written API[@REGION]=N, as the
// --vcpu-quota flag takes it: "ec2=192", "ecs@cn-hangzhou=64".
func ParseQuota(s string) (api, region string, n int, err error) {
	lhs, rhs, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", 0, fmt.Errorf("vCPU quota %q: want API[@REGION]=N, e.g. ec2=192 or ecs@cn-hangzhou=64", s)
	}
	api, region, _ = strings.Cut(lhs, "@")
	if api != APIEC2 && api != APIECS {
		return "", "", 0, fmt.Errorf("vCPU quota %q: API %q is not ec2 or ecs", s, api)
	}
	if region != "" && !validRegion(region) {
		return "", "", 0, fmt.Errorf("vCPU quota %q: region %q: want a region such as us-east-1 or cn-hangzhou (at most %d characters)", s, region, maxRegionLen)
	}
	n, err = strconv.Atoi(rhs)
	if err != nil || n < 0 {
		return "", "", 0, fmt.Errorf("vCPU quota %q: %q is not a count of vCPUs (0 or more)", s, rhs)
	}
	return api, region, n, nil
}
