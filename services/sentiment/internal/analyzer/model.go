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
	"math/bits"
	"slices"
	"sync"
)

// The model file, model.bin.gz, is written by the trainer (train/) and embedded. It is
// gzip'd little-endian binary:
//
//	magic "VOIXSENT", version uint32
//	feature recipe: set uint32, char n-gram min and max uint8, rule gain uint8
//	risk thresholds [4]float32 (probabilities), language prior float32
//	per-column dequantisation scales [8]float32
//	number of features uint32
//	feature keys in increasing order, as uvarint deltas
//	weights int8, 8 per feature (negative, neutral, positive, the four risks, French)
//	training corpus: comments uint32, SHA-256 of the corpus files [32]byte
const (
	modelMagic   = "VOIXSENT"
	modelVersion = 2
)

// model is the decoded file: an open-addressing table from feature key to its row of
// weights. A slot holds the key's high 32 bits (its low bits chose the slot) and the
// quantised row, 12 bytes, so one lookup touches one cache line. Eight bits per weight
// cost nothing measurable in cross-validation (which predicts with 8-bit weights, as
// the service does) and keep the table small.
type model struct {
	cfg        featConfig
	thresholds [4]float32 // risk flag thresholds, as logits
	probs      [4]float32 // the same, as probabilities
	prior      float32    // language logit shift toward the default language
	scale      [nCols]float32
	mask       uint64
	slots      []slot
	n          int
	comments   int
	corpusSum  [32]byte
}

type slot struct {
	fp uint32 // key>>32; 0 marks an empty slot (keys with high bits 0 get 1)
	w  [nCols]int8
}

func fingerprint(k uint64) uint32 {
	if fp := uint32(k >> 32); fp != 0 {
		return fp
	}
	return 1
}

// row returns the weights of key, or nil.
func (m *model) row(k uint64) *[nCols]int8 {
	fp := fingerprint(k)
	for i := k & m.mask; ; i = (i + 1) & m.mask {
		s := &m.slots[i]
		if s.fp == fp {
			return &s.w
		}
		if s.fp == 0 {
			return nil
		}
	}
}

// modelFile is what the trainer writes and the package reads.
type modelFile struct {
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
	raw.Write(le.AppendUint32(nil, modelVersion))
	raw.Write(le.AppendUint32(nil, uint32(f.cfg.Set)))
	raw.WriteByte(byte(f.cfg.CharMin))
	raw.WriteByte(byte(f.cfg.CharMax))
	raw.WriteByte(byte(f.cfg.RuleGain))
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
	if v := u32(); v != modelVersion {
		return nil, fmt.Errorf("model version %d, want %d", v, modelVersion)
	}
	f := &modelFile{}
	f.cfg.Set = featureSet(u32())
	lo, _ := r.ReadByte()
	hi, _ := r.ReadByte()
	gain, _ := r.ReadByte()
	f.cfg.CharMin, f.cfg.CharMax, f.cfg.RuleGain = int(lo), int(hi), int(gain)
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

// build makes the lookup table: a power of two at least 1.5 times the features.
func (f *modelFile) build() *model {
	m := &model{cfg: f.cfg, thresholds: f.thresholds, prior: f.prior, scale: f.scale, n: len(f.keys),
		comments: int(f.comments), corpusSum: f.corpusSum}
	for i, p := range f.thresholds {
		m.probs[i] = p
		p = min(max(p, 1e-6), 1-1e-6)
		m.thresholds[i] = float32(math.Log(float64(p) / float64(1-p)))
	}
	size := uint64(1) << bits.Len64(uint64(len(f.keys)+len(f.keys)/2))
	m.mask = size - 1
	m.slots = make([]slot, size)
	for i, k := range f.keys {
		fp := fingerprint(k)
		j := k & m.mask
		for m.slots[j].fp != 0 {
			j = (j + 1) & m.mask
		}
		m.slots[j].fp = fp
		copy(m.slots[j].w[:], f.w[i*nCols:(i+1)*nCols])
	}
	return m
}

// accumulate adds the weighted rows of the features to z (the language column only
// when lang is set: it reads phase-1 features alone).
func (m *model) accumulate(keys []uint64, vals []float32, z *[nCols]float32, lang bool) {
	cols := nCols
	if !lang {
		cols = colLang
	}
	for i, k := range keys {
		r := m.row(k)
		if r == nil {
			continue
		}
		v := vals[i]
		for c := range cols {
			z[c] += float32(r[c]) * v
		}
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

var _ = slices.Sort[[]int]
