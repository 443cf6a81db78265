package scrub

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// IBANs (ISO 13616): a country code, two check digits and a BBAN of letters and digits, 15 to
// 34 characters in all, written in one block or in groups ("FR76 3000 6000 0112 3456 7890
// 189"). Only those whose check digits are right (mod 97) are replaced, so that a ticket
// reference or a serial number of the same shape is not.
const (
	minIBAN = 15
	maxIBAN = 34
)

// ibanCountries are the country codes of IBANs: those of the SWIFT registry of ISO 13616 and
// those of countries that issue IBANs outside it. A code outside the list is not an IBAN.
var ibanCountries = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`
		AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE
		GI GL GR GT HN HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT
		MU NI NL NO OM PK PL PS PT QA RO RS RU SA SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG
		XK YE
		AO BF BJ CF CG CI CM CV DZ GA GG GQ GW IM IR JE KM MA MG ML MZ NE SN TD TG`) {
		m[c] = true
	}
	return m
}()

func replaceIBANs(s string) (string, int) {
	var b strings.Builder
	last, n := 0, 0
	for i := 0; i+4 <= len(s); {
		if !isASCIILetter(s[i]) || startsInWord(s, i) {
			i++
			continue
		}
		end, ok := ibanAt(s, i)
		if !ok {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(IBAN)
		last, i = end, end
		n++
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// ibanAt returns the end of the IBAN starting at s[i], if there is one: one block, or groups
// of four characters (the last one shorter) joined by single spaces, as IBANs are printed.
// The longest candidate that ends a word and passes the check is taken: "FR76 3000 6000 0112
// 3456 7890 189 42" ends before " 42". Words of prose are not groups of four: "DE12 is
// the best option" is no candidate.
func ibanAt(s string, i int) (int, bool) {
	if !isASCIILetter(s[i+1]) || !isASCIIDigit(s[i+2]) || !isASCIIDigit(s[i+3]) ||
		!ibanCountries[strings.ToUpper(s[i:i+2])] {
		return 0, false
	}
	chars := make([]byte, 0, maxIBAN)
	ends := make([]int, 0, maxIBAN) // ends[k] is the end of the (k+1)-th character
	group := 0                      // characters in the current group
	for j := i; len(chars) < maxIBAN; {
		if group == 4 {
			if w := spaceAt(s, j); w > 0 && j+w < len(s) && isASCIIAlnum(s[j+w]) {
				j, group = j+w, 0
			}
		}
		if j >= len(s) || !isASCIIAlnum(s[j]) {
			break
		}
		chars = append(chars, upper(s[j]))
		j++
		ends = append(ends, j)
		group++
	}
	for k := len(chars); k >= minIBAN; k-- {
		if endsWord(s, ends[k-1]) && mod97(chars[:k]) == 1 {
			return ends[k-1], true
		}
	}
	return 0, false
}

// mod97 is the ISO 7064 MOD 97-10 remainder of an IBAN: its first four characters moved to
// the end, letters read as 10 to 35.
func mod97(iban []byte) int {
	rem := 0
	for k := range iban {
		c := iban[(k+4)%len(iban)]
		if isASCIIDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	return rem
}

// Payment card numbers: 13 to 19 digits that pass the Luhn check, in one block or in groups
// joined by single spaces or dashes, the same all along. The first group has 4 digits as on
// every card ("4111 1111 1111 1111", "3782 822463 10005"), the middle ones 4 to 6 and the
// last 1 to 6. No card number starts with 0, which keeps phone numbers out.
const (
	minCard = 13
	maxCard = 19
)

func replaceCards(s string) (string, int) {
	var b strings.Builder
	last, n := 0, 0
	for i := 0; i < len(s); {
		if s[i] < '1' || s[i] > '9' || !startsNumber(s, i) {
			i++
			continue
		}
		end, ok := cardAt(s, i)
		if !ok {
			i++
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(Card)
		last, i = end, end
		n++
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

// startsNumber reports whether a number may start at s[i]: not inside a word or a number,
// not after '+' (a phone number), nor after a decimal point ("3.14159265358979").
func startsNumber(s string, i int) bool {
	if i == 0 {
		return true
	}
	prev, w := utf8.DecodeLastRuneInString(s[:i])
	if isWord(prev) || prev == '+' {
		return false
	}
	if prev == '.' || prev == ',' {
		before, _ := utf8.DecodeLastRuneInString(s[:i-w])
		return !unicode.IsDigit(before)
	}
	return true
}

// cardAt returns the end of the card number starting at s[i], if there is one.
func cardAt(s string, i int) (int, bool) {
	var groups, ends []int // digits in each group, and where it ends
	sep, digits := "", 0
	for j := i; ; {
		k := j
		for k < len(s) && isASCIIDigit(s[k]) {
			k++
		}
		groups, ends = append(groups, k-j), append(ends, k)
		if digits += k - j; digits > maxCard {
			break
		}
		w := spaceAt(s, k)
		if w == 0 && k < len(s) && s[k] == '-' {
			w = 1
		}
		if w == 0 || k+w >= len(s) || !isASCIIDigit(s[k+w]) {
			break
		}
		if sep == "" {
			sep = s[k : k+w]
		} else if s[k:k+w] != sep {
			break
		}
		j = k + w
	}
	for g := len(groups); g >= 1; g-- {
		end := ends[g-1]
		if !cardShape(groups[:g]) || !endsNumber(s, end) {
			continue
		}
		if luhn(s[i:end]) {
			return end, true
		}
	}
	return 0, false
}

func cardShape(groups []int) bool {
	total := 0
	for _, g := range groups {
		total += g
	}
	if total < minCard || total > maxCard {
		return false
	}
	if len(groups) == 1 {
		return true
	}
	if groups[0] != 4 {
		return false
	}
	for _, g := range groups[1 : len(groups)-1] {
		if g < 4 || g > 6 {
			return false
		}
	}
	return groups[len(groups)-1] <= 6
}

// endsNumber reports whether a number may end at s[end]: not in a word, not before a decimal
// part ("1234567890123.45") nor a '%'.
func endsNumber(s string, end int) bool {
	if !endsWord(s, end) || isPercentAfter(s[end:]) {
		return false
	}
	rest := s[end:]
	return !(len(rest) >= 2 && (rest[0] == '.' || rest[0] == ',') && isASCIIDigit(rest[1]))
}

// luhn checks the digits of s, ignoring everything else.
func luhn(s string) bool {
	sum, double := 0, false
	for k := len(s) - 1; k >= 0; k-- {
		if !isASCIIDigit(s[k]) {
			continue
		}
		d := int(s[k] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// Follow-up codes: voix gives each author a secret code of 26 base32 characters (A-Z, 2-7).
// Any word of that shape with at least one digit and one letter is replaced, whatever its
// case: a code in a comment would let HR read the author's follow-ups.
const codeLen = 26

func replaceCodes(s string) (string, int) {
	var b strings.Builder
	last, n := 0, 0
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if !isAlnum(r) {
			i += w
			continue
		}
		j := i + w // the word is s[i:j]
		for j < len(s) {
			r, w := utf8.DecodeRuneInString(s[j:])
			if !isAlnum(r) {
				break
			}
			j += w
		}
		if isCode(s[i:j]) {
			b.WriteString(s[last:i])
			b.WriteString(Code)
			last = j
			n++
		}
		i = j
	}
	if n == 0 {
		return s, 0
	}
	b.WriteString(s[last:])
	return b.String(), n
}

func isCode(w string) bool {
	if len(w) != codeLen {
		return false
	}
	digit, letter := false, false
	for k := 0; k < len(w); k++ {
		switch c := w[k]; {
		case c >= '2' && c <= '7':
			digit = true
		case isASCIILetter(c):
			letter = true
		default:
			return false
		}
	}
	return digit && letter
}

// isAlnum reports whether r belongs to a word for the "whole word" rules: a letter, a digit or
// a combining mark ('_' is not).
func isAlnum(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// startsInWord reports whether s[i] continues a word rather than starting one.
func startsInWord(s string, i int) bool {
	prev, _ := utf8.DecodeLastRuneInString(s[:i])
	return i > 0 && isAlnum(prev)
}

// endsWord reports whether a word may end at s[end].
func endsWord(s string, end int) bool {
	next, _ := utf8.DecodeRuneInString(s[end:])
	return end == len(s) || !isAlnum(next)
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isASCIIDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isASCIIAlnum(c byte) bool  { return isASCIILetter(c) || isASCIIDigit(c) }

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
