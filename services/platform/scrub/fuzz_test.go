package scrub

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// The identifiers FuzzObfuscated disguises (TestSeedsAreValid checks the IBANs and cards).
var (
	emailSeeds = [][2]string{ // local part, domain
		{"jean.dupont", "acme.com"}, {"marie", "acme.fr"}, {"j_doe-1", "mail.acme-corp.com"},
		{"élise.martin", "société.fr"}, {"jd", "localhost"},
	}
	phoneSeeds = [][]string{ // groups
		{"06", "12", "34", "56", "78"}, {"+33", "6", "12", "34", "56", "78"}, {"0612345678"},
		{"555", "123", "4567"}, {"+1", "415", "555", "0100"}, {"020", "7946", "0958"}, {"+33612345678"},
	}
	ibanSeeds = []string{
		"FR7630006000011234567890189", "DE89370400440532013000", "GB29NWBK60161331926819",
		"BE71096123456769", "NL91ABNA0417164300", "CH9300762011623852957",
	}
	cardSeeds = []string{
		"4111111111111111", "5555555555554444", "378282246310005", "4222222222222",
		"6011111111111117", "3530111333300000",
	}
	codeSeeds = []string{"JBSWY3DPEHPK3PXPJBSWY3DPEH", "ABCDEFGHIJKLMNOPQRSTUVWXY2", "22222222222222222222222ZZZ"}

	// The text around the identifier, which must come out as it went in.
	wrappers = []string{
		"%s", "écrivez à %s svp", "tel: %s, merci", "mail %s.", "«\u00a0%s\u00a0»", "`%s`", "(%s)",
		"ligne 1\n%s\nligne 3",
	}

	atForms     = []string{"@", " @ ", "(at)", " (at) ", "[at]", " [ at ] ", "{at}", "<at>", "(arobase)", " arobase ", " ARobase ", "(@)", " at ", " AT "}
	dotForms    = []string{".", " dot ", "(dot)", " [dot] ", "{.}", " DOT "}
	dotFormsFr  = []string{" point ", "(point)"}
	invisibles  = []string{"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}
	separators  = []string{" ", ".", "-", "/", "\u00a0", "\u202f"}
	groupSpaces = []string{" ", "\u00a0"}
)

// picker draws choices from the fuzzer's bytes; once they run out, it always picks the first.
type picker struct{ b []byte }

func (p *picker) n(k int) int {
	if len(p.b) == 0 || k <= 1 {
		return 0
	}
	v := int(p.b[0]) % k
	p.b = p.b[1:]
	return v
}

func (p *picker) of(xs []string) string { return xs[p.n(len(xs))] }

// obfuscatedEmail writes an address with its '@' and dots disguised, in one of the ways Text
// recognizes: " point " only with a French or bracketed '@', and a plain " at " only when the
// local part has a '.' or '_' or a dot is spelled.
func obfuscatedEmail(p *picker, local, domain string) string {
	at := p.of(atForms)
	if !strings.Contains(domain, ".") {
		at = "@" // no spelled form for a domain without a dot
	}
	bare := strings.TrimSpace(strings.ToLower(at)) == "at"
	pickDot := func() string {
		if !bare && p.n(4) == 0 {
			return p.of(dotFormsFr)
		}
		return p.of(dotForms)
	}
	var b strings.Builder
	spelled := false
	for _, part := range []string{local, domain} {
		pieces := strings.Split(part, ".")
		for i, piece := range pieces {
			if i > 0 {
				d := pickDot()
				if bare && part == domain && i == len(pieces)-1 && !spelled && !strings.ContainsAny(local, "._") {
					d = " dot "
				}
				spelled = spelled || d != "."
				b.WriteString(d)
			}
			b.WriteString(piece)
		}
		if part == local {
			b.WriteString(at)
		}
	}
	return b.String()
}

func groupsOf(s string, sizes ...int) []string {
	var out []string
	for _, n := range sizes {
		if len(s) <= n {
			break
		}
		out, s = append(out, s[:n]), s[n:]
	}
	return append(out, s)
}

// disguise rewrites s rune by rune: full-width or mathematical forms, random case, invisible
// characters in between.
func disguise(p *picker, s string) string {
	var b strings.Builder
	for _, r := range s {
		switch p.n(6) {
		case 1:
			if r > ' ' && r <= '~' {
				r += 0xff01 - '!' // full-width form
			} else if r == ' ' {
				r = '\u3000'
			}
		case 2:
			if r >= '0' && r <= '9' {
				r += 0x1d7ce - '0' // MATHEMATICAL BOLD DIGIT
			}
		case 3:
			if r >= 'a' && r <= 'z' {
				r -= 'a' - 'A'
			} else if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
		}
		b.WriteRune(r)
		if p.n(4) == 0 {
			b.WriteString(p.of(invisibles))
		}
	}
	return b.String()
}

// FuzzObfuscated disguises a known identifier (an address, phone number, IBAN, card number or
// follow-up code) in the ways found in use and checks that Text replaces it whole, by the right
// placeholder, and leaves the text around it alone.
func FuzzObfuscated(f *testing.F) {
	for kind := range 5 {
		for _, ops := range []string{"", "\x01\x02\x03\x04\x05", "\x0c\x05\x00\x01\x02\x03\x00\x04\x00\x05\x01\x01\x01", "\xff\xfe\x07\x09\x11\x13"} {
			f.Add(uint8(kind), uint8(kind*3), []byte(ops))
		}
	}
	f.Fuzz(func(t *testing.T, kind, seed uint8, ops []byte) {
		p := &picker{b: ops}
		wrapper := wrappers[int(seed)%len(wrappers)]
		var id, want string
		var report Report
		switch kind % 5 {
		case 0:
			e := emailSeeds[int(seed)%len(emailSeeds)]
			id, want, report = obfuscatedEmail(p, e[0], e[1]), Email, Report{Emails: 1}
		case 1:
			groups := phoneSeeds[int(seed)%len(phoneSeeds)]
			id, want, report = strings.Join(groups, p.of(separators)), Phone, Report{Phones: 1}
		case 2:
			iban := ibanSeeds[int(seed)%len(ibanSeeds)]
			if p.n(2) == 1 {
				iban = strings.Join(groupsOf(iban, 4, 4, 4, 4, 4, 4, 4, 4), p.of(groupSpaces))
			}
			id, want, report = iban, IBAN, Report{IBANs: 1}
		case 3:
			card := cardSeeds[int(seed)%len(cardSeeds)]
			switch p.n(3) {
			case 1:
				card = strings.Join(groupsOf(card, 4, 4, 4, 4), p.of([]string{" ", "-", "\u00a0"}))
			case 2:
				if len(card) == 15 { // American Express: 4-6-5
					card = strings.Join(groupsOf(card, 4, 6), p.of([]string{" ", "-"}))
				}
			}
			id, want, report = card, Card, Report{Cards: 1}
		case 4:
			id, want, report = codeSeeds[int(seed)%len(codeSeeds)], Code, Report{Codes: 1}
		}
		in := strings.Replace(wrapper, "%s", disguise(p, id), 1)
		want = strings.Replace(wrapper, "%s", want, 1)

		out, r := Text(in)
		if out != want || r != report {
			t.Fatalf("Text(%q)\n got %q %+v\nwant %q %+v  (identifier %q)", in, out, r, want, report, id)
		}
		if again, r2 := Text(out); again != out || r2.Total() != 0 {
			t.Fatalf("Text(%q) = %q %+v, want it unchanged", out, again, r2)
		}
	})
}

// outputCode is a follow-up code as a whole word, written independently of the package.
var outputCode = regexp.MustCompile(`(?:^|[^\p{L}\p{N}\p{M}])([A-Za-z2-7]{26})(?:$|[^\p{L}\p{N}\p{M}])`)

// checkOutput holds what every output of Text must satisfy, whatever the input.
func checkOutput(t *testing.T, s, out string, r Report) {
	t.Helper()
	if utf8.ValidString(s) && !utf8.ValidString(out) {
		t.Fatalf("Text(%q) = %q: invalid UTF-8", s, out)
	}
	if m := outputEmail.FindString(out); m != "" {
		t.Fatalf("Text(%q) = %q still holds e-mail %q", s, out, m)
	}
	if strings.Contains(out, "<@") && slackMention.MatchString(out) {
		t.Fatalf("Text(%q) = %q still holds a Slack mention", s, out)
	}
	for _, m := range outputCode.FindAllStringSubmatch(out, -1) {
		if strings.ContainsAny(m[1], "234567") && strings.ContainsFunc(m[1], func(r rune) bool { return r > '9' }) {
			t.Fatalf("Text(%q) = %q still holds code %q", s, out, m[1])
		}
	}
	for _, c := range []struct {
		placeholder string
		n           int
	}{{Email, r.Emails}, {Phone, r.Phones}, {Mention, r.Mentions}, {IBAN, r.IBANs}, {Card, r.Cards}, {Code, r.Codes}} {
		if c.n < 0 || strings.Count(out, c.placeholder) < c.n {
			t.Fatalf("Text(%q): report %+v does not match output %q", s, r, out)
		}
	}
	if strings.ContainsAny(out, "\u200b\u200c\u2060\ufeff\u00ad") {
		t.Fatalf("Text(%q) = %q kept an invisible character", s, out)
	}
}
