package nvml

import (
	"context"
	"strconv"
	"testing"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	dto "github.com/prometheus/client_model/go"
)

// TestSameCountGPUSwapIsFollowed: a GPU replaced between two samples (hot
// swapped, or two GPUs reordered by a driver reload) leaves NVML's GPU
// count as it was. Before, the sampler opened the GPUs again only when the
// count changed: it kept reading the handles it had, so after a reorder
// each GPU was served under the other's index (a job placed by index, as
// CUDA_VISIBLE_DEVICES does, was matched with the other GPU's reading),
// and after a replacement the GPU taken out was served lost under its old
// UUID, unknown and then unhealthy, for ever, while the new GPU was never
// read. Each index's GPU is now checked by its UUID every sample.
func TestSameCountGPUSwapIsFollowed(t *testing.T) {
	for _, tc := range []struct {
		name string
		swap func(devs []nv.Device, spare *server.Device, removed func(*server.Device))
	}{
		{"two GPUs reordered by a driver reload", func(devs []nv.Device, _ *server.Device, _ func(*server.Device)) {
			devs[2], devs[5] = devs[5], devs[2]
		}},
		{"a GPU replaced by another", func(devs []nv.Device, spare *server.Device, removed func(*server.Device)) {
			removed(devs[3].(*server.Device))
			devs[3] = spare
		}},
		{"every GPU in reverse order", func(devs []nv.Device, _ *server.Device, _ func(*server.Device)) {
			for i, j := 0, len(devs)-1; i < j; i, j = i+1, j-1 {
				devs[i], devs[j] = devs[j], devs[i]
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, a, hs := idleNode(t)
			spare := dgxh100.New().Devices[0].(*server.Device) // another GPU of the model, its own UUID
			HealthyMock(spare)
			spare.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.SUCCESS }
			spare.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{Total: 80 << 30}, nv.SUCCESS }
			// Each GPU computes at its own rate, so that a reading
			// served under the wrong GPU shows.
			for i, d := range append(append([]nv.Device{}, srv.Devices...), spare) {
				d := d.(*server.Device)
				util := uint32(10 * (i + 1) % 100)
				d.GetUtilizationRatesFunc = func() (nv.Utilization, nv.Return) { return nv.Utilization{Gpu: util}, nv.SUCCESS }
			}
			if err := a.SampleOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			tc.swap(srv.Devices, spare, func(d *server.Device) {
				// Taken out: its handle answers that it is lost.
				for _, call := range []string{"GetMemoryInfo", "GetUtilizationRates", "GetComputeRunningProcesses"} {
					injectFault(d, call, nv.ERROR_GPU_IS_LOST)
				}
			})
			for sample := range 3 {
				if err := a.SampleOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
				got := getGPUs(t, hs.URL)
				if len(got.GPUs) != len(srv.Devices) {
					t.Fatalf("sample %d after the swap: /v1/gpus lists %d GPUs, NVML %d", sample, len(got.GPUs), len(srv.Devices))
				}
				util := byUUID(t, getMetrics(t, hs.URL), MetricUtilization)
				for i, g := range got.GPUs {
					d := srv.Devices[i].(*server.Device)
					u, _ := d.GetUtilizationRates()
					if g.Index != i || g.UUID != d.UUID || g.Unknown || g.Utilization != float64(u.Gpu) {
						t.Errorf("sample %d after the swap: /v1/gpus[%d] = GPU %d %s at %v%% (unknown %v); NVML has %s at %d%% there", sample, i, g.Index, g.UUID, g.Utilization, g.Unknown, d.UUID, u.Gpu)
					}
					if m, ok := util[d.UUID]; !ok || labelOf(m, labelGPU) != strconv.Itoa(i) {
						t.Errorf("sample %d after the swap: /metrics has %s of %s as %v, want gpu=%q", sample, MetricUtilization, d.UUID, m, strconv.Itoa(i))
					}
				}
			}
		})
	}
}

// labelOf is m's value of the label name ("" without it).
func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
