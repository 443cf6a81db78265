package sentiment

import (
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
)

// Decoding a ResponseSubmitted with proto.Unmarshal was a sixth of the apply CPU: ten messages
// and their strings per event, most of it thrown away at once. decodeResponse reads the wire
// format directly into what the apply path uses, and leaves every event it does not read
// exactly (a field it does not know, another wire type, invalid UTF-8 or a malformed field)
// to proto.Unmarshal, so that what is accepted and refused does not change
// (TestDecodeResponseMatchesProto).

// tagRef is a contributor tag of an event (events.v1.ContributorTag).
type tagRef struct {
	segment, window string
	tag             []byte
}

// answerView is what the apply path reads of a ScoredAnswer.
type answerView struct {
	kind  commonv1.QuestionKind
	dim   commonv1.Dimension
	value int32
	text  string
}

// responseView is what the apply path reads of a ResponseSubmitted.
type responseView struct {
	segment string
	answers []answerView
	tags    []tagRef
}

// tagRefs converts the contributor tags of a decoded message.
func tagRefs(tags []*eventsv1.ContributorTag) []tagRef {
	out := make([]tagRef, len(tags))
	for i, t := range tags {
		out[i] = tagRef{segment: t.Segment, window: t.Window, tag: t.Tag}
	}
	return out
}

// decodeResponse decodes a ResponseSubmitted into v, as proto.Unmarshal would. v's tags share
// data's bytes.
func decodeResponse(data []byte, v *responseView) error {
	if fastResponse(data, v) {
		return nil
	}
	var m eventsv1.ResponseSubmitted
	if err := proto.Unmarshal(data, &m); err != nil {
		return err
	}
	*v = responseView{segment: m.Segment, tags: tagRefs(m.Contributors)}
	for _, a := range m.Answers {
		v.answers = append(v.answers, answerView{kind: a.Kind, dim: a.Dimension, value: a.Value, text: a.Text})
	}
	return nil
}

// fastResponse reads data into v if it holds only the fields of ResponseSubmitted, each with
// its own wire type and valid UTF-8 strings; false leaves the decision to proto.Unmarshal.
func fastResponse(data []byte, v *responseView) bool {
	*v = responseView{answers: v.answers[:0], tags: v.tags[:0]}
	if v.answers == nil {
		v.answers, v.tags = make([]answerView, 0, 4), make([]tagRef, 0, 8)
	}
	return fields(data, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch {
		case (num == 1 || num == 2) && typ == protowire.BytesType: // response_id, survey_id
			return utf8.Valid(b)
		case num == 3 && typ == protowire.VarintType: // wave
			return true
		case num == 4 && typ == protowire.BytesType:
			if !utf8.Valid(b) {
				return false
			}
			v.segment = interned.get(b)
			return true
		case num == 5 && typ == protowire.BytesType:
			a, ok := fastAnswer(b)
			v.answers = append(v.answers, a)
			return ok
		case num == 6 && typ == protowire.BytesType: // submitted_day: seconds, nanos
			return fields(b, func(num protowire.Number, typ protowire.Type, _ []byte, _ uint64) bool {
				return (num == 1 || num == 2) && typ == protowire.VarintType
			})
		case num == 7 && typ == protowire.BytesType:
			t, ok := fastTag(b)
			v.tags = append(v.tags, t)
			return ok
		}
		return false
	})
}

// feedbackView is what the apply path reads of a FeedbackSubmitted.
type feedbackView struct {
	id, segment, text, language string
	dims                        []commonv1.Dimension
	tags                        []tagRef
}

// decodeFeedback decodes a FeedbackSubmitted into v, as proto.Unmarshal would. v's tags share
// data's bytes.
func decodeFeedback(data []byte, v *feedbackView) error {
	if fastFeedback(data, v) {
		return nil
	}
	var m eventsv1.FeedbackSubmitted
	if err := proto.Unmarshal(data, &m); err != nil {
		return err
	}
	*v = feedbackView{id: m.FeedbackId, segment: m.Segment, text: m.Text, language: m.Language, dims: m.Dimensions, tags: tagRefs(m.Contributors)}
	return nil
}

// fastFeedback reads data into v if it holds only the fields of FeedbackSubmitted, each with
// its own wire type (dimensions packed or not) and valid UTF-8 strings; false leaves the
// decision to proto.Unmarshal.
func fastFeedback(data []byte, v *feedbackView) bool {
	*v = feedbackView{dims: make([]commonv1.Dimension, 0, 2), tags: make([]tagRef, 0, 8)}
	return fields(data, func(num protowire.Number, typ protowire.Type, b []byte, x uint64) bool {
		switch {
		case num >= 1 && num <= 4 && typ == protowire.BytesType:
			if !utf8.Valid(b) {
				return false
			}
			switch num {
			case 1:
				v.id = string(b)
			case 2:
				v.segment = interned.get(b)
			case 3:
				v.text = string(b)
			default:
				v.language = interned.get(b)
			}
			return true
		case num == 5 && typ == protowire.VarintType:
			v.dims = append(v.dims, commonv1.Dimension(int32(x)))
			return true
		case num == 5 && typ == protowire.BytesType: // packed
			for len(b) > 0 {
				d, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return false
				}
				v.dims, b = append(v.dims, commonv1.Dimension(int32(d))), b[n:]
			}
			return true
		case num == 6 && typ == protowire.BytesType: // submitted_day: seconds, nanos
			return fields(b, func(num protowire.Number, typ protowire.Type, _ []byte, _ uint64) bool {
				return (num == 1 || num == 2) && typ == protowire.VarintType
			})
		case num == 7 && typ == protowire.BytesType:
			t, ok := fastTag(b)
			v.tags = append(v.tags, t)
			return ok
		}
		return false
	})
}

// fastTag reads a ContributorTag; false if it holds anything else.
func fastTag(b []byte) (tagRef, bool) {
	var t tagRef
	ok := fields(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch {
		case num == 1 && typ == protowire.BytesType && utf8.Valid(b):
			t.segment = interned.get(b)
		case num == 2 && typ == protowire.BytesType && utf8.Valid(b):
			t.window = interned.get(b)
		case num == 3 && typ == protowire.BytesType:
			t.tag = b
		default:
			return false
		}
		return true
	})
	return t, ok
}

func fastAnswer(b []byte) (answerView, bool) {
	var a answerView
	ok := fields(b, func(num protowire.Number, typ protowire.Type, b []byte, x uint64) bool {
		switch {
		case (num == 1 || num == 5) && typ == protowire.BytesType: // question_id, option_ids
			return utf8.Valid(b)
		case num == 2 && typ == protowire.VarintType:
			a.kind = commonv1.QuestionKind(int32(x))
		case num == 3 && typ == protowire.VarintType:
			a.dim = commonv1.Dimension(int32(x))
		case num == 4 && typ == protowire.VarintType:
			a.value = int32(x)
		case num == 6 && typ == protowire.BytesType && utf8.Valid(b):
			a.text = string(b)
		default:
			return false
		}
		return true
	})
	return a, ok
}

// fields calls f with each field of a message's wire bytes: its number, type, and its bytes
// (BytesType) or value (VarintType); other wire types are refused. False if the bytes are
// malformed or f refuses a field.
func fields(data []byte, f func(protowire.Number, protowire.Type, []byte, uint64) bool) bool {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return false
		}
		data = data[n:]
		var (
			b []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(data)
		case protowire.BytesType:
			b, n = protowire.ConsumeBytes(data)
		default:
			return false
		}
		if n < 0 || !f(num, typ, b, x) {
			return false
		}
		data = data[n:]
	}
	return true
}

// interned keeps one copy of the segment and window strings events repeat (an organisation
// has few of each), so that decoding an event does not allocate them again.
var interned = &internTable{}

type internTable struct {
	mu sync.Mutex
	m  map[string]string
}

// get returns b as a string, shared with earlier calls for the same bytes; beyond maxParsed
// strings it starts afresh.
func (t *internTable) get(b []byte) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.m[string(b)]; ok {
		return s
	}
	if t.m == nil || len(t.m) >= maxParsed {
		t.m = map[string]string{}
	}
	s := string(b)
	t.m[s] = s
	return s
}
