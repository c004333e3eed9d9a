package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
)

// MaxRendered bounds what one template may produce: user data is limited
// by the clouds to a few tens of KiB, and URLs and arguments are shorter.
const MaxRendered = 64 << 10

// InstanceFields is what the pool's templates (user_data, join.agent_url,
// drain.command, drain.http.url) see of a burst instance, e.g.
// {{.PrivateIP}} or {{.Name}}. user_data is rendered before the launch:
// there ID, Name and PrivateIP are empty, and Zone unless the offering
// names one.
type InstanceFields struct {
	// ID is the cloud's instance id; Name the node's name for the on-prem
	// scheduler, which is its ID.
	ID   string
	Name string
	// PrivateIP is the instance's private address.
	PrivateIP    string
	Zone         string
	InstanceType string
	// Provider is the provider entry's name; Region its region.
	Provider string
	Region   string
	// Pool and Cluster are the pool's and the installation's names; Burst
	// is the id of the burst the instance was launched for (its
	// spillway:burst tag).
	Pool    string
	Cluster string
	Burst   string
}

// sampleInstance is what templates are executed on at load time, so that
// a template naming a field that does not exist fails there and then.
var sampleInstance = InstanceFields{
	ID: "i-0123456789abcdef0", Name: "ip-10-0-0-7", PrivateIP: "10.0.0.7", Zone: "us-east-1a",
	InstanceType: "p5.48xlarge", Provider: "aws", Region: "us-east-1", Pool: "training",
	Cluster: "acme", Burst: "b-0001",
}

// templates caches parsed templates by their text.
var templates sync.Map // string -> *template.Template

func parseTemplate(text string) (*template.Template, error) {
	if t, ok := templates.Load(text); ok {
		return t.(*template.Template), nil
	}
	t, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if err := checkTree(t); err != nil {
		return nil, err
	}
	cached, _ := templates.LoadOrStore(text, t)
	return cached.(*template.Template), nil
}

// Render executes a template of the config (a pool's user_data,
// join.agent_url, an element of drain.command, drain.http.url) over an
// instance's fields. Parsed templates are cached, so calling it every tick
// is cheap. Templates from Load and Parse have been executed on a sample
// instance already: they fail here only if a field's value makes them fail.
func Render(tmpl string, f InstanceFields) (string, error) {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", tmpl, err)
	}
	out, err := execute(t, f)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", tmpl, err)
	}
	return out, nil
}

// errTooLong stops a template whose output passes MaxRendered.
var errTooLong = fmt.Errorf("the output is longer than %d bytes", MaxRendered)

// limitedBuilder fails writes past MaxRendered, which stops the template.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxRendered {
		return 0, errTooLong
	}
	return b.Builder.Write(p)
}

// maxBuilt bounds what the functions one execution of a template calls
// may build in all (printf, print, println, html, js, urlquery), written
// or not: js doubles every backslash it is given, so a pipeline of them
// ('{{"\\" | js | js | js …}}'), nested calls or a variable assigned again
// would otherwise build exponentially more than the template holds.
const maxBuilt = 4 * MaxRendered

// errBuilt stops a template whose functions build more than maxBuilt.
var errBuilt = fmt.Errorf("the template's functions build more than %d bytes", maxBuilt)

// boundedFuncs are text/template's functions that build text, each
// charging what it builds to *left and failing once it is spent. Their
// inputs are the template's text, the instance's fields and what earlier
// calls built, so no call can build much more than maxBuilt.
func boundedFuncs(left *int) template.FuncMap {
	charge := func(s string) (string, error) {
		if *left -= len(s); *left < 0 {
			return "", errBuilt
		}
		return s, nil
	}
	return template.FuncMap{
		"html":     func(args ...any) (string, error) { return charge(template.HTMLEscaper(args...)) },
		"js":       func(args ...any) (string, error) { return charge(template.JSEscaper(args...)) },
		"urlquery": func(args ...any) (string, error) { return charge(template.URLQueryEscaper(args...)) },
		"print":    func(args ...any) (string, error) { return charge(fmt.Sprint(args...)) },
		"println":  func(args ...any) (string, error) { return charge(fmt.Sprintln(args...)) },
		"printf": func(format string, args ...any) (string, error) {
			// Widths are filled in before anything is returned.
			n, star := printfWidths(format)
			if star || n > *left {
				return "", errBuilt
			}
			return charge(fmt.Sprintf(format, args...))
		},
	}
}

func execute(t *template.Template, f InstanceFields) (string, error) {
	var b limitedBuilder
	t, err := t.Clone() // the parsed template is shared: bind a budget to this run
	if err != nil {
		return "", err
	}
	left := maxBuilt
	t.Funcs(boundedFuncs(&left))
	if err := t.Execute(&b, f); err != nil {
		if errors.Is(err, errTooLong) {
			return "", errTooLong
		}
		return "", err
	}
	return b.String(), nil
}

// checkTree refuses what a template over one instance has no use for and
// what could make it run for long or fill memory: range loops (over a
// number they run as long as the number says), named templates (which can
// recurse), and printf formats that are not literal text or whose widths
// and precisions add up to more than MaxRendered: printf builds its whole
// result before any of it is written, so "%0999999d" repeated made a
// template of a few KiB allocate gigabytes.
func checkTree(t *template.Template) error {
	if len(t.Templates()) > 1 {
		return errors.New("define and block are not allowed: write the text in place")
	}
	widths := 0
	var walk func(n parse.Node) error
	walk = func(n parse.Node) error {
		switch n := n.(type) {
		case *parse.ActionNode:
			return checkPipe(n.Pipe, &widths)
		case *parse.ListNode:
			if n == nil {
				return nil
			}
			for _, c := range n.Nodes {
				if err := walk(c); err != nil {
					return err
				}
			}
		case *parse.RangeNode:
			return errors.New("range is not allowed: a template over one instance substitutes its fields, e.g. {{.Name}}, and may use if and with")
		case *parse.TemplateNode:
			return errors.New("template is not allowed: write the text in place")
		case *parse.IfNode:
			if err := checkPipe(n.Pipe, &widths); err != nil {
				return err
			}
			return walkBranch(walk, &n.BranchNode)
		case *parse.WithNode:
			if err := checkPipe(n.Pipe, &widths); err != nil {
				return err
			}
			return walkBranch(walk, &n.BranchNode)
		}
		return nil
	}
	if t.Tree == nil {
		return nil
	}
	return walk(t.Tree.Root)
}

// checkPipe checks the printf calls of a pipeline and of the pipelines
// in its arguments, adding their formats' widths and precisions to
// *widths.
func checkPipe(p *parse.PipeNode, widths *int) error {
	if p == nil {
		return nil
	}
	for i, c := range p.Cmds {
		if id, ok := c.Args[0].(*parse.IdentifierNode); ok && id.Ident == "printf" {
			// The format: the first argument, or the value piped in.
			var format parse.Node
			switch {
			case len(c.Args) > 1:
				format = c.Args[1]
			case i > 0 && len(p.Cmds[i-1].Args) == 1:
				format = p.Cmds[i-1].Args[0]
			}
			switch f := format.(type) {
			case *parse.FieldNode, *parse.VariableNode:
				// An instance's field: a short name.
			case *parse.StringNode:
				n, star := printfWidths(f.Text)
				if star {
					return errors.New("printf: a width or precision taken from an argument (*) is not allowed: write it in the format, e.g. %05d")
				}
				if *widths += n; *widths > MaxRendered {
					return fmt.Errorf("printf: the widths and precisions of the formats add up to more than %d characters, more than a template may produce", MaxRendered)
				}
			default:
				return errors.New(`printf takes its format as text in quotes or an instance's field, e.g. {{printf "%s-%s" .Pool .Zone}}`)
			}
		}
		for _, a := range c.Args {
			var inner *parse.PipeNode
			switch a := a.(type) {
			case *parse.PipeNode:
				inner = a
			case *parse.ChainNode:
				inner, _ = a.Node.(*parse.PipeNode)
			}
			if err := checkPipe(inner, widths); err != nil {
				return err
			}
		}
	}
	return nil
}

// printfWidths sums the widths and precisions written in a printf format
// (each counted up to 10^7), and reports one taken from an argument (*).
func printfWidths(format string) (sum int, star bool) {
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
	verb:
		for i++; i < len(format); i++ {
			switch c := format[i]; {
			case c == '*':
				star = true
			case c >= '0' && c <= '9':
				j := i
				for j < len(format) && format[j] >= '0' && format[j] <= '9' {
					j++
				}
				n, err := strconv.Atoi(format[i:j])
				if err != nil || n > 1e7 {
					n = 1e7
				}
				sum += n
				i = j - 1
			case strings.IndexByte("+-# .[]", c) >= 0:
			default: // the verb, or %%
				break verb
			}
		}
	}
	return sum, star
}

func walkBranch(walk func(parse.Node) error, b *parse.BranchNode) error {
	if err := walk(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return walk(b.ElseList)
	}
	return nil
}

// UserDataTemplate returns the bootstrap template for an instance of pool p
// launched through provider pc: the pool's user_data, else the provider's.
func (p *Pool) UserDataTemplate(pc ProviderConfig) string {
	if p.UserData != "" {
		return p.UserData
	}
	return pc.UserData
}

// checkTemplate parses and executes tmpl on the sample instance and says
// what is wrong in words, naming the fields a template may use.
func checkTemplate(tmpl string) (string, error) {
	t, err := parseTemplate(tmpl)
	if err != nil {
		return "", fmt.Errorf("bad template: %s", strings.TrimPrefix(err.Error(), "template: :"))
	}
	out, err := execute(t, sampleInstance)
	if errors.Is(err, errTooLong) {
		return "", fmt.Errorf("template fails on a sample instance: %w", err)
	}
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "template: :")
		return "", fmt.Errorf("template fails on a sample instance: %s; the fields are %s", msg, instanceFieldNames)
	}
	return out, nil
}

const instanceFieldNames = "{{.ID}}, {{.Name}}, {{.PrivateIP}}, {{.Zone}}, {{.InstanceType}}, {{.Provider}}, {{.Region}}, {{.Pool}}, {{.Cluster}} and {{.Burst}}"

// unknownAtLaunch are the InstanceFields a template rendered before the
// launch (user_data) sees empty: the cloud has not named the instance yet.
var unknownAtLaunch = []string{"ID", "Name", "PrivateIP"}

// fieldsUnknownAtLaunch lists the fields of unknownAtLaunch that template
// tmpl names (as .Field or $.Field), in the order they first appear.
func fieldsUnknownAtLaunch(tmpl string) []string {
	t, err := parseTemplate(tmpl)
	if err != nil || t.Tree == nil {
		return nil
	}
	var out []string
	note := func(ident []string) {
		if len(ident) > 0 && slices.Contains(unknownAtLaunch, ident[0]) && !slices.Contains(out, ident[0]) {
			out = append(out, ident[0])
		}
	}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.ChainNode:
			walk(n.Node)
		case *parse.FieldNode:
			note(n.Ident)
		case *parse.VariableNode:
			if len(n.Ident) > 1 && n.Ident[0] == "$" {
				note(n.Ident[1:])
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(t.Tree.Root)
	return out
}
