// Package scrub removes identifying details from free text before voix stores it (docs/design.md,
// Anonymity): e-mail addresses (also spelled out: "jean dot dupont at acme dot com",
// "marie(at)acme.fr", "arobase"), phone numbers, chat mentions, IBANs, payment card numbers and
// voix follow-up codes become "[email]", "[phone]", "[mention]", "[iban]", "[card]" and
// "[code]".
//
// Before matching, the text is normalized (see normalize): invisible characters slipped into
// an address or a number are removed and Unicode NFKC folds full-width and other look-alike
// forms ("０６…", "ｊｅａｎ＠ａｃｍｅ．ｆｒ") to ASCII. The output is that normalized text with
// the replacements; the no-break spaces of French typography are kept, and so are accents,
// emoji and even invalid UTF-8.
//
// It is a safety net, not a guarantee: a name typed in plain words stays. Its rules lean
// towards scrubbing what looks like contact data, while leaving the numbers people write
// about work alone (dates, years, times, percentages, amounts, versions, "3 days").
package scrub

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The placeholders that replace what was removed.
const (
	Email   = "[email]"
	Phone   = "[phone]"
	Mention = "[mention]"
	IBAN    = "[iban]"
	Card    = "[card]"
	Code    = "[code]"
)

// Report counts what Text replaced. Normalization (full-width forms, invisible characters) is
// not a replacement and is not counted.
type Report struct {
	Emails, Phones, Mentions int
	IBANs, Cards, Codes      int
}

// Total returns the number of replacements.
func (r Report) Total() int {
	return r.Emails + r.Phones + r.Mentions + r.IBANs + r.Cards + r.Codes
}

// The patterns are compiled once: regexp values are safe for concurrent use and hold no
// state that a caller could observe.
var (
	// Slack-style escapes: <@U123ABC>, <@U123ABC|john>, <!here>, <!subteam^S123|@team>.
	slackMention = regexp.MustCompile(`<@[A-Za-z0-9]+(?:\|[^<>\n]{0,100})?>|<![A-Za-z]+(?:\^[A-Za-z0-9]+)?(?:\|[^<>\n]{0,100})?>`)
	// local@domain.tld. Deliberately broader than RFC 5322 in its characters (letters of any
	// script, '_' and '-' anywhere in a label) and narrower in shape (a dotted domain ending
	// in letters), so that "a@b.fr." keeps its full stop and "réunion@14h" stays.
	emailAddr = regexp.MustCompile(`[\p{L}\p{N}][\p{L}\p{M}\p{N}._%+\-]*@[\p{L}\p{M}\p{N}_\-]+(?:\.[\p{L}\p{M}\p{N}_\-]+)*\.\p{L}{2,}`)
	// @john.doe, without a trailing '.' or '-' (end of sentence). Only counted when the '@'
	// does not follow a word character, so that "réunion@14h" is not a mention.
	handle = regexp.MustCompile(`@\p{L}(?:[\p{L}\p{M}\p{N}_.\-]*[\p{L}\p{M}\p{N}_])?`)
	// A run of digit groups that might hold phone numbers: an optional '+', then groups of
	// digits or "(digits)" joined by at most one ' ' (or no-break space), '.', '-' or '/'.
	// phonesIn decides.
	numberRun = regexp.MustCompile(`\+?(?:\(\d{1,4}\)|\d+)(?:(?:[ .\-/]|\x{a0}|\x{202f})?(?:\(\d{1,4}\)|\d+))*`)
)

// Text returns s normalized, with e-mail addresses, phone numbers, mentions, IBANs, card
// numbers and follow-up codes replaced, and what it replaced. Text(Text(s)) is Text(s), and
// text on one line never changes what is found on another.
func Text(s string) (string, Report) {
	var r Report
	s = normalize(s)
	// Each pattern runs only where its anchor is: most comments have no "<@", "<!", '@' or
	// phone-sized number, and the patterns cost more than the scans (BenchmarkTextPlain).
	if strings.Contains(s, "<@") || strings.Contains(s, "<!") {
		s = slackMention.ReplaceAllStringFunc(s, func(string) string { r.Mentions++; return Mention })
	}
	s, r.Emails = replaceEmails(s, r.Emails)
	s, r.Mentions = replaceHandles(s, r.Mentions)
	s, r.Codes = replaceCodes(s)
	s, r.IBANs = replaceIBANs(s)
	s, r.Cards = replaceCards(s)
	s, r.Phones = replacePhones(s)
	return s, r
}

func replaceHandles(s string, n int) (string, int) {
	if strings.IndexByte(s, '@') < 0 {
		return s, n // every handle starts with '@'
	}
	locs := handle.FindAllStringIndex(s, -1)
	if locs == nil {
		return s, n
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		// A match right after the previous one starts after a placeholder, not a word.
		if prev, _ := utf8.DecodeLastRuneInString(s[:l[0]]); l[0] > 0 && l[0] != last && isWord(prev) {
			continue
		}
		b.WriteString(s[last:l[0]])
		b.WriteString(Mention)
		last = l[1]
		n++
	}
	b.WriteString(s[last:])
	return b.String(), n
}

func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// maxPhoneDigits is the E.164 maximum; minPhoneDigits keeps short numbers ("3 days", years,
// amounts) out.
const (
	minPhoneDigits = 8
	maxPhoneDigits = 15
)

func replacePhones(s string) (string, int) {
	// A phone has at least minPhoneDigits digits, all ASCII ones (numberRun matches no other):
	// a text with fewer holds none.
	if !hasDigits(s, minPhoneDigits) {
		return s, 0
	}
	runs := numberRun.FindAllStringIndex(s, -1)
	if runs == nil {
		return s, 0
	}
	var b strings.Builder
	last, n := 0, 0
	for _, run := range runs {
		for _, p := range phonesIn(s, run[0], run[1], last) {
			b.WriteString(s[last:p[0]])
			b.WriteString(Phone)
			last = p[1]
			n++
		}
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// hasDigits reports whether s holds at least n ASCII digits.
func hasDigits(s string, n int) bool {
	for i := 0; i < len(s) && n > 0; i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n--
		}
	}
	return n <= 0
}

// phonesIn returns the phone numbers in the run s[start:end], left to right. The run is cut
// into chunks at its spaces (no-break ones included); from each chunk on, the longest sequence of whole chunks that
// reads as a phone number is taken, so that "le 2026-11-23 06 12 34 56 78" finds the number
// after the date.
//
// after is where the previous phone ended: a phone starting there follows a placeholder, not
// the word its first rune was glued to.
func phonesIn(s string, start, end, after int) [][2]int {
	chunks := [][2]int{}
	cs := start
	for i := start; i < end; i++ {
		if w := spaceAt(s, i); w > 0 {
			chunks = append(chunks, [2]int{cs, i})
			cs = i + w
			i += w - 1
		}
	}
	chunks = append(chunks, [2]int{cs, end})

	var out [][2]int
	for i := 0; i < len(chunks); {
		found := -1
		// A phone has at most maxPhoneDigits digits, so at most that many chunks.
		for j := min(len(chunks)-1, i+maxPhoneDigits); j >= i; j-- {
			if isPhoneAt(s, chunks[i][0], chunks[j][1], after) {
				found = j
				break
			}
		}
		if found < 0 {
			i++
			continue
		}
		out = append(out, [2]int{chunks[i][0], chunks[found][1]})
		after = chunks[found][1]
		i = found + 1
	}
	return out
}

// isPhoneAt reports whether s[from:to] is a phone number standing on its own: not glued to a
// word before or after it, and not a percentage. A phone may start at after, the end of the
// previous one.
func isPhoneAt(s string, from, to, after int) bool {
	if prev, _ := utf8.DecodeLastRuneInString(s[:from]); from > 0 && from != after && (isWord(prev) || prev == '+') {
		return false
	}
	if next, _ := utf8.DecodeRuneInString(s[to:]); to < len(s) && isWord(next) {
		return false
	}
	if isPercentAfter(s[to:]) {
		return false
	}
	return isPhone(s[from:to])
}

// spaceAt returns the width of the space at s[i]: 1 for ' ', 2 or 3 for the no-break spaces
// U+00A0 and U+202F, 0 for anything else or at the end of s.
func spaceAt(s string, i int) int {
	switch {
	case i >= len(s):
		return 0
	case s[i] == ' ':
		return 1
	case strings.HasPrefix(s[i:], "\u00a0"):
		return len("\u00a0")
	case strings.HasPrefix(s[i:], "\u202f"):
		return len("\u202f")
	}
	return 0
}

// isPercentAfter reports whether rest starts with '%', optionally after one space (French
// typography writes "12 %", often with a no-break space).
func isPercentAfter(rest string) bool {
	for _, sp := range []string{"", " ", "\u00a0", "\u202f"} {
		if strings.HasPrefix(rest, sp+"%") {
			return true
		}
	}
	return false
}

type group struct {
	digits string
	paren  bool
	sep    byte // the separator before the group: ' ' (any space), '.', '-', '/', or 0 for none
}

// parseGroups splits a candidate made of the numberRun alphabet into its groups.
func parseGroups(c string) (plus bool, gs []group, ok bool) {
	if strings.HasPrefix(c, "+") {
		plus, c = true, c[1:]
	}
	var sep byte
	for len(c) > 0 {
		if w := spaceAt(c, 0); w > 1 { // a no-break space counts as a space
			if sep != 0 {
				return false, nil, false
			}
			sep, c = ' ', c[w:]
			continue
		}
		switch c[0] {
		case ' ', '.', '-', '/':
			if sep != 0 {
				return false, nil, false
			}
			sep, c = c[0], c[1:]
			continue
		case '(':
			end := strings.IndexByte(c, ')')
			if end < 0 {
				return false, nil, false
			}
			gs = append(gs, group{digits: c[1:end], paren: true, sep: sep})
			c = c[end+1:]
		default:
			i := 0
			for i < len(c) && c[i] >= '0' && c[i] <= '9' {
				i++
			}
			if i == 0 {
				return false, nil, false
			}
			gs = append(gs, group{digits: c[:i], sep: sep})
			c = c[i:]
		}
		sep = 0
	}
	return plus, gs, len(gs) > 0 && sep == 0
}

// isPhone decides whether a candidate is a phone number. It knows the shapes people type:
//   - international, starting with '+': "+33 6 12 34 56 78", "+1 (415) 555-0100", "+33612345678";
//   - an area code in parentheses: "(555) 123-4567";
//   - North American 3-3-4: "555-123-4567", "555.123.4567";
//   - national numbers with a trunk '0' in groups of 2 to 4: "06 12 34 56 78",
//     "06.12.34.56.78", "06/12/34/56/78", "020 7946 0958";
//   - ten digits in one block ("0612345678"), or 11 to 15 after an "00" exit code.
//
// With 8 to 15 digits in all. Shapes of dates ("2026-11-23", "23.11.2026"), thousands
// ("12 345 678") and years are none of these.
func isPhone(c string) bool {
	plus, gs, ok := parseGroups(c)
	if !ok {
		return false
	}
	digits := 0
	for _, g := range gs {
		digits += len(g.digits)
	}
	if digits < minPhoneDigits || digits > maxPhoneDigits {
		return false
	}
	if plus {
		if gs[0].paren {
			return false
		}
		if len(gs) == 1 {
			return true // +33612345678
		}
		if len(gs[0].digits) > 3 { // country codes have 1 to 3 digits
			return false
		}
		for _, g := range gs[1:] {
			if g.paren && len(g.digits) > 4 {
				return false
			}
		}
		return true
	}
	if len(gs) == 1 {
		d := gs[0].digits
		return len(d) == 10 || strings.HasPrefix(d, "00")
	}
	first, rest := gs[0], gs[1:]
	for _, g := range rest {
		if g.paren || len(g.digits) < 2 || len(g.digits) > 4 {
			return false
		}
	}
	// Separators between the groups after the first must all be the same:
	// "06 12 34 56 78", not "10.30-12.45" (two times).
	for _, g := range rest[1:] {
		if g.sep != rest[len(rest)-1].sep {
			return false
		}
	}
	if first.paren { // (555) 123-4567, (555) 123 4567, (555)123-4567
		return len(first.digits) >= 2 && (rest[0].sep == ' ' || rest[0].sep == 0)
	}
	if rest[0].sep != rest[len(rest)-1].sep {
		return false
	}
	shape := make([]int, len(gs))
	for i, g := range gs {
		shape[i] = len(g.digits)
	}
	if len(shape) == 3 && shape[0] == 3 && shape[1] == 3 && shape[2] == 4 {
		return true // 555-123-4567
	}
	if len(gs) < 3 || first.digits[0] != '0' || len(first.digits) < 2 || len(first.digits) > 4 {
		return false
	}
	// A trunk-prefixed national number, unless it has the shape of a date: 05-11-2026.
	return !(len(shape) == 3 && shape[0] == 2 && shape[1] == 2 && shape[2] == 4)
}
