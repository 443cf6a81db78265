package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Comment is a stored comment. It keeps its author's segment, which readers never see as such:
// the service shows a comment under the segment its placement gives, and maps a Comment to the
// API nowhere else. Enumerations keep the numbers of their voix protobuf enums, which protobuf's
// compatibility rules keep stable. Days are UTC midnights; only the day is written.
type Comment struct {
	ID string
	// AuthorSegment is the segment the author gave: possibly a team too small to show.
	AuthorSegment  segment.Path
	Text           string // scrubbed
	Channel        feedbackv1.Channel
	Status         commonv1.FeedbackStatus
	Dimensions     []commonv1.Dimension
	SentimentScore float64
	SentimentLabel commonv1.SentimentLabel
	OwnerGroup     string
	Upvotes        uint32
	// CreateDay is the day the comment was made; UpdateDay the day of its last message or
	// status change.
	CreateDay, UpdateDay time.Time
	// MessageCount numbers the thread's messages: the next one is MessageCount+1.
	MessageCount uint32
	Language     string
	// Risks are the sentiment service's risk flags, distinct and in enum order; nil for none.
	Risks []commonv1.RiskFlag
}

// commentJSON is a Comment on disk as schema 3 wrote it before the binary format 1
// (record.go): decodeComment still reads it, so a store keeps its older records as they are
// and rewrites one in format 1 when the comment changes. The id is the record's key: the
// oldest records repeat it in the value, and read the same.
type commentJSON struct {
	ID             string  `json:"id,omitempty"`
	AuthorSegment  string  `json:"author_segment"`
	Text           string  `json:"text"`
	Channel        int32   `json:"channel,omitempty"`
	Status         int32   `json:"status"`
	Dimensions     []int32 `json:"dimensions,omitempty"`
	SentimentScore float64 `json:"sentiment_score,omitempty"`
	SentimentLabel int32   `json:"sentiment_label,omitempty"`
	OwnerGroup     string  `json:"owner_group,omitempty"`
	Upvotes        uint32  `json:"upvotes,omitempty"`
	CreateDay      string  `json:"create_day"`
	UpdateDay      string  `json:"update_day"`
	MessageCount   uint32  `json:"message_count,omitempty"`
	Language       string  `json:"language,omitempty"`
	// Risks was added within schema 3: absent in older records, which means none.
	Risks []int32 `json:"risks,omitempty"`
}

const dayLayout = "2006-01-02"

// formatDay writes the UTC day of t; "" for the zero time.
func formatDay(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(dayLayout)
}

// parseDay reads formatDay's output.
func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(dayLayout, s)
}

// encodeComment writes c in the binary format 1 (record.go).
func encodeComment(c *Comment) ([]byte, error) {
	if c.ID == "" {
		return nil, errors.New("store: comment without id")
	}
	if c.AuthorSegment.IsZero() {
		return nil, fmt.Errorf("store: comment %s without an author segment", c.ID)
	}
	return encodeBinary(c)
}

// decodeComment reads a record of either format: binary (first byte formatBinary1) or JSON.
func decodeComment(id string, data []byte) (*Comment, error) {
	if len(data) > 0 && data[0] == formatBinary1 {
		return decodeBinary(id, data)
	}
	var r commentJSON
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("store: decode comment %s: %w", id, err)
	}
	author, err := segment.Parse(r.AuthorSegment)
	if err != nil {
		return nil, fmt.Errorf("store: comment %s: author segment: %w", id, err)
	}
	created, err := parseDay(r.CreateDay)
	if err != nil {
		return nil, fmt.Errorf("store: comment %s: create day: %w", id, err)
	}
	updated, err := parseDay(r.UpdateDay)
	if err != nil {
		return nil, fmt.Errorf("store: comment %s: update day: %w", id, err)
	}
	c := &Comment{
		ID: id, AuthorSegment: author, Text: r.Text, Channel: feedbackv1.Channel(r.Channel),
		Status: commonv1.FeedbackStatus(r.Status), SentimentScore: r.SentimentScore,
		SentimentLabel: commonv1.SentimentLabel(r.SentimentLabel), OwnerGroup: r.OwnerGroup,
		Upvotes: r.Upvotes, CreateDay: created, UpdateDay: updated, MessageCount: r.MessageCount,
		Language: r.Language,
	}
	for _, d := range r.Dimensions {
		c.Dimensions = append(c.Dimensions, commonv1.Dimension(d))
	}
	for _, f := range r.Risks {
		c.Risks = append(c.Risks, commonv1.RiskFlag(f))
	}
	return c, nil
}

// UnsafePutComment stores c under c.ID.
func UnsafePutComment(tx WriteTx, c *Comment) error {
	bk, err := Comments.writable(tx)
	if err != nil {
		return err
	}
	data, err := encodeComment(c)
	if err != nil {
		return err
	}
	return bk.Put([]byte(c.ID), data)
}

// GetComment returns the comment id, or ErrNotFound.
func GetComment(tx ReadTx, id string) (*Comment, error) {
	bk, err := Comments.in(tx)
	if err != nil {
		return nil, err
	}
	data := bk.Get([]byte(id))
	if data == nil {
		return nil, fmt.Errorf("%w: feedback %q", ErrNotFound, id)
	}
	return decodeComment(id, data)
}

// HasComment reports whether comment id is stored, without decoding it.
func HasComment(tx ReadTx, id string) (bool, error) {
	bk, err := Comments.in(tx)
	if err != nil {
		return false, err
	}
	return bk.Get([]byte(id)) != nil, nil // records are never empty: Get sees one put in this transaction
}

// CommentAuthor returns the author segment of comment id as stored, or ErrNotFound, reading
// only the start of its record: in format 1 the author segment follows the score; a JSON
// record starts with it (after the id in older records), read so when it holds no character
// JSON escapes; any other record is decoded whole. A listing uses it to skip the comments
// shown outside its prefix without decoding them.
func CommentAuthor(tx ReadTx, id string) (string, error) {
	bk, err := Comments.in(tx)
	if err != nil {
		return "", err
	}
	data := bk.Get([]byte(id))
	if data == nil {
		return "", fmt.Errorf("%w: feedback %q", ErrNotFound, id)
	}
	if a, ok := binaryAuthor(data); ok {
		return a, nil
	}
	for _, head := range []string{`{"author_segment":"`, `{"id":"` + id + `","author_segment":"`} {
		if len(data) > len(head) && string(data[:len(head)]) == head {
			rest := data[len(head):]
			if end := bytes.IndexByte(rest, '"'); end > 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
				return string(rest[:end]), nil
			}
		}
	}
	c, err := decodeComment(id, data)
	if err != nil {
		return "", err
	}
	return c.AuthorSegment.String(), nil
}
