package gateway

// Action plans on the loops page (/loops): HR (and admins) create a plan and move it along
// PLANNED → IN_PROGRESS → DONE | DROPPED with progress notes, through the feedback service's
// CreateActionPlan and UpdateActionPlan under their own token. The forms post to /loops with
// the session's CSRF token (authed checks it); the service decides everything: who may (hr,
// admin, within their prefix), which step is legal, which field is wrong. Its refusals are
// shown on the page in the reader's language, the form kept as typed.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

// planRole reports whether a role may create and update plans: the roles FeedbackService
// authorizes for CreateActionPlan and UpdateActionPlan (feedback/api.go, "routers").
func planRole(r auth.Role) bool { return r == auth.RoleHR || r == auth.RoleAdmin }

// planTransitions mirrors the feedback service's plan workflow (feedback/actionplan.go) to
// offer only legal next statuses; the service decides.
var planTransitions = map[feedbackv1.ActionPlanStatus][]feedbackv1.ActionPlanStatus{
	feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_PLANNED: {feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS,
		feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DROPPED},
	feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS: {feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DONE,
		feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DROPPED},
}

// planForm is the new-plan form as typed, shown again when the service refuses it.
type planForm struct {
	Open                               bool
	Segment, Title, Description, Owner string
	Due, Waves, Alerts, Comments       string
	Dimension                          int32
}

func planFormOf(v url.Values) planForm {
	dim, _ := strconv.Atoi(v.Get("dimension"))
	return planForm{
		Segment: strings.TrimSpace(v.Get("segment")), Title: v.Get("title"), Description: v.Get("description"),
		Owner: strings.TrimSpace(v.Get("owner")), Due: strings.TrimSpace(v.Get("due")), Dimension: int32(dim),
		Waves: v.Get("survey_waves"), Alerts: v.Get("alert_ids"), Comments: v.Get("feedback_ids"),
	}
}

// ids splits a list typed with commas, spaces or new lines.
func ids(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// plan is the request's plan. The service checks every field; only the day's shape is read
// here, since a date input sends YYYY-MM-DD.
func (f planForm) plan() (*feedbackv1.ActionPlan, error) {
	p := &feedbackv1.ActionPlan{
		Segment: f.Segment, Dimension: commonv1.Dimension(f.Dimension), Title: f.Title, Description: f.Description,
		OwnerGroup: f.Owner,
	}
	if f.Due != "" {
		day, err := time.Parse(time.DateOnly, f.Due)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "plan.due_time: must be a day, YYYY-MM-DD")
		}
		p.DueTime = timestamppb.New(day)
	}
	if w, a, c := ids(f.Waves), ids(f.Alerts), ids(f.Comments); len(w)+len(a)+len(c) > 0 {
		p.Links = &feedbackv1.ActionPlanLinks{SurveyWaves: w, AlertIds: a, FeedbackIds: c}
	}
	return p, nil
}

// planFieldKeys name the fields of the plan RPCs as the form labels them.
var planFieldKeys = map[string]string{
	"plan":                    "loops.plans",
	"plan.segment":            "col.segment",
	"plan.dimension":          "col.dimension",
	"plan.title":              "plans.title",
	"plan.description":        "plans.description",
	"plan.owner_group":        "col.owner",
	"plan.due_time":           "col.due",
	"plan.links.survey_waves": "plans.waves",
	"plan.links.alert_ids":    "plans.alerts",
	"plan.links.feedback_ids": "plans.comments",
	"plan_id":                 "col.plan",
	"status":                  "plans.newstatus",
	"note":                    "plans.note",
}

// planFieldLabel is the label of the form field a service message starts with ("plan.title:
// required…", "plan.links.feedback_ids[2]: …"), and the rest of the message.
func planFieldLabel(p *page, msg string) (label, rule string, ok bool) {
	field, rule, found := strings.Cut(msg, ": ")
	if !found {
		return "", "", false
	}
	if i := strings.IndexByte(field, '['); i > 0 {
		field = field[:i]
	}
	key, ok := planFieldKeys[field]
	if !ok {
		return "", "", false
	}
	return p.T(key), rule, true
}

// planError is the HTTP code and the sentence for a refused plan call: the field named by
// its form label, in the page's language, with the service's rule.
func (s *Service) planError(p *page, err error) (int, string) {
	st := status.Convert(err)
	label, rule, ok := planFieldLabel(p, st.Message())
	switch {
	case st.Code() == codes.InvalidArgument && ok:
		return http.StatusBadRequest, p.T("plans.badfield", label, rule)
	case st.Code() == codes.NotFound && ok:
		return http.StatusNotFound, p.T("plans.notfound", label)
	}
	return s.explain(p, err)
}

// handlePlanPost runs the forms of /loops: op "create" or "update".
func (s *Service) handlePlanPost(w http.ResponseWriter, r *http.Request, sess session) {
	p := s.newPage(r, &sess, "loops", "")
	seg, ok := pageSegment(r, sess, p)
	if !ok {
		s.render(w, r, http.StatusBadRequest, "loops", p, nil)
		return
	}
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	var (
		id, notice string
		err        error
		form       *planForm
	)
	switch r.PostForm.Get("op") {
	case "create":
		f := planFormOf(r.PostForm)
		form = &f
		var plan *feedbackv1.ActionPlan
		if plan, err = f.plan(); err == nil {
			var resp *feedbackv1.CreateActionPlanResponse
			if resp, err = s.web.feedback.CreateActionPlan(ctx, &feedbackv1.CreateActionPlanRequest{Plan: plan}); err == nil {
				id, notice = resp.Plan.Id, "plan"
			}
		}
	case "update":
		id = r.PostForm.Get("id")
		st, _ := strconv.Atoi(r.PostForm.Get("status"))
		to := feedbackv1.ActionPlanStatus(st)
		_, err = s.web.feedback.UpdateActionPlan(ctx, &feedbackv1.UpdateActionPlanRequest{PlanId: id, Status: to, Note: r.PostForm.Get("note")})
		if status.Code(err) == codes.FailedPrecondition && to != feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_UNSPECIFIED {
			// Name both steps in the reader's words; the plan may have moved since the page was read.
			cur, gerr := s.web.feedback.GetActionPlan(ctx, &feedbackv1.GetActionPlanRequest{PlanId: id})
			if gerr == nil && !slices.Contains(planTransitions[cur.Plan.Status], to) {
				err = planStepError{from: cur.Plan.Status, to: to}
			}
		}
		notice = "planupdate"
	default:
		p.Error = p.T("err.invalid") + " op"
		s.loopsPage(w, r, sess, p, seg, http.StatusBadRequest, nil)
		return
	}
	if err != nil {
		var code int
		if se, ok := err.(planStepError); ok {
			code, p.Error = http.StatusConflict, p.T("plans.illegal", planStatusText(p.Lang, se.from), planStatusText(p.Lang, se.to))
		} else {
			code, p.Error = s.planError(p, err)
		}
		if code == http.StatusUnauthorized {
			http.SetCookie(w, sessionCookie(r, "", -1))
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if form != nil {
			form.Open = true
		}
		s.loopsPage(w, r, sess, p, seg, code, form)
		return
	}
	q := url.Values{"notice": {notice}}
	if seg != sess.p.Prefix {
		q.Set("segment", seg)
	}
	http.Redirect(w, r, "/loops?"+q.Encode()+"#plan-"+url.PathEscape(id), http.StatusSeeOther)
}

// planStepError is an illegal status step, with the plan's status as the service holds it.
type planStepError struct{ from, to feedbackv1.ActionPlanStatus }

func (e planStepError) Error() string { return fmt.Sprintf("illegal step from %s to %s", e.from, e.to) }

// loopsPage renders /loops for seg: the loop figures, the plans, and for hr and admin the
// forms (form, if set, is the new-plan form as typed).
func (s *Service) loopsPage(w http.ResponseWriter, r *http.Request, sess session, p *page, seg string, code int, form *planForm) {
	// The page's own address, also after a POST: the language link and the segment picker
	// come back to /loops.
	p.Here = p.SegHref("/loops", seg)
	ctx, cancel := callCtx(r.Context(), sess)
	defer cancel()
	stats, err := s.web.feedback.GetLoopStats(ctx, &feedbackv1.GetLoopStatsRequest{SegmentPrefix: seg})
	if err != nil {
		s.fail(w, r, "loops", p, err)
		return
	}
	plans, err := s.web.feedback.ListActionPlans(ctx, &feedbackv1.ListActionPlansRequest{SegmentPrefix: seg, PageSize: maxPlansShown})
	if err != nil {
		s.fail(w, r, "loops", p, err)
		return
	}
	d := loopView(p, stats)
	d.Plans, d.MorePlans = planViews(p, plans)
	if planRole(sess.p.Role) {
		d.CanPlan = true
		if form == nil {
			form = &planForm{Segment: seg}
		}
		d.Form = *form
		d.Dims = append(d.Dims, option{Value: 0, Name: p.Dim(commonv1.Dimension_DIMENSION_UNSPECIFIED), Selected: form.Dimension == 0})
		for _, dim := range dimensions {
			d.Dims = append(d.Dims, option{Value: int32(dim), Name: p.Dim(dim), Selected: form.Dimension == int32(dim)})
		}
	}
	s.render(w, r, code, "loops", p, d)
}
