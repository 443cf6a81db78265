package feedback

import (
	"context"
	"fmt"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/page"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
)

var (
	submitters = []auth.Role{auth.RoleSubmitter}
	readers    = []auth.Role{auth.RoleManager, auth.RoleHR, auth.RoleAdmin}
	answerers  = []auth.Role{auth.RoleManager, auth.RoleHR}
	routers    = []auth.Role{auth.RoleAdmin, auth.RoleHR}
	policy     = auth.Policy{
		feedbackv1.FeedbackService_SubmitFeedback_FullMethodName:    submitters,
		feedbackv1.FeedbackService_GetFeedback_FullMethodName:       readers,
		feedbackv1.FeedbackService_ListFeedback_FullMethodName:      readers,
		feedbackv1.FeedbackService_Reply_FullMethodName:             answerers,
		feedbackv1.FeedbackService_FollowUp_FullMethodName:          submitters,
		feedbackv1.FeedbackService_GetThread_FullMethodName:         submitters,
		feedbackv1.FeedbackService_UpdateStatus_FullMethodName:      answerers,
		feedbackv1.FeedbackService_Upvote_FullMethodName:            submitters,
		feedbackv1.FeedbackService_GetLoopStats_FullMethodName:      readers,
		feedbackv1.FeedbackService_AssignOwner_FullMethodName:       {auth.RoleHR},
		feedbackv1.FeedbackService_UpsertRoutingRule_FullMethodName: routers,
		feedbackv1.FeedbackService_ListRoutingRules_FullMethodName:  routers,
		feedbackv1.FeedbackService_DeleteRoutingRule_FullMethodName: routers,
		feedbackv1.FeedbackService_UpsertSegment_FullMethodName:     routers,
		feedbackv1.FeedbackService_ListSegments_FullMethodName:      {auth.RoleSubmitter, auth.RoleManager, auth.RoleHR, auth.RoleAdmin},
		// Action plans and notifications (actionplan.go, notify.go).
		feedbackv1.FeedbackService_CreateActionPlan_FullMethodName:         routers,
		feedbackv1.FeedbackService_UpdateActionPlan_FullMethodName:         routers,
		feedbackv1.FeedbackService_GetActionPlan_FullMethodName:            readers,
		feedbackv1.FeedbackService_ListActionPlans_FullMethodName:          {auth.RoleSubmitter, auth.RoleManager, auth.RoleHR, auth.RoleAdmin},
		feedbackv1.FeedbackService_SetNotificationTarget_FullMethodName:    routers,
		feedbackv1.FeedbackService_ListNotificationTargets_FullMethodName:  routers,
		feedbackv1.FeedbackService_DeleteNotificationTarget_FullMethodName: routers,
		feedbackv1.FeedbackService_ListDeadLetters_FullMethodName:          routers,
	}
)

// api is the gRPC face of the service: validation, authorisation and proto mapping.
type api struct {
	feedbackv1.UnimplementedFeedbackServiceServer
	svc *Service
}

func (a *api) SubmitFeedback(ctx context.Context, req *feedbackv1.SubmitFeedbackRequest) (*feedbackv1.SubmitFeedbackResponse, error) {
	sub, err := validateSubmit(req)
	if err != nil {
		return nil, err
	}
	if err := a.svc.checkNoCode("text", req.Text); err != nil {
		return nil, toStatus(err)
	}
	if err := auth.CheckSegment(ctx, "segment", sub.seg.String()); err != nil {
		return nil, err
	}
	r, err := a.svc.submit(sub, a.svc.cfg.Now())
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.SubmitFeedbackResponse{FeedbackId: r.id, FollowUpToken: r.token, Status: r.status}, nil
}

func (a *api) GetFeedback(ctx context.Context, req *feedbackv1.GetFeedbackRequest) (*feedbackv1.GetFeedbackResponse, error) {
	if err := checkID("feedback_id", req.FeedbackId); err != nil {
		return nil, err
	}
	view, err := a.svc.getFeedback(ctx, req.FeedbackId)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.GetFeedbackResponse{Feedback: view}, nil
}

func (a *api) UpdateStatus(ctx context.Context, req *feedbackv1.UpdateStatusRequest) (*feedbackv1.UpdateStatusResponse, error) {
	if err := checkID("feedback_id", req.FeedbackId); err != nil {
		return nil, err
	}
	if err := checkStatus("status", req.Status); err != nil {
		return nil, err
	}
	note, err := checkNote("note", req.Note)
	if err != nil {
		return nil, err
	}
	c, err := a.svc.updateStatus(ctx, req.FeedbackId, req.Status, note)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.UpdateStatusResponse{Feedback: c}, nil
}

func (a *api) Reply(ctx context.Context, req *feedbackv1.ReplyRequest) (*feedbackv1.ReplyResponse, error) {
	if err := checkID("feedback_id", req.FeedbackId); err != nil {
		return nil, err
	}
	text, err := checkNote("text", req.Text)
	if err != nil {
		return nil, err
	}
	m, err := a.svc.reply(ctx, req.FeedbackId, text)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.ReplyResponse{Message: apiMessage(m)}, nil
}

func (a *api) FollowUp(ctx context.Context, req *feedbackv1.FollowUpRequest) (*feedbackv1.FollowUpResponse, error) {
	token := normalizeToken(req.FollowUpToken)
	if err := checkToken("follow_up_token", token); err != nil {
		return nil, err
	}
	text, err := checkText("text", req.Text)
	if err != nil {
		return nil, err
	}
	if err := a.svc.checkNoCode("text", req.Text); err != nil {
		return nil, toStatus(err)
	}
	m, err := a.svc.followUp(ctx, token, text)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.FollowUpResponse{Message: apiMessage(m)}, nil
}

func (a *api) GetThread(ctx context.Context, req *feedbackv1.GetThreadRequest) (*feedbackv1.GetThreadResponse, error) {
	token := normalizeToken(req.FollowUpToken)
	if err := checkToken("follow_up_token", token); err != nil {
		return nil, err
	}
	view, msgs, err := a.svc.thread(ctx, token)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &feedbackv1.GetThreadResponse{Feedback: view}
	for _, m := range msgs {
		resp.Messages = append(resp.Messages, apiMessage(m))
	}
	if resp.ActionPlans, err = a.svc.linkedPlans(view.Id); err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (a *api) AssignOwner(ctx context.Context, req *feedbackv1.AssignOwnerRequest) (*feedbackv1.AssignOwnerResponse, error) {
	if err := checkID("feedback_id", req.FeedbackId); err != nil {
		return nil, err
	}
	if err := checkOwnerGroup("owner_group", req.OwnerGroup); err != nil {
		return nil, err
	}
	c, err := a.svc.assignOwner(ctx, req.FeedbackId, req.OwnerGroup)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.AssignOwnerResponse{Feedback: c}, nil
}

func (a *api) UpsertRoutingRule(ctx context.Context, req *feedbackv1.UpsertRoutingRuleRequest) (*feedbackv1.UpsertRoutingRuleResponse, error) {
	r, err := validateRule(req.Rule)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "rule.segment_prefix", r.Prefix.String()); err != nil {
		return nil, err
	}
	stored, err := a.svc.upsertRule(ctx, r, req.ApplyToOpen)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.UpsertRoutingRuleResponse{Rule: apiRule(stored)}, nil
}

func (a *api) ListRoutingRules(ctx context.Context, req *feedbackv1.ListRoutingRulesRequest) (*feedbackv1.ListRoutingRulesResponse, error) {
	prefix, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	size, fp, key, err := page.Open(req, "ListRoutingRules", defaultRulePage, maxRulePage)
	if err != nil {
		return nil, err
	}
	var after store.Rule
	if key != nil {
		var ok bool
		if after, ok = readRuleKey(key); !ok {
			return nil, rpcerr.InvalidArgument("page_token", "not a token of ListRoutingRules")
		}
	}
	rs, more, err := a.svc.listRules(prefix, after, size)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &feedbackv1.ListRoutingRulesResponse{}
	for _, r := range rs {
		resp.Rules = append(resp.Rules, apiRule(r))
	}
	if more {
		resp.NextPageToken = page.Token(fp, ruleKey(rs[len(rs)-1]))
	}
	return resp, nil
}

func (a *api) DeleteRoutingRule(ctx context.Context, req *feedbackv1.DeleteRoutingRuleRequest) (*feedbackv1.DeleteRoutingRuleResponse, error) {
	if err := checkID("id", req.Id); err != nil {
		return nil, err
	}
	if err := a.svc.deleteRule(ctx, req.Id); err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.DeleteRoutingRuleResponse{}, nil
}

// UpsertSegment is deprecated (feedback.proto): the segment registry is the pulse service's,
// and this service copies it from its events (segments.go). It answers FailedPrecondition,
// naming PulseService.UpsertSegment, and writes nothing.
func (a *api) UpsertSegment(context.Context, *feedbackv1.UpsertSegmentRequest) (*feedbackv1.UpsertSegmentResponse, error) {
	return nil, toStatus(fmt.Errorf("path: %w", errRegistryMoved))
}

func (a *api) ListSegments(ctx context.Context, req *feedbackv1.ListSegmentsRequest) (*feedbackv1.ListSegmentsResponse, error) {
	prefix, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	size, fp, key, err := page.Open(req, "ListSegments", defaultSegmentPage, maxSegmentPage)
	if err != nil {
		return nil, err
	}
	var after segment.Path
	if key != nil {
		// The key is the last path of the previous page.
		if after, err = segment.Parse(string(key)); err != nil || !after.Within(prefix) {
			return nil, rpcerr.InvalidArgument("page_token", "not a token of ListSegments")
		}
	}
	segs, more, err := a.svc.listSegments(prefix, after, size)
	if err != nil {
		return nil, toStatus(err)
	}
	principal, _ := auth.FromContext(ctx)
	withCounts := principal.Role != auth.RoleSubmitter
	resp := &feedbackv1.ListSegmentsResponse{}
	for _, sc := range segs {
		seg := &feedbackv1.Segment{Path: sc.path.String()}
		if withCounts {
			seg.Headcount = sc.n
		}
		resp.Segments = append(resp.Segments, seg)
	}
	if more {
		resp.NextPageToken = page.Token(fp, []byte(segs[len(segs)-1].path.String()))
	}
	return resp, nil
}

// checkPrefix parses a segment prefix of a request and checks it against the caller's token.
func checkPrefix(ctx context.Context, field, s string) (segment.Path, error) {
	p, err := segment.Parse(s)
	if err != nil {
		return segment.Path{}, rpcerr.InvalidArgument(field, err.Error())
	}
	if err := auth.CheckSegment(ctx, field, p.String()); err != nil {
		return segment.Path{}, err
	}
	return p, nil
}

func (a *api) ListFeedback(ctx context.Context, req *feedbackv1.ListFeedbackRequest) (*feedbackv1.ListFeedbackResponse, error) {
	q, fp, err := validateList(req)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "segment_prefix", q.prefix.String()); err != nil {
		return nil, err
	}
	resp, err := a.svc.list(ctx, q, fp)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (a *api) Upvote(ctx context.Context, req *feedbackv1.UpvoteRequest) (*feedbackv1.UpvoteResponse, error) {
	if err := checkID("feedback_id", req.FeedbackId); err != nil {
		return nil, err
	}
	if err := checkRef("submitter_ref", req.SubmitterRef); err != nil {
		return nil, err
	}
	n, counted, err := a.svc.upvote(ctx, req.FeedbackId, req.SubmitterRef)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.UpvoteResponse{Upvotes: n, Counted: counted}, nil
}

func (a *api) GetLoopStats(ctx context.Context, req *feedbackv1.GetLoopStatsRequest) (*feedbackv1.GetLoopStatsResponse, error) {
	p, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	resp, err := a.svc.loopStats(p)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := a.svc.planStats(p, resp); err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}
