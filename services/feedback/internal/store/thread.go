package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
)

// Message is one message of a comment's thread: an answer, a status note or the author's
// follow-up. Only its day is kept.
type Message struct {
	ID     string
	Author feedbackv1.Author
	Text   string
	Day    time.Time
	// Status is the status the comment moved to with this message; UNSPECIFIED for a message
	// without a status change.
	Status commonv1.FeedbackStatus
}

// messageJSON is a Message on disk (schema 3).
type messageJSON struct {
	ID     string `json:"id"`
	Author int32  `json:"author"`
	Text   string `json:"text"`
	Day    string `json:"day"`
	Status int32  `json:"status,omitempty"`
}

func encodeMessage(m *Message) ([]byte, error) {
	return json.Marshal(messageJSON{ID: m.ID, Author: int32(m.Author), Text: m.Text, Day: formatDay(m.Day), Status: int32(m.Status)})
}

func decodeMessage(data []byte) (*Message, error) {
	var r messageJSON
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	day, err := parseDay(r.Day)
	if err != nil {
		return nil, err
	}
	return &Message{ID: r.ID, Author: feedbackv1.Author(r.Author), Text: r.Text, Day: day, Status: commonv1.FeedbackStatus(r.Status)}, nil
}

func messagePrefix(feedbackID string) []byte {
	return append([]byte(feedbackID), 0)
}

// UnsafeAddMessage stores message seq of comment feedbackID's thread. Callers number messages
// from 1 with the comment's message count, so that key order is thread order.
func UnsafeAddMessage(tx WriteTx, feedbackID string, seq uint32, m *Message) error {
	bk, err := Messages.writable(tx)
	if err != nil {
		return err
	}
	data, err := encodeMessage(m)
	if err != nil {
		return fmt.Errorf("store: encode message of %s: %w", feedbackID, err)
	}
	return bk.Put(binary.BigEndian.AppendUint32(messagePrefix(feedbackID), seq), data)
}

// ThreadMessages returns the thread of comment feedbackID, oldest first.
func ThreadMessages(tx ReadTx, feedbackID string) ([]*Message, error) {
	bk, err := Messages.in(tx)
	if err != nil {
		return nil, err
	}
	var out []*Message
	prefix := messagePrefix(feedbackID)
	c := bk.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		m, err := decodeMessage(v)
		if err != nil {
			return nil, fmt.Errorf("store: decode message of %s: %w", feedbackID, err)
		}
		out = append(out, m)
	}
	return out, nil
}
