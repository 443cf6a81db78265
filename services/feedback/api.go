package feedback

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
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
	}
)

// rules maps the domain errors to gRPC codes, here and nowhere else. An unmapped error reaches
// the client as a bare Internal (rpcerr.To), never with its text.
var rules = []rpcerr.Rule{
	{Err: store.ErrNotFound, Code: codes.NotFound},
}

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
	if err := auth.CheckSegment(ctx, "segment", sub.seg.String()); err != nil {
		return nil, err
	}
	r, err := a.svc.submit(sub, a.svc.cfg.Now())
	if err != nil {
		return nil, rpcerr.To(err, rules...)
	}
	return &feedbackv1.SubmitFeedbackResponse{FeedbackId: r.id, FollowUpToken: r.token, Status: r.status}, nil
}

func (a *api) GetFeedback(ctx context.Context, req *feedbackv1.GetFeedbackRequest) (*feedbackv1.GetFeedbackResponse, error) {
	if err := checkID("feedback_id", req.FeedbackId); err != nil {
		return nil, err
	}
	c, err := a.svc.comment(req.FeedbackId)
	if err != nil {
		return nil, rpcerr.To(err, rules...)
	}
	// A comment outside the caller's subtree does not exist for them: the same NotFound as
	// an unknown id, so that ids cannot be probed across teams or organisations.
	if p, _ := auth.FromContext(ctx); !p.Covers(c.Segment) {
		return nil, rpcerr.To(fmt.Errorf("%w: feedback %q", store.ErrNotFound, req.FeedbackId), rules...)
	}
	return &feedbackv1.GetFeedbackResponse{Feedback: readerView(c)}, nil
}

// readerView is a stored comment as readers see it. The author's segment is replaced by the
// organisation until segment headcounts reach this service (the feedback workflow issue): a
// comment is shown under a segment only if its headcount reaches the comment threshold, and
// an unknown headcount must count as too small.
func readerView(c *feedbackv1.Feedback) *feedbackv1.Feedback {
	v := proto.CloneOf(c)
	if p, err := segment.Parse(c.Segment); err == nil {
		v.Segment = p.Org()
	}
	return v
}
