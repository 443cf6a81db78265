package analyzer

import (
	"fmt"
	"strings"
	"testing"
)

// The fast paths Analyze takes must say exactly what the plain ones say: the word
// index against the tables it replaces, statsOf against the string functions it
// folds into one pass. Every training comment is an input.

// TestWordIndexMatchesTables compares scoring, emotion and dimensions through the word
// index (tokenizeWith, lookup) with the plain table lookups (tokenize).
func TestWordIndexMatchesTables(t *testing.T) {
	exs, err := ReadTrainingCorpus("corpus")
	if err != nil {
		t.Fatal(err)
	}
	a := newRules("fr")
	extra := []string{"goooood job", "suuuper contente", "GÉNIAL", "burn-out", "ras le bol", "pas mal du tout", "the performance reviews"}
	texts := extra
	for _, ex := range exs {
		texts = append(texts, ex.Text)
	}
	bad := 0
	for _, text := range texts {
		for _, lang := range []string{"fr", "en"} {
			primary, secondary := &a.en, &a.fr
			if lang == "fr" {
				primary, secondary = &a.fr, &a.en
			}
			t1 := tokenize(stripMarkup(text))
			s1 := a.score(t1, primary, secondary)
			e1 := a.emotion(t1.toks, s1, primary, secondary)
			d1 := fmt.Sprint(dimensions(t1.toks, s1, primary, secondary))
			t2 := tokenizeWith(stripMarkup(text), a.words)
			a.lookup(t2.toks)
			s2 := a.score(t2, primary, secondary)
			e2 := a.emotion(t2.toks, s2, primary, secondary)
			d2 := fmt.Sprint(dimensions(t2.toks, s2, primary, secondary))
			if s1.total != s2.total || e1 != e2 || d1 != d2 {
				bad++
				if bad < 10 {
					t.Errorf("%s %q: %v %v %v / %v %v %v", lang, text, s1.total, e1, d1, s2.total, e2, d2)
				}
			}
		}
	}
	t.Logf("%d texts, %d differ", len(texts), bad)
}

// TestStatsOf compares statsOf with the string functions it replaces.
func TestStatsOf(t *testing.T) {
	exs, err := ReadTrainingCorpus("corpus")
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"a?", "a? »", "a ?!", "a?)", "« a? »", "...", "a…", "“x”", "12", "?.", "a?b", ""}
	for _, ex := range exs {
		texts = append(texts, ex.Text)
	}
	for _, text := range texts {
		st := statsOf(text)
		q := strings.Count(text, "?")
		end := strings.HasSuffix(strings.TrimRight(text, " \t\n\r.!)\"'»"), "?")
		quote := strings.ContainsAny(text, "\"«“")
		ell := strings.Contains(text, "...") || strings.Contains(text, "…")
		dig := strings.ContainsAny(text, "0123456789")
		if st.questions != q || st.endsWithQuestion != end || st.quote != quote || st.ellipsis != ell || st.digits != dig {
			t.Errorf("%q: %+v vs %v %v %v %v %v", text, st, q, end, quote, ell, dig)
		}
	}
}
