package scrub

import (
	"math/big"
	"strings"
	"testing"
)

func TestSpelledEmails(t *testing.T) {
	run(t, []tc{
		{"jean dot dupont at acme dot com", "[email]", Report{Emails: 1}},
		{"écrivez à jean.dupont (at) acme (dot) com svp", "écrivez à [email] svp", Report{Emails: 1}},
		{"marie(at)acme.fr", "[email]", Report{Emails: 1}},
		{"marie[at]acme.fr", "[email]", Report{Emails: 1}},
		{"marie [at] acme [dot] fr.", "[email].", Report{Emails: 1}},
		{"marie{at}acme{dot}fr", "[email]", Report{Emails: 1}},
		{"marie <at> acme <dot> fr", "[email]", Report{Emails: 1}},
		{"marie (@) acme.fr", "[email]", Report{Emails: 1}},
		{"marie @ acme.fr", "[email]", Report{Emails: 1}},
		{"marie@acme dot fr", "[email]", Report{Emails: 1}},
		{"marie arobase acme point fr", "[email]", Report{Emails: 1}},
		{"mon mail : marie.durand arobase acme.fr !", "mon mail : [email] !", Report{Emails: 1}},
		{"marie (arobase) acme (point) fr", "[email]", Report{Emails: 1}},
		{"JEAN DOT DUPONT AT ACME DOT COM", "[email]", Report{Emails: 1}},
		{"jean.dupont at acme.com", "[email]", Report{Emails: 1}},
		{"j_dupont at mail.acme.com", "[email]", Report{Emails: 1}},
		{"jean at acme dot com", "[email]", Report{Emails: 1}},
		{"jean at acme [dot] com", "[email]", Report{Emails: 1}},
		{"écrire à jd@localhost.", "écrire à [email].", Report{Emails: 1}},
		{"marie@acme, merci", "[email], merci", Report{Emails: 1}},
		{"a@b@c", "[email][mention]", Report{Emails: 1, Mentions: 1}},
	})
}

func TestWidthAndInvisibleCharacters(t *testing.T) {
	run(t, []tc{
		{"０６１２３４５６７８", "[phone]", Report{Phones: 1}},
		{"appelle le ０６ １２ ３４ ５６ ７８", "appelle le [phone]", Report{Phones: 1}},
		{"ｊｅａｎ＠ａｃｍｅ．ｆｒ", "[email]", Report{Emails: 1}},
		{"𝟎𝟔 𝟏𝟐 𝟑𝟒 𝟓𝟔 𝟕𝟖", "[phone]", Report{Phones: 1}},
		{"06\u200b12\u200c34\u200d56\u206078\ufeff", "[phone]", Report{Phones: 1}},
		{"jean\u00ad.du\u200bpont@ac\u200dme.fr", "[email]", Report{Emails: 1}},
		{"06\u00a012\u00a034\u00a056\u00a078", "[phone]", Report{Phones: 1}},
		{"06\u202f12\u202f34\u202f56\u202f78", "[phone]", Report{Phones: 1}},
		{"ＦＲ７６　３０００　６０００　０１１２　３４５６　７８９０　１８９", "[iban]", Report{IBANs: 1}},
		// Normalized, with nothing to report.
		{"\ufeffＡＢＣ\u200b ｄｅｆ", "ABC def", Report{}},
		{"café\u00ad", "café", Report{}},
	})
}

func TestNormalizationKeepsText(t *testing.T) {
	for _, s := range []string{
		"12\u00a0% ; « bien\u00a0» : oui\u202f!",
		"1\u202f200\u00a0€",
		"👩\u200d💻 et 🏳\ufe0f\u200d🌈 et 👨\u200d👩\u200d👧 et 🧑🏽\u200d💻",
		"Ça va, Œuvre, naïve, façade, ñ, ü, ß, 日本語, عربي",
		"e\u0301", // decomposed: NFKC composes it into "é", the only change here
	} {
		got, r := Text(s)
		want := s
		if s == "e\u0301" {
			want = "é"
		}
		if got != want || r != (Report{}) {
			t.Errorf("Text(%q) = %q %+v, want %q", s, got, r, want)
		}
	}
	// A zero-width joiner that joins no emoji is removed, even next to one.
	if got, _ := Text("a\u200d😀 😀\u200d1 ™\u200d😀"); got != "a😀 😀1 TM😀" {
		t.Errorf("stray joiners: got %q", got)
	}
}

func TestPhonesWithSlashes(t *testing.T) {
	run(t, []tc{
		{"06/12/34/56/78", "[phone]", Report{Phones: 1}},
		{"tél : 06/12/34/56/78.", "tél : [phone].", Report{Phones: 1}},
		{"le 12/06/2026 au 06/12/34/56/78", "le 12/06/2026 au [phone]", Report{Phones: 1}},
		{"+33/6/12/34/56/78", "[phone]", Report{Phones: 1}},
	})
}

func TestIBANs(t *testing.T) {
	run(t, []tc{
		{"FR76 3000 6000 0112 3456 7890 189", "[iban]", Report{IBANs: 1}},
		{"RIB : FR7630006000011234567890189.", "RIB : [iban].", Report{IBANs: 1}},
		{"fr76 3000 6000 0112 3456 7890 189", "[iban]", Report{IBANs: 1}},
		{"IBAN: DE89 3704 0044 0532 0130 00, merci", "IBAN: [iban], merci", Report{IBANs: 1}},
		{"GB29 NWBK 6016 1331 9268 19", "[iban]", Report{IBANs: 1}},
		{"virement sur BE71 0961 2345 6769 svp", "virement sur [iban] svp", Report{IBANs: 1}},
		{"NL91ABNA0417164300 et CH9300762011623852957", "[iban] et [iban]", Report{IBANs: 1 + 1}},
		{"FR76\u00a03000\u00a06000\u00a00112\u00a03456\u00a07890\u00a0189", "[iban]", Report{IBANs: 1}},
		// The longest prefix that passes the check is the IBAN; what follows stays.
		{"FR76 3000 6000 0112 3456 7890 189 42", "[iban] 42", Report{IBANs: 1}},
		// Not IBANs: wrong check digits, no such country, glued to a word.
		{"ref FR12ABCDEFGHIJKLMNOP", "ref FR12ABCDEFGHIJKLMNOP", Report{}},
		{"ticket ZZ76 3000 6000 1123 4567", "ticket ZZ76 3000 6000 1123 4567", Report{}},
		{"xFR7630006000011234567890189", "xFR7630006000011234567890189", Report{}},
		{"FR7630006 000011234567890189", "FR7630006 000011234567890189", Report{}},
	})
}

func TestCards(t *testing.T) {
	run(t, []tc{
		{"carte 4111 1111 1111 1111 exp 12/27", "carte [card] exp 12/27", Report{Cards: 1}},
		{"4111-1111-1111-1111", "[card]", Report{Cards: 1}},
		{"4111111111111111.", "[card].", Report{Cards: 1}},
		{"amex 3782 822463 10005", "amex [card]", Report{Cards: 1}},
		{"5555555555554444 et 4222222222222", "[card] et [card]", Report{Cards: 1 + 1}},
		{"4111\u00a01111\u00a01111\u00a01111", "[card]", Report{Cards: 1}},
		{"6011 1111 1111 1117 12/28", "[card] 12/28", Report{Cards: 1}},
		// Not cards: Luhn fails, mixed separators, decimals, groups of a phone or an amount.
		{"4111 1111 1111 1112", "4111 1111 1111 1112", Report{}},
		{"4111 1111-1111 1111", "4111 1111-1111 1111", Report{}},
		{"pi = 3.4111111111111111", "pi = 3.4111111111111111", Report{}},
		{"4111111111111111,50 €", "4111111111111111,50 €", Report{}},
		{"12 345 678 901 234", "12 345 678 901 234", Report{}},
	})
}

func TestFollowUpCodes(t *testing.T) {
	const code = "JBSWY3DPEHPK3PXPJBSWY3DPEH"
	run(t, []tc{
		{code, "[code]", Report{Codes: 1}},
		{"mon code `" + code + "` merci", "mon code `[code]` merci", Report{Codes: 1}},
		{"/feedback status " + strings.ToLower(code), "/feedback status [code]", Report{Codes: 1}},
		{"(code:" + code + ").", "(code:[code]).", Report{Codes: 1}},
		{"x_" + code + "_y", "x_[code]_y", Report{Codes: 1}},
		{"ｃｏｄｅ " + strings.Repeat("\u200b", 2) + "ＪＢＳＷＹ３ＤＰＥＨＰＫ３ＰＸＰＪＢＳＷＹ３ＤＰＥＨ", "code [code]", Report{Codes: 1}},
		// Not codes: no digit, no letter, 25 or 27 characters, a digit outside base32, glued
		// to a word.
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", Report{}},
		{"anticonstitutionnellements", "anticonstitutionnellements", Report{}},
		{"23456723456723456723456723", "23456723456723456723456723", Report{}},
		{code[:25], code[:25], Report{}},
		{code + "A", code + "A", Report{}},
		{code[:25] + "8", code[:25] + "8", Report{}},
		{"é" + code, "é" + code, Report{}},
		{code + "9", code + "9", Report{}},
	})
}

// TestWorkplaceTextLeftAlone lists what people write about work, in French and English, that
// none of the rules may touch.
func TestWorkplaceTextLeftAlone(t *testing.T) {
	for _, s := range []string{
		// Dates and times.
		"réunion le 12/06/2026 à 14h30, puis le 13/06/2026 de 9h à 18h",
		"du 01/06/2026 au 30/06/2026",
		"12/06, 1/2 journée, 24/7, 2/3 de l'équipe, note 4/5, page 12/345",
		"on 2026-06-12T10:30:00Z and 10:30-12:45",
		"1er trimestre 2026, exercice 2025/2026, 2024/2025/2026",
		// Percentages, amounts, counts.
		"75 % des collègues, 12,5\u00a0% et 100%",
		"une prime de 1 200 € ou 1\u202f200\u00a0€, 1 200,50 € et 12 000 000 €",
		"$3,500 bonus, €1,200.50, 1,234,567.89 USD",
		"3 colleagues, 12 people, 40 heures par semaine, 35h",
		"budget 2026 : 1 234 567 890 123 €",
		// Versions, references, technical text.
		"go 1.26.7, v2.3.14, build 20260612.3, release 2026.06",
		"ticket JIRA-12345, PR #4512, commit 3f2a9c1e, ISO 9001, RFC 5322",
		"SIRET 123 456 789 00012, code postal 75011",
		"IP 192.168.1.10, port 8080, 10.0.0.1/24",
		"score +12.5 points, x 1.5, 3.14159265358979323846",
		// "at", "dot", "point" in prose.
		"I work at acme.com and the doc is at wiki.acme.com",
		"look at the dot com era, we're at breaking point now",
		"meet at 10.30 in room B, at noon, at 5pm",
		"c'est le point de vue de la direction, point final",
		"rdv @14h, réunion@14h, a @ b, 5 @ 10 €",
		"Let's connect at the offsite (at least 3 of us).",
		// Long words and identifiers that are not codes.
		"anticonstitutionnellement, ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		// Country codes and two digits starting a sentence are no IBAN: prose words are not
		// groups of four.
		"DE12 is the best option we have for the whole team this year",
		"IT25 nous a dit que tout le monde serait content de venir demain",
	} {
		got, r := Text(s)
		if got != s || r != (Report{}) {
			t.Errorf("Text(%q) = %q %+v, want it unchanged", s, got, r)
		}
	}
}

// TestSeedsAreValid checks the identifiers the fuzz tests start from with code written
// independently of the package: IBANs with big-integer arithmetic, cards with the Luhn sum.
func TestSeedsAreValid(t *testing.T) {
	for _, iban := range ibanSeeds {
		moved := iban[4:] + iban[:4]
		var digits strings.Builder
		for _, c := range moved {
			if c >= 'A' && c <= 'Z' {
				digits.WriteString(big.NewInt(int64(c - 'A' + 10)).String())
			} else {
				digits.WriteRune(c)
			}
		}
		n, ok := new(big.Int).SetString(digits.String(), 10)
		if !ok || new(big.Int).Mod(n, big.NewInt(97)).Int64() != 1 {
			t.Errorf("seed IBAN %s fails mod 97", iban)
		}
	}
	for _, card := range cardSeeds {
		sum := 0
		for i := range card {
			d := int(card[len(card)-1-i] - '0')
			if i%2 == 1 && d != 9 {
				d = d * 2 % 9 // the digit sum of 2d, for d < 9
			}
			sum += d
		}
		if sum%10 != 0 {
			t.Errorf("seed card %s fails Luhn", card)
		}
	}
}
