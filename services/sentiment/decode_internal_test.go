package sentiment

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
)

// TestDecodeResponseMatchesProto: on random ResponseSubmitted events, and on those events
// damaged (a byte changed, cut short, a field added), decodeResponse accepts exactly what
// proto.Unmarshal accepts and reads the same segment, answers and tags; well-formed events
// take the direct path.
func TestDecodeResponseMatchesProto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		const alphabet = "abc/:-é0"
		b := []rune{}
		for range r.IntN(6) {
			b = append(b, []rune(alphabet)[r.IntN(8)])
		}
		return string(b)
	}
	varint := func() int32 { return int32(r.Uint32()) >> r.IntN(32) }
	fast, checked := 0, 0
	for i := range 5_000 {
		m := &eventsv1.ResponseSubmitted{ResponseId: str(), SurveyId: str(), Wave: r.Uint32() >> r.IntN(32), Segment: str()}
		for range r.IntN(4) {
			a := &eventsv1.ScoredAnswer{QuestionId: str(), Kind: commonv1.QuestionKind(varint()), Dimension: commonv1.Dimension(varint()), Value: varint(), Text: str()}
			for range r.IntN(2) {
				a.OptionIds = append(a.OptionIds, str())
			}
			m.Answers = append(m.Answers, a)
		}
		if r.IntN(2) == 0 {
			m.SubmittedDay = &timestamppb.Timestamp{Seconds: int64(varint()), Nanos: varint()}
		}
		for range r.IntN(7) {
			tag := make([]byte, r.IntN(3)*16)
			for j := range tag {
				tag[j] = byte(r.Uint32())
			}
			m.Contributors = append(m.Contributors, &eventsv1.ContributorTag{Segment: str(), Window: str(), Tag: tag})
		}
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var v responseView
		if !fastResponse(data, &v) {
			t.Fatalf("event %d: a well-formed event did not take the direct path", i)
		}
		fast++
		for _, d := range [][]byte{data, damage(r, data)} {
			checked++
			var want eventsv1.ResponseSubmitted
			errWant := proto.Unmarshal(d, &want)
			var got responseView
			errGot := decodeResponse(d, &got)
			if (errWant == nil) != (errGot == nil) {
				t.Fatalf("event %d %x: proto.Unmarshal error %v, decodeResponse error %v", i, d, errWant, errGot)
			}
			if errWant != nil {
				continue
			}
			if got.segment != want.Segment || len(got.answers) != len(want.Answers) || len(got.tags) != len(want.Contributors) {
				t.Fatalf("event %d %x: decoded %+v; proto has %v", i, d, got, &want)
			}
			for j, a := range want.Answers {
				if g := got.answers[j]; g.kind != a.Kind || g.dim != a.Dimension || g.value != a.Value || g.text != a.Text {
					t.Fatalf("event %d %x: answer %d decoded %+v; proto has %v", i, d, j, g, a)
				}
			}
			for j, c := range want.Contributors {
				if g := got.tags[j]; g.segment != c.Segment || g.window != c.Window || !bytes.Equal(g.tag, c.Tag) {
					t.Fatalf("event %d %x: tag %d decoded %+v; proto has %v", i, d, j, g, c)
				}
			}
		}
	}
	t.Logf("%d events on the direct path, %d compared", fast, checked)
}

// damage returns a copy of data with one change: a byte replaced, cut short, a byte of
// invalid UTF-8, or a field appended (unknown, or a known number with another wire type).
func damage(r *rand.Rand, data []byte) []byte {
	d := bytes.Clone(data)
	if len(d) == 0 {
		return append(d, byte(r.Uint32()))
	}
	switch r.IntN(5) {
	case 0:
		d[r.IntN(len(d))] = byte(r.Uint32())
	case 1:
		d = d[:r.IntN(len(d))]
	case 2:
		d[r.IntN(len(d))] = 0xff
	case 3:
		d = protowire.AppendTag(d, protowire.Number(1+r.IntN(9)), protowire.Type(r.IntN(6)))
		d = protowire.AppendVarint(d, uint64(r.IntN(3)))
	default:
		d = protowire.AppendTag(d, protowire.Number(1+r.IntN(9)), protowire.BytesType)
		d = protowire.AppendBytes(d, []byte{0x08, 0x01, 0x12, 0x01, 0xc3})
	}
	return d
}

// TestDecodeFeedbackMatchesProto: on random FeedbackSubmitted events (dimensions packed, as
// proto.Marshal writes them, or not), and on those events damaged, decodeFeedback accepts
// exactly what proto.Unmarshal accepts and reads the same fields; well-formed events take the
// direct path.
func TestDecodeFeedbackMatchesProto(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	str := func() string {
		const alphabet = "abc/:-é0"
		b := []rune{}
		for range r.IntN(6) {
			b = append(b, []rune(alphabet)[r.IntN(8)])
		}
		return string(b)
	}
	varint := func() int32 { return int32(r.Uint32()) >> r.IntN(32) }
	fast, checked := 0, 0
	for i := range 5_000 {
		m := &eventsv1.FeedbackSubmitted{FeedbackId: str(), Segment: str(), Text: str(), Language: str()}
		for range r.IntN(4) {
			m.Dimensions = append(m.Dimensions, commonv1.Dimension(varint()))
		}
		if r.IntN(2) == 0 {
			m.SubmittedDay = &timestamppb.Timestamp{Seconds: int64(varint()), Nanos: varint()}
		}
		for range r.IntN(7) {
			tag := make([]byte, r.IntN(3)*16)
			for j := range tag {
				tag[j] = byte(r.Uint32())
			}
			m.Contributors = append(m.Contributors, &eventsv1.ContributorTag{Segment: str(), Window: str(), Tag: tag})
		}
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(3) == 0 { // the dimensions once more, unpacked: a parser accepts both
			for _, d := range m.Dimensions {
				data = protowire.AppendTag(data, 5, protowire.VarintType)
				data = protowire.AppendVarint(data, uint64(d))
			}
		}
		var v feedbackView
		if !fastFeedback(data, &v) {
			t.Fatalf("event %d: a well-formed event did not take the direct path", i)
		}
		fast++
		for _, d := range [][]byte{data, damage(r, data)} {
			checked++
			var want eventsv1.FeedbackSubmitted
			errWant := proto.Unmarshal(d, &want)
			var got feedbackView
			errGot := decodeFeedback(d, &got)
			if (errWant == nil) != (errGot == nil) {
				t.Fatalf("event %d %x: proto.Unmarshal error %v, decodeFeedback error %v", i, d, errWant, errGot)
			}
			if errWant != nil {
				continue
			}
			if got.id != want.FeedbackId || got.segment != want.Segment || got.text != want.Text || got.language != want.Language ||
				!slices.Equal(got.dims, want.Dimensions) || len(got.tags) != len(want.Contributors) {
				t.Fatalf("event %d %x: decoded %+v; proto has %v", i, d, got, &want)
			}
			for j, c := range want.Contributors {
				if g := got.tags[j]; g.segment != c.Segment || g.window != c.Window || !bytes.Equal(g.tag, c.Tag) {
					t.Fatalf("event %d %x: tag %d decoded %+v; proto has %v", i, d, j, g, c)
				}
			}
		}
	}
	t.Logf("%d events on the direct path, %d compared", fast, checked)
}
