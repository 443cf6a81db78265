package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/auth"
)

// readAll reads and closes a response's body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// postBody posts form to /loops with the session cookie and returns the code and the page.
func postBody(t *testing.T, d *dash, cookie *http.Cookie, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.base()+"/loops", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	resp, err := d.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// planRow is the row under a plan on /loops: its latest note and its update form.
func planRow(body, id string) string {
	m := regexp.MustCompile(`(?s)<tr id="plan-` + regexp.QuoteMeta(id) + `" class="plan-more">(.*?)</tr>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestActionPlansThroughTheDashboard: HR creates an action plan with the form of /loops and
// the feedback service holds exactly what was typed; HR moves it on with a note; the
// service's refusals (an empty title, an illegal step, a missing note) are shown in the
// reader's language with the form kept, never a 500; a POST without the session's CSRF token
// is refused; a manager, whom the RPCs do not allow, gets no form and is refused.
func TestActionPlansThroughTheDashboard(t *testing.T) {
	d := startDashboard(t)
	d.registerWithPulse(t)
	d.comment(t, "acme/eng/platform", "platform-0", platformTexts[0])
	hrCtx := d.env.As(context.Background(), auth.RoleHR)
	list, err := d.feedback.ListFeedback(hrCtx, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"})
	if err != nil || len(list.Feedback) != 1 {
		t.Fatalf("ListFeedback: %v, %v", list, err)
	}
	commentID := list.Feedback[0].Id
	hr := d.session(t, d.env.Tokens[auth.RoleHR])
	plans := func() []*feedbackv1.ActionPlan {
		t.Helper()
		resp, err := d.feedback.ListActionPlans(hrCtx, &feedbackv1.ListActionPlansRequest{SegmentPrefix: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Plans
	}

	code, body, _ := d.get(t, "/loops", []*http.Cookie{hr})
	if code != http.StatusOK || !strings.Contains(body, `name="op" value="create"`) {
		t.Fatalf("GET /loops as hr: HTTP %d, want the new-plan form:\n%s", code, body)
	}
	csrf := csrfOf(t, body)
	form := url.Values{
		"op": {"create"}, "segment": {"acme/eng"}, "dimension": {fmt.Sprint(int32(commonv1.Dimension_DIMENSION_WORKLOAD))},
		"title": {"On-call rota review"}, "description": {"Fewer nights per person, from March."},
		"owner": {"eng-leads"}, "due": {"2027-03-02"},
		"survey_waves": {"pulse-q1/2"}, "alert_ids": {"alert-7, alert-9"}, "feedback_ids": {commentID},
	}

	t.Run("a POST without the session's CSRF token is refused", func(t *testing.T) {
		if code, _ := d.post(t, "/loops", hr, form); code != http.StatusForbidden {
			t.Errorf("create without CSRF: HTTP %d, want 403", code)
		}
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("csrf", strings.Repeat("A", len(csrf)))
		if code, _ := d.post(t, "/loops", hr, bad); code != http.StatusForbidden {
			t.Errorf("create with a wrong CSRF token: HTTP %d, want 403", code)
		}
		if ps := plans(); len(ps) != 0 {
			t.Fatalf("refused posts created plans %v", ps)
		}
	})

	var id string
	t.Run("create through the form, read back over gRPC", func(t *testing.T) {
		form.Set("csrf", csrf)
		code, h := d.post(t, "/loops", hr, form, "Origin", d.base())
		loc := h.Get("Location")
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/loops?notice=plan#plan-") {
			t.Fatalf("create: HTTP %d to %q, want 303 back to /loops with a notice", code, loc)
		}
		ps := plans()
		if len(ps) != 1 {
			t.Fatalf("the feedback service holds %d plans, want 1", len(ps))
		}
		id = ps[0].Id
		got, err := d.feedback.GetActionPlan(hrCtx, &feedbackv1.GetActionPlanRequest{PlanId: id})
		if err != nil {
			t.Fatal(err)
		}
		p := got.Plan
		want := &feedbackv1.ActionPlanLinks{SurveyWaves: []string{"pulse-q1/2"}, AlertIds: []string{"alert-7", "alert-9"}, FeedbackIds: []string{commentID}}
		if p.Segment != form.Get("segment") || p.Dimension != commonv1.Dimension_DIMENSION_WORKLOAD || p.Title != form.Get("title") ||
			p.Description != form.Get("description") || p.OwnerGroup != form.Get("owner") ||
			p.DueTime.AsTime().Format(time.DateOnly) != form.Get("due") || !proto.Equal(p.Links, want) ||
			p.Status != feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_PLANNED {
			t.Errorf("stored plan %v, want what the form said, PLANNED", p)
		}
		if !strings.HasSuffix(loc, "#plan-"+id) {
			t.Errorf("redirect %q does not point at plan %s", loc, id)
		}
		_, body, _ := d.get(t, loc, []*http.Cookie{hr})
		if !strings.Contains(body, "Action plan created.") || !strings.Contains(body, "On-call rota review") {
			t.Errorf("the page after creating lacks the notice or the plan:\n%s", body)
		}
		if !strings.Contains(body, `<h2>Open action plans</h2><p class="value">1</p>`) {
			t.Errorf("the loop statistics do not count the open plan:\n%s", body)
		}
		// The author of the linked comment sees the plan in their thread, through the bot.
		if got := d.command(t, "status "+d.threads[platformTexts[0]]); !strings.Contains(got, "*On-call rota review*: planned, due 2 Mar 2027") || strings.Contains(got, "eng-leads") {
			t.Errorf("/feedback status of the linked comment: %q, want the plan without its owner group", got)
		}
		if row := planRow(body, id); !strings.Contains(row, `name="op" value="update"`) || !strings.Contains(row, ">in progress<") ||
			!strings.Contains(row, ">dropped<") || strings.Contains(row, ">done<") {
			t.Errorf("plan %s's update form offers %q; want in progress or dropped only", id, row)
		}
	})

	t.Run("a refused plan is explained in the reader's language, the form kept", func(t *testing.T) {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("title", "   ")
		bad.Set("owner", "ops-leads")
		for lang, want := range map[string]string{"en": "Check the field “Title”: ", "fr": "Vérifiez le champ « Titre » : "} {
			req, _ := http.NewRequest(http.MethodPost, d.base()+"/loops", strings.NewReader(bad.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept-Language", lang)
			req.AddCookie(hr)
			resp, err := d.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `<p class="error" role="alert">`+want+"required") {
				t.Errorf("%s: empty title: HTTP %d, want 400 naming the field %q:\n%s", lang, resp.StatusCode, want, body)
			}
			if !strings.Contains(body, `<details class="plan-new" open>`) || !strings.Contains(body, `value="ops-leads"`) {
				t.Errorf("%s: the refused form is not shown again as typed", lang)
			}
		}
		// A link to a comment HR cannot read names the field, not the comment.
		bad.Set("title", "Linked to nothing")
		bad.Set("feedback_ids", strings.Repeat("A", 26))
		if code, body := postBody(t, d, hr, bad); code != http.StatusNotFound || !strings.Contains(body, "Comment ids: not found, or not visible with your token.") {
			t.Errorf("a link to an unknown comment: HTTP %d, want 404 naming the field:\n%s", code, body)
		}
		if ps := plans(); len(ps) != 1 {
			t.Errorf("a refused plan was stored: %d plans", len(ps))
		}
	})

	update := func(status feedbackv1.ActionPlanStatus, note string, headers ...string) (int, string) {
		t.Helper()
		f := url.Values{"csrf": {csrf}, "op": {"update"}, "id": {id}, "status": {fmt.Sprint(int32(status))}, "note": {note}}
		req, _ := http.NewRequest(http.MethodPost, d.base()+"/loops", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		req.AddCookie(hr)
		resp, err := d.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode == http.StatusSeeOther {
			return resp.StatusCode, resp.Header.Get("Location")
		}
		return resp.StatusCode, body
	}
	t.Run("status and notes through the form, illegal steps refused", func(t *testing.T) {
		code, loc := update(feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS, "Rota drafted with the team.")
		if code != http.StatusSeeOther || !strings.Contains(loc, "notice=planupdate") {
			t.Fatalf("update: HTTP %d %q, want 303 with a notice", code, loc)
		}
		got, err := d.feedback.GetActionPlan(hrCtx, &feedbackv1.GetActionPlanRequest{PlanId: id})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(got.Plan.Notes); got.Plan.Status != feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_IN_PROGRESS || n != 1 ||
			got.Plan.Notes[0].Text != "Rota drafted with the team." {
			t.Fatalf("after the form: %v, want IN_PROGRESS with the note", got.Plan)
		}
		// A step the workflow does not have: the service refuses, the page says which.
		for lang, want := range map[string]string{
			"en": "This plan cannot go from “in progress” to “planned”",
			"fr": "Ce plan ne peut pas passer de « en cours » à « prévu »",
		} {
			code, body := update(feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_PLANNED, "back", "Accept-Language", lang)
			if code != http.StatusConflict || !strings.Contains(body, want) {
				t.Errorf("%s: IN_PROGRESS → PLANNED: HTTP %d, want 409 saying %q:\n%s", lang, code, want, body)
			}
		}
		// A status change needs a note.
		if code, body := update(feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DONE, ""); code != http.StatusBadRequest || !strings.Contains(body, "Check the field “Progress note”") {
			t.Errorf("DONE without a note: HTTP %d, want 400 naming the note:\n%s", code, body)
		}
		// A note alone keeps the status.
		if code, _ := update(feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_UNSPECIFIED, "Two volunteers found."); code != http.StatusSeeOther {
			t.Errorf("a note alone: HTTP %d, want 303", code)
		}
		if code, _ := update(feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DONE, "New rota in place."); code != http.StatusSeeOther {
			t.Errorf("DONE: HTTP %d, want 303", code)
		}
		got, err = d.feedback.GetActionPlan(hrCtx, &feedbackv1.GetActionPlanRequest{PlanId: id})
		if err != nil {
			t.Fatal(err)
		}
		var notes []string
		for _, n := range got.Plan.Notes {
			notes = append(notes, n.Text)
		}
		if got.Plan.Status != feedbackv1.ActionPlanStatus_ACTION_PLAN_STATUS_DONE ||
			!slices.Equal(notes, []string{"Rota drafted with the team.", "Two volunteers found.", "New rota in place."}) {
			t.Errorf("after the forms: %v with notes %q; want DONE with the three notes accepted, none of the refused", got.Plan.Status, notes)
		}
		// A finished plan offers no next step; its latest note is shown.
		_, body, _ := d.get(t, "/loops", []*http.Cookie{hr})
		if row := planRow(body, id); strings.Contains(row, `value="update"`) || !strings.Contains(row, "New rota in place.") {
			t.Errorf("a done plan's row %q: want its latest note and no update form", row)
		}
		if !strings.Contains(body, `<h2>Open action plans</h2><p class="value">0</p>`) || !strings.Contains(body, `<h2>Action plans done</h2><p class="value">1</p>`) {
			t.Errorf("the loop statistics do not count the done plan:\n%s", body)
		}
		if got := d.command(t, "status "+d.threads[platformTexts[0]]); !strings.Contains(got, "*On-call rota review*: done") {
			t.Errorf("/feedback status after the plan is done: %q", got)
		}
	})

	t.Run("a manager gets no form and cannot post one", func(t *testing.T) {
		mgr := d.session(t, d.env.SubtreeManager)
		code, body, _ := d.get(t, "/loops?segment=acme/eng", []*http.Cookie{mgr})
		if code != http.StatusOK || !strings.Contains(body, "On-call rota review") {
			t.Fatalf("manager's /loops: HTTP %d, want the plan listed:\n%s", code, body)
		}
		if strings.Contains(body, `name="op"`) {
			t.Error("a manager is shown a plan form the RPCs would refuse")
		}
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("csrf", csrfOf(t, body))
		f.Set("title", "Manager's own plan")
		if code, _ := d.post(t, "/loops?segment=acme/eng", mgr, f); code != http.StatusForbidden {
			t.Errorf("manager's create: HTTP %d, want 403 from the service", code)
		}
		if ps := plans(); len(ps) != 1 {
			t.Errorf("a manager's post created a plan: %d plans", len(ps))
		}
	})
}
