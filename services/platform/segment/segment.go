// Package segment owns organisation paths such as "acme/engineering/platform": their grammar,
// and the ways the rest of voix walks them (roll-ups to ancestors, subtree checks, NATS
// subject tails). The first element is the organisation, the tenant.
//
// The grammar is deliberately narrow: lowercase ASCII letters, digits, '-' and '_'. That keeps
// every element safe as a NATS subject token (no '.', '*', '>' or whitespace) and as a bbolt
// key part, and makes "Acme" and "acme" impossible to confuse.
package segment

import (
	"errors"
	"fmt"
	"strings"
)

// MaxDepth is the most levels a path may have.
const MaxDepth = 8

// maxElementLen is the longest element: one leading character and up to 62 more.
const maxElementLen = 63

// MaxLen is the longest valid path in bytes: MaxDepth elements of maxElementLen and the
// separators between them.
const MaxLen = MaxDepth*maxElementLen + MaxDepth - 1

// Rule is the element grammar, as quoted in error messages.
const Rule = "[a-z0-9][a-z0-9_-]{0,62}"

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid segment")

// Path is a parsed, valid segment path. It is immutable. The zero value is not a valid path:
// IsZero reports it, and its methods return empty results.
type Path struct {
	elems []string
	s     string // the canonical string, kept so String does not allocate
}

// Parse parses s ("acme/engineering/platform"). Errors wrap ErrInvalid and say which rule
// broke and where, so that they can be shown to whoever typed s.
func Parse(s string) (Path, error) {
	if s == "" {
		return Path{}, fmt.Errorf("%w: must not be empty", ErrInvalid)
	}
	// Count before splitting so that a huge input is rejected without a huge allocation.
	if n := strings.Count(s, "/") + 1; n > MaxDepth {
		return Path{}, fmt.Errorf("%w: at most %d levels, got %d", ErrInvalid, MaxDepth, n)
	}
	if len(s) > MaxLen {
		return Path{}, fmt.Errorf("%w: at most %d bytes, got %d", ErrInvalid, MaxLen, len(s))
	}
	if strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
		return Path{}, fmt.Errorf("%w: %q must not start or end with '/'", ErrInvalid, s)
	}
	elems := strings.Split(s, "/")
	for i, e := range elems {
		if e == "" {
			return Path{}, fmt.Errorf("%w: element %d is empty (\"//\" in %q)", ErrInvalid, i+1, s)
		}
		if len(e) > maxElementLen {
			return Path{}, fmt.Errorf("%w: element %d is %d characters, at most %d", ErrInvalid, i+1, len(e), maxElementLen)
		}
		if !validElement(e) {
			return Path{}, fmt.Errorf("%w: element %d %q must match %s", ErrInvalid, i+1, e, Rule)
		}
	}
	return Path{elems: elems, s: s}, nil
}

// MustParse is Parse for constants in tests and examples; it panics on an invalid path.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func validElement(e string) bool {
	if len(e) == 0 || len(e) > maxElementLen {
		return false
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// IsZero reports whether p is the zero Path, which no successful Parse returns.
func (p Path) IsZero() bool { return len(p.elems) == 0 }

// String returns the path as parsed: "acme/engineering/platform". The zero Path gives "".
func (p Path) String() string { return p.s }

// Org returns the first element, the organisation.
func (p Path) Org() string {
	if p.IsZero() {
		return ""
	}
	return p.elems[0]
}

// Depth returns the number of elements (1 for an organisation).
func (p Path) Depth() int { return len(p.elems) }

// Elements returns a copy of the elements.
func (p Path) Elements() []string { return append([]string(nil), p.elems...) }

// Ancestors returns the paths from the organisation down to p itself, in that order:
// acme, acme/engineering, acme/engineering/platform. Every aggregate rolls up this list.
func (p Path) Ancestors() []Path {
	out := make([]Path, len(p.elems))
	for i := range p.elems {
		out[i] = p.prefix(i + 1)
	}
	return out
}

// prefix returns the path made of the first n elements (1 <= n <= Depth). It shares p's
// backing array, which is safe because no Path is ever mutated.
func (p Path) prefix(n int) Path {
	if n == len(p.elems) {
		return p
	}
	l := n - 1 // separators
	for _, e := range p.elems[:n] {
		l += len(e)
	}
	return Path{elems: p.elems[:n:n], s: p.s[:l]}
}

// Parent returns the path one level up, and false for an organisation or the zero Path.
func (p Path) Parent() (Path, bool) {
	if len(p.elems) < 2 {
		return Path{}, false
	}
	return p.prefix(len(p.elems) - 1), true
}

// Within reports whether p equals prefix or lies under it, on element boundaries:
// acme/eng/platform is within acme/eng, but acme/engineering is not. Nothing is within the
// zero Path, and the zero Path is within nothing.
func (p Path) Within(prefix Path) bool {
	if prefix.IsZero() || len(prefix.elems) > len(p.elems) {
		return false
	}
	for i, e := range prefix.elems {
		if p.elems[i] != e {
			return false
		}
	}
	return true
}

// Subject returns the path as NATS subject tokens: "acme.engineering.platform". The grammar
// guarantees each element is one token, so a subscriber can pick a subtree with
// "<prefix>.acme.engineering.>".
func (p Path) Subject() string { return strings.Join(p.elems, ".") }

// Equal reports whether p and q are the same path.
func (p Path) Equal(q Path) bool { return p.s == q.s }
