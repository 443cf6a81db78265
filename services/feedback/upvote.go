package feedback

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/voix-dev/voix/services/feedback/internal/store"
)

const upvotePurpose = "feedback/upvote/"

// upvote counts ref's agreement with comment id once. The vote is a keyed tag scoped to the
// comment: it proves this person voted here and cannot be joined with their votes elsewhere,
// their comments, or the comment's author. The count is shown, the voters never.
func (s *Service) upvote(ctx context.Context, id, ref string) (uint32, bool, error) {
	tag := s.host.Secret.Tag(upvotePurpose+id, ref)
	var n uint32
	var counted bool
	// Group-committed with the submissions; the function may run twice and sets n and
	// counted afresh.
	err := s.commit.Update(func(tx *bolt.Tx) error {
		c, _, _, err := s.readable(ctx, tx, id)
		if err != nil {
			return err
		}
		if counted, err = store.UnsafeAddVote(tx, tag); err != nil {
			return err
		}
		if counted {
			c.Upvotes++
			if err := store.UnsafePutComment(tx, c); err != nil {
				return err
			}
		}
		n = c.Upvotes
		return nil
	})
	return n, counted, err
}
