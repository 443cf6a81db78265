package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Plan is an action plan: what an owner group does about what people of a segment said. It is
// written by owners, not employees, so it names no author; its days are UTC midnights like
// every other day of this store.
type Plan struct {
	ID         string
	Segment    segment.Path
	Dimension  commonv1.Dimension
	Title      string
	Desc       string
	OwnerGroup string
	DueDay     time.Time
	Status     feedbackv1.ActionPlanStatus
	// Links name what prompted the plan.
	SurveyWaves, AlertIDs, FeedbackIDs []string
	Notes                              []PlanNote
	CreateDay, UpdateDay               time.Time
	// Seq numbers the plan's changes: 0 at creation, then 1, 2, … (the events' ids).
	Seq uint32
	// DueNoticeDay is the due day for which an action_due event was queued; zero for none.
	DueNoticeDay time.Time
}

// PlanNote is a progress note of a plan.
type PlanNote struct {
	Text   string
	Status feedbackv1.ActionPlanStatus
	Day    time.Time
}

// planJSON is a Plan on disk (schema 3).
type planJSON struct {
	ID           string         `json:"id"`
	Segment      string         `json:"segment"`
	Dimension    int32          `json:"dimension,omitempty"`
	Title        string         `json:"title"`
	Desc         string         `json:"description,omitempty"`
	OwnerGroup   string         `json:"owner_group"`
	DueDay       string         `json:"due_day"`
	Status       int32          `json:"status"`
	SurveyWaves  []string       `json:"survey_waves,omitempty"`
	AlertIDs     []string       `json:"alert_ids,omitempty"`
	FeedbackIDs  []string       `json:"feedback_ids,omitempty"`
	Notes        []planNoteJSON `json:"notes,omitempty"`
	CreateDay    string         `json:"create_day"`
	UpdateDay    string         `json:"update_day"`
	Seq          uint32         `json:"seq,omitempty"`
	DueNoticeDay string         `json:"due_notice_day,omitempty"`
}

type planNoteJSON struct {
	Text   string `json:"text"`
	Status int32  `json:"status,omitempty"`
	Day    string `json:"day"`
}

func encodePlan(p *Plan) ([]byte, error) {
	if p.ID == "" || p.Segment.IsZero() {
		return nil, fmt.Errorf("store: plan %q without an id or a segment", p.ID)
	}
	j := planJSON{
		ID: p.ID, Segment: p.Segment.String(), Dimension: int32(p.Dimension), Title: p.Title, Desc: p.Desc,
		OwnerGroup: p.OwnerGroup, DueDay: formatDay(p.DueDay), Status: int32(p.Status),
		SurveyWaves: p.SurveyWaves, AlertIDs: p.AlertIDs, FeedbackIDs: p.FeedbackIDs,
		CreateDay: formatDay(p.CreateDay), UpdateDay: formatDay(p.UpdateDay), Seq: p.Seq,
		DueNoticeDay: formatDay(p.DueNoticeDay),
	}
	for _, n := range p.Notes {
		j.Notes = append(j.Notes, planNoteJSON{Text: n.Text, Status: int32(n.Status), Day: formatDay(n.Day)})
	}
	return json.Marshal(j)
}

func decodePlan(id string, data []byte) (*Plan, error) {
	var j planJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("store: decode plan %s: %w", id, err)
	}
	seg, err := segment.Parse(j.Segment)
	if err != nil {
		return nil, fmt.Errorf("store: plan %s: segment: %w", id, err)
	}
	p := &Plan{
		ID: j.ID, Segment: seg, Dimension: commonv1.Dimension(j.Dimension), Title: j.Title, Desc: j.Desc,
		OwnerGroup: j.OwnerGroup, Status: feedbackv1.ActionPlanStatus(j.Status),
		SurveyWaves: j.SurveyWaves, AlertIDs: j.AlertIDs, FeedbackIDs: j.FeedbackIDs, Seq: j.Seq,
	}
	for _, d := range []struct {
		s   string
		dst *time.Time
	}{{j.DueDay, &p.DueDay}, {j.CreateDay, &p.CreateDay}, {j.UpdateDay, &p.UpdateDay}, {j.DueNoticeDay, &p.DueNoticeDay}} {
		if *d.dst, err = parseDay(d.s); err != nil {
			return nil, fmt.Errorf("store: plan %s: day: %w", id, err)
		}
	}
	for _, n := range j.Notes {
		day, err := parseDay(n.Day)
		if err != nil {
			return nil, fmt.Errorf("store: plan %s: note day: %w", id, err)
		}
		p.Notes = append(p.Notes, PlanNote{Text: n.Text, Status: feedbackv1.ActionPlanStatus(n.Status), Day: day})
	}
	return p, nil
}

// PlanSegmentKey is a plan's key in plans_by_segment: its segment, 0x00, its id. Keys sort in
// segment path order, a segment's own plans before its sub-segments' ("a\x00" < "a/b").
func PlanSegmentKey(seg segment.Path, id string) []byte {
	return append(append([]byte(seg.String()), 0), id...)
}

// SplitPlanSegmentKey returns the segment and id of a plans_by_segment key.
func SplitPlanSegmentKey(k []byte) (string, string, bool) {
	seg, id, ok := bytes.Cut(k, []byte{0})
	return string(seg), string(id), ok && len(id) > 0
}

func linkKey(feedbackID, planID string) []byte {
	return append(append([]byte(feedbackID), 0), planID...)
}

// UnsafePutPlan stores p and indexes it by segment and by linked comment. A plan's segment
// and links are fixed at creation, so the indexes are only ever added to.
func UnsafePutPlan(tx WriteTx, p *Plan) error {
	bk, err := ActionPlans.writable(tx)
	if err != nil {
		return err
	}
	data, err := encodePlan(p)
	if err != nil {
		return err
	}
	if err := bk.Put([]byte(p.ID), data); err != nil {
		return err
	}
	idx, err := PlansBySegment.writable(tx)
	if err != nil {
		return err
	}
	if err := idx.Put(PlanSegmentKey(p.Segment, p.ID), nil); err != nil {
		return err
	}
	links, err := PlansByFeedback.writable(tx)
	if err != nil {
		return err
	}
	for _, f := range p.FeedbackIDs {
		if err := links.Put(linkKey(f, p.ID), nil); err != nil {
			return err
		}
	}
	return nil
}

// GetPlan returns plan id, or ErrNotFound.
func GetPlan(tx ReadTx, id string) (*Plan, error) {
	bk, err := ActionPlans.in(tx)
	if err != nil {
		return nil, err
	}
	v := bk.Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: plan %q", ErrNotFound, id)
	}
	return decodePlan(id, v)
}

// ScanPlans calls fn with each plans_by_segment key that starts with prefix and the plan it
// names, from the first key after `after` on (from the first if after is nil), in key order,
// until fn returns false. Keys that are not a segment and an id are skipped. The key is only
// valid during the call.
func ScanPlans(tx ReadTx, prefix, after []byte, fn func(k []byte, p *Plan) (bool, error)) error {
	bk, err := PlansBySegment.in(tx)
	if err != nil {
		return err
	}
	start := prefix
	if after != nil && bytes.Compare(after, prefix) >= 0 {
		start = append(bytes.Clone(after), 0)
	}
	c := bk.Cursor()
	k, _ := c.First()
	if len(start) > 0 {
		k, _ = c.Seek(start)
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		_, id, ok := SplitPlanSegmentKey(k)
		if !ok {
			continue
		}
		p, err := GetPlan(tx, id)
		if err != nil {
			return err
		}
		more, err := fn(k, p)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// PlansOfFeedback returns the ids of the plans that link comment feedbackID, in id order.
func PlansOfFeedback(tx ReadTx, feedbackID string) ([]string, error) {
	bk, err := PlansByFeedback.in(tx)
	if err != nil {
		return nil, err
	}
	prefix := linkKey(feedbackID, "")
	var out []string
	c := bk.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, string(k[len(prefix):]))
	}
	return out, nil
}
