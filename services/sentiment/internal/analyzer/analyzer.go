// Package analyzer scores short workplace comments in French and English: it owns the
// word lists, the text normalisation and the scoring rules that turn one comment into a
// score in [-1, 1], a three-way label and a language.
//
// This is the first, deliberately simple analyzer: hand-authored lexicons plus a few
// VADER rules (negation, intensifiers, "but", "!", the compound normalisation), so that
// the service has honest scores to aggregate before a full VADER-style analyzer
// replaces it. Its scores are rough on sarcasm, emoji and long texts.
package analyzer

import (
	"math"
	"strconv"
)

// Label is the three-way sentiment class; the values match rollup.Label so callers can convert.
type Label int

// Labels.
const (
	Negative Label = -1
	Neutral  Label = 0
	Positive Label = 1
)

func (l Label) String() string {
	switch l {
	case Negative:
		return "negative"
	case Neutral:
		return "neutral"
	case Positive:
		return "positive"
	}
	return "Label(" + strconv.Itoa(int(l)) + ")"
}

// Result is the analysis of one text.
type Result struct {
	Score    float64 // in [-1, 1]
	Label    Label
	Language string // "fr" or "en"
}

// labelThreshold is VADER's: scores this close to zero say too little to call.
const labelThreshold = 0.05

// Analyzer holds the parsed lexicons. It is immutable after New, so one instance is
// shared by every goroutine of the service.
type Analyzer struct {
	defaultLang string
	fr, en      lexicon
	maxLen      int
}

// New returns an analyzer; defaultLang ("fr" or "en"; anything else means "en") is used
// for texts too short or ambiguous to tell. It parses the embedded lexicons, which is
// why callers should build one analyzer and keep it.
func New(defaultLang string) *Analyzer {
	if defaultLang != "fr" {
		defaultLang = "en"
	}
	a := &Analyzer{defaultLang: defaultLang, fr: loadLexicon("lexicon_fr.tsv"), en: loadLexicon("lexicon_en.tsv")}
	a.maxLen = max(a.fr.maxLen, a.en.maxLen, maxIdiomLen)
	return a
}

// unit is a scored position: one token, or a phrase (idiom or multi-word entry).
type unit struct {
	w         string // token or phrase; "" for a boundary
	val       float64
	sentiment bool // val counts
	fixed     bool // idiom: modifiers do not apply
	boundary  bool
}

// Analyze scores text. It never panics and accepts any string, invalid UTF-8 included.
func (a *Analyzer) Analyze(text string) Result {
	t := tokenize(text)
	lang := a.detect(t)
	primary, secondary := &a.en, &a.fr
	if lang == "fr" {
		primary, secondary = &a.fr, &a.en
	}
	units := a.units(t.toks, primary, secondary)

	// A word that is both praise and an intensifier ("super", "bien") intensifies when a
	// sentiment word follows: "super content" is one strong feeling, not two.
	for i := range units[:max(len(units)-1, 0)] {
		if units[i].sentiment && boost("", units[i].w) > 0 && units[i+1].sentiment && !units[i+1].fixed {
			units[i].sentiment = false
		}
	}

	pivot := -1 // last contrast word: the conclusion usually comes last
	for i, u := range units {
		if contrasts(prev(units, i), u.w) {
			pivot = i
		}
	}

	sum := 0.0
	for i, u := range units {
		if !u.sentiment {
			continue
		}
		v := u.val
		if !u.fixed {
			v = a.modify(units, i, v, lang)
		}
		switch {
		case pivot < 0:
		case i < pivot:
			v *= contrastLo
		case i > pivot:
			v *= contrastHi
		}
		sum += v
	}
	if sum != 0 {
		e := float64(min(t.bangs, maxBangs)) * bangStep
		if sum > 0 {
			sum += e
		} else {
			sum -= e
		}
	}
	score := max(-1, min(1, sum/math.Sqrt(sum*sum+15))) // VADER's compound
	label := Neutral
	switch {
	case score >= labelThreshold:
		label = Positive
	case score <= -labelThreshold:
		label = Negative
	}
	return Result{Score: score, Label: label, Language: lang}
}

// modify applies the intensifiers and negators among the three units before i, VADER
// style, stopping at punctuation and at "but" since they end the clause.
func (a *Analyzer) modify(units []unit, i int, v float64, lang string) float64 {
	negated := false
	decay := [...]float64{1, 0.95, 0.9}
	for k := 1; k <= 3 && i-k >= 0; k++ {
		j := i - k
		u := units[j]
		if u.boundary || u.fixed || contrasts(prev(units, j), u.w) {
			break
		}
		if negates(prev(units, j), u.w, next(units, j), lang) {
			negated = true // even a sentiment word: "manque de reconnaissance"
		}
		if u.sentiment {
			continue
		}
		if s := boost(prev(units, j), u.w) * decay[k-1]; s != 0 {
			if v < 0 {
				s = -s
			}
			v += s
		}
	}
	if negated {
		v *= negScalar
	}
	return v
}

func prev(units []unit, i int) string {
	if i == 0 {
		return ""
	}
	return units[i-1].w
}

func next(units []unit, i int) string {
	if i+1 >= len(units) {
		return ""
	}
	return units[i+1].w
}

// units groups tokens into idioms and multi-word entries, and looks every word up in
// the text's language first, then in the other one, because people mix languages
// ("le burnout", "c'est top, thanks").
func (a *Analyzer) units(toks []token, primary, secondary *lexicon) []unit {
	units := make([]unit, 0, len(toks))
	for i := 0; i < len(toks); {
		tk := toks[i]
		if tk.boundary {
			units = append(units, unit{boundary: true})
			i++
			continue
		}
		if u, n := a.phrase(toks[i:], primary, secondary); n > 0 {
			units = append(units, u)
			i += n
			continue
		}
		u := unit{w: tk.w}
		for _, l := range [...]*lexicon{primary, secondary} {
			if v, ok := l.word(tk.w); ok {
				u.val, u.sentiment = v, true
			} else if v, ok := l.word(tk.alt); ok && tk.alt != "" {
				u.val, u.sentiment = v, true
			} else {
				continue
			}
			break
		}
		u.sentiment = u.sentiment && u.val != 0 // zero entries only stop the fallback
		units = append(units, u)
		i++
	}
	return units
}

// phrase matches the longest idiom or multi-word lexicon entry at the start of toks
// and returns it with the number of tokens it covers, or 0.
func (a *Analyzer) phrase(toks []token, primary, secondary *lexicon) (unit, int) {
	head := toks[0].w
	isIdiom := idiomHead(head)
	if !isIdiom && !primary.heads[head] && !secondary.heads[head] {
		return unit{}, 0
	}
	for n := min(a.maxLen, len(toks)); n >= 2; n-- {
		key := head
		ok := true
		for _, t := range toks[1:n] {
			if t.boundary {
				ok = false
				break
			}
			key += " " + t.w
		}
		if !ok {
			continue
		}
		if v, ok := idiom(key); ok && isIdiom {
			return unit{w: key, val: v, sentiment: v != 0, fixed: true}, n
		}
		for _, l := range [...]*lexicon{primary, secondary} {
			if v, ok := l.words[key]; ok {
				return unit{w: key, val: v, sentiment: v != 0}, n
			}
		}
	}
	return unit{}, 0
}

// detect votes with function words and elisions/contractions; too few votes or a tie
// leaves the organisation's language, which is the best guess for "ok" or "top".
func (a *Analyzer) detect(t tokenized) string {
	fr, en := t.fr, t.en
	for _, tk := range t.toks {
		if frenchWord(tk.w) {
			fr++
		}
		if englishWord(tk.w) {
			en++
		}
	}
	switch {
	case fr+en < 2 || fr == en:
		return a.defaultLang
	case fr > en:
		return "fr"
	}
	return "en"
}
