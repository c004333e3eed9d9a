package nvml

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// TestReadErrorsNameTheCall: one GPU's NVML call fails. Before, /metrics
// said only spillway_gpu_unknown 1 (or spillway_gpu_unhealthy 1): which
// call failed and with what was in /v1/gpus' text alone, so an alert or a
// dashboard could not tell a GPU fallen off the bus from an Xid or a
// driver answering N/A. MetricReadErrors now counts the samples by GPU,
// call and NVML return, and /healthz names the call and the return.
func TestReadErrorsNameTheCall(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      func(d *server.Device)
		call, code string
	}{
		{"fallen off the bus", func(d *server.Device) { injectFault(d, "GetMemoryInfo", nv.ERROR_GPU_IS_LOST) }, "GetMemoryInfo", "ERROR_GPU_IS_LOST"},
		{"an Xid", func(d *server.Device) { injectFault(d, "GetUtilizationRates", nv.ERROR_UNKNOWN) }, "GetUtilizationRates", "ERROR_UNKNOWN"},
		{"reset required", func(d *server.Device) { injectFault(d, "GetComputeRunningProcesses", nv.ERROR_RESET_REQUIRED) }, "GetComputeRunningProcesses", "ERROR_RESET_REQUIRED"},
		{"utilisation N/A", func(d *server.Device) {
			d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: math32}, nv.SUCCESS }
		}, "GetUtilizationRates", "OUT_OF_RANGE"},
		{"a panic in go-nvml", func(d *server.Device) {
			d.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { panic("slice bounds out of range [:9999] with capacity 64") }
		}, "GetComputeRunningProcesses", "PANIC"},
		{"a return this agent does not know", func(d *server.Device) { injectFault(d, "GetMemoryInfo", nv.Return(12345)) }, "GetMemoryInfo", "OTHER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if f, ok := getMetrics(t, hs.URL)[MetricReadErrors]; ok {
				t.Fatalf("%s before any failure: %v", MetricReadErrors, f)
			}
			tc.fault(srv.Devices[5].(*server.Device))
			const samples = 3
			for range samples {
				if err := a.SampleOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			f := getMetrics(t, hs.URL)[MetricReadErrors]
			if f == nil || len(f.Metric) != 1 {
				t.Fatalf("%s after GPU 5's %s failed: %v; want one series", MetricReadErrors, tc.call, f)
			}
			m := f.Metric[0]
			if got := fmt.Sprintf("gpu=%s call=%s error=%s %v", labelOf(m, labelGPU), labelOf(m, labelCall), labelOf(m, labelError), m.GetCounter().GetValue()); got != fmt.Sprintf("gpu=5 call=%s error=%s %d", tc.call, tc.code, samples) {
				t.Errorf("%s = %s; want gpu=5 call=%s error=%s %d", MetricReadErrors, got, tc.call, tc.code, samples)
			}
			want := fmt.Sprintf("GPU 5 %%s (%s %s): ", tc.call, tc.code)
			if code, body := healthz(t, hs.URL); code != http.StatusServiceUnavailable || !strings.Contains(body, fmt.Sprintf(want, "unknown")) && !strings.Contains(body, fmt.Sprintf(want, "unhealthy")) {
				t.Errorf("/healthz = %d %q; want 503 naming %q", code, body, fmt.Sprintf(want, "unknown"))
			}
		})
	}
}

// TestReadErrorSeriesAreBounded: a GPU failing under ever new UUIDs (a
// driver answering garbage, GPUs swapped again and again) must not grow
// /metrics without bound: past maxReadErrorSeries series, a GPU's new
// failures count under call and error OTHER, and none is lost. Before,
// the OTHER series kept the GPU's UUID, one more each sample: 200
// samples past the bound served 2624 series, growing with every sample;
// now one per GPU index, 1032.
func TestReadErrorSeriesAreBounded(t *testing.T) {
	srv, a, hs := idleNode(t)
	samples := maxReadErrorSeries/len(srv.Devices) + 200
	for n := range samples {
		for i, d := range srv.Devices {
			d := d.(*server.Device)
			d.UUID = fmt.Sprintf("GPU-%08d-%d", n, i)
			injectFault(d, "GetMemoryInfo", nv.ERROR_UNKNOWN)
		}
		if err := a.SampleOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	f := getMetrics(t, hs.URL)[MetricReadErrors]
	other, total := 0, 0.0
	for _, m := range f.GetMetric() {
		total += m.GetCounter().GetValue()
		if labelOf(m, labelCall) == "OTHER" {
			other++
		}
	}
	if n := len(f.GetMetric()); n > maxReadErrorSeries+len(srv.Devices) || other == 0 {
		t.Errorf("%d samples of 8 GPUs failing under new UUIDs: %s has %d series, %d of them OTHER; want at most %d, some OTHER", samples, MetricReadErrors, n, other, maxReadErrorSeries+len(srv.Devices))
	}
	if want := float64(samples * len(srv.Devices)); total != want {
		t.Errorf("%s counts %v failures in all, want %v", MetricReadErrors, total, want)
	}
}
