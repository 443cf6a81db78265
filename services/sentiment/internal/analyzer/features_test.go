package analyzer

import (
	"strings"
	"testing"
)

// TestScopes checks the scopes phase 1 reads words in: negation, after a contrast,
// irrealis (what is wished for) and question sentences. Each word of want is marked
// "word:bits" with n negation, a after contrast, i irrealis, q question.
func TestScopes(t *testing.T) {
	tests := []struct{ text, want string }{
		{"it would be nice if we were heard", "it would be:i nice:i if:i we:i were:i heard:i"},
		{"management needs to listen. great team", "management needs to:i listen:i great team"},
		{"if you need help, ask", "if you need help ask"},
		{"on devrait être mieux payés", "on devrait etre:i mieux:i payes:i"},
		{"why do we keep having meetings? great team!", "why:q do:q we:q keep:q having:q meetings:q great team"},
		{"great team. why so many meetings?", "great team why:q so:q many:q meetings:q"},
		{"I would not recommend it but the pay is ok", "i would not:i recommend:ni it:ni pay:a is:a ok:a"},
	}
	for _, tt := range tests {
		toks := tokenize(tt.text).toks
		scope := markScopes(nil, toks)
		var got []string
		for i, tk := range toks {
			if tk.boundary || (tk.w == "but" || tk.w == "the") {
				continue
			}
			m := ""
			for _, s := range []struct {
				bit uint8
				c   string
			}{{scopeNeg, "n"}, {scopeAfter, "a"}, {scopeIrr, "i"}, {scopeQ, "q"}} {
				if scope[i]&s.bit != 0 {
					m += s.c
				}
			}
			if m != "" {
				got = append(got, tk.w+":"+m)
			} else {
				got = append(got, tk.w)
			}
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("scopes of %q:\n got %s\nwant %s", tt.text, g, tt.want)
		}
	}
}

// TestSlotOf checks that hashed features spread over the slots: no slot of a small
// table gets more than a few times its share of the distinct features of training
// comments.
func TestSlotOf(t *testing.T) {
	const bits = 10
	var count [1 << bits]int
	a := newRules("en")
	var b fbuf
	seen := map[uint64]bool{}
	n := 0
	for _, ex := range trainingSample(t) {
		stripped := stripMarkup(ex.Text)
		tk := tokenizeWith(stripped, a.words)
		a.lookup(tk.toks)
		a.phase1(&b, featConfig{Set: defaultFeatures.Set | fWordChars, CharMin: 3, CharMax: 4}, stripped, &tk)
		for _, k := range b.keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			s := slotOf(k, bits)
			if s >= 1<<bits {
				t.Fatalf("slotOf(%x, %d) = %d", k, bits, s)
			}
			count[s]++
			n++
		}
	}
	mean := float64(n) / (1 << bits)
	for s, c := range count {
		if float64(c) > 3*mean+10 {
			t.Errorf("slot %d holds %d features, mean %.1f", s, c, mean)
		}
	}
}

// TestWordGrams checks wordGrams against the plain definition: every n-gram of
// " w " with n in [CharMin, CharMax], keyed by FNV-1a of its bytes from nsChar.
func TestWordGrams(t *testing.T) {
	for _, w := range []string{"a", "ok", "equipe", "deborde", strings.Repeat("x", 70), "n'importe"} {
		for _, cfg := range []featConfig{{CharMin: 3, CharMax: 4}, {CharMin: 3, CharMax: 5}, {CharMin: 2, CharMax: 2}} {
			var b fbuf
			b.keys, b.vals = append(b.keys, 42), append(b.vals, 0.5) // features before the block stay
			b.wordGrams(w, cfg)
			p := " " + w + " "
			want := []uint64{42}
			for i := range p {
				for n := cfg.CharMin; n <= cfg.CharMax && i+n <= len(p); n++ {
					h := uint64(nsChar)
					for _, c := range []byte(p[i : i+n]) {
						h = (h ^ uint64(c)) * hashPrime
					}
					want = append(want, h)
				}
			}
			if len(b.keys) != len(want) || len(b.vals) != len(want) || b.vals[0] != 0.5 {
				t.Fatalf("wordGrams(%q, %d-%d): %d keys, %d values, want %d", w, cfg.CharMin, cfg.CharMax, len(b.keys), len(b.vals), len(want))
			}
			for i := range want {
				if b.keys[i] != want[i] || (i > 0 && b.vals[i] != 1) {
					t.Fatalf("wordGrams(%q, %d-%d): feature %d is %x (%v), want %x (1)", w, cfg.CharMin, cfg.CharMax, i, b.keys[i], b.vals[i], want[i])
				}
			}
		}
	}
}
