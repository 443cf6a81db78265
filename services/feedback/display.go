package feedback

import (
	"context"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// placementOf returns the placement of org that transaction tx sees: the cached one when it
// was computed from the same version of org's headcounts (store.PlacementVersion, bumped in
// every transaction that changes them), else one computed afresh. A reader therefore never
// gets a placement from headcounts other than those its own transaction sees: not an older
// one, which could show a comment under a segment since shrunk below the threshold or
// revealed by suppression, nor a newer one.
func (s *Service) placementOf(tx store.ReadTx, org segment.Path) (placement, error) {
	v, err := store.PlacementVersion(tx, org.String())
	if err != nil {
		return placement{}, err
	}
	if pl, ok := s.placements.get(org.String(), v); ok {
		return pl, nil
	}
	pl, err := s.computePlacement(tx, org)
	if err != nil {
		return placement{}, err
	}
	s.placements.put(org.String(), v, pl)
	return pl, nil
}

// computePlacement computes the placement of org from the registered headcounts tx sees.
func (s *Service) computePlacement(tx store.ReadTx, org segment.Path) (placement, error) {
	pl := placement{org: org, show: map[string]bool{}}
	heads := map[string]int{}
	var paths []segment.Path
	err := store.ScanHeadcounts(tx, org, segment.Path{}, func(p segment.Path, n uint32) bool {
		heads[p.String()] = int(n)
		paths = append(paths, p)
		return true
	})
	if err != nil {
		return pl, err
	}
	root := org.String()
	// parent is the nearest registered ancestor, else the organisation.
	parent := func(p segment.Path) string {
		for {
			up, ok := p.Parent()
			if !ok || up.Equal(org) {
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
	for _, p := range paths {
		if !p.Equal(org) {
			kids[parent(p)] = append(kids[parent(p)], p.String())
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
	for _, p := range paths {
		if !p.Equal(org) {
			nodes = append(nodes, suppress.Node{ID: p.String(), Parent: parent(p), People: people[p.String()]})
		}
	}
	hidden, _ := suppress.Check(nodes, s.cfg.CommentThreshold)
	for _, p := range paths {
		if path := p.String(); !p.Equal(org) && heads[path] >= s.cfg.CommentThreshold && !hidden[path] {
			pl.show[path] = true
		}
	}
	return pl, nil
}

// orgOf is the organisation of p, a parsed (not zero) path.
func orgOf(p segment.Path) segment.Path { return p.Ancestors()[0] }

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

// displayable reports whether comments can be shown under p itself: the organisation always,
// a deeper segment when its headcount reaches the threshold. Then every comment made within p
// is shown within p, so statistics over p reveal nothing about a smaller group.
func (s *Service) displayable(tx store.ReadTx, p segment.Path) (bool, error) {
	pl, err := s.placementOf(tx, orgOf(p))
	if err != nil {
		return false, err
	}
	return pl.of(p).Equal(p), nil
}

// view is stored comment c as readers see it, placed by pl, and the segment it is shown
// under. It is the one mapping of a stored comment to the API: the API's segment is where the
// comment is shown, and the author's own segment goes nowhere else.
func (pl placement) view(c *store.Comment) (*feedbackv1.Feedback, segment.Path) {
	shown := pl.of(c.AuthorSegment)
	return &feedbackv1.Feedback{
		Id:             c.ID,
		Segment:        shown.String(),
		Text:           c.Text,
		Channel:        c.Channel,
		Status:         c.Status,
		Dimensions:     slices.Clone(c.Dimensions),
		SentimentScore: c.SentimentScore,
		SentimentLabel: c.SentimentLabel,
		OwnerGroup:     c.OwnerGroup,
		Upvotes:        c.Upvotes,
		CreateDay:      timestamppb.New(c.CreateDay),
		UpdateDay:      timestamppb.New(c.UpdateDay),
		MessageCount:   c.MessageCount,
		Language:       c.Language,
		Risks:          slices.Clone(c.Risks),
	}, shown
}

// view is stored comment c as readers see it, with the segment it is shown under.
func (s *Service) view(tx store.ReadTx, c *store.Comment) (*feedbackv1.Feedback, segment.Path, error) {
	pl, err := s.placementOf(tx, orgOf(c.AuthorSegment))
	if err != nil {
		return nil, segment.Path{}, err
	}
	v, shown := pl.view(c)
	return v, shown, nil
}

// readable loads comment id for a reader on ctx. A reader sees a comment only when their token
// covers the segment it is shown under: a manager of a team below the threshold must not read
// its comments, or the threshold would hide nothing. Anything else is the same NotFound as an
// unknown id, so that ids cannot be probed across teams or organisations.
func (s *Service) readable(ctx context.Context, tx store.ReadTx, id string) (stored *store.Comment, view *feedbackv1.Feedback, shown segment.Path, err error) {
	notFound := fmt.Errorf("feedback_id: %w: feedback %q", errNotFound, id)
	c, err := store.GetComment(tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, segment.Path{}, notFound
	}
	if err != nil {
		return nil, nil, segment.Path{}, err
	}
	v, shown, err := s.view(tx, c)
	if err != nil {
		return nil, nil, segment.Path{}, err
	}
	if p, _ := auth.FromContext(ctx); !p.Covers(shown.String()) {
		return nil, nil, segment.Path{}, notFound
	}
	return c, v, shown, nil
}

// getFeedback is GetFeedback: comment id as the reader on ctx may see it.
func (s *Service) getFeedback(ctx context.Context, id string) (*feedbackv1.Feedback, error) {
	var out *feedbackv1.Feedback
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		_, v, _, err := s.readable(ctx, tx, id)
		out = v
		return err
	})
	return out, err
}
