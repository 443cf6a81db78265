package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Tally is what the responses of one segment say in one wave (or one day of a wave): how many
// responded, and per question the counts, sums and sums of squares of their answers. Results
// read tallies instead of decoding every response. Nothing in a tally is finer than its
// responses: it is their sum. On disk a tally is binary (MarshalBinary), not JSON: results
// decode one per segment on each read, and SubmitResponse rewrites two per response.
type Tally struct {
	Respondents int
	Questions   map[string]*QuestionTally
}

// QuestionTally is one question's answers in a Tally.
type QuestionTally struct {
	Kind QuestionKind
	// Answers counts the answers, TEXT ones included.
	Answers int
	// Buckets counts SCALE and ENPS answers by value ("1".."5", "0".."10") and CHOICE answers
	// by option id.
	Buckets map[string]int
	// Sum and SumSq are the sum and sum of squares of the SCALE and ENPS values.
	Sum   int64
	SumSq int64
}

// Add counts one response in t. TEXT answers count as answers; their texts are kept apart
// (ForEachText).
func (t *Tally) Add(r Response) {
	t.Respondents++
	for _, a := range r.Answers {
		if t.Questions == nil {
			t.Questions = map[string]*QuestionTally{}
		}
		q := t.Questions[a.QuestionID]
		if q == nil {
			q = &QuestionTally{Kind: a.Kind}
			t.Questions[a.QuestionID] = q
		}
		q.Answers++
		switch a.Kind {
		case QuestionScale, QuestionENPS:
			q.bucket(strconv.Itoa(int(a.Value)))
			q.Sum += int64(a.Value)
			q.SumSq += int64(a.Value) * int64(a.Value)
		case QuestionChoice:
			for _, id := range a.OptionIDs {
				q.bucket(id)
			}
		}
	}
}

func (q *QuestionTally) bucket(v string) {
	if q.Buckets == nil {
		q.Buckets = map[string]int{}
	}
	q.Buckets[v]++
}

// Keys of the tallies bucket, under ResponsePrefix(survey, wave): 't' + segment for the
// wave's tally of a segment, 'd' + big-endian unix seconds of the day + segment for one day's,
// 'n' alone for the wave's version (WaveVersion).
const (
	tallyWave    = 't'
	tallyDay     = 'd'
	tallyVersion = 'n'
)

func waveVersionKey(surveyID string, wave uint32) []byte {
	return append(ResponsePrefix(surveyID, wave), tallyVersion)
}

// WaveVersion is the version of one wave's tallies and texts: the number of responses counted
// in them (0 before the first), bumped in the transaction that counts a response. Anything
// computed from a wave's tallies and texts in a transaction stays true for any transaction
// that reads the same version.
func WaveVersion(tx ReadTx, surveyID string, wave uint32) (uint64, error) {
	bk, err := Tallies.in(tx)
	if err != nil {
		return 0, err
	}
	v := bk.Get(waveVersionKey(surveyID, wave))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("store: version of wave %s/%d has %d bytes, want 8", surveyID, wave, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func waveTallyKey(r Response) []byte {
	return append(append(ResponsePrefix(r.SurveyID, r.Wave), tallyWave), r.Segment...)
}

func dayTallyKey(r Response) []byte {
	k := append(ResponsePrefix(r.SurveyID, r.Wave), tallyDay)
	k = binary.BigEndian.AppendUint64(k, uint64(r.Day.Unix()))
	return append(k, r.Segment...)
}

// textKey: ResponsePrefix + big-endian unix seconds of the day + segment + 0x00 + question id
// + 0x00 + response id. The response id is random, so the order of texts says nothing about
// the order of arrival.
func textKey(r Response, questionID string) []byte {
	k := binary.BigEndian.AppendUint64(ResponsePrefix(r.SurveyID, r.Wave), uint64(r.Day.Unix()))
	k = append(append(k, r.Segment...), 0)
	k = append(append(k, questionID...), 0)
	return append(k, r.ID...)
}

// unsafeTally counts r in its wave's and its day's tallies and keeps its TEXT answers, in
// the caller's transaction. It must run once per response: UnsafePutResponse and the
// migration call it.
func unsafeTally(tx WriteTx, r Response) error {
	bk, err := Tallies.writable(tx)
	if err != nil {
		return err
	}
	n, err := WaveVersion(tx, r.SurveyID, r.Wave)
	if err != nil {
		return err
	}
	if err := bk.Put(waveVersionKey(r.SurveyID, r.Wave), binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
		return fmt.Errorf("store: put wave version: %w", err)
	}
	for _, k := range [][]byte{waveTallyKey(r), dayTallyKey(r)} {
		var t Tally
		if v := bk.Get(k); v != nil {
			if err := t.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("store: tally %q: %w", k, err)
			}
		}
		t.Add(r)
		v, _ := t.MarshalBinary()
		if err := bk.Put(k, v); err != nil {
			return fmt.Errorf("store: put tally: %w", err)
		}
	}
	texts, err := Texts.writable(tx)
	if err != nil {
		return err
	}
	for _, a := range r.Answers {
		if a.Kind != QuestionText {
			continue
		}
		if err := texts.Put(textKey(r, a.QuestionID), []byte(a.Text)); err != nil {
			return fmt.Errorf("store: put text: %w", err)
		}
	}
	return nil
}

// ForEachTally calls fn with each segment's tally of one wave. With before zero, the whole
// wave's; otherwise the sum of the days before it (the days of responses are UTC midnights).
// fn may keep the tally.
func ForEachTally(tx ReadTx, surveyID string, wave uint32, before time.Time, fn func(seg string, t *Tally) error) error {
	bk, err := Tallies.in(tx)
	if err != nil {
		return err
	}
	p := ResponsePrefix(surveyID, wave)
	c := bk.Cursor()
	if before.IsZero() {
		p = append(p, tallyWave)
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			t := &Tally{}
			if err := t.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("store: tally %q: %w", k, err)
			}
			if err := fn(string(k[len(p):]), t); err != nil {
				return err
			}
		}
		return nil
	}
	p = append(p, tallyDay)
	sums := map[string]*Tally{}
	var order []string
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if len(k) < len(p)+8 {
			return fmt.Errorf("store: malformed tally key %q", k)
		}
		if int64(binary.BigEndian.Uint64(k[len(p):])) >= before.Unix() {
			continue
		}
		var t Tally
		if err := t.UnmarshalBinary(v); err != nil {
			return fmt.Errorf("store: tally %q: %w", k, err)
		}
		seg := string(k[len(p)+8:])
		s := sums[seg]
		if s == nil {
			s = &Tally{}
			sums[seg] = s
			order = append(order, seg)
		}
		s.merge(&t)
	}
	for _, seg := range order {
		if err := fn(seg, sums[seg]); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tally) merge(o *Tally) {
	t.Respondents += o.Respondents
	for id, oq := range o.Questions {
		if t.Questions == nil {
			t.Questions = map[string]*QuestionTally{}
		}
		q := t.Questions[id]
		if q == nil {
			q = &QuestionTally{Kind: oq.Kind}
			t.Questions[id] = q
		}
		q.Answers += oq.Answers
		q.Sum += oq.Sum
		q.SumSq += oq.SumSq
		for v, n := range oq.Buckets {
			if q.Buckets == nil {
				q.Buckets = map[string]int{}
			}
			q.Buckets[v] += n
		}
	}
}

// ForEachText calls fn with each TEXT answer of one wave, with its segment, question and
// (random) response id, in key order (by day, segment, question, then response id); with
// before not zero, only those of the days before it.
func ForEachText(tx ReadTx, surveyID string, wave uint32, before time.Time, fn func(seg, questionID, responseID, text string) error) error {
	bk, err := Texts.in(tx)
	if err != nil {
		return err
	}
	p := ResponsePrefix(surveyID, wave)
	c := bk.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		rest := k[len(p):]
		if len(rest) < 8 {
			return fmt.Errorf("store: malformed text key %q", k)
		}
		if !before.IsZero() && int64(binary.BigEndian.Uint64(rest)) >= before.Unix() {
			continue
		}
		parts := bytes.SplitN(rest[8:], []byte{0}, 3)
		if len(parts) != 3 {
			return fmt.Errorf("store: malformed text key %q", k)
		}
		if err := fn(string(parts[0]), string(parts[1]), string(parts[2]), string(v)); err != nil {
			return err
		}
	}
	return nil
}

// buildTallies counts every stored response in the tallies (migration from schema 2, whose
// files have responses and no tallies). It runs in Init's transaction.
func buildTallies(tx WriteTx) error {
	bk, err := Responses.in(tx)
	if err != nil {
		return err
	}
	// Counting writes other buckets only, so the cursor over responses stays valid.
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) < i+1+4 {
			return fmt.Errorf("store: migrate: malformed response key %q", k)
		}
		r := Response{SurveyID: string(k[:i]), Wave: binary.BigEndian.Uint32(k[i+1:]), ID: string(k[i+5:])}
		if err := decode(fmt.Sprintf("response %q", k), v, &r); err != nil {
			return err
		}
		if err := unsafeTally(tx, r); err != nil {
			return err
		}
	}
	return nil
}

// MarshalBinary encodes t: uvarint respondents, uvarint question count, then per question in
// id order: string id, string kind, uvarint answers, varint sum, varint sum of squares,
// uvarint bucket count, then per bucket in value order: string value, uvarint count. A string
// is a uvarint length and its bytes.
func (t *Tally) MarshalBinary() ([]byte, error) {
	b := binary.AppendUvarint(nil, uint64(t.Respondents))
	b = binary.AppendUvarint(b, uint64(len(t.Questions)))
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	for _, id := range slices.Sorted(mapKeys(t.Questions)) {
		q := t.Questions[id]
		b = str(b, id)
		b = str(b, string(q.Kind))
		b = binary.AppendUvarint(b, uint64(q.Answers))
		b = binary.AppendVarint(b, q.Sum)
		b = binary.AppendVarint(b, q.SumSq)
		b = binary.AppendUvarint(b, uint64(len(q.Buckets)))
		for _, v := range slices.Sorted(mapKeys(q.Buckets)) {
			b = str(b, v)
			b = binary.AppendUvarint(b, uint64(q.Buckets[v]))
		}
	}
	return b, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var errTally = errors.New("malformed tally")

// UnmarshalBinary decodes what MarshalBinary wrote into t.
func (t *Tally) UnmarshalBinary(b []byte) error {
	bad := false
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	str := func() string {
		n := uv()
		if bad || n > uint64(len(b)) {
			bad = true
			return ""
		}
		s := string(b[:n])
		b = b[n:]
		return s
	}
	*t = Tally{Respondents: int(uv())}
	nq := uv()
	for i := uint64(0); i < nq && !bad; i++ {
		if t.Questions == nil {
			t.Questions = make(map[string]*QuestionTally, min(nq, 64))
		}
		id := str()
		q := &QuestionTally{Kind: QuestionKind(str()), Answers: int(uv()), Sum: sv(), SumSq: sv()}
		nb := uv()
		for j := uint64(0); j < nb && !bad; j++ {
			if q.Buckets == nil {
				q.Buckets = make(map[string]int, min(nb, 64))
			}
			v := str()
			q.Buckets[v] = int(uv())
		}
		t.Questions[id] = q
	}
	if bad || len(b) != 0 {
		return errTally
	}
	return nil
}
