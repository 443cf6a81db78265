package analyzer

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// trainingSample is a small fixed slice of the training corpus: every 40th comment.
func trainingSample(t testing.TB) []Example {
	t.Helper()
	exs, err := ReadTrainingCorpus("corpus")
	if err != nil {
		t.Fatal(err)
	}
	var out []Example
	for i := 0; i < len(exs); i += 40 {
		out = append(out, exs[i])
	}
	return out
}

// TestTrainingIsDeterministic trains twice on the same sample and wants the same bytes:
// the committed model can only be checked against the corpus if training reproduces it.
func TestTrainingIsDeterministic(t *testing.T) {
	sample := trainingSample(t)
	opt := TrainOptions{MaxIter: 12, Folds: 2, Windows: 1}
	first, _, err := Train(sample, opt)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := Train(sample, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("two trainings on the same %d comments differ: %x vs %x", len(sample), sha256.Sum256(first), sha256.Sum256(second))
	}
	f, err := decodeModelFile(first)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Error("decoding and encoding the model changes it")
	}
	if f.comments != uint32(len(sample)) || f.corpusSum != CorpusSum(sample) {
		t.Errorf("model records %d comments, sum %x; want %d, %x", f.comments, f.corpusSum, len(sample), CorpusSum(sample))
	}
}

// TestCommittedModel checks that model.bin.gz is the one model.sum describes and that
// both were made from the training corpus as it is now. Retraining takes minutes, so
// by default the test compares checksums written by the trainer; set VOIX_RETRAIN=1 to
// retrain and compare the bytes.
func TestCommittedModel(t *testing.T) {
	data, err := dataFiles.ReadFile("model.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	exs, err := ReadTrainingData(".")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile("model.sum")
	if err != nil {
		t.Fatal(err)
	}
	const retrain = "go run ./services/sentiment/internal/analyzer/train"
	if want := ModelSum(data, exs); string(sum) != want {
		t.Fatalf("model.sum does not match model.bin.gz and the training corpus: the corpus changed since training, or the model was not written by the trainer; run %s\nmodel.sum:\n%s\nwant:\n%s", retrain, sum, want)
	}
	f, err := decodeModelFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.corpusSum != CorpusSum(exs) || int(f.comments) != len(exs) {
		t.Fatalf("model.bin.gz was trained on another corpus; run %s", retrain)
	}
	if f.cfg != defaultFeatures {
		t.Errorf("model features %+v, want the default recipe %+v", f.cfg, defaultFeatures)
	}
	if os.Getenv("VOIX_RETRAIN") == "" {
		t.Logf("model.bin.gz: %d bytes, %d features, trained on %d comments; set VOIX_RETRAIN=1 to retrain and compare bytes", len(data), len(f.keys), len(exs))
		return
	}
	fresh, _, err := Train(exs, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, data) {
		t.Fatalf("a fresh training run gives %x, the committed model is %x", sha256.Sum256(fresh), sha256.Sum256(data))
	}
}

// TestModelMemory measures the heap the decoded model takes: the figure the service
// pays once, however many analyzers it makes.
func TestModelMemory(t *testing.T) {
	data, err := dataFiles.ReadFile("model.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rss0 := residentKiB()
	f, err := decodeModelFile(data)
	if err != nil {
		t.Fatal(err)
	}
	m := f.build()
	f = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if m.dense != nil {
		t.Logf("model: file %d bytes, %d rows used of 2^%d (hashed), heap after decoding %.2f MiB", len(data), m.n, m.cfg.HashBits, float64(heap)/(1<<20))
	} else {
		tb := m.tab
		t.Logf("model: file %d bytes, %d features; table of %d slots of 16 bytes and %d pilots (%.2f MiB), heap after decoding %.2f MiB",
			len(data), m.n, len(tb.slots), len(tb.pilots), float64(16*len(tb.slots)+2*len(tb.pilots))/(1<<20), float64(heap)/(1<<20))
	}
	if rss0 > 0 {
		t.Logf("resident set size grew by %.2f MiB while decoding (Linux, /proc/self/status)", float64(residentKiB()-rss0)/1024)
	}
	if heap > 16<<20 {
		t.Errorf("the decoded model takes %d bytes of heap", heap)
	}
	runtime.KeepAlive(m)

	runtime.GC()
	runtime.ReadMemStats(&before)
	a := New("fr")
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("New: %.3f MiB more heap (when it is the process's first New it parses the rules and decodes the model; later ones share them)", float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20))
	runtime.KeepAlive(a)
}

// TestModelTable checks the lookup table against the model file it is built from:
// every key reads its own weights, keys the file lacks read nothing, and the sums
// accumulate makes are those of a plain map from key (or slot, in a hashed model) to
// weights, exact to float32 rounding, over the features of training comments.
// It checks the committed model and a small model of the other kind (hashed or not),
// so both lookups stay tested whichever one ships.
func TestModelTable(t *testing.T) {
	data, err := dataFiles.ReadFile("model.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	f, err := decodeModelFile(data)
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, f)

	other := "hash=16,+wordchars,chars=3-4"
	if f.cfg.HashBits > 0 {
		other = "hash=0"
	}
	small, _, err := Train(trainingSample(t), TrainOptions{MaxIter: 8, Folds: 2, Windows: 1, Features: other})
	if err != nil {
		t.Fatal(err)
	}
	g, err := decodeModelFile(small)
	if err != nil {
		t.Fatal(err)
	}
	if (g.cfg.HashBits > 0) == (f.cfg.HashBits > 0) {
		t.Fatalf("features %q gave hash bits %d", other, g.cfg.HashBits)
	}
	checkTable(t, g)
}

func checkTable(t *testing.T, f *modelFile) {
	t.Helper()
	m := f.build()
	bits := f.cfg.HashBits
	plain := make(map[uint64][nCols]int8, len(f.keys))
	for i, k := range f.keys {
		var r [nCols]int8
		copy(r[:], f.w[i*nCols:(i+1)*nCols])
		plain[k] = r
		if bits > 0 {
			if m.dense[k] != f.packedRow(i) {
				t.Fatalf("slot %d: row %v, want %v", k, unpack(m.dense[k]), r)
			}
			continue
		}
		if got := unpack(m.packed(k)); got != r {
			t.Fatalf("key %x: row %v, want %v", k, got, r)
		}
	}
	if bits > 0 {
		for s, w := range m.dense {
			if _, ok := plain[uint64(s)]; !ok && w != 0 {
				t.Fatalf("slot %d is not in the model but reads %v", s, unpack(w))
			}
		}
	} else {
		for k := uint64(1); k < 1<<40; k = k*3 + 7 {
			if _, ok := plain[k]; !ok && m.packed(k) != 0 {
				t.Fatalf("key %x is not in the model but reads %v", k, unpack(m.packed(k)))
			}
		}
	}
	a := newRules("fr")
	var b fbuf
	for i, ex := range trainingSample(t) {
		stripped := stripMarkup(ex.Text)
		tk := tokenizeWith(stripped, a.words)
		a.lookup(tk.toks)
		a.phase1(&b, m.cfg, stripped, &tk)
		if i == 0 {
			b.keys = append(b.keys, 0) // key 0 is a feature like any other
			b.vals = append(b.vals, 0.5)
		}
		var got, want [nCols]float32
		m.accumulate(b.keys, b.vals, &got)
		var exact, mag [nCols]float64
		for j, k := range b.keys {
			if bits > 0 {
				k = slotOf(k, bits)
			}
			r, ok := plain[k]
			if !ok {
				continue
			}
			for c := range nCols {
				want[c] += float32(r[c]) * b.vals[j]
				exact[c] += float64(r[c]) * float64(b.vals[j])
				mag[c] += math.Abs(float64(r[c]) * float64(b.vals[j]))
			}
		}
		// Integer sums per run: as exact as float32 allows.
		for c := range nCols {
			if math.Abs(float64(got[c])-exact[c]) > 1e-6*mag[c]+1e-6 {
				t.Fatalf("%s: accumulate gives %v, the exact sums %v (float32 one by one: %v)", ex.ID, got, exact, want)
			}
		}
	}
}

// TestAccumulateDense checks accumulate's integer lanes, in a hashed table and in a
// table of full keys, on extreme rows (every weight -128 or 127), runs longer than a
// lane holds, absent keys and values that change often, against sums in float64.
func TestAccumulateDense(t *testing.T) {
	const bits = 8
	m := &model{cfg: featConfig{HashBits: bits}, dense: make([]uint64, 1<<bits)}
	rng := uint64(1)
	next := func() uint64 { rng = mix(rng, 0x9e37); return rng }
	for s := range m.dense {
		switch s % 3 {
		case 0:
			m.dense[s] = 0x8080808080808080 // -128 everywhere
		case 1:
			m.dense[s] = 0x7F7F7F7F7F7F7F7F // 127 everywhere
		default:
			m.dense[s] = next()
		}
	}
	var keys []uint64
	var vals []float32
	for run, n := range []int{1, 255, 256, 257, 600, 3, 1, 1, 1000} {
		v := float32(1 / math.Sqrt(float64(run+2)))
		for range n {
			k := next()
			for run == 4 && slotOf(k, bits)%3 != 1 { // a long run of rows of 127: the lanes' worst case
				k = next()
			}
			keys = append(keys, k)
			vals = append(vals, v)
		}
		keys = append(keys, next())
		vals = append(vals, 0) // a zero value in between
	}
	check := func(name string, m *model, row func(k uint64) [nCols]int8) {
		var got [nCols]float32
		m.accumulate(keys, vals, &got)
		var exact, mag [nCols]float64
		for i, k := range keys {
			r := row(k)
			for c := range nCols {
				exact[c] += float64(r[c]) * float64(vals[i])
				mag[c] += math.Abs(float64(r[c]) * float64(vals[i]))
			}
		}
		for c := range nCols {
			if math.Abs(float64(got[c])-exact[c]) > 1e-6*mag[c] {
				t.Errorf("%s, column %d: accumulate gives %v, exact %v", name, c, got[c], exact[c])
			}
		}
	}
	check("hashed", m, func(k uint64) [nCols]int8 { return unpack(m.dense[slotOf(k, bits)]) })

	// The same features in a table of full keys, with the rows their slots had above:
	// every other key is absent and reads zeros, except those of rows of 127.
	f := &modelFile{}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	for i, k := range sorted {
		if i%2 == 0 || slotOf(k, bits)%3 == 1 {
			f.keys = append(f.keys, k)
			r := unpack(m.dense[slotOf(k, bits)])
			for _, x := range r {
				f.w = append(f.w, x)
			}
		}
	}
	exact := f.build()
	check("full keys", exact, func(k uint64) [nCols]int8 { return unpack(exact.packed(k)) })
}

func TestProbabilities(t *testing.T) {
	a := New("en")
	for _, text := range []string{"great team", "I want to quit", "meeting at 10", "", "👍", "pas mal du tout"} {
		r := a.Analyze(text)
		p := r.Probabilities
		if s := p.Negative + p.Neutral + p.Positive; math.Abs(s-1) > 1e-9 {
			t.Errorf("Analyze(%q).Probabilities = %+v, sum %v", text, p, s)
		}
		if math.Abs(r.Score-(p.Positive-p.Negative)) > 1e-12 {
			t.Errorf("Analyze(%q): score %v, want P(pos)-P(neg) = %v", text, r.Score, p.Positive-p.Negative)
		}
	}
}

func TestRiskString(t *testing.T) {
	for r, want := range map[Risk]string{0: "-", Harassment: "harassment", Quit | Safety: "quit,safety",
		Harassment | Quit | Distress | Safety: "harassment,quit,distress,safety", 1 << 6: "unknown"} {
		if got := r.String(); got != want {
			t.Errorf("Risk(%d).String() = %q, want %q", r, got, want)
		}
	}
	if got := fmt.Sprint((Quit | Distress).Flags()); got != "[quit distress]" {
		t.Errorf("Flags() = %s", got)
	}
	for i, n := range riskNames {
		if r, ok := riskByName(n); !ok || r != riskFlags[i] {
			t.Errorf("riskByName(%q) = %v, %v", n, r, ok)
		}
	}
}

func TestReadCorpus(t *testing.T) {
	data := "# comment\nid\tlang\tlabel\trisk\ttags\ttext\n" +
		"a1\tfr\tnegative\tquit,distress\tminimal_pair,short\tJe pars.\n" +
		"a2\tfr\tpositive\t-\tminimal_pair\tJe reste.\n" +
		"a3\ten\tneutral\t-\t-\tMeeting at 10.\n"
	exs, err := ReadCorpus(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 3 || exs[0].Risks != Quit|Distress || exs[1].Group != "a1" || exs[2].Group != "a3" || !exs[0].HasTag("short") || exs[2].Label != Neutral {
		t.Errorf("ReadCorpus = %+v", exs)
	}
	for _, bad := range []string{"a\tfr\tnegative\t-\t-\n", "a\tde\tnegative\t-\t-\tx\n", "a\tfr\tbad\t-\t-\tx\n", "a\tfr\tnegative\tboredom\t-\tx\n"} {
		if _, err := ReadCorpus(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadCorpus(%q) did not fail", bad)
		}
	}
}

func TestDeterministicMath(t *testing.T) {
	for _, x := range []float64{-30, -5, -1, -0.3, 0, 1e-9, 0.5, 1, 2.5, 10, 40} {
		if got, want := dexp(x), math.Exp(x); math.Abs(got-want) > 4e-16*want {
			t.Errorf("dexp(%v) = %v, want %v", x, got, want)
		}
	}
	for _, x := range []float64{1e-9, 0.1, 0.5, 1, 1.5, 2, 3, 10, 1e6} {
		if got, want := dlog(x), math.Log(x); math.Abs(got-want) > 4e-16*max(1, math.Abs(want)) {
			t.Errorf("dlog(%v) = %v, want %v", x, got, want)
		}
	}
}

// residentKiB is the process's resident set size (VmRSS), or 0 where /proc is missing.
func residentKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kib)
			return kib
		}
	}
	return 0
}
