package scrub

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Building blocks of the spelled-out addresses. Spaces are those of a line (never a line
// break), no-break spaces included.
const (
	sp      = `[\t \x{a0}\x{202f}]`
	opening = `[(\[{<]`
	closing = `[)\]}>]`
	// A piece of the local part or a domain label, between two dots.
	localPiece = `[\p{L}\p{N}][\p{L}\p{M}\p{N}_%+\-]*`
	label      = `[\p{L}\p{N}][\p{L}\p{M}\p{N}_\-]*`
	tld        = `\p{L}{2,}`
)

// A dot: ".", "(dot)", "[.]", "{point}", " dot ", " point " (French), any case.
const dot = `(?:\.|` + sp + `*` + opening + sp + `*(?i:dot|point|\.)` + sp + `*` + closing + sp + `*|` +
	sp + `+(?i:dot|point)` + sp + `+)`

// The same without "point", for addresses spelled in English: "at the point where" is a phrase.
const dotEn = `(?:\.|` + sp + `*` + opening + sp + `*(?i:dot|\.)` + sp + `*` + closing + sp + `*|` +
	sp + `+(?i:dot)` + sp + `+)`

var (
	// An address whose "@" is disguised in a way ordinary prose never uses: "(at)", "[at]",
	// "{arobase}", "(@)", " arobase ", " @ ", or whose dots are spelled ("marie@acme dot fr").
	spelledEmail = regexp.MustCompile(localPiece + `(?:` + dot + localPiece + `)*` +
		`(?:@|` + sp + `+@` + sp + `+|` + sp + `*` + opening + sp + `*(?i:at|arobase|@)` + sp + `*` + closing + sp + `*|` +
		sp + `+(?i:arobase)` + sp + `+)` +
		label + `(?:` + dot + label + `)*` + dot + tld)

	// An address with a plain " at ": "jean dot dupont at acme dot com". Groups: the local
	// part, the first domain label, the rest of the domain. Prose uses " at " all the time, so
	// spelledAt decides whether a match is an address.
	atWord = regexp.MustCompile(`(` + localPiece + `(?:` + dotEn + localPiece + `)*)` + sp + `+(?i:at)` + sp + `+` +
		`(` + label + `)((?:` + dotEn + label + `)*` + dotEn + tld + `)`)

	// An address on a domain without a dot: "jd@localhost", "marie@acme". The domain starts
	// with a letter so that "réunion@14h" stays.
	localEmail = regexp.MustCompile(`[\p{L}\p{N}][\p{L}\p{M}\p{N}._%+\-]*@\p{L}[\p{L}\p{M}\p{N}_\-]*`)

	// spelledDot finds a dot written as a word or in brackets.
	spelledDot = regexp.MustCompile(sp + `+(?i:dot)` + sp + `+|` + opening + sp + `*(?i:dot|\.)` + sp + `*` + closing)
)

// notAddressLabels are words that follow "at" in prose, and that no domain starts with in
// practice: "look at the dot com era", "at une heure".
var notAddressLabels = map[string]bool{
	"the": true, "a": true, "an": true, "this": true, "that": true, "these": true, "those": true,
	"my": true, "our": true, "your": true, "his": true, "her": true, "their": true, "its": true,
	"some": true, "any": true, "no": true, "every": true, "each": true, "least": true, "most": true,
	"le": true, "la": true, "les": true, "un": true, "une": true, "des": true, "du": true,
	"ce": true, "cette": true, "ces": true, "mon": true, "ma": true, "mes": true, "notre": true,
	"nos": true, "votre": true, "vos": true, "leur": true, "leurs": true,
}

// replaceEmails replaces the e-mail addresses in s, plain, spelled out or on a domain without
// a dot, and adds their number to n.
//
// An address is made of letters, digits, marks, spaces, brackets and "._%+-@" only, so the
// patterns run on the runs of those characters (between two commas, say) that hold an '@',
// an "arobase" or a word "at": the other runs cannot hold an address, and most text is
// skipped at the cost of a scan.
func replaceEmails(s string, n int) (string, int) {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if w, ok := emailRuneAt(s, i); !ok {
			i += w
			continue
		}
		j := i
		for j < len(s) {
			w, ok := emailRuneAt(s, j)
			if !ok {
				break
			}
			j += w
		}
		if out, m := emailsIn(s[i:j], n); m != n {
			b.WriteString(s[last:i])
			b.WriteString(out)
			last, n = j, m
		}
		i = j
	}
	if last == 0 {
		return s, n
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// emailRuneAt returns the width of the rune at s[i] and whether an address can hold it.
func emailRuneAt(s string, i int) (int, bool) {
	r, w := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && w == 1 {
		return 1, false
	}
	return w, unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r) ||
		strings.ContainsRune("._%+-@()[]{}<> \t\u00a0\u202f", r)
}

// emailsIn replaces the addresses in seg, a run of the characters addresses are made of.
// Spelled-out forms go first: in "jean@acme-corp dot com", emailAddr alone would take
// "jean@acme" and leave the rest. Each pattern runs only where its anchor is.
func emailsIn(seg string, n int) (string, int) {
	sign, at := strings.Contains(seg, "@"), hasWordAt(seg)
	if at || containsFold(seg, "arobase") ||
		sign && (containsFold(seg, "dot") || containsFold(seg, "point") || disguisedSign.MatchString(seg)) {
		seg, n = replaceSpelledEmails(seg, n)
	}
	if sign {
		seg, n = replaceInWords(seg, n, func(w string, n int) (string, int) {
			return emailAddr.ReplaceAllStringFunc(w, func(string) string { n++; return Email }), n
		})
	}
	if at {
		seg, n = replaceAtWordEmails(seg, n)
	}
	if sign {
		seg, n = replaceInWords(seg, n, replaceLocalEmails)
	}
	return seg, n
}

// disguisedSign finds an '@' or a '.' that spelledEmail may take and emailAddr not: in
// brackets or between spaces.
var disguisedSign = regexp.MustCompile(opening + sp + `*[@.]|` + sp + `@` + sp)

// replaceInWords applies replace to the words of seg (its runs without spaces) that hold an
// '@', where the addresses without spaces are.
func replaceInWords(seg string, n int, replace func(string, int) (string, int)) (string, int) {
	var b strings.Builder
	last := 0
	for i := 0; i < len(seg); {
		if w := spaceOrTabAt(seg, i); w > 0 {
			i += w
			continue
		}
		j := i
		for j < len(seg) && spaceOrTabAt(seg, j) == 0 {
			j++
		}
		if word := seg[i:j]; strings.Contains(word, "@") {
			if out, m := replace(word, n); m != n {
				b.WriteString(seg[last:i])
				b.WriteString(out)
				last, n = j, m
			}
		}
		i = j
	}
	if last == 0 {
		return seg, n
	}
	b.WriteString(seg[last:])
	return b.String(), n
}

func spaceOrTabAt(s string, i int) int {
	if s[i] == '\t' {
		return 1
	}
	return spaceAt(s, i)
}

// hasWordAt reports whether s holds "at", in any case, as a word of its own.
func hasWordAt(s string) bool {
	for i := 0; i+2 <= len(s); i++ {
		if s[i]|0x20 != 'a' || s[i+1]|0x20 != 't' {
			continue
		}
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+2:])
		if (i == 0 || !isWord(before)) && (i+2 == len(s) || !isWord(after)) {
			return true
		}
	}
	return false
}

// containsFold reports whether s holds the ASCII lower-case word sub, in any case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i]|0x20 == sub[0] && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// replaceSpelledEmails replaces the addresses whose "@" or dots are spelled out or disguised.
func replaceSpelledEmails(s string, n int) (string, int) {
	return replaceWhole(s, n, spelledEmail.FindAllStringIndex(s, -1))
}

// replaceAtWordEmails replaces the addresses with a plain " at " that spelledAt accepts.
func replaceAtWordEmails(s string, n int) (string, int) {
	var locs [][]int
	for _, m := range atWord.FindAllStringSubmatchIndex(s, -1) {
		if spelledAt(s, m) {
			locs = append(locs, m[:2])
		}
	}
	return replaceWhole(s, n, locs)
}

// spelledAt decides whether an atWord match m is an address rather than prose such as "I work
// at acme.com" or "look at the dot com bubble": the local part starts with a letter, the
// domain does not start with an article, and the address spells a dot or has a '.' or '_' in
// its local part, which a word of prose does not.
func spelledAt(s string, m []int) bool {
	local, first := s[m[2]:m[3]], s[m[4]:m[5]]
	if r, _ := utf8.DecodeRuneInString(local); !unicode.IsLetter(r) {
		return false
	}
	if notAddressLabels[strings.ToLower(first)] {
		return false
	}
	return strings.ContainsAny(local, "._") || spelledDot.MatchString(s[m[0]:m[1]])
}

// replaceLocalEmails replaces the addresses on a domain without a dot.
func replaceLocalEmails(s string, n int) (string, int) {
	return replaceWhole(s, n, localEmail.FindAllStringIndex(s, -1))
}

// replaceWhole replaces with Email each of locs that stands as a whole, not followed by a
// letter, digit or '_': "jean at acme dot company2" is not an address that ends at "company".
// locs are in order and do not overlap.
func replaceWhole(s string, n int, locs [][]int) (string, int) {
	var b strings.Builder
	last := 0
	for _, l := range locs {
		if next, _ := utf8.DecodeRuneInString(s[l[1]:]); l[1] < len(s) && isWord(next) {
			continue
		}
		b.WriteString(s[last:l[0]])
		b.WriteString(Email)
		last = l[1]
		n++
	}
	if last == 0 {
		return s, n
	}
	b.WriteString(s[last:])
	return b.String(), n
}
