package terraform

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/spillway-io/spillway/providers"
)

// RunError is a Terraform command that failed. It carries Terraform's own
// diagnostics and the path of the run's full log.
type RunError struct {
	// Op is the command: init, plan, apply, destroy, output, force-unlock.
	Op string
	// Dir is the burst's working directory; Log the file holding the run's
	// whole output.
	Dir, Log string
	// Diagnostics is Terraform's error text (summary and detail of each
	// error diagnostic, or its stderr when it wrote no diagnostics).
	Diagnostics string
	// Hint says what the operator must do, when Spillway knows: a state
	// lock it may not break names the force-unlock to run.
	Hint string
	Err  error
}

func (e *RunError) Error() string {
	d := strings.TrimSpace(e.Diagnostics)
	if d == "" {
		d = e.Err.Error()
	}
	msg := fmt.Sprintf("terraform %s in %s failed: %s (full output: %s)", e.Op, e.Dir, d, e.Log)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func (e *RunError) Unwrap() error { return e.Err }

// OutputError is a module's instances output that breaks the contract
// (docs/terraform.md), so Spillway cannot account for what it reports: a
// value of the wrong shape, two keys with one id, an id another burst
// holds, an id or zone the state could not store, a private_ip that is no
// IP address, a key Spillway did not ask for, a GPU count other than the
// one asked for. It is the module's fault,
// and the provider returns it wrapped in a *providers.InvalidError.
type OutputError struct {
	// Dir is the burst's working directory.
	Dir string
	// Problems says what is wrong, one entry per problem.
	Problems []string
	// More counts the problems beyond Problems not spelled out: keys of
	// no var.instances past the first few, which an output may hold by
	// the million.
	More int
}

// maxShownProblems bounds the problems an OutputError's message lists: an
// output may hold any number of keys.
const maxShownProblems = 10

// shownOf joins the first maxShownProblems of items with sep, saying how
// many more there are: an error's message names a bounded list.
func shownOf(items []string, sep string) string {
	if len(items) <= maxShownProblems {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:maxShownProblems], sep), len(items)-maxShownProblems)
}

func (e *OutputError) Error() string {
	shown := e.Problems
	more := ""
	if len(shown) > maxShownProblems {
		shown = shown[:maxShownProblems]
	}
	if n := len(e.Problems) + e.More - len(shown); n > 0 {
		more = fmt.Sprintf("; and %d more problems", n)
	}
	return fmt.Sprintf("the module's output \"instances\" in %s breaks the module contract: %s%s", e.Dir, strings.Join(shown, "; "), more)
}

// Error classes, as the SDK providers use them. The codes are the clouds'
// own error codes, which the official Terraform providers quote in their
// error messages (AWS: "api error InsufficientInstanceCapacity: ...";
// Alibaba: "Code: OperationDenied.NoStock").
type errClass int

const (
	classTransient errClass = iota
	classCapacity
	classQuota
	classThrottled
	classInvalid
)

var codeClasses = []struct {
	class errClass
	codes []string
}{
	{classCapacity, []string{
		// EC2
		"InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity",
		"InsufficientCapacityOnHost", "InsufficientCapacity", "InsufficientFreeAddressesInSubnet",
		"UnfulfillableCapacity", "MaxSpotInstanceCountExceeded", "SpotMaxPriceTooLow",
		// (EC2's "Unsupported" is left out: Terraform's own "Unsupported
		// argument" diagnostics would read as a stock-out.)
		// ECS
		"OperationDenied.NoStock", "OperationDenied.NoSpotStock", "Zone.NotOnSale",
		"InvalidInstanceType.ZoneNotSupported", "InvalidResourceType.NotSupported", "InvalidVSwitchId.IpNotEnough",
	}},
	{classQuota, []string{
		"VcpuLimitExceeded", "InstanceLimitExceeded", "ResourceLimitExceeded", "VolumeLimitExceeded",
		"NetworkInterfaceLimitExceeded", "AddressLimitExceeded", "PendingVerification",
		"QuotaExceed", "QuotaExceeded",
	}},
	{classThrottled, []string{"RequestLimitExceeded", "Throttling", "ThrottlingException", "Throttling.User", "Throttling.Api"}},
	{classInvalid, []string{
		"IdempotentParameterMismatch", "AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId",
		"SignatureDoesNotMatch", "OptInRequired", "InvalidParameterValue", "InvalidParameterCombination",
		"InvalidParameter", "MissingParameter", "InvalidAMIID.NotFound", "InvalidAMIID.Malformed",
		"InvalidSubnetID.NotFound", "InvalidGroup.NotFound", "InvalidImageId.NotFound",
		"InvalidVSwitchId.NotFound", "InvalidSecurityGroupId.NotFound", "Forbidden.RAM",
		"InvalidAccessKeyId.NotFound",
	}},
}

// codeRE matches a cloud error code as a whole word: letters, digits and
// dots, e.g. InsufficientInstanceCapacity or QuotaExceed.ElasticQuota.
var codeRE = regexp.MustCompile(`[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*`)

// classify finds the first known cloud error code in text and returns its
// class and the code. A code is matched whole or, for ECS's dotted codes,
// by its first segment (QuotaExceed.ElasticQuota is a QuotaExceed).
func classify(text string) (errClass, string) {
	for _, tok := range codeRE.FindAllString(text, -1) {
		for _, cc := range codeClasses {
			for _, c := range cc.codes {
				if tok == c || strings.HasPrefix(tok, c+".") {
					return cc.class, tok
				}
			}
		}
	}
	return classTransient, ""
}

// typed wraps err in the providers error of class.
func typed(class errClass, code, provider, region, zone, instanceType string, err error) error {
	switch class {
	case classCapacity:
		return &providers.CapacityError{Provider: provider, Region: region, Zone: zone, InstanceType: instanceType, Code: code, Err: err}
	case classQuota:
		return &providers.QuotaError{Provider: provider, Region: region, Code: code, Err: err}
	case classThrottled:
		return &providers.ThrottledError{Provider: provider, Code: code, Err: err}
	case classInvalid:
		return &providers.InvalidError{Provider: provider, Code: code, Err: err}
	}
	if code == "" {
		code = "TerraformError"
	}
	return &providers.TransientError{Provider: provider, Code: code, Err: err}
}

// Terraform's summaries of a variable's value the module refuses: a
// validation rule's condition is false, or the value does not convert to
// the variable's type. Either holds for every retry of the same run.
var refusedValueSummaries = []string{"Invalid value for variable", "Invalid value for input variable"}

var (
	variableBlockRE = regexp.MustCompile(`^\s*variable\s+"([^"]+)"`)
	variableRefRE   = regexp.MustCompile(`\bvar\.([A-Za-z_][A-Za-z0-9_-]*)`)
)

// refusedVariable says which variable a diagnostic says the module refused
// the value of ("" and false when it says nothing of the kind). Terraform
// 1.5 points the diagnostic at the variable's block; later versions at
// the value in the variables file, quoting var.<name>; a type error names
// var.<name> in its detail.
func refusedVariable(d diag) (string, bool) {
	if !slices.Contains(refusedValueSummaries, d.Summary) {
		return "", false
	}
	if m := variableBlockRE.FindStringSubmatch(d.Snippet.Code); m != nil {
		return m[1], true
	}
	for _, v := range d.Snippet.Values {
		if name, ok := strings.CutPrefix(v.Traversal, "var."); ok {
			return name, true
		}
	}
	if m := variableRefRE.FindStringSubmatch(d.Detail); m != nil {
		return m[1], true
	}
	return "", true
}

// burstError is an error of a run on one burst, naming the burst first.
type burstError struct {
	key string
	err error
}

func (e *burstError) Error() string    { return "burst " + e.key + ": " + e.err.Error() }
func (e *burstError) Unwrap() error    { return e.err }
func (e *burstError) burstKey() string { return e.key }

// inBurst is err naming the burst key, unless it names it already (an
// error of a run on the burst that says which, such as a *StateSizeError):
// "burst KEY: burst KEY: ..." says nothing twice.
func inBurst(key string, err error) error {
	if err == nil {
		return nil
	}
	if namesBurst(err, key) {
		return err
	}
	return &burstError{key: key, err: err}
}

// namesBurst says whether err is an error of a run on burst key that
// says which.
func namesBurst(err error, key string) bool {
	var named interface{ burstKey() string }
	return errors.As(err, &named) && named.burstKey() == key
}

// WorkDirError is a burst's directory in the work dir that cannot be
// written: every run on a burst writes its lock, ledger, variables and
// logs there (and, with the local backend, its state), so none can start.
// The work dir is on a read-only file system (mounted so, or remounted
// read-only by the kernel after disk errors), is not writable by the
// server's user, or has a file where a directory must be.
type WorkDirError struct {
	WorkDir string
	// Path is the file or directory that could not be made or opened.
	Path string
	Err  error
}

func (e *WorkDirError) Error() string {
	const keep = "the bursts' ledgers and states are in it, so a new work_dir must start as a copy of this one, or their instances run untracked"
	switch {
	case errors.Is(e.Err, syscall.EROFS):
		return fmt.Sprintf("work dir %s is on a read-only file system (%s cannot be written), so no run on a burst can start: "+
			"remount it read-write (a file system the kernel remounted read-only after disk errors needs its disk checked first), "+
			"or point work_dir at a writable directory; %s (%v)", e.WorkDir, e.Path, keep, e.Err)
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("work dir %s is not writable by this server (user id %d; %s cannot be written), so no run on a burst can start: "+
			"give the server's user write access to it; %s (%v)", e.WorkDir, os.Geteuid(), e.Path, keep, e.Err)
	}
	return fmt.Sprintf("work dir %s has a file where a directory must be (%s cannot be made), so no run on a burst can start: "+
		"move the file away (Spillway makes work_dir/bursts/<burst>/ itself) (%v)", e.WorkDir, e.Path, e.Err)
}

func (e *WorkDirError) Unwrap() error { return e.Err }

// asWorkDirError is err as a *WorkDirError when it says path could not
// be written for one of the reasons above, and nil otherwise.
func asWorkDirError(workDir, path string, err error) *WorkDirError {
	if errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOTDIR) {
		return &WorkDirError{WorkDir: workDir, Path: path, Err: err}
	}
	return nil
}
