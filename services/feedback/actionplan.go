package feedback

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/page"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Action plans: what owners do about what people said (issue 15). A plan is written by hr or
// an admin for a segment, goes PLANNED → IN_PROGRESS → DONE | DROPPED with progress notes, and
// is read by managers of its subtree, by the employees of the segment and its sub-segments
// through a bot ("you said, we did"), and by the authors of the comments it links, in their
// thread. Its creation and changes are published (voix.feedback.action_*) through the outbox.

// Plan statuses, short.
const (
	planPlanned    = feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_PLANNED
	planInProgress = feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS
	planDone       = feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DONE
	planDropped    = feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DROPPED
)

// planTransitions lists the legal next statuses: PLANNED → IN_PROGRESS → DONE | DROPPED. A
// plan may also be DROPPED before it starts (with a note saying why); it cannot be DONE before
// it started, and DONE and DROPPED are final: what employees were told stays told.
var planTransitions = map[feedbackv1.ActionPlanStatus][]feedbackv1.ActionPlanStatus{
	planPlanned:    {planInProgress, planDropped},
	planInProgress: {planDone, planDropped},
}

func planOpen(st feedbackv1.ActionPlanStatus) bool {
	return st == planPlanned || st == planInProgress
}

// Limits of a plan (feedback.proto).
const (
	maxTitleRunes    = 200
	maxPlanNoteRunes = 2000
	maxPlanNotes     = 200
	maxLinkIDs       = 20
	maxLinkedItems   = 50
	maxLinkIDBytes   = 128
	defaultPlanPage  = 50
	maxPlanPage      = 200
)

// checkRunes checks an optional or required free text field: valid UTF-8, no NUL, at most max
// runes after trimming, and at least one when required.
func checkRunes(field, s string, max int, required bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", rpcerr.InvalidArgument(field, "must be valid UTF-8")
	}
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	switch {
	case n == 0 && required:
		return "", rpcerr.InvalidArgument(field, fmt.Sprintf("required: 1..%d characters after trimming spaces", max))
	case n > max:
		return "", rpcerr.InvalidArgument(field, fmt.Sprintf("must be at most %d characters, got %d", max, n))
	case strings.ContainsRune(s, 0):
		return "", rpcerr.InvalidArgument(field, "must not contain NUL characters")
	}
	return s, nil
}

// checkLinkIDs checks a list of ids of other services' objects: at most most, each 1..128
// printable bytes, no duplicates.
func checkLinkIDs(field string, ids []string, most int) ([]string, error) {
	if len(ids) > most {
		return nil, rpcerr.InvalidArgument(field, fmt.Sprintf("must hold at most %d ids, got %d", most, len(ids)))
	}
	var out []string
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case id == "" || len(id) > maxLinkIDBytes:
			return nil, rpcerr.InvalidArgument(f, fmt.Sprintf("must be 1..%d bytes", maxLinkIDBytes))
		case strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }) >= 0:
			return nil, rpcerr.InvalidArgument(f, "must be printable, without spaces")
		case slices.Contains(out, id):
			return nil, rpcerr.InvalidArgument(f, fmt.Sprintf("%q is listed twice", id))
		}
		out = append(out, id)
	}
	return out, nil
}

// validatePlan checks a plan of CreateActionPlan and maps it to a stored plan; the caller
// checks its segment against the token and its comment links against the store.
func validatePlan(p *feedbackv1.ActionPlan) (*store.Plan, error) {
	if p == nil {
		return nil, rpcerr.InvalidArgument("plan", "required")
	}
	seg, err := segment.Parse(p.Segment)
	if err != nil {
		return nil, rpcerr.InvalidArgument("plan.segment", err.Error())
	}
	if _, ok := commonv1.Dimension_name[int32(p.Dimension)]; !ok {
		return nil, rpcerr.InvalidArgument("plan.dimension", fmt.Sprintf("unknown dimension %d", p.Dimension))
	}
	out := &store.Plan{Segment: seg, Dimension: p.Dimension}
	if out.Title, err = checkRunes("plan.title", p.Title, maxTitleRunes, true); err != nil {
		return nil, err
	}
	if out.Desc, err = checkRunes("plan.description", p.Description, maxTextRunes, false); err != nil {
		return nil, err
	}
	if err := checkOwnerGroup("plan.owner_group", p.OwnerGroup); err != nil {
		return nil, err
	}
	out.OwnerGroup = p.OwnerGroup
	if p.DueTime == nil {
		return nil, rpcerr.InvalidArgument("plan.due_time", "required")
	}
	if err := p.DueTime.CheckValid(); err != nil {
		return nil, rpcerr.InvalidArgument("plan.due_time", err.Error())
	}
	out.DueDay = today(p.DueTime.AsTime())
	if l := p.Links; l != nil {
		if out.SurveyWaves, err = checkLinkIDs("plan.links.survey_waves", l.SurveyWaves, maxLinkIDs); err != nil {
			return nil, err
		}
		if out.AlertIDs, err = checkLinkIDs("plan.links.alert_ids", l.AlertIds, maxLinkIDs); err != nil {
			return nil, err
		}
		if len(l.FeedbackIds) > maxLinkedItems {
			return nil, rpcerr.InvalidArgument("plan.links.feedback_ids", fmt.Sprintf("must hold at most %d ids, got %d", maxLinkedItems, len(l.FeedbackIds)))
		}
		for i, id := range l.FeedbackIds {
			f := fmt.Sprintf("plan.links.feedback_ids[%d]", i)
			if err := checkID(f, id); err != nil {
				return nil, err
			}
			if slices.Contains(out.FeedbackIDs, id) {
				return nil, rpcerr.InvalidArgument(f, fmt.Sprintf("%q is listed twice", id))
			}
			out.FeedbackIDs = append(out.FeedbackIDs, id)
		}
	}
	return out, nil
}

// apiPlan is a stored plan as the API shows it; for employees (full false), without its owner
// group and links.
func apiPlan(p *store.Plan, full bool) *feedbackv1.ActionPlan {
	out := &feedbackv1.ActionPlan{
		Id: p.ID, Segment: p.Segment.String(), Dimension: p.Dimension, Title: p.Title, Description: p.Desc,
		DueTime: timestamppb.New(p.DueDay), Status: p.Status,
		CreateDay: timestamppb.New(p.CreateDay), UpdateDay: timestamppb.New(p.UpdateDay),
	}
	for _, n := range p.Notes {
		out.Notes = append(out.Notes, &feedbackv1.ProgressNote{Text: n.Text, Status: n.Status, CreateDay: timestamppb.New(n.Day)})
	}
	if full {
		out.OwnerGroup = p.OwnerGroup
		out.Links = &feedbackv1.ActionPlanLinks{
			SurveyWaves: slices.Clone(p.SurveyWaves), AlertIds: slices.Clone(p.AlertIDs), FeedbackIds: slices.Clone(p.FeedbackIDs),
		}
	}
	return out
}

// unsafePublishPlan queues the event of kind k about plan p, numbered by p.Seq.
func (s *Service) unsafePublishPlan(tx *bolt.Tx, k events.Kind, id string, p *store.Plan, day time.Time) error {
	ev := &eventsv1.ActionPlanChanged{
		PlanId: p.ID, Segment: p.Segment.String(), Dimension: p.Dimension, Title: p.Title,
		OwnerGroup: p.OwnerGroup, Status: int32(p.Status), DueDay: timestamppb.New(p.DueDay),
		ChangedDay: timestamppb.New(day), Seq: p.Seq,
	}
	return s.unsafePublish(tx, k, id, p.Segment, day, ev)
}

// createPlan stores a new plan, PLANNED, with its action_created event. Every linked comment
// must be one the caller can read (shown under a segment the token covers).
func (s *Service) createPlan(ctx context.Context, p *store.Plan) (*store.Plan, error) {
	day := today(s.cfg.Now())
	p.ID = rand.Text()
	p.Status = planPlanned
	p.CreateDay, p.UpdateDay = day, day
	principal, _ := auth.FromContext(ctx)
	if s.config != nil {
		return s.createPlanShared(principal, p, day) // replicas: the bucket first (sharedconfig_ops.go)
	}
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		if err := s.checkPlanLinks(tx, principal, p); err != nil {
			return err
		}
		if err := store.UnsafePutPlan(tx, p); err != nil {
			return err
		}
		return s.unsafePublishPlan(tx, events.FeedbackActionCreated, events.ActionCreatedID(p.ID), p, day)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// checkPlanLinks checks that every comment p links is one principal can read.
func (s *Service) checkPlanLinks(tx *bolt.Tx, principal auth.Principal, p *store.Plan) error {
	for i, id := range p.FeedbackIDs {
		notFound := fmt.Errorf("plan.links.feedback_ids[%d]: %w: feedback %q", i, errNotFound, id)
		c, err := store.GetComment(tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound
		}
		if err != nil {
			return err
		}
		_, shown, err := s.view(tx, c)
		if err != nil {
			return err
		}
		if !principal.Covers(shown.String()) {
			return notFound
		}
	}
	return nil
}

// ownPlan loads plan id if the caller's token covers its segment; otherwise, as for an unknown
// id, NotFound on field.
func ownPlan(ctx context.Context, tx store.ReadTx, field, id string) (*store.Plan, error) {
	notFound := fmt.Errorf("%s: %w: plan %q", field, errNotFound, id)
	p, err := store.GetPlan(tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	if principal, _ := auth.FromContext(ctx); !principal.Covers(p.Segment.String()) {
		return nil, notFound
	}
	return p, nil
}

// getPlan is GetActionPlan. A replica that does not have the plan yet reads it from the
// shared bucket (sharedconfig.go).
func (s *Service) getPlan(ctx context.Context, id string) (*store.Plan, error) {
	if err := s.configReady(); err != nil {
		return nil, err
	}
	var out *store.Plan
	read := func() error {
		return s.host.DB.View(func(tx *bolt.Tx) error {
			var err error
			out, err = ownPlan(ctx, tx, "plan_id", id)
			return err
		})
	}
	err := read()
	if errors.Is(err, errNotFound) && s.config != nil {
		if err = s.fetchConfig(planKind, id); err == nil {
			err = read()
		}
	}
	return out, err
}

// updatePlan moves plan id to status to (UNSPECIFIED: unchanged) and appends note (if any),
// with its action_updated event, in one transaction.
func (s *Service) updatePlan(ctx context.Context, id string, to feedbackv1.ActionPlanStatus, note string) (*store.Plan, error) {
	day := today(s.cfg.Now())
	if s.config != nil {
		return s.updatePlanShared(ctx, id, to, note, day) // replicas: the bucket first (sharedconfig_ops.go)
	}
	var out *store.Plan
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		p, err := ownPlan(ctx, tx, "plan_id", id)
		if err != nil {
			return err
		}
		if err := changePlan(p, to, note, day); err != nil {
			return err
		}
		if err := store.UnsafePutPlan(tx, p); err != nil {
			return err
		}
		out = p
		return s.unsafePublishPlan(tx, events.FeedbackActionUpdated, events.ActionUpdatedID(p.ID, p.Seq), p, day)
	})
	return out, err
}

// changePlan moves p to status to (UNSPECIFIED: unchanged), appends note and numbers the
// change.
func changePlan(p *store.Plan, to feedbackv1.ActionPlanStatus, note string, day time.Time) error {
	if to != feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_UNSPECIFIED {
		if !slices.Contains(planTransitions[p.Status], to) {
			return fmt.Errorf("status: %w from %s to %s", errIllegalTransition, p.Status, to)
		}
		p.Status = to
	}
	if len(p.Notes) >= maxPlanNotes {
		return fmt.Errorf("note: %w: a plan keeps at most %d notes", errTooManyNotes, maxPlanNotes)
	}
	p.Notes = append(p.Notes, store.PlanNote{Text: note, Status: to, Day: day})
	p.Seq++
	p.UpdateDay = day
	return nil
}

// planQuery is a validated ListActionPlans.
type planQuery struct {
	// scopes are the key prefixes of plans_by_segment to read, in key order: the prefix's
	// subtree ("acme/eng" and "acme/eng/…" are two), or each covered ancestor of for_segment
	// exactly ("acme\x00", "acme/eng\x00").
	scopes [][]byte
	status feedbackv1.ActionPlanStatus
	owner  string
	dim    commonv1.Dimension
	full   bool
	size   int
	after  []byte
}

func (q planQuery) matches(p *store.Plan) bool {
	return (q.status == 0 || p.Status == q.status) && (q.owner == "" || p.OwnerGroup == q.owner) &&
		(q.dim == 0 || p.Dimension == q.dim)
}

// validatePlanList checks a ListActionPlans request against the caller's token.
func validatePlanList(ctx context.Context, req *feedbackv1.ListActionPlansRequest) (planQuery, []byte, error) {
	var q planQuery
	principal, _ := auth.FromContext(ctx)
	submitter := principal.Role == auth.RoleSubmitter
	switch {
	case req.SegmentPrefix != "" && req.ForSegment != "":
		return q, nil, rpcerr.InvalidArgument("for_segment", "must be empty when segment_prefix is set: give one of them")
	case req.SegmentPrefix == "" && req.ForSegment == "":
		return q, nil, rpcerr.InvalidArgument("segment_prefix", "required, or for_segment")
	case req.SegmentPrefix != "" && submitter:
		return q, nil, rpcerr.Field(codes.PermissionDenied, "segment_prefix", "submitters list the plans of one segment with for_segment")
	case req.OwnerGroup != "" && submitter:
		return q, nil, rpcerr.Field(codes.PermissionDenied, "owner_group", "submitters cannot filter by owner group")
	}
	if req.SegmentPrefix != "" {
		p, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
		if err != nil {
			return q, nil, err
		}
		q.scopes = [][]byte{append([]byte(p.String()), 0), append([]byte(p.String()), '/')}
	} else {
		p, err := checkPrefix(ctx, "for_segment", req.ForSegment)
		if err != nil {
			return q, nil, err
		}
		for _, a := range p.Ancestors() {
			if principal.Covers(a.String()) {
				q.scopes = append(q.scopes, append([]byte(a.String()), 0))
			}
		}
	}
	if _, ok := feedbackv1.ActionPlanStatus_name[int32(req.Status)]; !ok {
		return q, nil, rpcerr.InvalidArgument("status", fmt.Sprintf("unknown status %d", req.Status))
	}
	q.status = req.Status
	if req.OwnerGroup != "" {
		if err := checkOwnerGroup("owner_group", req.OwnerGroup); err != nil {
			return q, nil, err
		}
		q.owner = req.OwnerGroup
	}
	if _, ok := commonv1.Dimension_name[int32(req.Dimension)]; !ok {
		return q, nil, rpcerr.InvalidArgument("dimension", fmt.Sprintf("unknown dimension %d", req.Dimension))
	}
	q.dim = req.Dimension
	q.full = !submitter
	var err error
	var fp []byte
	if q.size, fp, q.after, err = page.Open(req, "ListActionPlans", defaultPlanPage, maxPlanPage); err != nil {
		return q, nil, err
	}
	if q.after != nil && !slices.ContainsFunc(q.scopes, func(sc []byte) bool { return bytes.HasPrefix(q.after, sc) }) {
		return q, nil, rpcerr.InvalidArgument("page_token", "not a token of ListActionPlans")
	}
	return q, fp, nil
}

// listPlans returns one page of the plans of q, in plans_by_segment key order (segment path
// order, then id). The token holds the key of the last plan returned, so plans created
// between two pages are neither repeated nor shift the others.
func (s *Service) listPlans(q planQuery, fp []byte) (*feedbackv1.ListActionPlansResponse, error) {
	if err := s.configReady(); err != nil { // replicas: not before the shared plans are read
		return nil, err
	}
	out := &feedbackv1.ListActionPlansResponse{}
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		var last []byte
		full := false
		for _, scope := range q.scopes {
			if full {
				break
			}
			if q.after != nil && bytes.Compare(q.after, scope) >= 0 && !bytes.HasPrefix(q.after, scope) {
				continue // a scope wholly before the cursor
			}
			err := store.ScanPlans(tx, scope, q.after, func(k []byte, p *store.Plan) (bool, error) {
				if !q.matches(p) {
					return true, nil
				}
				if len(out.Plans) == q.size {
					out.NextPageToken = page.Token(fp, last)
					full = true
					return false, nil
				}
				out.Plans = append(out.Plans, apiPlan(p, q.full))
				last = bytes.Clone(k)
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// linkedPlans are the plans that link comment feedbackID, as its author sees them.
func (s *Service) linkedPlans(feedbackID string) ([]*feedbackv1.LinkedActionPlan, error) {
	var out []*feedbackv1.LinkedActionPlan
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		ids, err := store.PlansOfFeedback(tx, feedbackID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			p, err := store.GetPlan(tx, id)
			if err != nil {
				return err
			}
			out = append(out, &feedbackv1.LinkedActionPlan{Id: p.ID, Title: p.Title, Status: p.Status, DueDay: timestamppb.New(p.DueDay)})
		}
		return nil
	})
	return out, err
}

// planStats counts the plans within prefix for GetLoopStats: open, done, and open past their
// due day.
func (s *Service) planStats(prefix segment.Path, out *feedbackv1.GetLoopStatsResponse) error {
	day := today(s.cfg.Now())
	return s.host.DB.View(func(tx *bolt.Tx) error {
		for _, scope := range [][]byte{append([]byte(prefix.String()), 0), append([]byte(prefix.String()), '/')} {
			err := store.ScanPlans(tx, scope, nil, func(k []byte, p *store.Plan) (bool, error) {
				switch {
				case p.Status == planDone:
					out.PlansDone++
				case planOpen(p.Status):
					out.PlansOpen++
					if p.DueDay.Before(day) {
						out.PlansOverdue++
					}
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// CheckPlanDeadlines queues voix.feedback.action_due for every plan still open after its due
// day, once per plan and due day, and returns how many it queued. The service calls it every
// DeadlineInterval; it is exported for tools and tests that move the clock. Plans are few (a
// handful per team and quarter), so it reads them all.
func (s *Service) CheckPlanDeadlines() (int, error) {
	day := today(s.cfg.Now())
	n := 0
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		n = 0
		var due []*store.Plan
		err := store.ScanPlans(tx, nil, nil, func(k []byte, p *store.Plan) (bool, error) {
			if planOpen(p.Status) && p.DueDay.Before(day) && !p.DueNoticeDay.Equal(p.DueDay) {
				due = append(due, p)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, p := range due {
			p.DueNoticeDay = p.DueDay
			if err := store.UnsafePutPlan(tx, p); err != nil {
				return err
			}
			if err := s.unsafePublishPlan(tx, events.FeedbackActionDue, events.ActionDueID(p.ID, p.DueDay.Format(time.DateOnly)), p, p.DueDay); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// planDueLoop runs CheckPlanDeadlines every DeadlineInterval.
func (s *Service) planDueLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.DeadlineInterval)
	defer t.Stop()
	for {
		if _, err := s.CheckPlanDeadlines(); err != nil {
			s.host.Log.Error("check plan deadlines", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// The gRPC handlers of action plans.

func (a *api) CreateActionPlan(ctx context.Context, req *feedbackv1.CreateActionPlanRequest) (*feedbackv1.CreateActionPlanResponse, error) {
	p, err := validatePlan(req.Plan)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "plan.segment", p.Segment.String()); err != nil {
		return nil, err
	}
	if p, err = a.svc.createPlan(ctx, p); err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.CreateActionPlanResponse{Plan: apiPlan(p, true)}, nil
}

func (a *api) GetActionPlan(ctx context.Context, req *feedbackv1.GetActionPlanRequest) (*feedbackv1.GetActionPlanResponse, error) {
	if err := checkID("plan_id", req.PlanId); err != nil {
		return nil, err
	}
	p, err := a.svc.getPlan(ctx, req.PlanId)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.GetActionPlanResponse{Plan: apiPlan(p, true)}, nil
}

func (a *api) ListActionPlans(ctx context.Context, req *feedbackv1.ListActionPlansRequest) (*feedbackv1.ListActionPlansResponse, error) {
	q, fp, err := validatePlanList(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := a.svc.listPlans(q, fp)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (a *api) UpdateActionPlan(ctx context.Context, req *feedbackv1.UpdateActionPlanRequest) (*feedbackv1.UpdateActionPlanResponse, error) {
	if err := checkID("plan_id", req.PlanId); err != nil {
		return nil, err
	}
	st := req.Status
	if _, ok := feedbackv1.ActionPlanStatus_name[int32(st)]; !ok {
		return nil, rpcerr.InvalidArgument("status", fmt.Sprintf("unknown status %d", st))
	}
	changes := st != feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_UNSPECIFIED
	note, err := checkRunes("note", req.Note, maxPlanNoteRunes, changes)
	if err != nil {
		return nil, err
	}
	if !changes && note == "" {
		return nil, rpcerr.InvalidArgument("note", "required when status is unchanged: an update changes the status, adds a note, or both")
	}
	p, err := a.svc.updatePlan(ctx, req.PlanId, st, note)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.UpdateActionPlanResponse{Plan: apiPlan(p, true)}, nil
}
