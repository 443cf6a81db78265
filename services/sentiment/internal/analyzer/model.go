package analyzer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// The model file, model.bin.gz, is written by the trainer (train/) and embedded. It is
// gzip'd little-endian binary:
//
//	magic "VOIXSENT", version uint32
//	feature recipe: set uint32, char n-gram min and max uint8, rule gain uint8,
//	  hash bits uint8 (version 3 only; 0 or absent: keys are feature keys, else slots)
//	risk thresholds [4]float32 (probabilities), language prior float32
//	per-column dequantisation scales [8]float32
//	number of features uint32
//	feature keys (or slots) in increasing order, as uvarint deltas
//	weights int8, 8 per feature (negative, neutral, positive, the four risks, French)
//	training corpus: comments uint32, SHA-256 of the corpus files [32]byte
const (
	modelMagic   = "VOIXSENT"
	modelVersion = 3
)

// model is the decoded file: a table from feature key to its row of weights, eight
// int8 weights packed in a uint64 (column c in byte c). Eight bits per weight cost
// nothing measurable in cross-validation (which predicts with 8-bit weights, as the
// service does) and keep the table small. An unhashed model keeps its keys in a
// perfect hash table (phtable.go): one probe per feature, no comparison loop.
//
// A hashed model (cfg.HashBits > 0) is simpler still: its keys are slots, and the
// table is a plain array of packed rows indexed by slotOf(feature key), so a lookup
// is one load and no comparison.
type model struct {
	cfg        featConfig
	dense      []uint64   // hashed models: packed row of each slot, 0 where the slot is empty
	tab        *phTable   // unhashed models
	thresholds [4]float32 // risk flag thresholds, as logits
	probs      [4]float32 // the same, as probabilities
	prior      float32    // language logit shift toward the default language
	scale      [nCols]float32
	n          int
	comments   int
	corpusSum  [32]byte
}

// packed returns the weights of key k, 0 when the model does not have it.
func (m *model) packed(k uint64) uint64 {
	if m.dense != nil {
		return m.dense[slotOf(k, m.cfg.HashBits)]
	}
	return m.tab.packed(k)
}

func unpack(w uint64) (r [nCols]int8) {
	for c := range r {
		r[c] = int8(w >> (8 * c))
	}
	return r
}

// modelFile is what the trainer writes and the package reads.
type modelFile struct {
	version    uint32 // as read; encode writes modelVersion
	cfg        featConfig
	thresholds [4]float32
	prior      float32
	scale      [nCols]float32
	keys       []uint64 // increasing
	w          []int8   // nCols per key
	comments   uint32
	corpusSum  [32]byte
}

func (f *modelFile) encode() ([]byte, error) {
	var raw bytes.Buffer
	le := binary.LittleEndian
	raw.WriteString(modelMagic)
	version := uint32(modelVersion)
	if f.version == 2 || (f.version == 0 && f.cfg.HashBits == 0) {
		// A version-2 file reads back to the same bytes, and a freshly trained unhashed
		// model, which needs no hash-bits byte, is written as version 2 too: the format of
		// the committed model, which the trainer must reproduce bit for bit.
		version = 2
	}
	raw.Write(le.AppendUint32(nil, version))
	raw.Write(le.AppendUint32(nil, uint32(f.cfg.Set)))
	raw.WriteByte(byte(f.cfg.CharMin))
	raw.WriteByte(byte(f.cfg.CharMax))
	raw.WriteByte(byte(f.cfg.RuleGain))
	if version >= 3 {
		raw.WriteByte(byte(f.cfg.HashBits))
	}
	for _, t := range f.thresholds {
		raw.Write(le.AppendUint32(nil, math.Float32bits(t)))
	}
	raw.Write(le.AppendUint32(nil, math.Float32bits(f.prior)))
	for _, s := range f.scale {
		raw.Write(le.AppendUint32(nil, math.Float32bits(s)))
	}
	raw.Write(le.AppendUint32(nil, uint32(len(f.keys))))
	prev := uint64(0)
	for i, k := range f.keys {
		if i > 0 && k <= prev {
			return nil, errors.New("model keys not increasing")
		}
		raw.Write(binary.AppendUvarint(nil, k-prev))
		prev = k
	}
	for _, w := range f.w {
		raw.WriteByte(byte(w))
	}
	raw.Write(le.AppendUint32(nil, f.comments))
	raw.Write(f.corpusSum[:])

	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	// The gzip header carries no name and no time, so the bytes depend on the weights alone.
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func decodeModelFile(data []byte) (*modelFile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(zr)
	magic := make([]byte, len(modelMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != modelMagic {
		return nil, errors.New("not a voix sentiment model")
	}
	le := binary.LittleEndian
	var b4 [4]byte
	u32 := func() uint32 {
		if _, e := io.ReadFull(r, b4[:]); e != nil && err == nil {
			err = e
		}
		return le.Uint32(b4[:])
	}
	f32 := func() float32 { return math.Float32frombits(u32()) }
	v := u32()
	if v != modelVersion && v != 2 {
		return nil, fmt.Errorf("model version %d, want %d", v, modelVersion)
	}
	f := &modelFile{version: v}
	f.cfg.Set = featureSet(u32())
	lo, _ := r.ReadByte()
	hi, _ := r.ReadByte()
	gain, _ := r.ReadByte()
	f.cfg.CharMin, f.cfg.CharMax, f.cfg.RuleGain = int(lo), int(hi), int(gain)
	if v >= 3 {
		hb, _ := r.ReadByte()
		f.cfg.HashBits = int(hb)
		if f.cfg.HashBits > 26 {
			return nil, fmt.Errorf("model hashes features into 2^%d slots", f.cfg.HashBits)
		}
	}
	for i := range f.thresholds {
		f.thresholds[i] = f32()
	}
	f.prior = f32()
	for i := range f.scale {
		f.scale[i] = f32()
	}
	n := int(u32())
	if err != nil {
		return nil, err
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("model has %d features", n)
	}
	f.keys = make([]uint64, n)
	prev := uint64(0)
	for i := range f.keys {
		d, e := binary.ReadUvarint(r)
		if e != nil {
			return nil, e
		}
		prev += d
		f.keys[i] = prev
	}
	if hb := f.cfg.HashBits; hb > 0 && n > 0 && f.keys[n-1]>>hb != 0 {
		return nil, fmt.Errorf("model slot %d out of 2^%d", f.keys[n-1], hb)
	}
	raw := make([]byte, nCols*n)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, err
	}
	f.w = make([]int8, nCols*n)
	for i := range f.w {
		f.w[i] = int8(raw[i])
	}
	f.comments = u32()
	if _, e := io.ReadFull(r, f.corpusSum[:]); e != nil && err == nil {
		err = e
	}
	if err != nil {
		return nil, err
	}
	if _, e := r.ReadByte(); e != io.EOF {
		return nil, errors.New("trailing data after the model")
	}
	return f, nil
}

// build makes the lookup table.
func (f *modelFile) build() *model {
	m := &model{cfg: f.cfg, thresholds: f.thresholds, prior: f.prior, scale: f.scale, n: len(f.keys),
		comments: int(f.comments), corpusSum: f.corpusSum}
	for i, p := range f.thresholds {
		m.probs[i] = p
		p = min(max(p, 1e-6), 1-1e-6)
		m.thresholds[i] = float32(math.Log(float64(p) / float64(1-p)))
	}
	rows := make([]uint64, len(f.keys))
	for i := range rows {
		rows[i] = f.packedRow(i)
	}
	if hb := f.cfg.HashBits; hb > 0 {
		m.dense = make([]uint64, 1<<hb)
		for i, k := range f.keys {
			m.dense[k] = rows[i]
		}
		return m
	}
	m.tab = newPHTable(f.keys, rows)
	return m
}

// packedRow is the weights of the i-th key, column c in byte c.
func (f *modelFile) packedRow(i int) uint64 {
	var w uint64
	for c := range nCols {
		w |= uint64(uint8(f.w[i*nCols+c])) << (8 * c)
	}
	return w
}

// accumulate adds the weighted rows of the features to z. The language column is
// summed too; Analyze reads it after phase 1 only. Rows of a run of features with the
// same value (the features of one block, which share its 1/sqrt(size) scale) are
// summed as integers, eight lanes at once, then multiplied by that value once: the
// even and odd bytes of a row go to two accumulators of four 16-bit lanes, each byte
// biased by 128 so it adds as an unsigned number in [0, 255], and 256 of those fit a
// lane, so a run is cut every 256 features. An absent key reads as a row of zeros.
// The sums are exact, where adding w·v one feature at a time in float32 rounded at
// every step.
func (m *model) accumulate(keys []uint64, vals []float32, z *[nCols]float32) {
	m.accumulateSpans(keys, vals, nil, 0, z)
}

// accumulateSpans is accumulate told where vals holds stretches of one value (spans,
// indices off more than vals', in order; fbuf.uniform): a run that reaches into one
// takes it whole, without comparing each value, since they all equal its first.
func (m *model) accumulateSpans(keys []uint64, vals []float32, spans []span, off int, z *[nCols]float32) {
	vals = vals[:len(keys)]
	s := 0
	for i := 0; i < len(keys); {
		v := vals[i]
		j := i + 1
		for j < len(vals) && vals[j] == v {
			for s < len(spans) && spans[s].end-off <= j {
				s++
			}
			if s < len(spans) && spans[s].start-off <= j {
				j = min(spans[s].end-off, len(vals))
			} else {
				j++
			}
		}
		for i < j {
			e := min(i+256, j)
			var even, odd uint64
			if m.dense != nil {
				even, odd = m.sumDense(keys[i:e])
			} else {
				even, odd = m.tab.sum(keys[i:e])
			}
			addLanes(z, even, odd, e-i, v)
			i = e
		}
	}
}

const (
	laneMask = 0x00FF00FF00FF00FF // the even bytes of a row, one per 16-bit lane
	laneBias = 0x0080008000800080 // +128 per lane: int8 -> [0, 255]
)

// sumDense is phTable.sum for a hashed model: one load per feature.
func (m *model) sumDense(keys []uint64) (even, odd uint64) {
	const hmul = 0x9E3779B97F4A7C15 // slotOf
	dense := m.dense
	shift := uint(64 - m.cfg.HashBits)
	mask := uint64(len(dense) - 1) // lets the compiler drop the bounds check
	for _, k := range keys {
		w := dense[((k*hmul)>>shift)&mask]
		even += (w & laneMask) ^ laneBias
		odd += ((w >> 8) & laneMask) ^ laneBias
	}
	return even, odd
}

// addLanes adds v times the sums of n biased rows in even and odd lanes to z.
func addLanes(z *[nCols]float32, even, odd uint64, n int, v float32) {
	if n == 0 {
		return
	}
	off := int64(128 * n)
	for l := range 4 {
		z[2*l] += float32(int64((even>>(16*l))&0xFFFF)-off) * v
		z[2*l+1] += float32(int64((odd>>(16*l))&0xFFFF)-off) * v
	}
}

// quantize turns trained float64 weights (nCols per key) into int8 with one scale per
// column, the largest weight mapping to 127.
func quantize(w []float64) ([nCols]float32, []int8) {
	var maxAbs [nCols]float64
	for i, x := range w {
		maxAbs[i%nCols] = max(maxAbs[i%nCols], math.Abs(x))
	}
	var scale [nCols]float32
	for c := range scale {
		scale[c] = float32(maxAbs[c] / 127)
		if scale[c] == 0 {
			scale[c] = 1
		}
	}
	q := make([]int8, len(w))
	for i, x := range w {
		q[i] = int8(max(-127, min(127, math.Round(x/float64(scale[i%nCols])))))
	}
	return scale, q
}

// embedded is the model compiled into the binary, decoded once for every Analyzer.
var embedded = sync.OnceValue(func() *model {
	data, err := dataFiles.ReadFile("model.bin.gz")
	if err != nil {
		panic("analyzer: embedded model: " + err.Error())
	}
	f, err := decodeModelFile(data)
	if err != nil {
		panic("analyzer: embedded model: " + err.Error())
	}
	return f.build()
})
