package emulator

import (
	"strings"
	"unicode/utf8"
)

// wildcard is a compiled EC2 filter value: * matches any run of characters,
// ? any one character, and a backslash makes the next character literal.
//
// A value is compiled once per request and then matched against every
// instance. Matching takes time linear in the text: the pattern is split on
// its stars into pieces, the first piece must match at the start and the
// last at the end, and each piece between is found at its leftmost
// occurrence after the previous one (leftmost is always safe, so nothing is
// ever retried). A piece of plain characters is found with strings.Index; a
// piece with ? with a bit-parallel scan (shift-and) that reads each
// character of the text once.
type wildcard struct {
	exact       bool   // no wildcard at all: compare with literal
	literal     string // the pattern, unescaped, when exact
	first, last wildPiece
	middle      []wildPiece
	starred     bool // the pattern holds at least one star
	minRunes    int  // characters any match needs
}

// wildPiece is a run of the pattern between two stars.
type wildPiece struct {
	runes []rune // the piece; anyRune where it holds a ?
	lit   string // the piece as text, when it holds no ?
	plain bool   // no ?
	// masks[r] has bit i set where the piece holds r or a ?; anyMask where
	// it holds a ? (the mask of every other rune). Words of 64 bits.
	masks   map[rune][]uint64
	anyMask []uint64
}

// anyRune marks a ? in wildPiece.runes (not a valid rune, so no text rune
// equals it).
const anyRune rune = -1

func compileWildcard(pattern string) *wildcard {
	if !strings.ContainsAny(pattern, `*?\`) {
		return &wildcard{exact: true, literal: pattern}
	}
	// One pass: the unescaped text and its runes, cut into pieces at the
	// stars; the pieces share the two buffers.
	var text strings.Builder
	text.Grow(len(pattern))
	runes := make([]rune, 0, len(pattern))
	type span struct{ b0, b1, r0, r1 int }
	var spans []span
	cur := span{}
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		i += size
		switch r {
		case '*':
			cur.b1, cur.r1 = text.Len(), len(runes)
			spans = append(spans, cur)
			cur = span{b0: text.Len(), r0: len(runes)}
			continue
		case '?':
			r = anyRune
		case '\\':
			if i < len(pattern) {
				r, size = utf8.DecodeRuneInString(pattern[i:])
				i += size
			}
		}
		if r == anyRune {
			text.WriteByte('?')
		} else {
			text.WriteString(pattern[i-size : i]) // as given, even if not UTF-8
		}
		runes = append(runes, r)
	}
	cur.b1, cur.r1 = text.Len(), len(runes)
	spans = append(spans, cur)
	all := text.String()
	piece := func(sp span) wildPiece { return newWildPiece(runes[sp.r0:sp.r1], all[sp.b0:sp.b1]) }
	w := &wildcard{starred: len(spans) > 1, minRunes: len(runes)}
	w.first = piece(spans[0])
	if !w.starred {
		return w
	}
	w.last = piece(spans[len(spans)-1])
	for _, sp := range spans[1 : len(spans)-1] {
		if sp.r1 > sp.r0 {
			w.middle = append(w.middle, piece(sp))
		}
	}
	return w
}

func newWildPiece(runes []rune, lit string) wildPiece {
	p := wildPiece{runes: runes, lit: lit, plain: true}
	for _, r := range runes {
		if r == anyRune {
			p.plain = false
		}
	}
	if p.plain {
		return p
	}
	words := (len(runes) + 63) / 64
	p.anyMask = make([]uint64, words)
	for i, r := range runes {
		if r == anyRune {
			p.anyMask[i/64] |= 1 << (i % 64)
		}
	}
	p.masks = map[rune][]uint64{}
	for i, r := range runes {
		if r == anyRune {
			continue
		}
		m, ok := p.masks[r]
		if !ok {
			m = append([]uint64(nil), p.anyMask...)
			p.masks[r] = m
		}
		m[i/64] |= 1 << (i % 64)
	}
	return p
}

// match reports whether s matches the whole pattern.
func (w *wildcard) match(s string) bool {
	if w.exact {
		return s == w.literal
	}
	if utf8.RuneCountInString(s) < w.minRunes {
		return false
	}
	start, ok := w.first.prefix(s)
	if !ok {
		return false
	}
	if !w.starred {
		return start == len(s)
	}
	end, ok := w.last.suffix(s)
	if !ok || end < start {
		return false
	}
	for _, p := range w.middle {
		e, ok := p.find(s[start:end])
		if !ok {
			return false
		}
		start += e
	}
	return true
}

// prefix matches the piece at the start of s and returns where it ends.
func (p wildPiece) prefix(s string) (int, bool) {
	if p.plain {
		return len(p.lit), strings.HasPrefix(s, p.lit)
	}
	i := 0
	for _, want := range p.runes {
		if i >= len(s) {
			return 0, false
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if want != anyRune && r != want {
			return 0, false
		}
		i += size
	}
	return i, true
}

// suffix matches the piece at the end of s and returns where it starts.
func (p wildPiece) suffix(s string) (int, bool) {
	if p.plain {
		return len(s) - len(p.lit), strings.HasSuffix(s, p.lit)
	}
	i := len(s)
	for k := len(p.runes) - 1; k >= 0; k-- {
		if i <= 0 {
			return 0, false
		}
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if want := p.runes[k]; want != anyRune && r != want {
			return 0, false
		}
		i -= size
	}
	return i, true
}

// find returns the end of the piece's leftmost occurrence in s.
func (p wildPiece) find(s string) (int, bool) {
	if p.plain {
		i := strings.Index(s, p.lit)
		return i + len(p.lit), i >= 0
	}
	// Shift-and: bit i of d is set when the piece's first i+1 runes end
	// at the current rune of s.
	n := len(p.runes)
	top, topBit := (n-1)/64, uint64(1)<<((n-1)%64)
	d := make([]uint64, len(p.anyMask))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		m, ok := p.masks[r]
		if !ok {
			m = p.anyMask
		}
		carry := uint64(1) // a match may begin at every rune
		for j := range d {
			next := d[j] >> 63
			d[j] = (d[j]<<1 | carry) & m[j]
			carry = next
		}
		if d[top]&topBit != 0 {
			return i, true
		}
	}
	return 0, false
}
