package pulse

import (
	"context"
	"fmt"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/page"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
)

var (
	readers  = []auth.Role{auth.RoleHR, auth.RoleManager, auth.RoleAdmin}
	managers = []auth.Role{auth.RoleHR, auth.RoleAdmin}
	policy   = auth.Policy{
		pulsev1.PulseService_CreateSurvey_FullMethodName:           managers,
		pulsev1.PulseService_GetSurvey_FullMethodName:              readers,
		pulsev1.PulseService_ListSurveys_FullMethodName:            readers,
		pulsev1.PulseService_CloseSurvey_FullMethodName:            managers,
		pulsev1.PulseService_UpdateSurveySettings_FullMethodName:   managers,
		pulsev1.PulseService_ListPendingSurveys_FullMethodName:     {auth.RoleSubmitter},
		pulsev1.PulseService_SubmitResponse_FullMethodName:         {auth.RoleSubmitter},
		pulsev1.PulseService_GetResults_FullMethodName:             readers,
		pulsev1.PulseService_UpsertSegment_FullMethodName:          managers,
		pulsev1.PulseService_TriggerLifecycleSurvey_FullMethodName: managers,
		pulsev1.PulseService_ListTemplates_FullMethodName:          managers,
	}
)

// api is the gRPC face of the service: validation, authorisation and proto mapping. The work
// is in the Service methods; their domain errors become statuses in toStatus.
type api struct {
	pulsev1.UnimplementedPulseServiceServer
	svc *Service
}

func (a *api) CreateSurvey(ctx context.Context, req *pulsev1.CreateSurveyRequest) (*pulsev1.CreateSurveyResponse, error) {
	if err := checkKey("idempotency_key", req.IdempotencyKey); err != nil {
		return nil, err
	}
	now := a.svc.cfg.Now()
	in, audience, err := normalizeSurvey(req.Survey, now, uint32(a.svc.cfg.MinGroupSize))
	if err != nil {
		return nil, toStatus(err)
	}
	if err := auth.CheckSegment(ctx, "survey.audience", audience.String()); err != nil {
		return nil, err
	}
	p, _ := auth.FromContext(ctx)
	sv, err := a.svc.createSurvey(p.Name, req, &survey{Survey: in, audience: audience}, now)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pulsev1.CreateSurveyResponse{Survey: surveyView(sv.Survey, now)}, nil
}

func (a *api) GetSurvey(ctx context.Context, req *pulsev1.GetSurveyRequest) (*pulsev1.GetSurveyResponse, error) {
	if err := checkSurveyID("survey_id", req.SurveyId); err != nil {
		return nil, err
	}
	sv, err := a.svc.visibleSurvey(ctx, req.SurveyId)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pulsev1.GetSurveyResponse{Survey: surveyView(sv.Survey, a.svc.cfg.Now())}, nil
}

func (a *api) ListSurveys(ctx context.Context, req *pulsev1.ListSurveysRequest) (*pulsev1.ListSurveysResponse, error) {
	prefix, err := parseSegment("segment_prefix", req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "segment_prefix", prefix.String()); err != nil {
		return nil, err
	}
	q, fp, err := validateList(req, prefix)
	if err != nil {
		return nil, err
	}
	// Every survey listed is visible to the caller: its audience is within the prefix, which
	// is within the caller's, or covers the prefix, so it overlaps the caller's.
	surveys, next, err := a.svc.listSurveys(q)
	if err != nil {
		return nil, toStatus(err)
	}
	now := a.svc.cfg.Now()
	resp := &pulsev1.ListSurveysResponse{}
	for _, sv := range surveys {
		resp.Surveys = append(resp.Surveys, surveyView(sv.Survey, now))
	}
	if next != nil {
		resp.NextPageToken = page.Token(fp, next)
	}
	return resp, nil
}

func (a *api) UpsertSegment(ctx context.Context, req *pulsev1.UpsertSegmentRequest) (*pulsev1.UpsertSegmentResponse, error) {
	path, err := parseSegment("path", req.Path)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "path", path.String()); err != nil {
		return nil, err
	}
	if req.Headcount > maxHeadcount {
		return nil, rpcerr.InvalidArgument("headcount", fmt.Sprintf("must be 0..%d", maxHeadcount))
	}
	seg, err := a.svc.upsertSegment(path, req.Headcount)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pulsev1.UpsertSegmentResponse{Segment: segmentView(path, seg)}, nil
}

func (a *api) SubmitResponse(ctx context.Context, req *pulsev1.SubmitResponseRequest) (*pulsev1.SubmitResponseResponse, error) {
	if err := checkSurveyID("survey_id", req.SurveyId); err != nil {
		return nil, err
	}
	if err := checkRef("submitter_ref", req.SubmitterRef); err != nil {
		return nil, err
	}
	if err := checkKey("idempotency_key", req.IdempotencyKey); err != nil {
		return nil, err
	}
	seg, err := parseSegment("segment", req.Segment)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "segment", seg.String()); err != nil {
		return nil, err
	}
	if len(req.Answers) == 0 {
		return nil, rpcerr.InvalidArgument("answers", "must have at least one answer")
	}
	sv, err := a.svc.visibleRespondSurvey(ctx, req.SurveyId) // respond_survey.go
	if err != nil {
		return nil, toStatus(err)
	}
	if !seg.Within(sv.audience) {
		return nil, rpcerr.InvalidArgument("segment", fmt.Sprintf("must be within the survey's audience %q", sv.audience))
	}
	now := a.svc.cfg.Now()
	w, err := answerableWave(sv.Survey, req.Wave, now)
	if err != nil {
		return nil, toStatus(err)
	}
	answers, err := scoreAnswers(req.Answers, askedIn(sv.Survey, w))
	if err != nil {
		return nil, err
	}
	if lifecycleKind(sv.Kind) {
		// A retry of an answer to a repeatable moment finds its invitation used up: the marker
		// with the same idempotency value says it is a retry (loop.go).
		if err := a.svc.checkInvited(sv.Survey, req.SubmitterRef, now); err != nil && !a.svc.isRetry(sv.Survey, w.Number, req.SubmitterRef, req.IdempotencyKey) {
			return nil, toStatus(err)
		}
	}
	sub := submission{survey: sv, wave: w.Number, seg: seg, ref: req.SubmitterRef, key: req.IdempotencyKey, answers: answers}
	if repeatable(sv.Kind) {
		sub.invite = a.svc.inviteTag(sv.Id, req.SubmitterRef)
	}
	threads, comments := a.svc.surveyThreads(sub, now)
	sub.comments = comments
	id, err := a.svc.submit(sub, now)
	if err != nil {
		return nil, toStatus(err)
	}
	// The response is stored: a failure to read the news must not make it look refused.
	news, err := a.svc.planNews(seg, newsSince(sv.Survey, w.Number, now))
	if err != nil {
		a.svc.host.Log.Error("you said, we did: read plan news", "err", err)
		news = nil
	}
	return &pulsev1.SubmitResponseResponse{ResponseId: id, Wave: w.Number, Threads: threads, PlanNews: news}, nil
}

func (a *api) ListPendingSurveys(ctx context.Context, req *pulsev1.ListPendingSurveysRequest) (*pulsev1.ListPendingSurveysResponse, error) {
	if err := checkRef("submitter_ref", req.SubmitterRef); err != nil {
		return nil, err
	}
	seg, err := parseSegment("segment", req.Segment)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "segment", seg.String()); err != nil {
		return nil, err
	}
	if req.Language != "" && !languages[req.Language] {
		return nil, rpcerr.InvalidArgument("language", `must be "fr", "en" or empty`)
	}
	pending, err := a.svc.pending(ctx, req.SubmitterRef, seg, req.Language, a.svc.cfg.Now())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pulsev1.ListPendingSurveysResponse{Surveys: pending}, nil
}

// The RPCs of the next issue. The embedded Unimplemented server would answer too, but with a
// message that does not say when.

func (a *api) CloseSurvey(ctx context.Context, req *pulsev1.CloseSurveyRequest) (*pulsev1.CloseSurveyResponse, error) {
	if err := checkSurveyID("survey_id", req.SurveyId); err != nil {
		return nil, err
	}
	if _, err := a.svc.managedSurvey(ctx, req.SurveyId); err != nil {
		return nil, toStatus(err)
	}
	now := a.svc.cfg.Now()
	sv, err := a.svc.closeSurvey(req.SurveyId, now)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pulsev1.CloseSurveyResponse{Survey: surveyView(sv.Survey, now)}, nil
}

func (a *api) UpdateSurveySettings(ctx context.Context, req *pulsev1.UpdateSurveySettingsRequest) (*pulsev1.UpdateSurveySettingsResponse, error) {
	if err := checkSurveyID("survey_id", req.SurveyId); err != nil {
		return nil, err
	}
	if _, err := a.svc.managedSurvey(ctx, req.SurveyId); err != nil {
		return nil, toStatus(err)
	}
	sv, err := a.svc.updateSettings(req.SurveyId, settings{
		minGroupSize: req.MinGroupSize, commentThreshold: req.CommentThreshold, liveResults: req.LiveResults,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pulsev1.UpdateSurveySettingsResponse{Survey: surveyView(sv.Survey, a.svc.cfg.Now())}, nil
}

func (a *api) GetResults(ctx context.Context, req *pulsev1.GetResultsRequest) (*pulsev1.GetResultsResponse, error) {
	if err := checkSurveyID("survey_id", req.SurveyId); err != nil {
		return nil, err
	}
	if req.Language != "" && !languages[req.Language] {
		return nil, rpcerr.InvalidArgument("language", `must be "fr", "en" or empty`)
	}
	var prefix segment.Path // zero: not given
	if req.SegmentPrefix != "" {
		p, err := parseSegment("segment_prefix", req.SegmentPrefix)
		if err != nil {
			return nil, err
		}
		if err := auth.CheckSegment(ctx, "segment_prefix", p.String()); err != nil {
			return nil, err
		}
		prefix = p
	}
	size, fp, after, err := page.Open(req, "GetResults", defaultResultsPage, maxResultsPage)
	if err != nil {
		return nil, err
	}
	sv, raw, err := a.svc.visibleResultsSurvey(ctx, req.SurveyId)
	if err != nil {
		return nil, toStatus(err)
	}
	caller, _ := auth.FromContext(ctx)
	switch {
	case prefix.IsZero() && caller.Covers(sv.audience.String()):
		prefix = sv.audience
	case prefix.IsZero():
		// A manager of acme/eng reading a survey sent to all of acme sees their subtree: the
		// survey is visible to them, so their prefix is within its audience.
		if prefix, err = segment.Parse(caller.Prefix); err != nil {
			return nil, toStatus(fmt.Errorf("token prefix %q: %w", caller.Prefix, err))
		}
	case !prefix.Within(sv.audience):
		return nil, rpcerr.InvalidArgument("segment_prefix", fmt.Sprintf("must be within the survey's audience %q", sv.audience))
	}
	now := a.svc.cfg.Now()
	first, last, err := resultWaves(sv.Survey, req.FirstWave, req.LastWave, now)
	if err != nil {
		return nil, toStatus(err)
	}
	resp, err := a.svc.results(ctx, resultsQuery{survey: sv, raw: raw, first: first, last: last, prefix: prefix, lang: req.Language, now: now,
		size: size, after: after, fp: fp})
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (a *api) TriggerLifecycleSurvey(ctx context.Context, req *pulsev1.TriggerLifecycleSurveyRequest) (*pulsev1.TriggerLifecycleSurveyResponse, error) {
	if _, known := pulsev1.LifecycleEvent_name[int32(req.Event)]; !known || req.Event == pulsev1.LifecycleEvent_LIFECYCLE_EVENT_UNSPECIFIED {
		return nil, rpcerr.InvalidArgument("event", "is required: STARTED, LEAVING, CANDIDATE, INTERNAL_MOVE, MANAGER_CHANGE, RETURN_FROM_LEAVE or ANNIVERSARY")
	}
	if err := checkRef("submitter_ref", req.SubmitterRef); err != nil {
		return nil, err
	}
	seg, err := parseSegment("segment", req.Segment)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "segment", seg.String()); err != nil {
		return nil, err
	}
	effective := a.svc.cfg.Now()
	if req.EffectiveTime != nil {
		if err := req.EffectiveTime.CheckValid(); err != nil {
			return nil, rpcerr.InvalidArgument("effective_time", "must be a valid timestamp")
		}
		effective = req.EffectiveTime.AsTime()
	}
	ids, err := a.svc.trigger(req.Event, req.SubmitterRef, seg, effective)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pulsev1.TriggerLifecycleSurveyResponse{SurveyIds: ids}, nil
}

func (a *api) ListTemplates(_ context.Context, req *pulsev1.ListTemplatesRequest) (*pulsev1.ListTemplatesResponse, error) {
	if req.Language != "" && !languages[req.Language] {
		return nil, rpcerr.InvalidArgument("language", `must be "fr", "en" or empty`)
	}
	resp := &pulsev1.ListTemplatesResponse{}
	for _, t := range templates() {
		resp.Templates = append(resp.Templates, templateView(t, req.Language))
	}
	return resp, nil
}
