package scrub

import (
	"regexp"
	"strings"
	"testing"
)

type tc struct {
	in, want string
	report   Report
}

func run(t *testing.T, cases []tc) {
	t.Helper()
	for _, c := range cases {
		got, r := Text(c.in)
		if got != c.want || r != c.report {
			t.Errorf("Text(%q)\n got %q %+v\nwant %q %+v", c.in, got, r, c.want, c.report)
		}
	}
}

func TestEmails(t *testing.T) {
	run(t, []tc{
		{"écrivez à jean.dupont@acme.fr svp", "écrivez à [email] svp", Report{Emails: 1}},
		{"Mail: a.b+tag@sub.example.co.uk.", "Mail: [email].", Report{Emails: 1}},
		{"(john_doe-1@mail.acme-corp.com)", "([email])", Report{Emails: 1}},
		{"josé.garcía@empresa.es, x@y.io", "[email], [email]", Report{Emails: 2}},
		{"JOHN@ACME.COM", "[email]", Report{Emails: 1}},
		{"...john@acme.com", "...[email]", Report{Emails: 1}},
		// A domain without a dot is an address too ("jd@localhost" was found in use).
		{"john@localhost", "[email]", Report{Emails: 1}},
		// Not e-mail addresses.
		{"réunion@14h", "réunion@14h", Report{}},
		{"a @ b", "a @ b", Report{}},
	})
}

func TestMentions(t *testing.T) {
	run(t, []tc{
		{"merci <@U123ABC> !", "merci [mention] !", Report{Mentions: 1}},
		{"cc <@U123ABC|john> et <@W9Z|marie.curie>", "cc [mention] et [mention]", Report{Mentions: 2}},
		{"<!here> <!channel> <!subteam^S012AB|@devs>", "[mention] [mention] [mention]", Report{Mentions: 3}},
		{"ask @john.doe.", "ask [mention].", Report{Mentions: 1}},
		{"(@Zoé_B) and @marie-claire", "([mention]) and [mention]", Report{Mentions: 2}},
		{"@john", "[mention]", Report{Mentions: 1}},
		// Not mentions.
		{"rdv @14h", "rdv @14h", Report{}},
		{"a <b> c <#C123|general>", "a <b> c <#C123|general>", Report{}},
		{"<!-- comment -->", "<!-- comment -->", Report{}},
		{"x < y > z", "x < y > z", Report{}},
	})
}

func TestPhones(t *testing.T) {
	run(t, []tc{
		{"appelle le +33 6 12 34 56 78 demain", "appelle le [phone] demain", Report{Phones: 1}},
		{"tél 06 12 34 56 78.", "tél [phone].", Report{Phones: 1}},
		{"tél.06.12.34.56.78", "tél.[phone]", Report{Phones: 1}},
		{"06-12-34-56-78", "[phone]", Report{Phones: 1}},
		{"0612345678", "[phone]", Report{Phones: 1}},
		{"+33612345678", "[phone]", Report{Phones: 1}},
		{"+33 (0)6 12 34 56 78", "[phone]", Report{Phones: 1}},
		{"call (555) 123-4567 now", "call [phone] now", Report{Phones: 1}},
		{"call 555-123-4567 or 555.123.4567", "call [phone] or [phone]", Report{Phones: 2}},
		{"+1 415 555 0100", "[phone]", Report{Phones: 1}},
		{"+1 (415) 555-0100", "[phone]", Report{Phones: 1}},
		{"+44 20 7946 0958 / 020 7946 0958", "[phone] / [phone]", Report{Phones: 2}},
		{"0033 612345678", "0033 612345678", Report{}}, // 4-9 is no shape we know; 00 needs one block
		{"00336123456789", "[phone]", Report{Phones: 1}},
		{"le 2026-11-23 06 12 34 56 78", "le 2026-11-23 [phone]", Report{Phones: 1}},
		{"tel: 06 12 34 56 78, merci", "tel: [phone], merci", Report{Phones: 1}},
		{"ref-0612345678", "ref-[phone]", Report{Phones: 1}},
		{"0612345678 0612345678", "[phone] [phone]", Report{Phones: 2}},
	})
}

func TestNumbersThatAreNotPhones(t *testing.T) {
	for _, s := range []string{
		"depuis le 2026-11-23",
		"le 23.11.2026 et le 05-11-2026 et 23/11/2026",
		"en 2026, 2027 et 2028",
		"2024 2025 2026",
		"3 days",
		"75% des gens, 12 % ou 12\u00a0% ou 12345678%",
		"0612345678%",
		"budget de 12 345 678 € ou 1 234 567 890",
		"1.234.567.890",
		"10.30-12.45",
		"réunion 10:30-12:45",
		"notes 10 12 14 16 18",
		"v1.2.3.4.5.6.7.8",
		"192.168.100.200 et 10.0.0.1",
		"ticket ABC12345678",
		"12345678 et 123456789",
		"20261123",
		"pi = 3.14159265358979",
		"score +12.5 points",
	} {
		got, r := Text(s)
		if got != s || r != (Report{}) {
			t.Errorf("Text(%q) = %q %+v, want it unchanged", s, got, r)
		}
	}
}

func TestKeepsEverythingElse(t *testing.T) {
	in := "Je suis débordé 😩 — l'équipe « plateforme » n'a pas eu de réponse depuis 3 semaines (70 %).\n\tÇa va ? Œuvre, naïve, façade.\xff"
	got, r := Text(in)
	if got != in || r.Total() != 0 {
		t.Fatalf("Text changed text without contact data:\n got %q\nwant %q", got, in)
	}
	mixed := "Écrire à élise@acme.fr ou appeler le 06 12 34 56 78 — merci <@U1|élise> 🙏"
	want := "Écrire à [email] ou appeler le [phone] — merci [mention] 🙏"
	if got, r := Text(mixed); got != want || r != (Report{Emails: 1, Phones: 1, Mentions: 1}) {
		t.Fatalf("Text(%q) = %q %+v, want %q", mixed, got, r, want)
	}
}

// outputEmail is an e-mail address as a plain ASCII pattern, written independently of the
// package's own: whatever the input, the output must hold none.
var outputEmail = regexp.MustCompile(`[A-Za-z0-9]@[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*\.[A-Za-z]{2,}`)

var (
	wordSpace = regexp.MustCompile(`[a-z] $`)
	spaceWord = regexp.MustCompile(`^ [a-z]`)
)

// phoneLike is a French mobile number in its common spellings.
var phoneLike = regexp.MustCompile(`0[67](?: \d\d){4}|0[67](?:\.\d\d){4}|0[67](?:-\d\d){4}|0[67]\d{8}`)

func FuzzText(f *testing.F) {
	for _, s := range []string{
		"jean@acme.fr", "+33 6 12 34 56 78", "<@U1|x>", "@john.doe", "2026-11-23", "50%",
		"a@b.cc@d.ee", "a@b.cc1@d.ee", "x<@U1>@b.com", "(555) 123-4567", "é\xff@x.fr", "0612345678 0612345678",
		"jean dot dupont at acme dot com", "marie [at] acme [dot] fr", "ｊｅａｎ＠ａｃｍｅ．ｆｒ", "06/12/34/56/78",
		"FR76 3000 6000 0112 3456 7890 189", "4111 1111 1111 1111", "`JBSWY3DPEHPK3PXPJBSWY3DPEH`",
		"0\u200b6 12\u00a034 56 78\n👩\u200d💻 12\u202f%", "jd@localhost\nmarie arobase acme point fr",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, r := Text(s)
		checkOutput(t, s, out, r)
		ns := normalize(s)
		if r.Total() == 0 && out != ns {
			t.Fatalf("Text(%q) = %q changed the normalized text %q but reports nothing", s, out, ns)
		}
		lower := strings.ToLower(ns)
		if !strings.ContainsAny(ns, "@<0123456789") && !strings.Contains(lower, "at") && !strings.Contains(lower, "arobase") && out != ns {
			t.Fatalf("Text(%q) = %q changed text that holds no '@', '<', digit, \"at\" or \"arobase\"", s, out)
		}
		// A phone number standing alone between words is always found.
		for _, m := range phoneLike.FindAllStringIndex(out, -1) {
			before, after := out[:m[0]], out[m[1]:]
			if (before == "" || wordSpace.MatchString(before)) && (after == "" || spaceWord.MatchString(after)) {
				t.Fatalf("Text(%q) = %q left phone %q", s, out, out[m[0]:m[1]])
			}
		}
		again, r2 := Text(out)
		if again != out || r2.Total() != 0 {
			t.Fatalf("Text is not idempotent on %q: %q then %q %+v", s, out, again, r2)
		}
		// What is on one line does not change what is found on another.
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			a, ra := Text(s[:i])
			b, rb := Text(s[i+1:])
			sum := Report{ra.Emails + rb.Emails, ra.Phones + rb.Phones, ra.Mentions + rb.Mentions, ra.IBANs + rb.IBANs, ra.Cards + rb.Cards, ra.Codes + rb.Codes}
			if a+"\n"+b != out || sum != r {
				t.Fatalf("Text(%q) = %q %+v, but line by line %q %+v", s, out, r, a+"\n"+b, sum)
			}
		}
	})
}

func BenchmarkText(b *testing.B) {
	s := strings.Repeat("Je suis débordé depuis le 2026-11-23, écrivez à jean.dupont@acme.fr ou au 06 12 34 56 78, merci <@U123|jean> et @marie. ", 8)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		Text(s)
	}
}

// The anchors Text checks before running a pattern (a "<@" or "<!", an '@', enough digits)
// must not keep a match out: a phone of exactly minPhoneDigits digits, a handle or a mention
// alone in the text, are still found.
func TestAnchorsKeepTheMatchesAtTheirEdges(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"appelez le +33612345 demain", "appelez le [phone] demain"},
		{"appelez le +3361234 demain", "appelez le +3361234 demain"}, // seven digits: not a phone
		{"＋３３６１２３４５", "[phone]"},                                     // full-width digits, folded before the count
		{"@marie", "[mention]"},
		{"<!here>", "[mention]"},
		{"<@U1>", "[mention]"},
	} {
		if got, _ := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// BenchmarkTextPlain is a comment of the usual kind: no contact data, a year and a figure.
func BenchmarkTextPlain(b *testing.B) {
	s := "On manque de reconnaissance pour le travail fait en astreinte depuis 2025, et 3 jours de récupération ne suffisent pas."
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		Text(s)
	}
}
