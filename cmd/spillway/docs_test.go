package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
)

// The docs a new user reads: README.md and docs/*.md, from cmd/spillway.
const repoRoot = "../.."

func docFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no docs/*.md (%v)", err)
	}
	docs := map[string]string{}
	for _, p := range append(paths, filepath.Join(repoRoot, "README.md")) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		docs[p] = string(b)
	}
	return docs
}

// docsAndExamples is docFiles and the example configs' comments, whose
// command lines (emulator.yaml's recipe, backtest.yaml's runs) a new user
// copies as they copy the docs'. Each comment line is a line of code.
func docsAndExamples(t *testing.T) map[string]string {
	t.Helper()
	docs := docFiles(t)
	paths, err := filepath.Glob(filepath.Join(repoRoot, "configs", "examples", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no configs/examples/*.yaml (%v)", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var comments []string
		for _, line := range strings.Split(string(b), "\n") {
			if c, ok := strings.CutPrefix(strings.TrimSpace(line), "#"); ok {
				comments = append(comments, strings.TrimSpace(c))
			}
		}
		docs[p] = "```\n" + strings.Join(comments, "\n") + "\n```\n"
	}
	return docs
}

var (
	fencedBlock = regexp.MustCompile("(?s)```[a-z]*\n(.*?)```")
	codeSpan    = regexp.MustCompile("`([^`\n]+)`")
	// spillwayRun finds "spillway CMD" where it runs the binary: at the start,
	// after a space, a path (bin/spillway, ./cmd/spillway) or $(.
	spillwayRun = regexp.MustCompile(`(?:^|[\s/(])spillway ([a-z].*)`)
	quoted      = regexp.MustCompile(`"[^"]*"|'[^']*'`)
)

// docCommandLines returns what a doc shows as code: each line of its fenced
// blocks and each code span outside them.
func docCommandLines(doc string) []string {
	var lines []string
	for _, m := range fencedBlock.FindAllStringSubmatch(doc, -1) {
		lines = append(lines, strings.Split(m[1], "\n")...)
	}
	for _, m := range codeSpan.FindAllStringSubmatch(fencedBlock.ReplaceAllString(doc, ""), -1) {
		lines = append(lines, m[1])
	}
	return lines
}

// spillwayInvocations returns, for each "spillway ..." a line runs, its
// words up to the end of that shell command (a pipe, ;, &, a comment or
// the ) of a $(...)), quoted values dropped.
func spillwayInvocations(line string) [][]string {
	var runs [][]string
	for _, m := range spillwayRun.FindAllStringSubmatch(line, -1) {
		rest := quoted.ReplaceAllString(m[1], `""`)
		if i := strings.IndexAny(rest, "|;&#)\\"); i >= 0 {
			rest = rest[:i]
		}
		runs = append(runs, strings.Fields(rest))
	}
	return runs
}

// unknownFlags returns the command words (a command line after
// "spillway") run and the flags among them it does not define; cmdPath is
// empty when the words name no subcommand.
func unknownFlags(root *cobra.Command, words []string) (cmdPath string, bad []string) {
	cmd, _, err := root.Find(words)
	if err != nil || cmd == root {
		return "", nil // prose, such as "the spillway policy learns"
	}
	for _, w := range words {
		w = strings.Trim(w, "[]")
		if !strings.HasPrefix(w, "-") || w == "-" || w == "--" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
		var ok bool
		if strings.HasPrefix(w, "--") {
			ok = cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil || name == "help"
		} else {
			ok = len(name) == 1 && (cmd.Flags().ShorthandLookup(name) != nil || name == "h")
		}
		if !ok {
			bad = append(bad, w)
		}
	}
	return cmd.CommandPath(), bad
}

// TestDocsCommandLinesUseRealFlags: every command line README.md and
// docs/*.md show (code blocks and code spans running spillway) passes
// only flags its command has, so a renamed or removed flag cannot leave
// a doc that fails for whoever copies it.
func TestDocsCommandLinesUseRealFlags(t *testing.T) {
	root := newRootCmd()
	root.InitDefaultHelpFlag()
	checked := 0
	for path, doc := range docsAndExamples(t) {
		for _, line := range docCommandLines(doc) {
			for _, words := range spillwayInvocations(line) {
				cmdPath, bad := unknownFlags(root, words)
				if cmdPath == "" {
					continue
				}
				checked++
				if len(bad) > 0 {
					t.Errorf("%s: %q: %s has no flag %s", filepath.Base(path), line, cmdPath, strings.Join(bad, ", "))
				}
			}
		}
	}
	if checked < 50 {
		t.Errorf("checked only %d spillway command lines in the docs: is the parser still finding them?", checked)
	}
}

// otherTools are the flags the docs name of commands other than spillway's.
var otherTools = map[string]string{
	"--bind": "python3 -m http.server", "--endpoint-url": "aws",
	"--client-token": "aws", "--count": "aws", "--filters": "aws", "--image-id": "aws",
	"--instance-ids": "aws", "--instance-type": "aws", "--subnet-id": "aws", "--tag-specifications": "aws",
	"--parsable": "sacct", "--parsable2": "sacct", "--allusers": "sacct", "--starttime": "sacct",
	"--endtime": "sacct", "--format": "sacct", "--duplicates": "sacct", "--noheader": "sacct", "--begin": "sbatch",
	"--array": "sbatch", "--constraint": "sbatch", "--mem-per-cpu": "sbatch",
	"--dereference": "tar", "--hard-dereference": "tar",
}

// TestDocsNameOnlyRealFlags: a --flag the docs name anywhere, prose and
// flag tables included, is a flag of some spillway command (or of another
// tool the docs show, listed in otherTools).
func TestDocsNameOnlyRealFlags(t *testing.T) {
	root := newRootCmd()
	root.InitDefaultHelpFlag()
	var has func(c *cobra.Command, name string) bool
	has = func(c *cobra.Command, name string) bool {
		if c.Flags().Lookup(name) != nil {
			return true
		}
		return slices.ContainsFunc(c.Commands(), func(sub *cobra.Command) bool { return has(sub, name) })
	}
	flag := regexp.MustCompile(`(?:^|[^\w-])(--[a-z][a-z0-9-]*)`)
	for path, doc := range docFiles(t) {
		for _, m := range flag.FindAllStringSubmatch(doc, -1) {
			if f := m[1]; !has(root, f[2:]) && otherTools[f] == "" {
				t.Errorf("%s names %s, which no spillway command has", filepath.Base(path), f)
			}
		}
	}
}

// TestDocsLinksResolve: every relative link of README.md and docs/*.md
// leads to a file of the repository, and a #anchor to a heading there.
func TestDocsLinksResolve(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	checked := 0
	for path, doc := range docFiles(t) {
		for _, m := range link.FindAllStringSubmatch(doc, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, anchor, _ := strings.Cut(target, "#")
			dest := path
			if file != "" {
				dest = filepath.Join(filepath.Dir(path), file)
			}
			b, err := os.ReadFile(dest)
			if err != nil && !isDir(dest) {
				t.Errorf("%s: link %s: no such file %s", filepath.Base(path), target, dest)
				continue
			}
			if anchor != "" && !slices.Contains(headingAnchors(string(b)), anchor) {
				t.Errorf("%s: link %s: %s has no heading #%s (it has %v)", filepath.Base(path), target, filepath.Base(dest), anchor, headingAnchors(string(b)))
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d relative links: is the parser still finding them?", checked)
	}
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// headingAnchors are the anchors GitHub gives a Markdown file's headings:
// lower case, spaces as hyphens, punctuation dropped, -1, -2… on repeats.
func headingAnchors(doc string) []string {
	doc = fencedBlock.ReplaceAllString(doc, "")
	seen := map[string]int{}
	var anchors []string
	for _, line := range strings.Split(doc, "\n") {
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !strings.HasPrefix(line, "#") || !ok {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(title)) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors = append(anchors, a+"-"+strconv.Itoa(n))
		} else {
			anchors = append(anchors, a)
		}
		seen[a]++
	}
	return anchors
}

// TestDocsMakeTargetsExist: every `make TARGET` the docs name is a target
// of the Makefile.
func TestDocsMakeTargetsExist(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-z]+):`).FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	use := regexp.MustCompile(`^\s*make ([a-z]+)`)
	checked := 0
	for path, doc := range docFiles(t) {
		for _, line := range docCommandLines(doc) {
			if m := use.FindStringSubmatch(line); m != nil {
				checked++
				if !targets[m[1]] {
					t.Errorf("%s: %q: the Makefile has no target %s", filepath.Base(path), line, m[1])
				}
			}
		}
	}
	if checked < 5 {
		t.Errorf("checked only %d make commands: is the parser still finding them?", checked)
	}
}

// TestDocsNamesExistInSource: every snake_case name the docs put in code
// (a config key, a JSON field, a metric, a table) is written somewhere in
// the repository's code or configs, so a field renamed in the code cannot
// leave its old name in the docs.
func TestDocsNamesExistInSource(t *testing.T) {
	name := regexp.MustCompile(`[a-z][a-z0-9]*(?:_[a-z0-9]+)+`)
	known := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != repoRoot && (strings.HasPrefix(n, ".") || n == "traces") {
				return filepath.SkipDir
			}
			return nil
		}
		switch ext := filepath.Ext(p); {
		case ext == ".go" && !strings.HasSuffix(p, "_test.go"), ext == ".tf", ext == ".sql", ext == ".yaml":
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, w := range name.FindAllString(string(b), -1) {
				known[w] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	whole := regexp.MustCompile(`^` + name.String() + `$`)
	fileName := regexp.MustCompile(`\.(c|csv|json|md|yaml|txt|log|gz|header|db|lock|tfstate|backup)$`)
	checked := 0
	for path, doc := range docFiles(t) {
		for _, m := range codeSpan.FindAllStringSubmatch(doc, -1) {
			if fileName.MatchString(m[1]) {
				continue // job_test.c, pai_task_table.csv
			}
			// A name alone, or a path of them: pools[].scale_in.max_lifetime.
			for _, part := range strings.Split(strings.ReplaceAll(m[1], "[]", ""), ".") {
				if !whole.MatchString(part) {
					continue
				}
				checked++
				if !known[part] {
					t.Errorf("%s: `%s`: no code or config of the repository names %s", filepath.Base(path), m[1], part)
				}
			}
		}
	}
	if checked < 300 {
		t.Errorf("checked only %d names: is the parser still finding them?", checked)
	}
}

// TestDocsBundledConfigsPassAsShown: every config of the repository a doc
// hands to spillway (policy validate, with --server where it shows it;
// server --config, which needs what --server checks; simulate --config) is
// valid as the doc runs it, so an example config that drifted from the
// strict decoder, or a doc that says "validate --server" of a config fit
// only for a backtest, fails here rather than for whoever copies the line.
func TestDocsBundledConfigsPassAsShown(t *testing.T) {
	checked := map[string]bool{}
	docs := docsAndExamples(t)
	// The commands' --help examples are docs too.
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		docs[c.CommandPath()+" --help"] += "```\n" + c.Example + "\n```\n"
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
	for path, doc := range docs {
		for _, line := range docCommandLines(doc) {
			for _, words := range spillwayInvocations(line) {
				args := docConfigCheck(words)
				if args == nil || checked[strings.Join(args, " ")] {
					continue
				}
				checked[strings.Join(args, " ")] = true
				var out strings.Builder
				root := newRootCmd()
				root.SetOut(&out)
				root.SetErr(&out)
				root.SetArgs(args)
				if err := root.ExecuteContext(t.Context()); err != nil {
					t.Errorf("%s: %q: spillway %s: %v\n%s", filepath.Base(path), strings.TrimSpace(line), strings.Join(args, " "), err, out.String())
				}
			}
		}
	}
	if len(checked) < 3 {
		t.Errorf("checked only %d bundled configs the docs run: is the parser still finding them? %v", len(checked), checked)
	}
}

// docConfigCheck is the policy validate command line that checks what a
// doc's spillway command line asks of a config of the repository, or nil
// when it names none (a user's own file, such as my.yaml).
func docConfigCheck(words []string) []string {
	var files []string
	server := false
	switch {
	case len(words) >= 2 && words[0] == "policy" && words[1] == "validate":
		for _, w := range words[2:] {
			if w == "--server" {
				server = true
			} else if !strings.HasPrefix(w, "-") {
				files = append(files, w)
			}
		}
	case len(words) >= 1 && (words[0] == "server" || words[0] == "simulate"):
		for i, w := range words[:len(words)-1] {
			if w == "--config" {
				files = append(files, words[i+1])
			}
		}
		server = words[0] == "server"
	}
	var paths []string
	for _, f := range files {
		ms, _ := filepath.Glob(filepath.Join(repoRoot, f))
		if len(ms) == 0 {
			return nil
		}
		paths = append(paths, ms...)
	}
	if len(paths) == 0 {
		return nil
	}
	args := []string{"policy", "validate"}
	if server {
		args = append(args, "--server")
	}
	return append(args, paths...)
}

// TestDocsCitedTestsExist: every test the docs cite in code (`TestX`, as
// the README's table of what backs its claims does) is a test function of
// the repository, so a claim cannot go on citing a test renamed or removed.
func TestDocsCitedTestsExist(t *testing.T) {
	funcs := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]+)\(`)
	err := filepath.WalkDir(repoRoot, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != repoRoot && (strings.HasPrefix(n, ".") || n == "traces") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, "_test.go") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
				funcs[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cited := regexp.MustCompile(`\b(?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*`)
	checked := 0
	for path, doc := range docFiles(t) {
		for _, m := range codeSpan.FindAllStringSubmatch(doc, -1) {
			for _, name := range cited.FindAllString(m[1], -1) {
				checked++
				if !funcs[name] {
					t.Errorf("%s: `%s` cites %s, which is no test function of the repository", filepath.Base(path), m[1], name)
				}
			}
		}
	}
	if checked < 8 {
		t.Errorf("checked only %d cited tests: is the parser still finding them?", checked)
	}
}

// TestREADMEBacktestTableIsCurrent: the backtest table the README shows for
// `spillway simulate` with no flags is what the command prints now, so a
// change to the policy, the simulator or the bundled config cannot leave
// the README's headline figures stale.
func TestREADMEBacktestTableIsCurrent(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := runSimulateArgs(t)
	if err != nil {
		t.Fatalf("spillway simulate: %v", err)
	}
	// The header line and the table: up to the first blank line after it.
	head, table, ok := strings.Cut(out, "\n\n")
	if !ok {
		t.Fatalf("spillway simulate printed no table:\n%s", out)
	}
	table, _, _ = strings.Cut(table, "\n\n")
	want := head + "\n\n" + strings.TrimRight(table, "\n") + "\n"
	if !strings.Contains(string(b), "```\n"+want+"```") {
		t.Errorf("README.md's backtest table is not what `spillway simulate` prints now; replace it with:\n%s", want)
	}
}

// TestDocsTokensFilesAreNotTakenForConfigs: a tokens file the docs have
// `spillway token create` write under configs/examples/ is not one of the
// configs/examples/*.yaml that `spillway policy validate --help` validates.
// The emulator recipe wrote configs/examples/emulator-tokens.yaml, after
// which that example failed with four problems for everyone who had
// followed the recipe.
func TestDocsTokensFilesAreNotTakenForConfigs(t *testing.T) {
	const exampleGlob = "configs/examples/*.yaml"
	if validate, _, err := newRootCmd().Find([]string{"policy", "validate"}); err != nil || !strings.Contains(validate.Example, exampleGlob) {
		t.Fatalf("spillway policy validate's examples no longer name %s (%v): update this test", exampleGlob, err)
	}
	checked := 0
	for path, doc := range docsAndExamples(t) {
		for _, line := range docCommandLines(doc) {
			for _, words := range spillwayInvocations(line) {
				if len(words) < 2 || words[0] != "token" || words[1] != "create" {
					continue
				}
				for i, w := range words[:len(words)-1] {
					if w != "--file" {
						continue
					}
					checked++
					if ok, _ := filepath.Match(exampleGlob, words[i+1]); ok {
						t.Errorf("%s: %q writes the tokens file %s, which `spillway policy validate %s` then takes for a config", filepath.Base(path), line, words[i+1], exampleGlob)
					}
				}
			}
		}
	}
	if checked < 2 {
		t.Errorf("checked only %d token create lines: is the parser still finding them?", checked)
	}
}

// TestDocsCommandTablesNameEveryCommand: the command tables of README.md
// and docs/design.md (a table headed "command | what it does") name every
// subcommand the binary has, so a new command cannot stay out of the
// overview a new user reads first. docs/design.md's lacked version.
func TestDocsCommandTablesNameEveryCommand(t *testing.T) {
	var names []string
	for _, c := range newRootCmd().Commands() {
		if n := c.Name(); n != "help" && n != "completion" && !c.Hidden {
			names = append(names, n)
		}
	}
	word := func(s, w string) bool {
		return regexp.MustCompile(`(^|[^a-z-])` + regexp.QuoteMeta(w) + `($|[^a-z-])`).MatchString(s)
	}
	for _, f := range []string{"README.md", filepath.Join("docs", "design.md")} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		_, table, ok := strings.Cut(string(b), "| command | what it does |\n")
		if !ok {
			t.Errorf("%s has no table headed | command | what it does |", f)
			continue
		}
		var first []string // each row's first cell
		for _, row := range strings.Split(table, "\n")[1:] {
			cells := strings.Split(row, "|")
			if !strings.HasPrefix(row, "|") || len(cells) < 3 {
				break
			}
			first = append(first, cells[1])
		}
		commands := strings.Join(first, " ")
		for _, n := range names {
			if !word(commands, n) {
				t.Errorf("%s's command table does not name spillway %s", f, n)
			}
		}
	}
}

// demoLineKeys finds the key= words of a demo live line's attributes.
var demoLineKeys = regexp.MustCompile(`(?:^|\s)([a-z_]+)=`)

// demoLine splits a demo live line, "Tue 13:15  launched  offering=…", into
// its label and the keys of its attributes; ok is false for a line of
// another shape (the banner, an elision).
func demoLine(line string) (label string, keys []string, ok bool) {
	parts := strings.SplitN(line, "  ", 3)
	if len(parts) < 2 || !regexp.MustCompile(`^[A-Z][a-z]{2} \d\d:\d\d$`).MatchString(parts[0]) {
		return "", nil, false
	}
	label = parts[1]
	if len(parts) == 3 && label != "decision" { // a decision's summary is text
		for _, m := range demoLineKeys.FindAllStringSubmatch(parts[2], -1) {
			keys = append(keys, m[1])
		}
	}
	return label, keys, true
}

// checkREADMEDemoLines: each live line the README's demo example shows has
// a line of its label in live (what a demo printed on stderr) whose
// attributes begin with the keys the README shows (the README cuts long
// lines), so the example cannot keep a line's old shape: it showed
// "terminating  provider=emu-ali instances=[…]" long after the demo printed
// "terminating  instance=… reason=…". TestDemoForJSON calls it with its
// demo's lines.
func checkREADMEDemoLines(t *testing.T, live string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(b), "```\nSpillway demo: replaying ")
	if !ok {
		t.Fatal("README.md shows no demo output (a block starting \"Spillway demo: replaying\")")
	}
	example, _, _ = strings.Cut(example, "```")
	got := map[string][][]string{}
	for _, line := range strings.Split(live, "\n") {
		if label, keys, ok := demoLine(line); ok {
			got[label] = append(got[label], keys)
		}
	}
	checked := 0
	for _, line := range strings.Split(example, "\n") {
		label, keys, ok := demoLine(line)
		if !ok {
			continue
		}
		checked++
		if !slices.ContainsFunc(got[label], func(k []string) bool { return len(k) >= len(keys) && slices.Equal(k[:len(keys)], keys) }) {
			t.Errorf("README.md's demo example shows %q, but the demo printed no %q line with %v (it printed %q)", line, label, keys, got[label])
		}
	}
	if checked < 5 {
		t.Errorf("found only %d live lines in README.md's demo example: is the parser still finding them?", checked)
	}
}

// TestREADMEGoVersionIsGoMods: the Go release the README asks for is the
// one go.mod's go line requires. It said "Go 1.26" while go.mod required
// 1.26.8, which a Go 1.26.0 with GOTOOLCHAIN=local refuses to build.
func TestREADMEGoVersionIsGoMods(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	said := regexp.MustCompile(`with Go (\d+\.\d+(?:\.\d+)?)`).FindSubmatch(readme)
	if said == nil {
		t.Fatal(`README.md does not say which Go it needs ("with Go 1.x")`)
	}
	if string(said[1]) != string(m[1]) {
		t.Errorf("README.md asks for Go %s, go.mod requires %s", said[1], m[1])
	}
}
