package terraform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-version"
)

// Spillway runs Terraform's commands itself rather than through
// terraform-exec, whose command runner keeps everything a command prints
// on stderr in memory, however much, to quote in its error: a wrapper
// script standing for the binary that traces itself or sets TF_LOG, a
// provider plugin's crash, a provisioner writing to Terraform's own
// stderr could grow the server by megabytes a run (tens of them for a
// chatty one), all held until the command ended, and in the error after.
// Here a command's stdout and stderr go to the run's log, which keeps a
// bounded head and tail of them (runLog), and its error quotes at most
// the first and the last stderrKeepBytes of its stderr: Terraform's error
// text comes last, and a -json command's diagnostics are read from its
// log. The arguments are those terraform-exec gives each command.

// stderrKeepBytes is how much of a command's stderr its error quotes at
// each end.
const stderrKeepBytes = maxDiagBytes

// terraformCmd is cmd running the binary with args in dir, as
// terraform-exec runs one: in a process group of its own, killed when
// Spillway dies, interrupted (SIGINT) when ctx ends and killed a wait
// delay later, in the provider's environment with the run's mark and
// without Terraform's logging (which would go to stderr).
func (p *Provider) terraformCmd(ctx context.Context, dir, mark string, args ...string) *exec.Cmd {
	env := maps.Clone(p.env)
	env[runMarkEnv] = mark
	cmd := binaryCmd(ctx, p.binary, dir, env, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = waitDelayOf(ctx, p.opts.waitDelay)
	return cmd
}

// binaryCmd is cmd running bin with args in dir, in env without
// Terraform's logging, in a process group of its own, killed when
// Spillway dies (and, by default, when ctx ends).
func binaryCmd(ctx context.Context, bin, dir string, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	env = maps.Clone(env)
	env["TF_IN_AUTOMATION"] = "1"
	for _, k := range []string{"TF_LOG", "TF_LOG_CORE", "TF_LOG_PATH", "TF_LOG_PROVIDER"} {
		env[k] = ""
	}
	delete(env, "TF_WORKSPACE")
	for _, k := range sortedKeys(env) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	setChildAttr(cmd)
	return cmd
}

// maxVersionBytes bounds what `terraform version -json` may print on
// stdout: a few hundred bytes, a line a provider of an initialised
// directory.
const maxVersionBytes = 64 << 10

// versionWaitDelay is how long a `terraform version` whose ctx ended has
// to exit before it is killed (its output then gets outputCloseDelay to
// close, as any command's: runPiped).
const versionWaitDelay = time.Second

// plainVersionRE is Terraform's version in `terraform version`'s text,
// which a Terraform without -json prints.
var plainVersionRE = regexp.MustCompile(`Terraform v?([0-9]+(?:\.[0-9]+)*(?:-[A-Za-z0-9.]+)?)`)

// coreVersion runs `terraform version -json` with bin in dir and env, and
// reads Terraform's version from it. What the binary prints is held only
// in part: the first maxVersionBytes of stdout, and of stderr, quoted in
// a failure's error, its first and last stderrKeepBytes.
func coreVersion(ctx context.Context, bin, dir string, env map[string]string) (*version.Version, error) {
	cmd := binaryCmd(ctx, bin, dir, env, "version", "-json")
	// Its process group is killed: a wrapper's children (which the
	// parent-death signal spares while Spillway runs) go with it.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = versionWaitDelay
	stdout, stderr := headTail{max: maxVersionBytes}, headTail{max: stderrKeepBytes}
	err := runPiped(cmd, &stdout, &stderr)
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s version: %w: %w", bin, ctx.Err(), err)
	case err != nil:
		return nil, fmt.Errorf("%s version: %w\n%s", bin, err, strings.TrimSpace(stderr.String()))
	case len(stdout.tail) > 0:
		return nil, fmt.Errorf("%s version printed more than %d bytes on stdout, which is not Terraform's version: "+
			"is %s Terraform, or a wrapper of it printing on stdout?", bin, maxVersionBytes, bin)
	}
	out := bytes.TrimSpace(stdout.head)
	if len(out) == 0 {
		return nil, fmt.Errorf("%s version printed no version on stdout, and exited 0: is %s Terraform?", bin, bin)
	}
	var j struct {
		Version string `json:"terraform_version"`
	}
	var s string
	if json.Unmarshal(out, &j) == nil {
		s = j.Version
	} else if m := plainVersionRE.FindSubmatch(out); m != nil {
		s = string(m[1])
	}
	v, err := version.NewVersion(s)
	if err != nil {
		return nil, fmt.Errorf("%s version printed %q, which names no Terraform version: is %s Terraform?", bin, quoteHead(out), bin)
	}
	return v, nil
}

// quoteHead is the first line of out, at most 200 bytes of it.
func quoteHead(out []byte) string {
	line, _, _ := bytes.Cut(out, []byte("\n"))
	if len(line) > 200 {
		line = line[:200]
	}
	return string(line)
}

// command runs terraform with args in dir, its stdout and stderr written
// to w (the run's log). A command that fails returns its exit error with
// the head and tail of its stderr; one whose ctx ended, an error matching
// ctx's; one that exited while a process it started held its output, an
// *outputHeldError (runPiped).
func (p *Provider) command(ctx context.Context, dir, mark string, w io.Writer, args ...string) error {
	cmd := p.terraformCmd(ctx, dir, mark, args...)
	var keep headTail
	keep.max = stderrKeepBytes
	// Each stream reaches the log a whole line at a time: copied at
	// once, they would otherwise mix within a line, and the log is read
	// back a JSON message a line.
	stdout, stderr := &lineWriter{w: w}, &lineWriter{w: w}
	err := runPiped(cmd, stdout, io.MultiWriter(stderr, &keep))
	stdout.flush()
	stderr.flush()
	if ctx.Err() != nil {
		if err == nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	if err != nil {
		return fmt.Errorf("%w\n%s", err, strings.TrimSpace(keep.String()))
	}
	return nil
}

// exitCode is the exit status of a command that ran and failed, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// Each command's arguments, as terraform-exec builds them with the
// options Spillway passed it (lock on, no lock wait, parallelism 10).
var (
	planArgs = []string{"plan", "-no-color", "-input=false", "-detailed-exitcode", "-lock-timeout=0s",
		"-out=" + planFile, "-var-file=" + varsFile, "-lock=true", "-parallelism=10", "-refresh=true"}
	applyArgs   = []string{"apply", "-no-color", "-auto-approve", "-input=false", "-lock=true", "-parallelism=10", "-refresh=true", "-json", planFile}
	destroyArgs = []string{"destroy", "-no-color", "-auto-approve", "-input=false", "-lock-timeout=0s",
		"-var-file=" + varsFile, "-lock=true", "-parallelism=10", "-refresh=true", "-json"}
)

// init runs `terraform init` in dir with the backend settings given
// (KEY=VALUE each). The plugin cache New made is made again first if it
// was removed since (a work dir cleaned by hand): Terraform would say
// "Error: The specified plugin cache dir ... cannot be opened" and go on
// without it, downloading every provider for each burst's init.
func (p *Provider) init(ctx context.Context, dir, mark string, w io.Writer, backendConfig ...string) error {
	if cache := p.env["TF_PLUGIN_CACHE_DIR"]; cache != "" {
		if err := os.MkdirAll(cache, 0o700); err != nil {
			return fmt.Errorf("make the plugin cache TF_PLUGIN_CACHE_DIR: %w", err)
		}
	}
	args := []string{"init", "-no-color", "-input=false", "-backend=true", "-get=true", "-upgrade=false"}
	for _, bc := range backendConfig {
		args = append(args, "-backend-config="+bc)
	}
	return p.command(ctx, dir, mark, w, args...)
}

// plan runs `terraform plan -json` on the burst's variables, writing the
// plan to planFile, with extra arguments (-refresh-only, -target=...). It
// says whether the plan changes anything.
func (b *burst) plan(ctx context.Context, w io.Writer, extra ...string) (changes bool, err error) {
	args := append(append(append([]string{}, planArgs...), extra...), "-json")
	err = b.p.command(ctx, b.dir, b.mark, w, args...)
	if err != nil && ctx.Err() == nil && exitCode(err) == 2 {
		return true, nil // -detailed-exitcode: it succeeded, with changes
	}
	return false, err
}

// applyPlan runs `terraform apply -json` of the plan in planFile.
func (b *burst) applyPlan(ctx context.Context, w io.Writer) error {
	return b.p.command(ctx, b.dir, b.mark, w, applyArgs...)
}

// destroy runs `terraform destroy -json` on the burst's variables.
func (b *burst) destroy(ctx context.Context, w io.Writer) error {
	return b.p.command(ctx, b.dir, b.mark, w, destroyArgs...)
}

// forceUnlock runs `terraform force-unlock -force id`.
func (b *burst) forceUnlock(ctx context.Context, w io.Writer, id string) error {
	return b.p.command(ctx, b.dir, b.mark, w, "force-unlock", "-no-color", "-force", id)
}

// maxLineBytes bounds the part of a line lineWriter holds: a longer line
// reaches the log in pieces (an outputs message that long, mixed with
// stderr, is then read with `terraform output` instead).
const maxLineBytes = 1 << 20

// lineWriter writes to w only whole lines, holding the last partial one
// (up to maxLineBytes) until its end comes, or flush. One goroutine
// writes to it.
type lineWriter struct {
	w   io.Writer
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
		if len(l.buf) > 0 {
			l.buf = append(l.buf, p[:i+1]...)
			l.flush()
		} else {
			_, _ = l.w.Write(p[:i+1])
		}
		p = p[i+1:]
	}
	l.buf = append(l.buf, p...)
	if len(l.buf) >= maxLineBytes {
		l.flush()
	}
	return n, nil
}

// flush writes what is held.
func (l *lineWriter) flush() {
	if len(l.buf) > 0 {
		_, _ = l.w.Write(l.buf)
		l.buf = l.buf[:0]
	}
}

// headTail keeps the first and the last max bytes written to it, and
// counts those cut between them.
type headTail struct {
	max        int
	head, tail []byte
	cut        int64
}

func (k *headTail) Write(p []byte) (int, error) {
	n := len(p)
	if room := k.max - len(k.head); room > 0 {
		take := min(room, len(p))
		k.head = append(k.head, p[:take]...)
		p = p[take:]
	}
	switch {
	case len(p) == 0:
	case len(p) >= k.max:
		k.cut += int64(len(k.tail) + len(p) - k.max)
		k.tail = append(k.tail[:0], p[len(p)-k.max:]...)
	default:
		if over := len(k.tail) + len(p) - k.max; over > 0 {
			k.cut += int64(over)
			k.tail = k.tail[:copy(k.tail, k.tail[over:])]
		}
		k.tail = append(k.tail, p...)
	}
	return n, nil
}

// String is the head, a line saying how much was cut when anything was,
// and the tail.
func (k *headTail) String() string {
	if k.cut == 0 {
		return string(k.head) + string(k.tail)
	}
	return fmt.Sprintf("%s\n[spillway: %d bytes of Terraform's stderr cut here; the run's log keeps more]\n%s", k.head, k.cut, k.tail)
}

// outputCloseDelay is how long a command's stdout and stderr may stay open
// once its process has exited: what Terraform wrote is read from the
// pipes by then, and a wrapper's log copier (a tee fed by the wrapper)
// ends. exec would wait the command's whole WaitDelay (its grace, a
// minute by default) and then fail with exec.ErrWaitDelay, which says
// nothing of why.
const outputCloseDelay = 2 * time.Second

// errOutputHeld is a command whose process exited while another, one it
// started, held its stdout or stderr open.
var errOutputHeld = errors.New("a process it started held its output open")

// outputHeldError is a command that exited (Exit, nil for status 0) while
// a process it started (a wrapper's background child, say) still held its
// stdout or stderr open outputCloseDelay later. It wraps Exit, so a
// failed exit's status still reads through it, and errOutputHeld.
type outputHeldError struct {
	Bin     string
	Streams []string
	Exit    error
}

func (e *outputHeldError) Error() string {
	exit := "exited 0"
	if e.Exit != nil {
		exit = "exited (" + e.Exit.Error() + ")"
	}
	return fmt.Sprintf("%s %s, and a process it started still held its %s open %s later: Spillway stopped reading, killed the processes left in its process group, and takes the run as failed. "+
		"Does %[1]s (a wrapper?) leave a background process with the output it was given? Redirect that process's output, or end it before %[1]s exits",
		e.Bin, exit, strings.Join(e.Streams, " and "), outputCloseDelay)
}

func (e *outputHeldError) Unwrap() []error {
	if e.Exit == nil {
		return []error{errOutputHeld}
	}
	return []error{errOutputHeld, e.Exit}
}

// runPiped runs cmd, its stdout copied to stdout and its stderr to stderr
// through pipes of its own rather than exec's, so that exec waits for
// the process alone (its Cancel and WaitDelay still apply to it): once it
// has exited, the pipes get outputCloseDelay to close, and are then
// closed, the processes left in its process group killed (cmd leads
// one: setChildAttr), the run failing with an *outputHeldError. The copies start
// once the process has: a writer may use cmd.Process.
func runPiped(cmd *exec.Cmd, stdout, stderr io.Writer) error {
	dsts := []io.Writer{stdout, stderr}
	var readers, writers []*os.File
	defer func() {
		for _, f := range append(readers, writers...) {
			_ = f.Close()
		}
	}()
	for range dsts {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		readers, writers = append(readers, r), append(writers, w)
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]
	err := cmd.Start()
	for _, w := range writers {
		_ = w.Close()
	}
	writers = nil
	if err != nil {
		return err
	}
	done := make([]chan struct{}, len(dsts))
	for i, dst := range dsts {
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			_, _ = io.Copy(dst, readers[i])
		}()
	}
	err = cmd.Wait()
	if held := awaitOutput(readers, done); len(held) > 0 {
		// What holds it is the command's own (a wrapper's background
		// child, in the group the command led): left running, one more
		// would run on after each retry, for ever.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return &outputHeldError{Bin: cmd.Path, Streams: held, Exit: err}
	}
	return err
}

// awaitOutput waits up to outputCloseDelay for each copy of a pipe to end
// (done), then stops those still reading. It names the streams held open.
func awaitOutput(readers []*os.File, done []chan struct{}) []string {
	timer := time.NewTimer(outputCloseDelay)
	defer timer.Stop()
	expired := false
	var held []string
	for i, d := range done {
		if !expired {
			select {
			case <-d:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-d:
			continue
		default:
		}
		_ = readers[i].SetReadDeadline(time.Now())
		<-d
		held = append(held, []string{"stdout", "stderr"}[i])
	}
	return held
}
