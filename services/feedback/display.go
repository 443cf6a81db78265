package feedback

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// unsafeShown is the segment a comment by an author of seg is shown under: the deepest of seg
// and its ancestors whose headcount reaches the comment threshold, else the organisation, which
// is never hidden since every reader is already limited to one. An unknown headcount counts as
// too small.
func (s *Service) unsafeShown(tx *bolt.Tx, seg segment.Path) (segment.Path, error) {
	anc := seg.Ancestors()
	for i := len(anc) - 1; i > 0; i-- {
		n, err := store.UnsafeHeadcount(tx, anc[i].String())
		if err != nil {
			return segment.Path{}, err
		}
		if int64(n) >= int64(s.cfg.CommentThreshold) {
			return anc[i], nil
		}
	}
	return anc[0], nil
}

// unsafeDisplayable reports whether comments can be shown under p itself: the organisation
// always, a deeper segment when its headcount reaches the threshold. Then every comment made
// within p is shown within p, so statistics over p reveal nothing about a smaller group.
func (s *Service) unsafeDisplayable(tx *bolt.Tx, p segment.Path) (bool, error) {
	shown, err := s.unsafeShown(tx, p)
	return shown.Equal(p), err
}

// authorSegment parses the author's segment of a stored comment.
func authorSegment(c *feedbackv1.Feedback) (segment.Path, error) {
	p, err := segment.Parse(c.Segment)
	if err != nil {
		return segment.Path{}, fmt.Errorf("stored comment %s: %w", c.Id, err)
	}
	return p, nil
}

// unsafeView is a stored comment as readers see it, with the segment it is shown under.
func (s *Service) unsafeView(tx *bolt.Tx, c *feedbackv1.Feedback) (*feedbackv1.Feedback, segment.Path, error) {
	author, err := authorSegment(c)
	if err != nil {
		return nil, segment.Path{}, err
	}
	shown, err := s.unsafeShown(tx, author)
	if err != nil {
		return nil, segment.Path{}, err
	}
	v := proto.CloneOf(c)
	v.Segment = shown.String()
	return v, shown, nil
}

// unsafeReadable loads comment id for a reader on ctx. A reader sees a comment only when their
// token covers the segment it is shown under: a manager of a team below the threshold must not
// read its comments, or the threshold would hide nothing. Anything else is the same NotFound
// as an unknown id, so that ids cannot be probed across teams or organisations.
func (s *Service) unsafeReadable(ctx context.Context, tx *bolt.Tx, id string) (stored, view *feedbackv1.Feedback, shown segment.Path, err error) {
	c, err := store.UnsafeGetComment(tx, id)
	if err != nil {
		return nil, nil, segment.Path{}, fmt.Errorf("feedback_id: %w", err)
	}
	v, shown, err := s.unsafeView(tx, c)
	if err != nil {
		return nil, nil, segment.Path{}, err
	}
	if p, _ := auth.FromContext(ctx); !p.Covers(shown.String()) {
		return nil, nil, segment.Path{}, fmt.Errorf("feedback_id: %w: feedback %q", errNotFound, id)
	}
	return c, v, shown, nil
}
