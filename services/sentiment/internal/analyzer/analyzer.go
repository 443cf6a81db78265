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
// and are overridden where workplace usage differs. It has no model to train and no
// state between calls, so a score can always be explained word by word.
package analyzer

import (
	"io"
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
	Score      float64 // in [-1, 1]
	Label      Label
	Language   string         // "fr" or "en"
	Dimensions []DimensionHit // in Dimension order, no duplicates; empty when none found
	Emotion    Emotion
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
	return max(-1, min(1, sum/math.Sqrt(sum*sum+15)))
}

// language is everything the analyzer knows about one language.
type language struct {
	name     string
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
}

// New returns an analyzer; defaultLang ("fr" or "en"; anything else means "en") is used
// for texts too short or ambiguous to tell, which is the organisation's language. It
// parses the embedded data files, which is why callers should build one analyzer and
// keep it.
func New(defaultLang string) *Analyzer {
	if defaultLang != "fr" {
		defaultLang = "en"
	}
	dims := mustParse("dimensions.tsv", func(r io.Reader) (map[string]table[Dimension], error) {
		return parseKeyed(r, parseDimension)
	})
	emotions := mustParse("emotions.tsv", func(r io.Reader) (map[string]table[Emotion], error) {
		return parseKeyed(r, parseEmotion)
	})
	return &Analyzer{
		defaultLang: defaultLang,
		fr: language{name: "fr", lex: loadLexicon("fr", "lexicon_fr.tsv"), authored: loadLexicon("fr", "lexicon_fr.tsv"),
			dims: dims["fr"], emotions: emotions["fr"]},
		en: language{name: "en", lex: loadLexicon("en", "vader_en.tsv", "lexicon_en.tsv"), authored: loadLexicon("en", "lexicon_en.tsv"),
			dims: dims["en"], emotions: emotions["en"]},
		emoji: mustParse("emoji.tsv", parseEmoji),
	}
}

// Analyze scores text. It never panics and accepts any string, invalid UTF-8 included.
func (a *Analyzer) Analyze(text string) Result {
	t := tokenize(stripMarkup(text))
	lang := a.detect(t)
	primary, secondary := &a.en, &a.fr
	if lang == "fr" {
		primary, secondary = &a.fr, &a.en
	}
	s := a.score(t, primary, secondary)
	res := Result{Score: normalize(s.total), Language: lang, Emotion: a.emotion(t.toks, s, primary, secondary)}
	res.Label = labelOf(res.Score)
	res.Dimensions = dimensions(t.toks, s, primary, secondary)
	return res
}
