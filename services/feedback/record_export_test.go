package feedback

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
)

// CommentRecord returns the bytes of comment id's record as stored.
func (s *Service) CommentRecord(id string) ([]byte, error) {
	var out []byte
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		out = append(out, tx.Bucket(store.Comments).Get([]byte(id))...)
		return nil
	})
	return out, err
}

// RewriteCommentAsJSON writes comment id's record again as JSON, as stores hold the comments
// written before the binary record (with the id in the value, as the oldest do). Written here
// field by field, not with the store's code, which writes the current format only.
func (s *Service) RewriteCommentAsJSON(id string) error {
	return s.host.DB.Update(func(tx *bolt.Tx) error {
		c, err := store.GetComment(tx, id)
		if err != nil {
			return err
		}
		day := func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02")
		}
		r := struct {
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
			Risks          []int32 `json:"risks,omitempty"`
		}{
			ID: id, AuthorSegment: c.AuthorSegment.String(), Text: c.Text, Channel: int32(c.Channel),
			Status: int32(c.Status), SentimentScore: c.SentimentScore, SentimentLabel: int32(c.SentimentLabel),
			OwnerGroup: c.OwnerGroup, Upvotes: c.Upvotes, CreateDay: day(c.CreateDay), UpdateDay: day(c.UpdateDay),
			MessageCount: c.MessageCount, Language: c.Language,
		}
		for _, d := range c.Dimensions {
			r.Dimensions = append(r.Dimensions, int32(d))
		}
		for _, f := range c.Risks {
			r.Risks = append(r.Risks, int32(f))
		}
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return tx.Bucket(store.Comments).Put([]byte(id), data)
	})
}
