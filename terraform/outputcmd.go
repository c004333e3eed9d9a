package terraform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxOutputBytes bounds what Spillway reads of a module's instances
// output, as `terraform output -json instances` prints it (about 300
// bytes an instance), and the "outputs" message of an apply's log.
const maxOutputBytes = 16 << 20

// outputValue runs `terraform output -json name` and returns the value it
// prints, reading at most the provider's maxOutput bytes of it (16 MiB).
// It does not go through terraform-exec, whose Output reads every output
// of the module into memory, however large, and a line at a time whatever
// a writer given to it does. Terraform's errors go to w, the run's log; an
// output the state does not hold is null.
func (b *burst) outputValue(ctx context.Context, name string, w io.Writer) (json.RawMessage, error) {
	limit := b.p.opts.maxOutput
	data, stderr, err := b.readCommand(ctx, w, limit, "output", "-no-color", "-json", name)
	if errors.Is(err, errOverLimit) {
		return nil, &OutputError{Dir: b.dir, Problems: []string{fmt.Sprintf("it is over %s as `terraform output -json %s` prints it: Spillway reads at most %[1]s of it; "+
			"want one {id, zone, private_ip, gpus} object per key of var.instances (about 300 bytes each), large values kept out of it", sizeOf(limit), name)}}
	}
	if err != nil && strings.Contains(stderr, fmt.Sprintf("Output %q not found", name)) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		// Terraform prints the value, null for none: taken for no value,
		// silence would end the burst's instances in the ledger alone.
		return nil, fmt.Errorf("%w: `terraform output -json %s` exited 0 having printed nothing, where Terraform prints the output's value (null for none): "+
			"is %s Terraform?", errSilent, name, b.p.binary)
	}
	return data, nil
}

// errSilent is a command that succeeded without printing what Terraform
// prints.
var errSilent = errors.New("terraform printed nothing")

// errOverLimit is a command that printed more than readCommand reads.
var errOverLimit = errors.New("printed more than the bound read of it")

// readCommand runs terraform with args and returns what it prints on
// stdout, reading at most limit bytes of it: past that it kills the
// command and returns errOverLimit, having held no more than the bound.
// Its stderr goes to w, the run's log, and (the first maxDiagBytes) into
// stderr and the error of a command that fails. The command runs as
// terraform-exec runs one (process group, parent-death signal,
// environment, an interrupt when ctx ends: terraformCmd), within
// runTerraform's bounds, its output read as command reads one (runPiped).
func (b *burst) readCommand(ctx context.Context, w io.Writer, limit int, args ...string) (data []byte, stderr string, err error) {
	cmd := b.p.terraformCmd(ctx, b.dir, b.mark, args...)
	var head headWriter
	head.max = maxDiagBytes
	out := &boundedWriter{max: limit, over: func() { _ = cmd.Process.Kill() }}
	err = runPiped(cmd, out, io.MultiWriter(w, &head))
	if out.exceeded {
		return nil, head.String(), errOverLimit
	}
	if err != nil {
		return nil, head.String(), fmt.Errorf("%w\n%s", err, strings.TrimSpace(head.String()))
	}
	return out.buf.Bytes(), head.String(), nil
}

// boundedWriter holds at most max bytes written to it: a write past that
// is refused (errOverLimit), having called over, once. One goroutine
// writes to it. Its buffer is no embedded bytes.Buffer, whose ReadFrom
// io.Copy would call instead of Write.
type boundedWriter struct {
	buf      bytes.Buffer
	max      int
	over     func()
	exceeded bool
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		if !w.exceeded {
			w.exceeded = true
			w.over()
		}
		return 0, errOverLimit
	}
	return w.buf.Write(p)
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
