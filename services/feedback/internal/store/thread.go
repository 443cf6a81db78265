package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
)

func messagePrefix(feedbackID string) []byte {
	return append([]byte(feedbackID), 0)
}

// UnsafeAddMessage stores message seq of comment feedbackID's thread. Callers number messages
// from 1 with the comment's message count, so that key order is thread order.
func UnsafeAddMessage(tx *bolt.Tx, feedbackID string, seq uint32, m *feedbackv1.Message) error {
	bk, err := Messages.in(tx)
	if err != nil {
		return err
	}
	data, err := marshal.Marshal(m)
	if err != nil {
		return fmt.Errorf("store: encode message of %s: %w", feedbackID, err)
	}
	return bk.Put(binary.BigEndian.AppendUint32(messagePrefix(feedbackID), seq), data)
}

// UnsafeMessages returns the thread of comment feedbackID, oldest first.
func UnsafeMessages(tx *bolt.Tx, feedbackID string) ([]*feedbackv1.Message, error) {
	bk, err := Messages.in(tx)
	if err != nil {
		return nil, err
	}
	var out []*feedbackv1.Message
	prefix := messagePrefix(feedbackID)
	c := bk.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		m := &feedbackv1.Message{}
		if err := proto.Unmarshal(v, m); err != nil {
			return nil, fmt.Errorf("store: decode message of %s: %w", feedbackID, err)
		}
		out = append(out, m)
	}
	return out, nil
}
