package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// A comment record is binary since format 1 (issue 12: bytes per comment); one written before
// is JSON (commentJSON), whose first byte is '{', and reads the same. Format 1, after its first
// byte:
//
//	score         8 bytes, the float64's bits, big-endian
//	author        uvarint length + segment path
//	channel, status, upvotes, message count: one uvarint each (enums as uint32 of their int32)
//	owner group   uvarint length + bytes
//	create day    uvarint: days since 1970-01-01, plus one; 0 for none
//	update day    uvarint: 0 for none, else zigzag(update - create days) + 1
//	text          uvarint length + bytes
//	label         uvarint
//	dimensions    uvarint count, one uvarint each
//	risks         uvarint count, one uvarint each
//	language      uvarint length + bytes, to the end of the record
//
// Only days are kept, as in JSON. The order keeps what the analyzer derives from the text
// (score; label, dimensions, risks, language) apart from the rest: the author segment and the
// text sit between them, so that, once segment paths and texts are cut out, what is left of a
// record is the score (with the first byte and a length), the workflow fields with the days,
// and the derived fields alone, and two comments of one person share no run of 16 bytes
// because they were scored alike (the audit's linkage check, cmd/voix/internal/audit, cuts
// these fields out of JSON records by name).
const formatBinary1 = 0x01

// appendString appends s with its uvarint length.
func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// dayNumber is t's day as days since 1970-01-01 plus one, 0 for the zero time; false for a
// day before 1970 or after 5,000,000 years, which format 1 does not hold.
func dayNumber(t time.Time) (uint64, bool) {
	if t.IsZero() {
		return 0, true
	}
	d := t.Unix() / 86400
	if t.Unix() < 0 || d >= math.MaxInt32 {
		return 0, false
	}
	return uint64(d) + 1, true
}

// zigzag maps a signed number onto an unsigned one, small in magnitude to small.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// encodeBinary writes c in format 1.
func encodeBinary(c *Comment) ([]byte, error) {
	created, ok1 := dayNumber(c.CreateDay)
	updated, ok2 := dayNumber(c.UpdateDay)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("store: comment %s: days before 1970 are not kept", c.ID)
	}
	if updated != 0 {
		updated = zigzag(int64(updated)-int64(created)) + 1
	}
	author := c.AuthorSegment.String()
	b := make([]byte, 0, 48+len(author)+len(c.OwnerGroup)+len(c.Language)+len(c.Text)+len(c.Dimensions)+len(c.Risks))
	b = append(b, formatBinary1)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(c.SentimentScore))
	b = appendString(b, author)
	for _, v := range []int32{int32(c.Channel), int32(c.Status)} {
		b = binary.AppendUvarint(b, uint64(uint32(v)))
	}
	b = binary.AppendUvarint(b, uint64(c.Upvotes))
	b = binary.AppendUvarint(b, uint64(c.MessageCount))
	b = appendString(b, c.OwnerGroup)
	b = binary.AppendUvarint(b, created)
	b = binary.AppendUvarint(b, updated)
	b = appendString(b, c.Text)
	b = binary.AppendUvarint(b, uint64(uint32(c.SentimentLabel)))
	b = binary.AppendUvarint(b, uint64(len(c.Dimensions)))
	for _, d := range c.Dimensions {
		b = binary.AppendUvarint(b, uint64(uint32(d)))
	}
	b = binary.AppendUvarint(b, uint64(len(c.Risks)))
	for _, f := range c.Risks {
		b = binary.AppendUvarint(b, uint64(uint32(f)))
	}
	return appendString(b, c.Language), nil
}

// errShort is a record that ends in the middle of a field.
var errShort = errors.New("record ends early")

// reader reads format 1's fields from a record, keeping the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		if n < 0 {
			r.err = errors.New("varint overflows 64 bits")
		}
		return 0
	}
	r.b = r.b[n:]
	return v
}

// uint32 reads a uvarint that must fit 32 bits.
func (r *reader) uint32() uint32 {
	v := r.uvarint()
	if v > math.MaxUint32 {
		r.err = fmt.Errorf("value %d does not fit 32 bits", v)
		return 0
	}
	return uint32(v)
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string { return string(r.bytes(r.uvarint())) }

// count reads a list's length: each element takes at least one byte.
func (r *reader) count() int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)) {
		r.err = errShort
		return 0
	}
	return int(n)
}

// day is the day of day number v (dayNumber), the zero time for 0.
func (r *reader) day(v uint64) time.Time {
	if v == 0 || r.err != nil {
		return time.Time{}
	}
	// Days within ±2^31 of 1970 keep time.Unix far from overflow.
	if v-1 > math.MaxInt32 {
		r.err = fmt.Errorf("day %d out of range", v-1)
		return time.Time{}
	}
	return time.Unix(int64(v-1)*86400, 0).UTC()
}

// decodeBinary reads a format 1 record of comment id.
func decodeBinary(id string, data []byte) (*Comment, error) {
	if len(data) < 9 || data[0] != formatBinary1 {
		return nil, fmt.Errorf("store: decode comment %s: not a format %d record", id, formatBinary1)
	}
	r := &reader{b: data[9:]}
	c := &Comment{ID: id, SentimentScore: math.Float64frombits(binary.BigEndian.Uint64(data[1:9]))}
	author := r.string()
	c.Channel = feedbackv1.Channel(int32(r.uint32()))
	c.Status = commonv1.FeedbackStatus(int32(r.uint32()))
	c.Upvotes = r.uint32()
	c.MessageCount = r.uint32()
	c.OwnerGroup = r.string()
	created := r.uvarint()
	c.CreateDay = r.day(created)
	if u := r.uvarint(); u != 0 && r.err == nil {
		d := int64(created) + unzigzag(u-1)
		if d <= 0 {
			r.err = fmt.Errorf("update day %d out of range", d)
		} else {
			c.UpdateDay = r.day(uint64(d))
		}
	}
	c.Text = r.string()
	c.SentimentLabel = commonv1.SentimentLabel(int32(r.uint32()))
	if n := r.count(); n > 0 {
		c.Dimensions = make([]commonv1.Dimension, n)
		for i := range c.Dimensions {
			c.Dimensions[i] = commonv1.Dimension(int32(r.uint32()))
		}
	}
	if n := r.count(); n > 0 {
		c.Risks = make([]commonv1.RiskFlag, n)
		for i := range c.Risks {
			c.Risks[i] = commonv1.RiskFlag(int32(r.uint32()))
		}
	}
	c.Language = r.string()
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the language", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("store: decode comment %s: %w", id, r.err)
	}
	p, err := segment.Parse(author)
	if err != nil {
		return nil, fmt.Errorf("store: comment %s: author segment: %w", id, err)
	}
	c.AuthorSegment = p
	return c, nil
}

// binaryAuthor returns the author segment of a format 1 record as stored, without reading the
// rest.
func binaryAuthor(data []byte) (string, bool) {
	if len(data) < 9 || data[0] != formatBinary1 {
		return "", false
	}
	r := &reader{b: data[9:]}
	a := r.string()
	return a, r.err == nil
}
