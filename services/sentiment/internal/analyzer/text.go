package analyzer

import (
	"strings"
	"unicode"
)

// token is one normalised word, or a clause boundary (punctuation) that stops
// negation and intensifiers from reaching across sentences.
type token struct {
	w        string // stretched letters squeezed to one: "suuuper" → "super"
	alt      string // stretched letters kept doubled, for "goooood" → "good"; empty if not stretched
	boundary bool
}

// tokenized is a text reduced to what scoring and language detection need.
type tokenized struct {
	toks  []token
	fr    int // French elisions seen (c', j', qu'…): a strong hint no function-word list gives
	en    int // English contractions seen (n't, 's, 'm…)
	bangs int // exclamation marks
}

// tokenize lowercases, folds diacritics (people type "genial" for "génial" on phones),
// drops French elided prefixes, splits English n't into "not", and collapses stretched
// letters. It never fails: anything that is not a letter or digit separates words.
func tokenize(text string) tokenized {
	var t tokenized
	cur := make([]rune, 0, 32)
	afterApos := false // cur follows an apostrophe: it may be an English clitic
	flush := func() {
		if len(cur) == 0 {
			return
		}
		tok := makeToken(cur)
		cur = cur[:0]
		if afterApos {
			afterApos = false
			n := len(t.toks)
			switch {
			case tok.w == "t" && n > 0 && strings.HasSuffix(t.toks[n-1].w, "n"):
				t.toks[n-1] = token{w: contractionStem(t.toks[n-1].w)}
				t.toks = append(t.toks, token{w: "not"})
				t.en++
				return
			case tok.w == "s" || tok.w == "m" || tok.w == "re" || tok.w == "ve" || tok.w == "ll" || tok.w == "d":
				t.en++
				return
			}
		}
		t.toks = append(t.toks, tok)
	}
	for _, r := range text {
		r = unicode.ToLower(r)
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			a, b := fold(r)
			cur = append(cur, a)
			if b != 0 {
				cur = append(cur, b)
			}
		case unicode.Is(unicode.Mn, r):
			// A combining accent from decomposed (NFD) input: drop it, stay in the word.
		case r == '\'' || r == '’' || r == 'ʼ':
			if len(cur) == 0 {
				afterApos = false
				continue
			}
			if isElision(cur) {
				if len(cur) == 1 && cur[0] == 'n' {
					t.toks = append(t.toks, token{w: "ne"})
				}
				t.fr++
				cur = cur[:0]
				afterApos = false
				continue
			}
			flush()
			afterApos = true
		default:
			flush()
			afterApos = false
			if strings.ContainsRune(".,;:!?…()¡¿\n", r) {
				if r == '!' {
					t.bangs++
				}
				if n := len(t.toks); n > 0 && !t.toks[n-1].boundary {
					t.toks = append(t.toks, token{boundary: true})
				}
			}
		}
	}
	flush()
	return t
}

func isElision(rs []rune) bool {
	switch string(rs) {
	case "c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu":
		return true
	}
	return false
}

// contractionStem turns the part before n't back into a word: "don" → "do", "can" → "can".
func contractionStem(w string) string {
	switch w {
	case "can":
		return "can"
	case "won":
		return "will"
	case "shan":
		return "shall"
	}
	return strings.TrimSuffix(w, "n")
}

func makeToken(rs []rune) token {
	for i := 2; i < len(rs); i++ {
		if rs[i] == rs[i-1] && rs[i] == rs[i-2] && unicode.IsLetter(rs[i]) {
			return token{w: squeeze(rs, 1), alt: squeeze(rs, 2)}
		}
	}
	return token{w: string(rs)}
}

// squeeze keeps at most keep copies of each letter repeated three times or more.
func squeeze(rs []rune, keep int) string {
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); {
		j := i
		for j < len(rs) && rs[j] == rs[i] {
			j++
		}
		n := j - i
		if n >= 3 && unicode.IsLetter(rs[i]) {
			n = keep
		}
		for range n {
			out = append(out, rs[i])
		}
		i = j
	}
	return string(out)
}

// fold maps a lowercase Latin letter with a diacritic to its base letter(s). A table
// rather than Unicode normalisation keeps the package on the standard library.
func fold(r rune) (rune, rune) {
	if r < 0xC0 {
		return r, 0
	}
	switch r {
	case 'à', 'á', 'â', 'ã', 'ä', 'å', 'ā', 'ă', 'ą':
		return 'a', 0
	case 'æ':
		return 'a', 'e'
	case 'ç', 'ć', 'ĉ', 'ċ', 'č':
		return 'c', 0
	case 'ď', 'đ':
		return 'd', 0
	case 'è', 'é', 'ê', 'ë', 'ē', 'ĕ', 'ė', 'ę', 'ě':
		return 'e', 0
	case 'ĝ', 'ğ', 'ġ', 'ģ':
		return 'g', 0
	case 'ì', 'í', 'î', 'ï', 'ĩ', 'ī', 'ĭ', 'į', 'ı':
		return 'i', 0
	case 'ł', 'ľ', 'ĺ', 'ļ':
		return 'l', 0
	case 'ñ', 'ń', 'ņ', 'ň':
		return 'n', 0
	case 'ò', 'ó', 'ô', 'õ', 'ö', 'ø', 'ō', 'ŏ', 'ő':
		return 'o', 0
	case 'œ':
		return 'o', 'e'
	case 'ŕ', 'ř':
		return 'r', 0
	case 'ś', 'ş', 'š':
		return 's', 0
	case 'ß':
		return 's', 's'
	case 'ţ', 'ť':
		return 't', 0
	case 'ù', 'ú', 'û', 'ü', 'ũ', 'ū', 'ŭ', 'ů', 'ű', 'ų':
		return 'u', 0
	case 'ý', 'ÿ', 'ŷ':
		return 'y', 0
	case 'ź', 'ż', 'ž':
		return 'z', 0
	}
	return r, 0
}

// Function words are code, not data: each needs a context rule the TSV format cannot say.

const (
	boostStep  = 0.293 // VADER's B_INCR
	negScalar  = -0.74 // VADER's N_SCALAR
	bangStep   = 0.292 // VADER's per-"!" emphasis
	maxBangs   = 3
	contrastLo = 0.5 // weight of sentiment before "but"
	contrastHi = 1.5 // and after it
)

// boost is the intensity change a word gives the sentiment word after it; prev
// disambiguates two-word dampeners ("un peu", "a bit", "kind of").
func boost(prev, w string) float64 {
	switch w {
	case "tres", "vraiment", "trop", "super", "hyper", "tellement", "extremement", "totalement",
		"completement", "vachement", "bien", "particulierement", "absolument",
		"very", "really", "so", "extremely", "totally", "completely", "absolutely", "incredibly",
		"truly", "deeply", "highly", "especially", "particularly":
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
	case "ne", "pas", "jamais", "rien", "aucun", "aucune", "sans", "ni", "guere", "non",
		"not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "without", "cannot",
		"nope", "rarely", "seldom", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent",
		"cant", "couldnt", "wont", "wouldnt", "shouldnt", "havent", "hasnt", "hadnt", "aint":
		return !(w == "jamais" && prev == "que") // "mieux que jamais"
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
	switch phrase {
	case "pas mal", "not bad":
		return 1.5, true
	case "not too bad":
		return 1.2, true
	case "pas terrible":
		return -1.5, true
	case "pas de souci", "pas de soucis", "pas de probleme", "pas de problemes", "aucun souci",
		"aucun probleme", "sans souci", "sans soucis", "no problem", "no problems", "no worries",
		"no issue", "no issues":
		return 0.5, true
	case "en ai assez", "en peux plus", "not stand", "cannot stand":
		return -2, true
	case "pas mal de", "not only":
		return 0, true
	}
	return 0, false
}

func idiomHead(w string) bool {
	switch w {
	case "pas", "aucun", "sans", "en", "not", "no", "cannot":
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
		"tout", "tous", "etre", "fait", "beaucoup":
		return true
	}
	return false
}

func englishWord(w string) bool {
	switch w {
	case "the", "is", "and", "i", "not", "very", "for", "to", "we", "it", "of", "with", "in", "but",
		"really", "too", "this", "that", "are", "was", "my", "our", "be", "have", "so", "they",
		"you", "at", "just", "feel", "am", "been", "do", "does", "did", "there", "about", "much":
		return true
	}
	return false
}
