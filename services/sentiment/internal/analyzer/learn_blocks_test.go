package analyzer

import (
	"math"
	"strings"
	"testing"
)

// TestFeatureBlocks checks the block the trainer gives each feature key: the per-block
// regularisation and the naive-Bayes scaling of n-grams (TrainOptions.BlockL2, NB)
// rest on it.
func TestFeatureBlocks(t *testing.T) {
	a := newRules("en")
	blocks := map[uint64]uint8{}
	d := a.vectorize("The new laptops are great, but IT never answers tickets!", "en", defaultFeatures, blocks)
	for _, k := range d.keys {
		if _, ok := blocks[k]; !ok {
			t.Fatalf("key %x of the comment has no block", k)
		}
	}
	h := charKey1['g']
	for _, c := range []byte("rea") {
		h = mix(h, uint64(c))
	}
	want := []struct {
		name string
		key  uint64
		blk  uint8
	}{
		{"bias", flagKey(flagBias), blkBias},
		{"word", mix(nsWord1, hashString("great")), blkWords},
		{"bigram", mix(mix(nsWord2, hashString("are")), hashString("great")), blkWords},
		{"character 4-gram", h, blkChars},
		{"contrast", mix(nsAfter, hashString("never")), blkOther},
		{"exclamation", flagKey(flagBangs1), blkOther},
		{"rule score", flagKey(flagRuleC), blkRules},
	}
	for _, w := range want {
		got, ok := blocks[w.key]
		if !ok {
			t.Errorf("%s: key %x not extracted", w.name, w.key)
			continue
		}
		if got != w.blk {
			t.Errorf("%s: block %d, want %d", w.name, got, w.blk)
		}
	}
}

// TestNBRatios checks the naive-Bayes scale of n-gram features: a word seen in one
// class only gets more than one spread over the classes, the scales of the n-grams
// average 1, other blocks keep 1, and NB 0 changes nothing.
func TestNBRatios(t *testing.T) {
	// Six comments, two per class; columns: 0 a word of the negative comments only,
	// 1 a word of every comment, 2 a character n-gram of one neutral and one positive
	// comment, 3 a flag of every comment.
	rows := [][]int32{{0, 1, 3}, {0, 1, 3}, {1, 2, 3}, {1, 3}, {1, 2, 3}, {1, 3}}
	cls := []int{0, 0, 1, 1, 2, 2}
	var x csr
	x.ptr = []int{0}
	for _, r := range rows {
		for _, c := range r {
			x.idx = append(x.idx, c)
			x.val = append(x.val, 1)
		}
		x.ptr = append(x.ptr, len(x.idx))
	}
	blk := []uint8{blkWords, blkWords, blkChars, blkOther}
	ngrams := [nBlocks]bool{blkWords: true, blkChars: true}
	s := nbRatios(x, cls, blk, ngrams, 1, 0)
	if !(s[0] > s[2] && s[2] > s[1]) {
		t.Errorf("scales %v: want the one-class word above the two-class n-gram above the everywhere word", s)
	}
	if mean := (s[0] + s[1] + s[2]) / 3; math.Abs(mean-1) > 1e-12 {
		t.Errorf("n-gram scales %v average %v, want 1", s[:3], mean)
	}
	if s[3] != 1 {
		t.Errorf("flag scale %v, want 1", s[3])
	}
	half := nbRatios(x, cls, blk, ngrams, 0.5, 0)
	for c := range s {
		if w := 0.5 + 0.5*s[c]; math.Abs(half[c]-w) > 1e-12 {
			t.Errorf("NB 0.5, column %d: scale %v, want %v", c, half[c], w)
		}
	}
	all, err := parseBlocks("words,chars,other")
	if err != nil {
		t.Fatal(err)
	}
	if s := nbRatios(x, cls, blk, all, 1, 0); !(s[3] == s[1] && s[3] < 1) {
		t.Errorf("scales %v with the other block: want the flag of every comment scaled as the word of every comment, below 1", s)
	}
	if _, err := parseBlocks("words,lexicon"); err == nil {
		t.Error("parseBlocks accepts an unknown block")
	}
	for c, v := range nbRatios(x, cls, blk, ngrams, 0, 0) {
		if v != 1 {
			t.Errorf("NB 0, column %d: scale %v, want 1", c, v)
		}
	}
}

// TestLastSentence checks the range the optional LAST_ words (train -features +last)
// come from: the last sentence of a text of several, trailing marks aside.
func TestLastSentence(t *testing.T) {
	a := newRules("en")
	for _, tt := range []struct{ text, want string }{
		{"Good pay. The manager never listens.", "the manager never listens"},
		{"Good pay. The manager never listens!!", "the manager never listens"},
		{"Good pay, but the manager never listens.", ""},
		{"Great team", ""},
		{"", ""},
	} {
		tk := tokenizeWith(stripMarkup(tt.text), a.words)
		lo, hi := lastSentence(tk.toks)
		var words []string
		for _, x := range tk.toks[lo:hi] {
			if !x.boundary {
				words = append(words, x.w)
			}
		}
		if got := strings.Join(words, " "); got != tt.want {
			t.Errorf("%q: last sentence %q, want %q", tt.text, got, tt.want)
		}
	}
}
