package gateway

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
)

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"command=%2Ffeedback&text=hello&user_id=U1&team_id=T1&trigger_id=1.2.abc",
		"command=/feedback&user_id=U1",
		"command=%2Ffeedback&user_id=U1&user_id=U2",
		"command=%2Ffeedback&text=%zz&user_id=U1",
		"command=%2Ffeedback;user_id=U1",
		"text=" + strings.Repeat("a", 100),
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := parseCommand(body)
		if err != nil {
			return
		}
		// Whatever passes is what the handlers rely on.
		if !commandRule.MatchString(c.Command) || !idRule.MatchString(c.UserID) {
			t.Fatalf("accepted command %q, user %q", c.Command, c.UserID)
		}
		if c.TeamID != "" && !idRule.MatchString(c.TeamID) {
			t.Fatalf("accepted team %q", c.TeamID)
		}
		if !utf8.ValidString(c.Text) || len(c.Text) > maxTextBytes || len(c.TriggerID) > maxIDBytes {
			t.Fatalf("accepted text of %d bytes or trigger of %d", len(c.Text), len(c.TriggerID))
		}
		// And it is what the form said, field by field, each exactly once.
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("parseCommand accepted what url.ParseQuery refuses: %v", err)
		}
		for k, v := range map[string]string{"command": c.Command, "user_id": c.UserID} {
			if len(vals[k]) != 1 || vals[k][0] != v {
				t.Fatalf("%s = %q, form has %q", k, v, vals[k])
			}
		}
	})
}

func FuzzVerify(f *testing.F) {
	secret := []byte("8f742231b10e8888abcd99yyyzzz85a5")
	now := time.Unix(1_800_000_000, 0)
	f.Add([]byte("command=%2Ffeedback&text=hi&user_id=U1"), "1800000000", "", 0)
	f.Add([]byte(""), "1799999700", "v0=00", 3)
	f.Add([]byte("x"), "-1", "v0=", 1)
	f.Fuzz(func(t *testing.T, body []byte, ts, sig string, flip int) {
		// Arbitrary input never verifies unless it is the real signature, and never panics.
		if err := verify(secret, ts, sig, body, now); err == nil && sig != sign(secret, ts, body) {
			t.Fatalf("verified a signature that is not the MAC: ts %q sig %q", ts, sig)
		}
		// A fresh, correct signature verifies; any change to the body breaks it.
		fresh := "1800000000"
		good := sign(secret, fresh, body)
		if err := verify(secret, fresh, good, body, now); err != nil {
			t.Fatalf("a correct signature was refused: %v", err)
		}
		if len(body) > 0 {
			tampered := append([]byte(nil), body...)
			i := (flip%len(body) + len(body)) % len(body)
			tampered[i] ^= 0x01
			if verify(secret, fresh, good, tampered, now) == nil {
				t.Fatal("a tampered body verified")
			}
		}
		if verify(secret, "1799999699", sign(secret, "1799999699", body), body, now) == nil {
			t.Fatal("a signature older than 5 minutes verified")
		}
	})
}

func FuzzParseAnswers(f *testing.F) {
	qs := []*pulsev1.PendingQuestion{
		{Id: "s", Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE},
		{Id: "e", Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS},
		{Id: "c", Kind: commonv1.QuestionKind_QUESTION_KIND_CHOICE, Multiple: true, Options: []*pulsev1.PendingOption{{Id: "x"}, {Id: "y"}}},
		{Id: "t", Kind: commonv1.QuestionKind_QUESTION_KIND_TEXT},
	}
	for _, s := range []string{"4; 9; a,b; fine", "-; -; -; -", "1;0;b;", "5; 10; a; a;b;c", "", ";;;", "4; 9; c; x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := parseAnswers(qs, s)
		if err != nil {
			return
		}
		for _, a := range as {
			switch v := a.Value.(type) {
			case *pulsev1.Answer_Scale:
				if a.QuestionId != "s" || v.Scale < 1 || v.Scale > 5 {
					t.Fatalf("scale answer %v", a)
				}
			case *pulsev1.Answer_Enps:
				if a.QuestionId != "e" || v.Enps < 0 || v.Enps > 10 {
					t.Fatalf("eNPS answer %v", a)
				}
			case *pulsev1.Answer_Choice:
				if a.QuestionId != "c" || len(v.Choice.OptionIds) == 0 {
					t.Fatalf("choice answer %v", a)
				}
				for _, id := range v.Choice.OptionIds {
					if id != "x" && id != "y" {
						t.Fatalf("choice of unknown option %q", id)
					}
				}
			case *pulsev1.Answer_Text:
				if a.QuestionId != "t" {
					t.Fatalf("text answer %v", a)
				}
			default:
				t.Fatalf("answer without value %v", a)
			}
		}
	})
}

// FuzzParseFeedback: the parser never panics; a text whose first word is status or reply and
// whose second word has the shape of a code is never a comment; no comment holds a code shape;
// codes handed to the service are upper-case base32.
func FuzzParseFeedback(f *testing.F) {
	for _, s := range []string{
		"status " + testCode,
		"status `" + strings.ToLower(testCode) + "`.",
		"Reply\t" + testCode + "\nmore",
		"reply " + testCode,
		"status update: the build is slow",
		"team Acme/Ops",
		"team acme/eng please",
		"lang fr",
		"my code is " + testCode,
		"&lt;" + testCode + "&gt;",
		"/feedback status " + testCode,
		"status\u200b" + testCode,
		"“status” «" + testCode + "»",
		"",
		"\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		in := parseFeedback(text)
		if in.verb == verbComment {
			if in.text == "" || containsCodeShape(in.text) || containsCodeShape(text) {
				t.Fatalf("%q is a comment %q holding a code shape or empty", text, in.text)
			}
		}
		if in.verb == verbStatus || in.verb == verbReply {
			if len(in.code) != codeLen || strings.ToUpper(in.code) != in.code || !isCodeShape(in.code) {
				t.Fatalf("%q gave the code %q", text, in.code)
			}
		}
		if in.verb == verbReply && strings.TrimSpace(in.arg) == "" {
			t.Fatalf("%q: a reply without text", text)
		}
		// Compute the first two words independently of the parser's own path.
		words := strings.FieldsFunc(unescapeSlack(text), isSeparator)
		if len(words) > 0 && strings.EqualFold(strings.Trim(words[0], wrapping), "/feedback") {
			words = words[1:]
		}
		if len(words) >= 2 {
			first := strings.ToLower(strings.Trim(words[0], wrapping))
			if (first == "status" || first == "reply") && isCodeShape(strings.Trim(words[1], wrapping)) && in.verb == verbComment {
				t.Fatalf("%q: %s followed by a code was filed as a comment", text, first)
			}
		}
	})
}

// FuzzSlackText: redacted log text holds no code shape, and escaping for Slack leaves no raw
// control character and round-trips.
func FuzzSlackText(f *testing.F) {
	for _, s := range []string{testCode, "a " + testCode + "b " + testCode, "<!channel> & <@U1|jo>", "&amp;lt;", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r := redactCodes(s); containsCodeShape(r) {
			t.Fatalf("redactCodes(%q) = %q still holds a code shape", s, r)
		}
		e := escapeSlack(s)
		if strings.ContainsAny(e, "<>") || unescapeSlack(e) != s {
			t.Fatalf("escapeSlack(%q) = %q", s, e)
		}
	})
}
