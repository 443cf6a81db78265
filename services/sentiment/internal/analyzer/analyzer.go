// Package analyzer scores short workplace comments in French and English: it owns the
// word lists, the text normalisation and the rules that turn one comment into a score
// in [-1, 1], a three-way label, a language, the dimensions of employee experience it
// talks about and the emotion it mostly expresses.
//
// Scoring follows VADER (Hutto and Gilbert, 2014): per-word valences on a -4..+4 scale,
// shifted by intensifiers and dampeners, flipped and shrunk by negation, weighted
// towards the clause after a contrast word, emphasised by capitals and "!", and
// squashed into [-1, 1] by VADER's compound normalisation. French gets the same rules
// with its own function words (ne … pas, spoken negation without ne, mais, par contre)
// and a lexicon written for this project; English valences start from VADER's lexicon
// and are overridden where workplace usage differs. These rules feed the learned model
// (model.go, trained by train/ on corpus/), which gives the label, the class
// probabilities, the language and the risk flags; dimensions and emotion come from
// the rules alone. Nothing is kept between calls. README.md has the figures.
package analyzer

import (
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
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
	Score      float64        // in [-1, 1]: Probabilities.Positive − Probabilities.Negative
	Label      Label          // the most probable class
	Language   string         // "fr" or "en"
	Dimensions []DimensionHit // in Dimension order, no duplicates; empty when none found
	Emotion    Emotion

	Probabilities Probabilities // the model's confidence in each class
	Risks         Risk          // flags HR must see: harassment, intent to quit, distress, safety
}

// Probabilities are the model's probabilities of the three classes; they sum to 1.
type Probabilities struct {
	Negative, Neutral, Positive float64
}

// label is the most probable class; ties go to neutral, then to negative.
func (p Probabilities) label() Label {
	switch {
	case p.Neutral >= p.Negative && p.Neutral >= p.Positive:
		return Neutral
	case p.Negative >= p.Positive:
		return Negative
	}
	return Positive
}

// labelThreshold is VADER's: scores this close to zero say too little to call.
const labelThreshold = 0.05

func labelOf(score float64) Label {
	switch {
	case score >= labelThreshold:
		return Positive
	case score <= -labelThreshold:
		return Negative
	}
	return Neutral
}

// normalize is VADER's compound: sum/sqrt(sum²+α) with α = 15, so that one strong word
// scores about 0.6 and further words add less and less.
func normalize(sum float64) float64 {
	return max(-1, min(1, sum/math.Sqrt(float64(sum*sum)+15))) // float64(): no fused multiply-add, same bits on every CPU
}

// language is everything the analyzer knows about one language.
type language struct {
	name     string
	idx      int     // 0 for French, 1 for English: its slot in wordInfo
	lex      lexicon // full lexicon, VADER's entries included for English
	authored lexicon // entries written for this project: the only ones lent to the other language
	dims     table[Dimension]
	emotions table[Emotion]
}

// Analyzer holds the parsed data files. It is immutable after New, so one instance is
// shared by every goroutine of the service.
type Analyzer struct {
	defaultLang string
	fr, en      language
	emoji       map[string]emojiEntry
	words       map[string]*wordInfo // every spelling the tables match
	model       *model               // nil only while the trainer vectorizes
}

// New returns an analyzer; defaultLang ("fr" or "en"; anything else means "en") is used
// for texts too short or ambiguous to tell, which is the organisation's language. It
// parses the embedded data files, which is why callers should build one analyzer and
// keep it.
func New(defaultLang string) *Analyzer {
	a := newRules(defaultLang)
	a.model = embedded()
	return a
}

// newRules returns an analyzer without its model: the rule engine, which the trainer
// needs to compute the features it learns from.
func newRules(defaultLang string) *Analyzer {
	if defaultLang != "fr" {
		defaultLang = "en"
	}
	a := *parsedRules()
	a.defaultLang = defaultLang
	return &a
}

// parsedRules parses the embedded data files once; every Analyzer shares them, read only.
var parsedRules = sync.OnceValue(func() *Analyzer {
	dims := mustParse("dimensions.tsv", func(r io.Reader) (map[string]table[Dimension], error) {
		return parseKeyed(r, parseDimension)
	})
	emotions := mustParse("emotions.tsv", func(r io.Reader) (map[string]table[Emotion], error) {
		return parseKeyed(r, parseEmotion)
	})
	a := &Analyzer{
		fr: language{name: "fr", idx: 0, lex: loadLexicon("fr", "lexicon_fr.tsv"), authored: loadLexicon("fr", "lexicon_fr.tsv"),
			dims: dims["fr"], emotions: emotions["fr"]},
		en: language{name: "en", idx: 1, lex: loadLexicon("en", "vader_en.tsv", "lexicon_en.tsv"), authored: loadLexicon("en", "lexicon_en.tsv"),
			dims: dims["en"], emotions: emotions["en"]},
		emoji: mustParse("emoji.tsv", parseEmoji),
	}
	a.words = buildWordIndex(&a.fr, &a.en)
	return a
})

var bufPool = sync.Pool{New: func() any { return new(fbuf) }}

// Analyze scores text. It never panics and accepts any string, invalid UTF-8 included.
//
// The label and probabilities come from the learned model (model.go), which reads the
// text's words and character n-grams, negation and contrast scopes, and what the rule
// engine makes of it; dimensions and emotion come from the rules alone.
func (a *Analyzer) Analyze(text string) Result {
	stripped := stripMarkup(text)
	b := bufPool.Get().(*fbuf)
	defer bufPool.Put(b)
	t := tokenizeInto(&b.tok, stripped, a.words)
	a.lookup(t.toks)
	m := a.model

	var z [nCols]float32
	a.phase1(b, m.cfg, stripped, &t)
	m.accumulateSpans(b.keys[:b.phase], b.vals[:b.phase], b.uniform, 0, &z)
	lang := a.language(&t, z[colLang]*m.scale[colLang])

	primary, secondary := &a.en, &a.fr
	if lang == "fr" {
		primary, secondary = &a.fr, &a.en
	}
	s := a.scoreInto(&b.scored, t, primary, secondary)
	res := Result{Language: lang, Emotion: a.emotion(t.toks, s, primary, secondary)}
	res.Dimensions = dimensions(t.toks, s, primary, secondary)
	if !hasContent(&t) {
		res.Probabilities = Probabilities{Neutral: 1}
		return res
	}
	a.phase2(b, m.cfg, &t, &s, strings.IndexByte(stripped, '?') >= 0)
	m.accumulateSpans(b.keys[b.phase:], b.vals[b.phase:], b.uniform, b.phase, &z)

	var zs [nClasses]float64
	for c := range zs {
		zs[c] = float64(z[c] * m.scale[c])
	}
	mx := max(zs[0], zs[1], zs[2])
	e0, e1, e2 := math.Exp(zs[0]-mx), math.Exp(zs[1]-mx), math.Exp(zs[2]-mx)
	sum := e0 + e1 + e2
	res.Probabilities = Probabilities{Negative: e0 / sum, Neutral: e1 / sum, Positive: e2 / sum}
	res.Label = res.Probabilities.label()
	res.Score = max(-1, min(1, res.Probabilities.Positive-res.Probabilities.Negative))
	var raw Risk
	for i, f := range riskFlags {
		if z[colRisk+i]*m.scale[colRisk+i] >= m.thresholds[i] {
			raw |= f
		}
	}
	if raw != 0 && res.Probabilities.Negative < riskGateNegative {
		raw = gateRisks(raw, res.Probabilities.Negative, riskCues(t.toks, b.scope), riskGateNegative)
	}
	res.Risks = raw
	return res
}

// hasContent says the text has a word or an emoji: anything else is neutral.
func hasContent(t *tokenized) bool {
	for _, tk := range t.toks {
		if !tk.boundary {
			return true
		}
	}
	return false
}

// language reads the model's language score (the logit of French), shifted toward
// the organisation's language. A text of one or two words with no cue of either
// language, or as many of each ("ok", "top", "le the"), keeps the organisation's
// language: the model's score on so little is the training corpus's habits (its
// French writer says "top" more often), not evidence.
func (a *Analyzer) language(t *tokenized, logit float32) string {
	if t.words == 0 || noLanguageCue(t) {
		return a.defaultLang
	}
	if a.defaultLang == "fr" {
		logit += a.model.prior
	} else {
		logit -= a.model.prior
	}
	if logit > 0 {
		return "fr"
	}
	return "en"
}

// noLanguageCue says a text of at most two words has as many cues of French (elisions,
// accents, French function words) as of English (contractions, English function
// words), every other word being one both languages use ("ok", "super").
func noLanguageCue(t *tokenized) bool {
	if t.words > 2 {
		return false
	}
	fr, en := t.fr, t.en
	for _, tk := range t.toks {
		if tk.boundary || tk.emoji {
			continue
		}
		switch {
		case sharedWord(tk.w):
		case frenchWord(tk.w):
			fr++
		case englishWord(tk.w):
			en++
		default:
			return false
		}
	}
	return fr == en
}

// sharedWord is a word French and English workplace comments both use as is.
func sharedWord(w string) bool {
	switch w {
	case "ok", "okay", "ko", "top", "super", "cool", "bravo", "go", "stop", "wow", "lol", "re":
		return true
	}
	return false
}
