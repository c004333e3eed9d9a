package slurm

import "strings"

// meets reports whether nodes with the features offered can meet a job's
// --constraint as squeue prints it: features joined by & (or ,) for AND
// and | for OR, grouped by parentheses or brackets, with node counts (*N)
// read past. Features compare without case. An empty constraint is met;
// so is a negated feature (!x) and anything that does not parse: a job
// is left out only when its constraint surely excludes the burst nodes.
func meets(constraint string, offered []string) bool {
	c := strings.TrimSpace(constraint)
	if c == "" || c == "(null)" || c == "N/A" {
		return true
	}
	p := featureParser{s: c, offered: offered}
	ok := p.or()
	if p.bad || p.i < len(p.s) {
		return true
	}
	return ok
}

// featureParser evaluates a constraint by recursive descent:
// or := and ('|' and)*; and := term (('&'|',') term)*;
// term := '(' or ')' | '[' or ']' | '!'? name ('*' digits)?.
type featureParser struct {
	s       string
	i       int
	offered []string
	bad     bool
	depth   int
}

func (p *featureParser) peek() byte {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *featureParser) or() bool {
	ok := p.and()
	for p.peek() == '|' {
		p.i++
		ok = p.and() || ok
	}
	return ok
}

func (p *featureParser) and() bool {
	ok := p.term()
	for c := p.peek(); c == '&' || c == ','; c = p.peek() {
		p.i++
		ok = p.term() && ok
	}
	return ok
}

func (p *featureParser) term() bool {
	switch c := p.peek(); c {
	case '(', '[':
		if p.depth++; p.depth > 32 {
			p.bad = true
			return true
		}
		p.i++
		ok := p.or()
		want := byte(')')
		if c == '[' {
			want = ']'
		}
		if p.peek() != want {
			p.bad = true
			return true
		}
		p.i++
		p.depth--
		p.count()
		return ok
	case '!':
		p.i++
		p.name()
		return true
	}
	name := p.name()
	if name == "" {
		p.bad = true
		return true
	}
	return containsFold(p.offered, name)
}

// name reads a feature's name and the node count after it.
func (p *featureParser) name() string {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune("|&,()[]*! ", rune(p.s[p.i])) {
		p.i++
	}
	n := p.s[start:p.i]
	p.count()
	return n
}

// count reads past a node count: *N.
func (p *featureParser) count() {
	if p.peek() != '*' {
		return
	}
	p.i++
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
