package scrub

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// normalize is what Text does before it looks for anything: it removes the invisible
// characters that can be slipped inside an address or a number to dodge the patterns, then
// applies Unicode NFKC, which folds full-width forms ("０６", "＠", "．"), mathematical and
// circled digits, superscripts and the like to the ASCII the patterns know.
//
// Two exceptions keep ordinary text intact:
//   - the no-break spaces of French typography (U+00A0, U+202F, before "%", ":", "»" and in
//     "1 200 €") are kept; the rules treat them as spaces;
//   - a zero-width joiner between two emoji ("👩‍💻", "🏳️‍🌈") is kept: it is part of the emoji,
//     and every other one is removed.
//
// Invalid UTF-8 is left as it is. normalize(normalize(s)) == normalize(s).
func normalize(s string) string {
	s = removeInvisible(s)
	if !strings.Contains(s, "\u00a0") && !strings.Contains(s, "\u202f") {
		return norm.NFKC.String(s)
	}
	// NFKC would turn the no-break spaces into plain ones. Neither combines with what
	// surrounds it, so the text between them can be normalized piece by piece.
	var b strings.Builder
	b.Grow(len(s))
	for {
		i, w := nextNoBreakSpace(s)
		if i < 0 {
			b.WriteString(norm.NFKC.String(s))
			return b.String()
		}
		b.WriteString(norm.NFKC.String(s[:i]))
		b.WriteString(s[i : i+w])
		s = s[i+w:]
	}
}

// nextNoBreakSpace returns the index and width of the first U+00A0 or U+202F in s, or -1.
func nextNoBreakSpace(s string) (int, int) {
	a, n := strings.Index(s, "\u00a0"), strings.Index(s, "\u202f")
	switch {
	case a < 0 && n < 0:
		return -1, 0
	case n < 0 || (a >= 0 && a < n):
		return a, len("\u00a0")
	default:
		return n, len("\u202f")
	}
}

// invisible reports the characters removed before matching: zero-width space, non-joiner and
// joiner, word joiner, BOM (zero-width no-break space) and soft hyphen.
func invisible(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
		return true
	}
	return false
}

func removeInvisible(s string) string {
	if !strings.ContainsFunc(s, invisible) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			b.WriteByte(s[i]) // invalid UTF-8 goes through as it came
			i++
			continue
		}
		if invisible(r) {
			prev, _ := utf8.DecodeLastRuneInString(b.String())
			next, _ := utf8.DecodeRuneInString(s[i+w:])
			if r == '\u200d' && b.Len() > 0 && i+w < len(s) && emojiJoinable(prev, true) && emojiJoinable(next, false) {
				b.WriteString("\u200d")
			}
			i += w
			continue
		}
		b.WriteString(s[i : i+w])
		i += w
	}
	return b.String()
}

// emojiJoinable reports whether r can stand on one side of the joiner of an emoji sequence: a
// pictograph (category So), or before the joiner also an emoji variation selector or skin
// tone. Only characters NFKC leaves alone count, so that normalize stays idempotent: "™" is
// So but becomes "TM".
func emojiJoinable(r rune, before bool) bool {
	ok := unicode.Is(unicode.So, r) ||
		before && (r == '\ufe0f' || (r >= 0x1f3fb && r <= 0x1f3ff))
	if !ok {
		return false
	}
	var buf [utf8.UTFMax]byte
	p := norm.NFKC.Properties(buf[:utf8.EncodeRune(buf[:], r)])
	return len(p.Decomposition()) == 0 && p.BoundaryBefore() && p.BoundaryAfter()
}
