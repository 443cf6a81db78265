package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

// EncodeCommentJSON writes c as JSON, as encodeComment did before format 1: the records stores
// made before it hold.
func EncodeCommentJSON(c *Comment) ([]byte, error) {
	if c.ID == "" {
		return nil, errors.New("store: comment without id")
	}
	if c.AuthorSegment.IsZero() {
		return nil, fmt.Errorf("store: comment %s without an author segment", c.ID)
	}
	r := commentJSON{
		AuthorSegment: c.AuthorSegment.String(), Text: c.Text, Channel: int32(c.Channel),
		Status: int32(c.Status), SentimentScore: c.SentimentScore, SentimentLabel: int32(c.SentimentLabel),
		OwnerGroup: c.OwnerGroup, Upvotes: c.Upvotes, CreateDay: formatDay(c.CreateDay),
		UpdateDay: formatDay(c.UpdateDay), MessageCount: c.MessageCount, Language: c.Language,
	}
	for _, d := range c.Dimensions {
		r.Dimensions = append(r.Dimensions, int32(d))
	}
	for _, f := range c.Risks {
		r.Risks = append(r.Risks, int32(f))
	}
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("store: encode comment %s: %w", c.ID, err)
	}
	return data, nil
}

// The record codec, for its tests.
var (
	EncodeComment = encodeComment
	DecodeComment = decodeComment
	BinaryAuthor  = binaryAuthor
)

// FilterKeyPart is what follows the organisation and 0x00 in f's by_filter keys, up to the
// by_day key's day: kind, value, 0x00.
func FilterKeyPart(f Filter) []byte { return filterPrefix(nil, f)[1:] }

// How long a run of finished days must be to be sealed, and the most one transaction seals.
var SealMinBytes, SealMaxBytes = sealMinBytes, sealMaxBytes

// SetSealSizes sets the least run the seal moves and the most one transaction moves, until the
// end of the test (which must not run in parallel).
func SetSealSizes(t testing.TB, min, max int) {
	oldMin, oldMax := sealMinBytes, sealMaxBytes
	sealMinBytes, sealMaxBytes = min, max
	t.Cleanup(func() { sealMinBytes, sealMaxBytes = oldMin, oldMax })
}
