package terraform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"strings"
)

// maxOutputBytes bounds what Spillway reads of a module's instances
// output, as `terraform output -json instances` prints it (about 300
// bytes an instance), and the "outputs" message of an apply's log.
const maxOutputBytes = 16 << 20

// outputValue runs `terraform output -json name` and returns the value it
// prints, reading at most maxOutputBytes of it. It does not go through
// terraform-exec, whose Output reads every output of the module into
// memory, however large, and a line at a time whatever a writer given to
// it does. Terraform's errors go to w, the run's log; an output the state
// does not hold is null. The command runs as terraform-exec runs one
// (process group, parent-death signal, environment, an interrupt when ctx
// ends), within runTerraform's bounds.
func (b *burst) outputValue(ctx context.Context, name string, w io.Writer) (json.RawMessage, error) {
	cmd := exec.CommandContext(ctx, b.p.binary, "output", "-no-color", "-json", name)
	cmd.Dir = b.dir
	env := maps.Clone(b.p.env)
	env[runMarkEnv] = b.mark
	env["TF_IN_AUTOMATION"] = "1"
	for _, k := range []string{"TF_LOG", "TF_LOG_CORE", "TF_LOG_PATH", "TF_LOG_PROVIDER"} {
		env[k] = "" // logging would go to stderr, quoted in errors
	}
	delete(env, "TF_WORKSPACE")
	for _, k := range sortedKeys(env) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	setChildAttr(cmd)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = max(b.p.opts.waitDelay, 1)
	var stderr headWriter
	stderr.max = maxDiagBytes
	cmd.Stderr = io.MultiWriter(w, &stderr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	limit := b.p.opts.maxOutput
	data, rerr := io.ReadAll(io.LimitReader(out, int64(limit)+1))
	if len(data) > limit {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, &OutputError{Dir: b.dir, Problems: []string{fmt.Sprintf("it is over %s as `terraform output -json %s` prints it: Spillway reads at most %[1]s of it; "+
			"want one {id, zone, private_ip, gpus} object per key of var.instances (about 300 bytes each), large values kept out of it", sizeOf(limit), name)}}
	}
	if err := cmd.Wait(); err != nil {
		if strings.Contains(stderr.String(), fmt.Sprintf("Output %q not found", name)) {
			return nil, nil
		}
		return nil, fmt.Errorf("%w\n%s", err, strings.TrimSpace(stderr.String()))
	}
	if rerr != nil {
		return nil, rerr
	}
	return bytes.TrimSpace(data), nil
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	bytes.Buffer
	max int
}

func (w *headWriter) Write(p []byte) (int, error) {
	if room := w.max - w.Len(); room > 0 {
		w.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// sizeOf writes a bound in bytes for a message: 16 MiB, 512 KiB.
func sizeOf(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
