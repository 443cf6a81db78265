package feedback

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/anonymity/suppress"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// placement says where comments of one organisation are shown. A comment is shown under the
// deepest of its author's segment and that segment's ancestors that is displayable, else under
// the organisation, which every reader is already limited to.
//
// A segment is displayable when its headcount reaches the comment threshold and the rule of
// platform/anonymity/suppress, applied to the registered headcounts with the threshold as k,
// does not hide it. That rule matters as much as the threshold: with teams of 12, 11 and 4
// under a department, the comments shown exactly at the department would all be the small
// team's, since its siblings show theirs under their own names. Suppression hides a sibling
// too, so that the people who could have written a comment shown at a segment (the segment
// minus its displayed sub-segments) number none or at least the threshold.
//
// Only registered headcounts count. A segment without one is not displayable, and its
// registered descendants hang from its nearest registered ancestor. A headcount below the sum
// of its registered children (or none, for the organisation) counts as that sum: voix assumes
// no one it was not told about, so register the organisation's headcount and every level HR
// reads comments at.
type placement struct {
	org  segment.Path
	show map[string]bool // displayable segments, the organisation excluded
}

// unsafePlacement computes the placement of org from the registered headcounts.
func (s *Service) unsafePlacement(tx *bolt.Tx, org segment.Path) (placement, error) {
	pl := placement{org: org, show: map[string]bool{}}
	heads := map[string]int{}
	err := store.UnsafeScanHeadcounts(tx, org.String(), "", func(path string, n uint32) bool {
		heads[path] = int(n)
		return true
	})
	if err != nil {
		return pl, err
	}
	root := org.String()
	parent := func(path string) string {
		p := segment.MustParse(path)
		for {
			up, ok := p.Parent()
			if !ok || up.String() == root {
				return root
			}
			if _, known := heads[up.String()]; known {
				return up.String()
			}
			p = up
		}
	}
	// People of a node: its headcount, or the sum of its registered children if larger.
	kids := map[string][]string{}
	for path := range heads {
		if path != root {
			kids[parent(path)] = append(kids[parent(path)], path)
		}
	}
	people := map[string]int{}
	var count func(path string) int
	count = func(path string) int {
		sum := 0
		for _, c := range kids[path] {
			sum += count(c)
		}
		n := max(heads[path], sum)
		people[path] = n
		return n
	}
	count(root)
	nodes := []suppress.Node{{ID: root, People: people[root], Pinned: true}}
	for path := range heads {
		if path != root {
			nodes = append(nodes, suppress.Node{ID: path, Parent: parent(path), People: people[path]})
		}
	}
	hidden, _ := suppress.Check(nodes, s.cfg.CommentThreshold)
	for path, n := range heads {
		if path != root && n >= s.cfg.CommentThreshold && !hidden[path] {
			pl.show[path] = true
		}
	}
	return pl, nil
}

// of is the segment comments by an author of seg are shown under.
func (pl placement) of(seg segment.Path) segment.Path {
	anc := seg.Ancestors()
	for i := len(anc) - 1; i > 0; i-- {
		if pl.show[anc[i].String()] {
			return anc[i]
		}
	}
	return anc[0]
}

// unsafeShown is the segment a comment by an author of seg is shown under (placement).
func (s *Service) unsafeShown(tx *bolt.Tx, seg segment.Path) (segment.Path, error) {
	pl, err := s.unsafePlacement(tx, segment.MustParse(seg.Org()))
	if err != nil {
		return segment.Path{}, err
	}
	return pl.of(seg), nil
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
	pl, err := s.unsafePlacement(tx, segment.MustParse(author.Org()))
	if err != nil {
		return nil, segment.Path{}, err
	}
	return pl.view(c, author)
}

// view is comment c by an author of seg as readers see it, placed by pl.
func (pl placement) view(c *feedbackv1.Feedback, author segment.Path) (*feedbackv1.Feedback, segment.Path, error) {
	shown := pl.of(author)
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
