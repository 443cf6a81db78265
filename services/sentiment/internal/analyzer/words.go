package analyzer

import "strings"

// Function words are code, not data: each needs a context rule the TSV format cannot say.

// wordClass says which function-word lists hold a spelling: the words index
// (words_index.go) records it per spelling, so that the rules and the features skip
// the functions below for the many words that are in none of their lists, which
// string switches make costly to rule out one by one.
type wordClass uint16

const (
	clsScope     wordClass = 1 << iota // a case of contrasts, contrastWord, concessive, featureNegator or irrealis (markScopes)
	clsModify                          // a case of boost, contrasts, negates or lessens (unitRules)
	clsBoost                           // a case of boost
	clsFrench                          // a case of frenchWord: frenchWord is true
	clsEnglish                         // a case of englishWord: englishWord is true
	clsIdiom                           // a case of idiomHead: idiomHead is true
	clsKeyword                         // keywordFamily may name a family, for some next word
	clsStretched                       // stretched(w): the tokenizer squeezes it rather than take it from the index
	clsKnown                           // set on every spelling of the index: the bits above are its own
)

// classWords lists the words of each class, every case of the switches on w of the
// functions named: a word outside a class's list makes them false whatever the words
// around it. TestWordClasses reads the switches in the source and compares.
var classWords = [...]struct {
	cls   wordClass
	words string
}{
	{clsScope | clsModify, `mais cependant pourtant toutefois neanmoins but however contre revanche`}, // contrasts
	{clsScope, `yet sauf whereas tandis`},                             // contrastWord
	{clsScope, `although though despite malgre quoique meme bien if`}, // concessive
	{clsScope | clsModify, `ne pas jamais rien aucun aucune sans ni guere non zero not no never nothing nobody none
		neither nor without cannot nope rarely seldom dont doesnt didnt isnt arent wasnt werent cant couldnt wont
		wouldnt shouldnt havent hasnt hadnt aint absence difficile dur impossible hard difficult tough manque lack
		lacking peu plus`}, // negates
	{clsScope, `personne nowhere hardly lacks impossible unable`}, // featureNegator
	{clsScope, `would should could wish wished hopefully ideally devrait devraient devrions faudrait pourrait
		pourraient aimerais aimerait aimerions voudrais voudrait souhaiterais souhaiterait serait seraient need
		needs hope`}, // irrealis
	{clsModify | clsBoost, `tres vraiment trop super hyper tellement extremement totalement completement vachement
		bien particulierement absolument grave carrement archi ultra beaucoup very really so extremely pretty way
		quite seriously insanely crazy damn totally completely absolutely incredibly truly deeply highly especially
		particularly plutot assez moyennement legerement kinda somewhat slightly fairly sorta barely peu bit little
		of`}, // boost
	{clsModify, `moins less`}, // lessens
	{clsIdiom, `pas aucun sans en not no cannot trop too way merci thanks`}, // idiomHead
	{clsFrench, `le la les de des du est et je pas tres pour une un que qui nous on ca avec dans mais trop vraiment
		ne ce cette sont suis au aux sur il elle vous notre nos ai en tout tous etre fait beaucoup mon ma
		mes ton ta tes son sa ses leur leurs ont avons avez sommes etes aussi comme quand ou rien jamais
		encore depuis chez par sans bien moins peu ici cela ceci quoi pourquoi comment alors donc parce
		personne toujours semaine equipe travail boulot merci franchement y`}, // frenchWord
	{clsEnglish, `the is and i not very for to we it of with in but really too this that are was my our be have so
		they you at just feel am been do does did there about much from any what when who how where which
		will would can could should has had were an by as if or me he she them their us your its all more
		less never always every here why because than then some no week team work job thanks honestly
		anymore get got`}, // englishWord
}

// classLists is classWords by word.
var classLists = func() map[string]wordClass {
	m := map[string]wordClass{}
	for _, cw := range classWords {
		for _, w := range strings.Fields(cw.words) {
			m[w] |= cw.cls
		}
	}
	return m
}()

// wordClassOf is the class of spelling w, as the index records it.
func wordClassOf(w string) wordClass {
	c := clsKnown | classLists[w]
	if keywordCandidate(w) {
		c |= clsKeyword
	}
	if stretched([]byte(w)) {
		c |= clsStretched
	}
	return c
}

// class returns the class of tk's spelling and whether it is known: tokens made
// outside Analyze have no info, and neither the functions nor the index can be
// skipped for them.
func (tk *token) class() (wordClass, bool) {
	if tk.info == nil {
		return 0, false
	}
	return tk.info.cls, true
}

// may says whether the functions of class c can hold for tk: false only when tk's
// spelling is known to be in none of their lists. A word outside the index (noInfo)
// is in no list, since the index holds them all.
func (tk *token) may(c wordClass) bool {
	cls, ok := tk.class()
	return !ok || cls&c != 0
}

const (
	boostStep  = 0.293 // VADER's B_INCR
	negScalar  = -0.74 // VADER's N_SCALAR
	bangStep   = 0.292 // VADER's per-"!" emphasis
	maxBangs   = 3
	contrastLo = 0.5  // weight of sentiment before "but"
	contrastHi = 1.5  // and after it
	lessScalar = -0.5 // "moins stressé", "less stressed": the opposite, mildly
)

// boost is the intensity change a word gives the sentiment word after it; prev
// disambiguates two-word dampeners ("un peu", "a bit", "kind of").
func boost(prev, w string) float64 {
	switch w {
	case "tres", "vraiment", "trop", "super", "hyper", "tellement", "extremement", "totalement",
		"completement", "vachement", "bien", "particulierement", "absolument",
		"grave", "carrement", "archi", "ultra", "beaucoup",
		"very", "really", "so", "extremely", "pretty", "way", "quite", "seriously", "insanely",
		"crazy", "damn", "totally", "completely", "absolutely", "incredibly", "truly", "deeply",
		"highly", "especially", "particularly":
		return boostStep
	case "plutot", "assez", "moyennement", "legerement",
		"kinda", "somewhat", "slightly", "fairly", "sorta", "barely":
		return -boostStep
	case "peu":
		if prev == "un" {
			return -boostStep
		}
	case "bit", "little":
		if prev == "a" {
			return -boostStep
		}
	case "of":
		if prev == "kind" || prev == "sort" {
			return -boostStep
		}
	}
	return 0
}

// negates says whether w flips the sentiment words after it. French "ne" and "pas"
// both count, but a word is flipped at most once, so "ne … pas" is one negation and
// spoken French without "ne" still works.
func negates(prev, w, next, lang string) bool {
	switch w {
	case "ne", "pas", "jamais", "rien", "aucun", "aucune", "sans", "ni", "guere", "non", "zero",
		"not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without", "cannot",
		"nope", "rarely", "seldom", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent",
		"cant", "couldnt", "wont", "wouldnt", "shouldnt", "havent", "hasnt", "hadnt", "aint":
		return !(w == "jamais" && prev == "que") // "mieux que jamais"
	case "absence": // "l'absence de reconnaissance"
		return next == "de"
	case "difficile", "dur", "impossible", "hard", "difficult", "tough":
		// "difficile de rester motivé", "hard to stay motivated": what is hard to get is missing.
		return next == "de" || next == "to"
	case "manque", "lack", "lacking": // also negative words themselves: a lack of X is bad and not X
		return next == "de" || next == "of" || w == "lacking"
	case "peu": // "peu reconnu": little recognised; "un peu" is a dampener, "à peu près" nothing
		return prev != "un" && prev != "a"
	case "plus": // "je suis plus motivé", but not "le plus", "de plus en plus", "plus que", nor English "plus"
		switch prev {
		case "le", "la", "les", "en", "de", "un", "au", "du", "encore":
			return false
		}
		return lang == "fr" && next != "en" && next != "que"
	}
	return false
}

// pureNegator words only negate: whatever valence a lexicon gives them ("no" is -1.2
// in VADER) would count the negation twice.
func pureNegator(w string) bool {
	switch w {
	case "ne", "pas", "jamais", "rien", "aucun", "aucune", "sans", "ni", "non", "zero",
		"not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without", "cannot":
		return true
	}
	return false
}

// lessens marks "moins" and "less": "moins stressé" is mildly good, "moins motivé"
// mildly bad. "au moins" and "at least" are not comparisons.
func lessens(prev, w string) bool {
	switch w {
	case "moins":
		return prev != "au" && prev != "du" && prev != "le"
	case "less":
		return prev != "at"
	}
	return false
}

// contrasts marks the pivot of "X but Y", where Y is what the writer means.
func contrasts(prev, w string) bool {
	switch w {
	case "mais", "cependant", "pourtant", "toutefois", "neanmoins", "but", "however":
		return true
	case "contre":
		return prev == "par"
	case "revanche":
		return prev == "en"
	}
	return false
}

// idiom scores set phrases whose meaning is not the sum of their words, before
// negation could get them backwards ("pas mal" is praise). A zero keeps the phrase
// out of scoring ("pas mal de" means "quite a lot of").
func idiom(phrase string) (float64, bool) {
	v, ok := idioms[phrase]
	return v, ok
}

var idioms = map[string]float64{
	"pas mal": 1.5, "not bad": 1.5,
	"not too bad":  1.2,
	"pas terrible": -1.5,
	"pas de souci": 0.5, "pas de soucis": 0.5, "pas de probleme": 0.5, "pas de problemes": 0.5, "aucun souci": 0.5,
	"aucun probleme": 0.5, "sans souci": 0.5, "sans soucis": 0.5, "no problem": 0.5, "no problems": 0.5, "no worries": 0.5,
	"no issue": 0.5, "no issues": 0.5,
	"en ai assez": -2, "en peux plus": -2, "not stand": -2, "cannot stand": -2,
	"pas mal de": 0, "not only": 0, "pas que": 0, "not just": 0,
	"trop de": -1.3, "too many": -1.3, "too much": -1.3, "way too": -1.3, // "trop de réunions": an excess is a complaint whatever the noun
	"merci pour rien": -2.2, "thanks for nothing": -2.2,
}

func idiomHead(w string) bool {
	switch w {
	case "pas", "aucun", "sans", "en", "not", "no", "cannot", "trop", "too", "way", "merci", "thanks":
		return true
	}
	return false
}

const maxIdiomLen = 3

// Function words used to tell French from English. Words both languages use
// ("a": English article, French "a"/"à") are left out because they cannot vote.
func frenchWord(w string) bool {
	switch w {
	case "le", "la", "les", "de", "des", "du", "est", "et", "je", "pas", "tres", "pour", "une", "un",
		"que", "qui", "nous", "on", "ca", "avec", "dans", "mais", "trop", "vraiment", "ne", "ce",
		"cette", "sont", "suis", "au", "aux", "sur", "il", "elle", "vous", "notre", "nos", "ai", "en",
		"tout", "tous", "etre", "fait", "beaucoup", "mon", "ma", "mes", "ton", "ta", "tes", "son", "sa",
		"ses", "leur", "leurs", "ont", "avons", "avez", "sommes", "etes", "aussi", "comme", "quand", "ou",
		"rien", "jamais", "encore", "depuis", "chez", "par", "sans", "bien", "moins", "peu", "ici",
		"cela", "ceci", "quoi", "pourquoi", "comment", "alors", "donc", "parce", "personne", "toujours",
		"semaine", "equipe", "travail", "boulot", "merci", "franchement", "y":
		return true
	}
	return false
}

func englishWord(w string) bool {
	switch w {
	case "the", "is", "and", "i", "not", "very", "for", "to", "we", "it", "of", "with", "in", "but",
		"really", "too", "this", "that", "are", "was", "my", "our", "be", "have", "so", "they",
		"you", "at", "just", "feel", "am", "been", "do", "does", "did", "there", "about", "much",
		"from", "any", "what", "when", "who", "how", "where", "which", "will", "would", "can", "could",
		"should", "has", "had", "were", "an", "by", "as", "if", "or", "me", "he", "she", "them",
		"their", "us", "your", "its", "all", "more", "less", "never", "always", "every", "here",
		"why", "because", "than", "then", "some", "no", "week", "team", "work", "job", "thanks",
		"honestly", "anymore", "get", "got":
		return true
	}
	return false
}
