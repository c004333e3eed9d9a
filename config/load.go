package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/spillway-io/spillway/policy"
)

// Load reads and parses the config file at path; see Parse.
func Load(path string, opts ...ParseOption) (*Config, error) {
	return LoadContext(context.Background(), path, opts...)
}

// LoadContext is Load that stops when ctx ends. A file larger than
// MaxFileBytes is refused before it is read.
func LoadContext(ctx context.Context, path string, opts ...ParseOption) (*Config, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return ParseContext(ctx, path, data, opts...)
}

// ParseOption changes how Parse reads a config.
type ParseOption func(*parseOptions)

type parseOptions struct {
	catalog *Catalog
	baseDir string
}

// dir is the directory relative paths are resolved against.
func (o parseOptions) dir(filename string) string {
	if o.baseDir != "" {
		return o.baseDir
	}
	return filepath.Dir(filename)
}

// WithBaseDir resolves the config's relative paths against dir instead of
// the directory of the file name given to Parse (e.g. for a config that
// was not read from a file).
func WithBaseDir(dir string) ParseOption {
	return func(o *parseOptions) { o.baseDir = dir }
}

func defaultParseOptions() parseOptions {
	return parseOptions{catalog: nil} // DefaultCatalog, resolved lazily in Parse
}

// WithCatalog makes Parse fill offerings' gpus and price_per_hour from c
// instead of the bundled catalog (DefaultCatalog).
func WithCatalog(c *Catalog) ParseOption {
	return func(o *parseOptions) { o.catalog = c }
}

// Parse decodes a spillway.yaml, checks it strictly, applies defaults and
// fills offerings from the catalog. filename is used in messages, and its
// directory to resolve relative paths (see WithBaseDir).
//
// When the config has problems, Parse returns a *ValidationError listing
// every one of them (not only the first), each with its line, column and
// field path.
func Parse(filename string, data []byte, opts ...ParseOption) (*Config, error) {
	return ParseContext(context.Background(), filename, data, opts...)
}

// ParseContext is Parse that stops when ctx ends, returning a
// *ValidationError that wraps ctx's error. Its work is bounded whatever the
// input: data of at most MaxFileBytes, one YAML document, and at most
// MaxNodeVisits values visited through aliases and merge keys beyond those
// written.
func ParseContext(ctx context.Context, filename string, data []byte, opts ...ParseOption) (*Config, error) {
	o := defaultParseOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if o.catalog == nil {
		o.catalog = DefaultCatalog()
	}

	d := &cfgDecoder{file: filename, nodes: map[string]*yaml.Node{}, failed: map[string]bool{},
		aliases: map[string]*yaml.Node{}, active: map[*yaml.Node]bool{}, ctx: ctx}
	if len(data) > MaxFileBytes {
		d.errs = append(d.errs, FieldError{File: filename, Msg: fmt.Sprintf("the file is %d bytes: a config may be at most %d bytes (%d MiB)", len(data), MaxFileBytes, MaxFileBytes>>20)})
		return nil, d.result()
	}
	doc, ok := d.document(data)
	if !ok {
		return nil, d.result()
	}
	d.maxVisits = cfgCountNodes(&doc) + MaxNodeVisits
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind == 0 || root.Kind == yaml.DocumentNode || cfgIsNull(root) {
		d.errs = append(d.errs, FieldError{File: filename, Line: 1, Col: 1,
			Msg: "the config is empty: want a mapping with cluster, providers and pools"})
		return nil, d.result()
	}

	if k := tokensFileKey(root); k != nil {
		// An API tokens file handed over as a config: say so once, rather
		// than that tokens is an unknown field and cluster, providers and
		// pools are missing.
		d.errs = append(d.errs, FieldError{File: filename, Line: k.Line, Col: k.Column, Field: "tokens",
			Msg: "this is an API tokens file (spillway token create writes it; a config names it in server.tokens_file), not a config: pass the spillway.yaml instead"})
		return nil, d.result()
	}
	cfg := &Config{}
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	if d.stopped != nil {
		return nil, d.result()
	}
	v := &cfgValidator{d: d, cat: o.catalog}
	v.checkBounds(cfg)
	v.checkExplicit(cfg)
	applyDefaults(cfg, d.explicit)
	v.fillFromCatalog(cfg)
	v.checkCross(cfg)
	v.checkSimulate(cfg)
	v.checkServer(cfg)
	if err := d.result(); err != nil {
		return nil, err
	}
	resolvePaths(cfg, o.dir(filename))
	cfg.src = d.source()
	for i := range cfg.Pools {
		cfg.Pools[i].src, cfg.Pools[i].path = cfg.src, fmt.Sprintf("pools[%d]", i)
	}
	return cfg, nil
}

// FieldError is one problem in a config file.
type FieldError struct {
	File string
	// Line and Col locate the bad value (or, for a missing field, the
	// mapping it is missing from); 0 when unknown.
	Line, Col int
	// Field is the path of the field, e.g. pools[0].offerings[1].price_per_hour.
	Field string
	// Value is the bad value as written ("" for a missing field).
	Value string
	// Msg says what is wrong and what would be valid.
	Msg string
}

// Error formats the problem as FILE:LINE:COL: FIELD: MSG.
func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(shortMsg(e.Msg, e.Value))
	return b.String()
}

// Bounds on what an error repeats of the config: a value past
// maxShownValue bytes is shown by its start, and a message past
// maxShownMsg bytes by its two ends (a value pasted into the wrong field,
// a trace given as the config, must not fill the terminal).
const (
	maxShownValue = 120
	shownValue    = 60 // runes of a long value shown
	maxShownMsg   = 2048
)

// shortMsg shortens msg's copies of a long value, quoted or not, to the
// value's start and its size; then a message still too long to read to its
// two ends.
func shortMsg(msg, value string) string {
	if len(value) > maxShownValue {
		head := value
		if r := []rune(value); len(r) > shownValue {
			head = string(r[:shownValue])
		}
		q := strconv.Quote(head)
		short := fmt.Sprintf("%s…\" (%d bytes)", q[:len(q)-1], len(value))
		msg = strings.ReplaceAll(msg, strconv.Quote(value), short)
		msg = strings.ReplaceAll(msg, value, head+"…")
	}
	if len(msg) > maxShownMsg {
		cut := maxShownMsg / 2
		start, end := cut, len(msg)-cut
		for start > 0 && !utf8.RuneStart(msg[start]) {
			start--
		}
		for end < len(msg) && !utf8.RuneStart(msg[end]) {
			end++
		}
		msg = fmt.Sprintf("%s … (%d bytes left out) … %s", msg[:start], end-start, msg[end:])
	}
	return msg
}

// ValidationError holds every problem found in a config, in file order.
type ValidationError struct {
	Errors []FieldError
	// Cause is the context's error when reading was cancelled.
	Cause error
}

// Unwrap returns Cause, so errors.Is(err, context.Canceled) holds for a
// cancelled read.
func (e *ValidationError) Unwrap() error { return e.Cause }

// MaxShownProblems is how many of a config's problems its
// ValidationError prints, one line each: a config generated by a loop
// that went wrong holds the same mistake thousands of times, and every
// one of them printed (5 MB for 20,000 pools) floods a terminal or a log
// without saying more than the first few do.
const MaxShownProblems = 100

// Error prints one line per problem, the first MaxShownProblems of them,
// then how many more there are.
func (e *ValidationError) Error() string {
	shown := e.Errors[:min(len(e.Errors), MaxShownProblems)]
	lines := make([]string, len(shown), len(shown)+1)
	for i, fe := range shown {
		lines[i] = fe.Error()
	}
	if more := len(e.Errors) - len(shown); more > 0 {
		lines = append(lines, fmt.Sprintf("… and %d more problems (%d in all; the first %d are shown): mend these and validate again",
			more, len(e.Errors), len(shown)))
	}
	return strings.Join(lines, "\n")
}

// cfgDecoder walks a yaml.Node tree into the config structs, strictly,
// remembering the node of every field path for later messages.
type cfgDecoder struct {
	file string
	errs []FieldError
	// nodes maps a field path to the value node written there.
	nodes map[string]*yaml.Node
	// failed holds paths whose value could not be decoded; later checks on
	// them (and below them) are skipped so each problem is reported once.
	failed map[string]bool
	// aliases maps a field path written as an alias (*name) to the alias
	// node, whose position is reported rather than the anchor's.
	aliases map[string]*yaml.Node
	// active holds the nodes being decoded, to stop recursive aliases.
	active map[*yaml.Node]bool
	// ctx ends the decoding early; visits counts the values visited
	// (through aliases and merge keys each use counts again); stopped is
	// why decoding stopped (the visit bound, or ctx's error).
	ctx       context.Context
	visits    int
	maxVisits int // the values written plus MaxNodeVisits
	stopped   error
}

// position returns where to report a problem with node n at path.
func (d *cfgDecoder) position(n *yaml.Node, path string) (line, col int) {
	if a, ok := d.aliases[path]; ok && d.nodes[path] == n {
		return a.Line, a.Column
	}
	return n.Line, n.Column
}

func (d *cfgDecoder) result() error {
	if len(d.errs) == 0 {
		return nil
	}
	sortFieldErrors(d.errs)
	ve := &ValidationError{Errors: d.errs}
	if d.stopped != nil && d.ctx != nil && d.ctx.Err() != nil && errors.Is(d.stopped, d.ctx.Err()) {
		ve.Cause = d.stopped
	}
	return ve
}

// sortFieldErrors puts problems in file order.
func sortFieldErrors(errs []FieldError) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// explicit reports whether the config wrote a (non-null) value at path.
func (d *cfgDecoder) explicit(path string) bool {
	n, ok := d.nodes[path]
	return ok && !cfgIsNull(n)
}

// errAt records a problem with the value at path (or, when path has no
// node, at the nearest written parent).
func (d *cfgDecoder) errAt(path, msg string) {
	for p := path; ; p = cfgParentPath(p) {
		if d.failed[p] {
			return
		}
		if p == "" {
			break
		}
	}
	fe := FieldError{File: d.file, Field: path, Msg: msg}
	if n, ok := d.nodes[path]; ok {
		fe.Line, fe.Col = d.position(n, path)
		if n.Kind == yaml.ScalarNode {
			fe.Value = n.Value
		}
	} else {
		for p := cfgParentPath(path); ; p = cfgParentPath(p) {
			if n, ok := d.nodes[p]; ok {
				fe.Line, fe.Col = d.position(n, p)
				break
			}
			if p == "" {
				fe.Line, fe.Col = 1, 1
				break
			}
		}
	}
	d.errs = append(d.errs, fe)
}

// errNode records a problem at a node (e.g. a mapping key) and marks path failed.
func (d *cfgDecoder) errNode(n *yaml.Node, path, msg string) {
	d.failed[path] = true
	line, col := d.position(n, path)
	fe := FieldError{File: d.file, Line: line, Col: col, Field: path, Msg: msg}
	if n.Kind == yaml.ScalarNode {
		fe.Value = n.Value
	}
	d.errs = append(d.errs, fe)
}

func (d *cfgDecoder) syntaxError(err error, data []byte) {
	fe := FieldError{File: d.file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	// yaml.v3 reports syntax errors as "yaml: line N: message".
	if rest, ok := strings.CutPrefix(fe.Msg, "line "); ok {
		if num, msg, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				fe.Line, fe.Msg = n, msg
			}
		}
	}
	fe.Msg = "invalid YAML: " + fe.Msg
	if fe.Line > 0 {
		cfgSyntaxHint(&fe, data)
	}
	// It reports bytes that are not UTF-8, or characters YAML does not
	// allow, without a position: find the first (in a UTF-8 file; one
	// with a UTF-16 byte order mark is read as UTF-16).
	if fe.Line == 0 && !bytes.HasPrefix(data, []byte{0xff, 0xfe}) && !bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		if line, col, what, ok := cfgBadChar(data); ok {
			fe.Line, fe.Col = line, col
			fe.Msg += fmt.Sprintf(" (%s here: a config is UTF-8 text without control characters other than tab and newline)", what)
		}
	}
	d.errs = append(d.errs, fe)
}

// cfgSyntaxHint points a YAML syntax error at the line a person has to
// fix, and says what is likely wrong with it, for the two mistakes of a
// config copied and edited by hand: a line indented with a tab, a value
// that YAML reads as syntax unless quoted (cron: @daily, cron: */5 * * * *),
// and a key indented deeper or shallower than the keys around it. yaml.v3 reports
// the latter at the line of the mapping it was reading ("did not find
// expected key" at pools:), which may be far above the bad line: the bad
// line is the first one whose addition makes the text before it fail to
// parse (looked for from yaml.v3's line on, within bounds).
func cfgSyntaxHint(fe *FieldError, data []byte) {
	lines := strings.SplitAfter(string(data), "\n")
	if fe.Line > len(lines) {
		return
	}
	bad := fe.Line
	if len(data) <= cfgHintMaxBytes {
		for k := fe.Line; k <= len(lines) && k < fe.Line+cfgHintMaxLines; k++ {
			var n yaml.Node
			if yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n) != nil {
				bad = k
				break
			}
		}
	}
	text := strings.TrimRight(lines[bad-1], "\r\n")
	body := strings.TrimLeft(text, " \t")
	indent := text[:len(text)-len(body)]
	if i := strings.IndexByte(indent, '\t'); i >= 0 {
		fe.Line, fe.Col = bad, i+1
		fe.Msg += fmt.Sprintf(" (line %d is indented with a tab: YAML indents with spaces only; replace it with spaces, lined up with the lines around it)", bad)
		return
	}
	if key, value, ok := strings.Cut(strings.TrimPrefix(body, "- "), ": "); ok {
		// cron: @daily, cron: */15 * * * *: YAML reads @ and ` as
		// reserved, * as an alias, & as an anchor, ! as a tag.
		if value = cfgUncommented(strings.TrimSpace(value)); value != "" && strings.ContainsRune("@`*&!%", rune(value[0])) {
			fe.Line, fe.Col = bad, len(text)-len(strings.TrimLeft(text[strings.Index(text, ": ")+1:], " "))+1
			fe.Msg += fmt.Sprintf(" (line %d: the value of %s starts with %q, which YAML reads as syntax, not text: quote it, %s: %q)",
				bad, key, value[:1], key, cfgShown(value))
			return
		}
	}
	if !strings.Contains(fe.Msg, "expected key") && !strings.Contains(fe.Msg, "mapping values are not allowed") {
		return
	}
	fe.Line, fe.Col = bad, len(indent)+1
	fe.Msg += fmt.Sprintf(" (line %d, %q, is indented %d spaces", bad, cfgShown(body), len(indent))
	for m := bad - 1; m >= 1; m-- {
		above := strings.TrimRight(lines[m-1], "\r\n")
		ab := strings.TrimLeft(above, " ")
		if ab == "" || strings.HasPrefix(ab, "#") {
			continue
		}
		fe.Msg += fmt.Sprintf(", line %d above it, %q, %d", m, cfgShown(cfgUncommented(ab)), len(above)-len(ab))
		break
	}
	fe.Msg += ": the keys of one mapping start in one column, a key's fields are indented under it, and a key with a value on its line opens no mapping)"
}

// cfgUncommented is a line of a config without its trailing comment, as
// far as a message showing it goes (a # after a space, in quotes or not).
func cfgUncommented(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, " \t")
}

// cfgShown is a line of a config as a message quotes it: bounded.
func cfgShown(s string) string {
	const maxShown = 60
	if r := []rune(s); len(r) > maxShown {
		return string(r[:maxShown]) + "…"
	}
	return s
}

// cfgHintMaxBytes and cfgHintMaxLines bound the text cfgSyntaxHint parses again.
const (
	cfgHintMaxBytes = 64 << 10
	cfgHintMaxLines = 64
)

// cfgBadChar finds the first byte of data that is not UTF-8, or the first
// character YAML does not allow in a file (a control character but tab,
// newline and carriage return; a surrogate; U+FFFE, U+FFFF), and says
// what it is.
func cfgBadChar(data []byte) (line, col int, what string, ok bool) {
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return line, col, fmt.Sprintf("byte 0x%02x, which is not UTF-8,", data[i]), true
		case !(r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
			(r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)):
			return line, col, fmt.Sprintf("character %U", r), true
		case r == '\n':
			line, col = line+1, 1
		default:
			col++
		}
		i += size
	}
	return 0, 0, "", false
}

var (
	cfgUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	cfgFieldCache      sync.Map // reflect.Type -> *cfgStructInfo
)

type cfgStructInfo struct {
	byName map[string][]int // yaml name -> field index path (inline fields are flattened)
	names  []string         // yaml names in declaration order
}

func cfgFields(t reflect.Type) *cfgStructInfo {
	if v, ok := cfgFieldCache.Load(t); ok {
		return v.(*cfgStructInfo)
	}
	info := &cfgStructInfo{byName: map[string][]int{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if slices.Contains(strings.Split(opts, ","), "inline") && f.Type.Kind() == reflect.Struct {
			inner := cfgFields(f.Type)
			for _, n := range inner.names {
				info.byName[n] = append([]int{i}, inner.byName[n]...)
				info.names = append(info.names, n)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		info.byName[name] = []int{i}
		info.names = append(info.names, name)
	}
	cfgFieldCache.Store(t, info)
	return info
}

// cfgMoved gives, per struct type, fields that used to be written there
// and the hint that says where they live now.
var cfgMoved = map[reflect.Type]map[string]string{
	reflect.TypeFor[ProviderConfig](): {
		"access_key_id":     cfgCredentials,
		"secret_access_key": cfgCredentials,
		"session_token":     cfgCredentials,
		"access_key_secret": cfgCredentials,
		"access_key":        cfgCredentials,
		"secret_key":        cfgCredentials,
		"credentials":       cfgCredentials,
		"credentials_file":  cfgCredentials,
		"role_arn":          cfgCredentials,
	},
	reflect.TypeFor[Signals](): {
		"stale_after": "stale_after is the pool's own setting (how old a signal may be before the policy holds): move it up to the pool, beside interval",
		"onprem":      "onprem is the pool's own setting: move it up to the pool",
		"pool":        "signals belong to the pool they are written in: remove pool",
	},
}

// cfgEnvRefRE matches a shell-style environment variable reference, ${NAME}
// (or ${NAME:-default} and the like) anywhere in a value, or $NAME as the
// whole value: text that the server would otherwise take literally, as an
// image, an endpoint or a path no one meant.
var cfgEnvRefRE = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-=?+][^}]*)?\}|^\$[A-Za-z_][A-Za-z0-9_]*$`)

// cfgReadsDollar reports whether the value at path may hold a $ meant for
// something else than spillway: a script (user_data), an argv or its
// environment (command, env: a shell it runs expands them), an http
// source's headers (which expand ${VAR}), or text handed to Terraform
// (variables, backend_config).
func cfgReadsDollar(path string) bool {
	for _, seg := range strings.FieldsFunc(path, func(r rune) bool { return r == '.' || r == '[' }) {
		switch seg {
		case "user_data", "command", "env", "headers", "variables", "backend_config":
			return true
		}
	}
	return false
}

// cfgCredentials is the hint for a credential written in a provider.
const cfgCredentials = "credentials are not written in spillway.yaml: each provider's SDK reads them from its default chain " +
	"(aws: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or an instance role; " +
	"alicloud: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, a credentials profile, or a RAM role) " +
	"in the environment of spillway server, or from the profile the provider names with profile: NAME " +
	"(aws: ~/.aws/config or ~/.aws/credentials, where a profile may assume a role; alicloud: ~/.alibabacloud/credentials): remove it"

var cfgDurationType = reflect.TypeFor[time.Duration]()

// cfgNumberKind is "a duration" or "a number" when v is read from one
// (and its text is bounded by MaxNumberBytes), else "".
func cfgNumberKind(v reflect.Value) string {
	switch {
	case v.Type() == cfgDurationType || cfgDurationTypes[v.Type()]:
		return "a duration"
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Float64, reflect.Float32:
		return "a number"
	}
	return ""
}

// cfgNumberExample is an example of each cfgNumberKind.
var cfgNumberExample = map[string]string{"a duration": "90s, 5m or 1h30m", "a number": "8, 0.5 or 1e3"}

// cfgDurationTypes are the types read from a duration as people write it,
// whose errors suggest the Go duration meant (DurationHint).
var cfgDurationTypes = map[reflect.Type]bool{
	reflect.TypeFor[policy.Duration]():    true,
	reflect.TypeFor[policy.IdleSetting](): true,
}

func (d *cfgDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.visit(n, path) {
		return
	}
	if n.Kind == yaml.AliasNode {
		d.aliases[path] = n // problems are reported where the alias is used
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.nodes[path] = n
	if tag := n.ShortTag(); !cfgPlainTags[tag] {
		d.errNode(n, path, fmt.Sprintf("tag %s is not supported: a config holds plain text, numbers, true/false, lists and mappings; remove the tag and write the value itself", tag))
		return
	}
	if cfgIsNull(n) {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
		return
	}
	if what := cfgNumberKind(v); what != "" && n.Kind == yaml.ScalarNode && len(n.Value) > MaxNumberBytes {
		// Refused before it is parsed or a hint is guessed for it, whose
		// regular expressions took seconds on a megabyte of digits.
		d.errNode(n, path, fmt.Sprintf("%q is too long for %s: want at most %d characters, such as %s", n.Value, what, MaxNumberBytes, cfgNumberExample[what]))
		return
	}
	if d.active[n] {
		d.errNode(n, path, "this alias refers to a value that contains it; remove the recursive anchor")
		return
	}
	d.active[n] = true
	defer delete(d.active, n)
	if v.CanAddr() && v.Addr().Type().Implements(cfgUnmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			at := n
			msg := err.Error()
			if ne, ok := errors.AsType[*nodeError](err); ok {
				at = ne.node // inside the value
			} else if cfgDurationTypes[v.Type()] && n.Kind == yaml.ScalarNode {
				msg += DurationHint(n.Value)
			}
			d.errNode(at, path, msg)
			return
		}
		d.checkDuration(n, v, path)
		return
	}
	if v.Type() == cfgDurationType {
		dur, err := policy.ParseDuration(n)
		if err != nil {
			msg := err.Error()
			if n.Kind == yaml.ScalarNode {
				msg += DurationHint(n.Value)
			}
			d.errNode(n, path, msg)
			return
		}
		v.SetInt(int64(dur))
		d.checkDuration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errNode(n, path, "want a list (lines starting with \"- \"), got "+cfgKindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errNode(n, path, "want a text value, got "+cfgKindName(n))
			return
		}
		if ref := cfgEnvRefRE.FindString(n.Value); ref != "" && !cfgReadsDollar(path) {
			d.errNode(n, path, fmt.Sprintf("%s is an environment variable reference, which spillway.yaml does not expand here "+
				"(only an http source's headers read ${VAR}): write the value itself, or fill the file in before spillway reads it, "+
				"e.g. envsubst < spillway.yaml.in > spillway.yaml", ref))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			if cfgTooLarge(n, "!!float") {
				d.errNode(n, path, fmt.Sprintf("%s is out of range: want a whole number from %d to %d", n.Value, -MaxInt, MaxInt))
				return
			}
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil && n.Style == 0 && n.ShortTag() == "!!float" && cfgDecimalRE.MatchString(n.Value) {
				// 08, 09: not octal, so YAML reads them as 8.0 and 9.0.
				d.errNode(n, path, fmt.Sprintf("%s has a leading zero, which YAML does not read as a whole number: write %s", n.Value, cfgFloat(f)))
				return
			}
			d.errNode(n, path, "want a whole number, got "+cfgKindName(n))
			return
		}
		if msg := cfgLeadingZero(n, float64(i)); msg != "" {
			d.errNode(n, path, msg)
			return
		}
		if v.Kind() != reflect.Int64 && (i > MaxInt || i < -MaxInt) {
			d.errNode(n, path, fmt.Sprintf("%d is out of range: want a whole number from %d to %d", i, -MaxInt, MaxInt))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&u) != nil {
			d.errNode(n, path, "want a whole number of 0 or more, got "+cfgKindName(n))
			return
		}
		if msg := cfgLeadingZero(n, float64(u)); msg != "" {
			d.errNode(n, path, msg)
			return
		}
		v.SetUint(u)
	case reflect.Float64, reflect.Float32:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil || f != f {
			if cfgTooLarge(n, "!!str") {
				d.errNode(n, path, fmt.Sprintf("%s is out of range: want 0 or a number from %g to %g in size", n.Value, MinFloat, MaxFloat))
				return
			}
			d.errNode(n, path, "want a number, got "+cfgKindName(n)+cfgNumberHint(n))
			return
		}
		if msg := cfgLeadingZero(n, f); msg != "" {
			d.errNode(n, path, msg)
			return
		}
		if a := math.Abs(f); a > MaxFloat || (a != 0 && a < MinFloat) {
			d.errNode(n, path, fmt.Sprintf("%s is out of range: want 0 or a number from %g to %g in size", n.Value, MinFloat, MaxFloat))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errNode(n, path, "want true or false, got "+cfgKindName(n))
			return
		}
		v.SetBool(b)
	default:
		d.errNode(n, path, fmt.Sprintf("internal error: cannot decode into %s", v.Type()))
	}
}

// pairs returns a mapping's key/value pairs with "<<" merge keys expanded
// (explicit keys win over merged ones). A merge that refers back to a
// mapping being merged is reported and skipped.
func (d *cfgDecoder) pairs(n *yaml.Node, path string, merging map[*yaml.Node]bool) [][2]*yaml.Node {
	if merging == nil {
		merging = map[*yaml.Node]bool{}
	}
	merging[n] = true
	defer delete(merging, n)
	var merged, own [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if !d.visit(k, path) {
			return nil
		}
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			// A key written as an alias (*name) is the key it refers to,
			// reported where the alias is.
			to := k.Alias
			for to.Kind == yaml.AliasNode && to.Alias != nil {
				to = to.Alias
			}
			resolved := *to
			resolved.Line, resolved.Column = k.Line, k.Column
			k = &resolved
		}
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			for val.Kind == yaml.AliasNode && val.Alias != nil {
				val = val.Alias
			}
			srcs := []*yaml.Node{val}
			if val.Kind == yaml.SequenceNode {
				srcs = val.Content
			}
			for _, s := range srcs {
				at := s // where it is written, not its anchor
				for s.Kind == yaml.AliasNode && s.Alias != nil {
					s = s.Alias
				}
				switch {
				case merging[s]:
					d.errNode(k, path, "merge key <<: refers to the mapping it is in; remove the recursive anchor")
				case s.Kind == yaml.MappingNode:
					merged = append(merged, d.pairs(s, path, merging)...)
				default:
					// As yaml.v3's own decoder: a merge of anything
					// else would be silently ignored.
					d.errNode(at, path, fmt.Sprintf("merge key <<: want a mapping (<<: *defaults) or a list of mappings (<<: [*a, *b]) to merge, got %s", cfgKindName(s)))
				}
			}
			continue
		}
		own = append(own, [2]*yaml.Node{k, val})
	}
	if len(merged) == 0 {
		return own
	}
	seen := map[string]bool{}
	for _, p := range own {
		seen[p[0].Value] = true
	}
	out := own
	for _, p := range merged {
		if !seen[p[0].Value] {
			seen[p[0].Value] = true
			out = append(out, p)
		}
	}
	return out
}

func (d *cfgDecoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	info := cfgFields(v.Type())
	if n.Kind != yaml.MappingNode {
		d.errNode(n, path, fmt.Sprintf("want a mapping with fields %s, got %s%s", strings.Join(info.names, ", "), cfgKindName(n), cfgBudgetHint(v.Type(), n)))
		return
	}
	seen := map[string]*yaml.Node{}
	for _, kv := range d.pairs(n, path, nil) {
		k, val := kv[0], kv[1]
		fp := cfgJoin(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			// Not errNode: the other fields of path are still checked.
			d.errs = append(d.errs, FieldError{File: d.file, Line: k.Line, Col: k.Column, Field: path,
				Msg: fmt.Sprintf("want a field name as key (one of %s), got %s", strings.Join(info.names, ", "), cfgKindName(k))})
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errNode(k, fp, fmt.Sprintf("field %q is set twice (first at line %d)", k.Value, prev.Line))
			continue
		}
		seen[k.Value] = k
		idx, ok := info.byName[k.Value]
		if !ok {
			if hint, moved := cfgMoved[v.Type()][k.Value]; moved {
				d.errNode(k, fp, fmt.Sprintf("unknown field %q: %s", k.Value, hint))
				continue
			}
			msg := fmt.Sprintf("unknown field %q", k.Value)
			if s := Suggest(k.Value, info.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			msg += ": valid fields here are " + strings.Join(info.names, ", ")
			d.errNode(k, fp, msg)
			continue
		}
		d.decode(val, v.FieldByIndex(idx), fp)
	}
}

func (d *cfgDecoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errNode(n, path, "want a mapping of names to entries, got "+cfgKindName(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.errNode(n, path, fmt.Sprintf("internal error: map key %s", v.Type().Key()))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]*yaml.Node{}
	for _, kv := range d.pairs(n, path, nil) {
		k, val := kv[0], kv[1]
		fp := cfgJoin(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			d.errNode(k, path, "want a name as key, got "+cfgKindName(k))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errNode(k, fp, fmt.Sprintf("%q is defined twice (first at line %d)", k.Value, prev.Line))
			continue
		}
		seen[k.Value] = k
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, fp)
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
}

func cfgJoin(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// cfgParentPath strips the last ".name" or "[i]" of a field path.
func cfgParentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

func cfgIsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// cfgPlainTags are the tags a config's values may have: YAML's own for
// text, numbers, true/false, null, dates (read as text), lists and
// mappings. Any other (!!binary, !!set, a custom !name) would be read as
// if it were not there, so it is refused.
var cfgPlainTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!timestamp": true, "!!seq": true, "!!map": true,
}

// cfgLeadingZero says why a plain whole number written with a leading zero
// is refused where YAML reads it as octal (010 is 8), a value no one
// writing 010 means; "" when n is not such a number. read is the value
// YAML gave it.
func cfgLeadingZero(n *yaml.Node, read float64) string {
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || n.ShortTag() != "!!int" {
		return ""
	}
	plain := strings.ReplaceAll(n.Value, "_", "")
	digits := strings.TrimLeft(plain, "+-")
	sign := plain[:len(plain)-len(digits)]
	if len(digits) < 2 || digits[0] != '0' || strings.Trim(digits, "0123456789") != "" {
		return ""
	}
	dec, err := strconv.ParseFloat(plain, 64)
	if err != nil || dec == read {
		return ""
	}
	return fmt.Sprintf("%s has a leading zero, which YAML reads as the octal number %s: write %s without the leading zero, or %s0o%s if octal is meant",
		n.Value, cfgFloat(read), cfgFloat(dec), sign, strings.TrimLeft(digits, "0"))
}

// cfgDecimalRE matches a whole number written in decimal digits.
var cfgDecimalRE = regexp.MustCompile(`^[-+]?[0-9]+$`)

// cfgTooLarge reports whether n is a plain number too large for YAML to
// read as one, which it then reads with tag (1e400 as text,
// 99999999999999999999 as a float), so that the message says it is out
// of range rather than not a number.
func cfgTooLarge(n *yaml.Node, tag string) bool {
	if n.Kind != yaml.ScalarNode || n.Style != 0 || n.ShortTag() != tag {
		return false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if tag == "!!float" {
		return err == nil && f == math.Trunc(f) && math.Abs(f) > math.MaxInt64
	}
	return errors.Is(err, strconv.ErrRange) && math.Abs(f) > 1
}

// cfgKindName describes a node for "want X, got Y" messages. A number or
// true/false in quotes, or with a tag, says so: it is why "8" is not a
// whole number.
// cfgBudgetShorthand is a budget written as people say it: 20000,
// $20000/month, 20000 per week.
var cfgBudgetShorthand = regexp.MustCompile(`^\$?([0-9]+(?:\.[0-9]+)?)\s*(?:(?:/|per |a )\s*(day|week|month))?$`)

// cfgBudgetHint shows the mapping to write when a budget is given as a
// scalar (budget: 20000), using the amount (and period) written.
func cfgBudgetHint(t reflect.Type, n *yaml.Node) string {
	if t != reflect.TypeOf(policy.Budget{}) || n.Kind != yaml.ScalarNode {
		return ""
	}
	write, amount, period := "write it as a mapping, e.g.", "2000", "month"
	if m := cfgBudgetShorthand.FindStringSubmatch(strings.TrimSpace(n.Value)); m != nil {
		write, amount = "write", m[1]
		if m[2] != "" {
			period = m[2]
		}
	}
	return fmt.Sprintf(": %s budget: {amount: %s, period: %s} (period: day, week or month; mode: hard, the default, or soft)", write, amount, period)
}

func cfgKindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		q := strconv.Quote(n.Value)
		switch {
		case n.Style&yaml.TaggedStyle != 0:
			return fmt.Sprintf("%s tagged %s (remove the tag)", q, n.ShortTag())
		case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && cfgPlainIsNotText(n.Value):
			return q + " in quotes, which makes it text (remove the quotes)"
		}
		return q
	}
	return "nothing"
}

// cfgNumberHint says to write the number alone when a text is one with a
// currency or a rate written beside it ("$2000", "55.04 USD/h"): amounts
// and prices are USD, and per hour where the field says so.
func cfgNumberHint(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode || len(n.Value) > 64 {
		return ""
	}
	s := strings.TrimSpace(n.Value)
	s = strings.TrimPrefix(s, "$")
	for _, unit := range []string{"/h", "/hour", "per hour", "USD", "usd", "$"} {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), unit))
	}
	if s == strings.TrimSpace(n.Value) {
		return cfgDigitsHint(s)
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return ""
	}
	return fmt.Sprintf(" (write the number alone, %s: amounts and prices are in USD, a price per hour)", s)
}

// cfgThousands matches a number written with thousands separators (1,000,
// 20,000.50).
var cfgThousands = regexp.MustCompile(`^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$`)

// cfgDigitsHint says how to write a number given with thousands
// separators or a k or M for thousands or millions (1,000; 20k; 1.5M),
// which YAML reads as text: "" for anything else.
func cfgDigitsHint(s string) string {
	if s == "" {
		return ""
	}
	if cfgThousands.MatchString(s) {
		return fmt.Sprintf(" (write %s: digits alone, with no thousands separators)", strings.ReplaceAll(s, ",", ""))
	}
	mult := map[byte]float64{'k': 1e3, 'K': 1e3, 'M': 1e6}[s[len(s)-1]]
	if f, err := strconv.ParseFloat(s[:len(s)-1], 64); len(s) > 1 && mult > 0 && err == nil && f > 0 && !strings.ContainsAny(s[:len(s)-1], "eExX") {
		return fmt.Sprintf(" (write %s: digits alone, with no k or M for thousands or millions)", strconv.FormatFloat(f*mult, 'f', -1, 64))
	}
	return ""
}

// cfgPlainIsNotText reports whether s, written without quotes, would be
// a number, true/false or null rather than text.
func cfgPlainIsNotText(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	var n yaml.Node
	if yaml.Unmarshal([]byte(s), &n) != nil || len(n.Content) != 1 || n.Content[0].Kind != yaml.ScalarNode {
		return false
	}
	switch n.Content[0].ShortTag() {
	case "!!int", "!!float", "!!bool", "!!null":
		return true
	}
	return false
}

// Suggest returns the name closest to s, if it is within an edit
// distance of 2 and of a third of s's length, else "": the "did you mean"
// of a mistyped key, pool or flag.
func Suggest(s string, names []string) string {
	best, bestD := "", min(3, len(s)/3+1)
	for _, n := range names {
		if d := EditDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// EditDistance is the Levenshtein distance between a and b, by bytes (the
// names it compares, keys and flags, are ASCII): how far a mistyped name
// is from one that exists.
func EditDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tokensFileKey returns the tokens key of a document that is an API tokens
// file (a mapping whose only key is tokens), or nil.
func tokensFileKey(root *yaml.Node) *yaml.Node {
	if root.Kind != yaml.MappingNode || len(root.Content) != 2 || root.Content[0].Value != "tokens" {
		return nil
	}
	return root.Content[0]
}
