package demo

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/gateway"
)

// The built-in templates the demo uses (ListTemplates).
const (
	templateWeekly     = "weekly-pulse"
	templateDiagnostic = "ex-maturity"
	templateOnboarding = "onboarding-30"
)

// weeklyStatements is how many of the weekly pulse's rotating statements each wave asks: all
// of them (two per dimension).
const weeklyStatements = 16

// The weekly pulse opens at 09:00 on the day after the plan starts, every week, for the
// template's five days; the diagnostic opens a third of the way in, for ten days.
const (
	weeklyWindow     = 5 * day
	diagnosticWindow = 10 * day
	onboardingDelay  = 30 * day
	onboardingWindow = 14 * day
)

type question struct {
	id   string
	kind commonv1.QuestionKind
	dim  commonv1.Dimension
}

// weeklyOpens is when wave k (from 1) of the weekly pulse opens, as the pulse service computes
// it from the first opening and the time zone: the same local time each week, the last
// (r.nWaves) at r.lastOpens.
func (r *run) weeklyOpens(k int) time.Time {
	y, m, d := r.lastOpens.Date()
	h, mi, _ := r.lastOpens.Clock()
	return time.Date(y, m, d-7*(r.nWaves-k), h, mi, 0, 0, r.loc)
}

// scheduleWeekly places the weekly pulse so that the week the dashboard opens on has answers:
// its last wave opens in the ISO week (UTC) in which the demo clock catches up (r.stop), at
// 08:00 in Paris on its Monday when that is at least an hour before r.stop (else half an hour
// before r.stop), and its people answer before r.stop; the other waves open at the same local
// time on the Mondays before, as far back as the plan starts (two hours after r.base).
func (r *run) scheduleWeekly() {
	stop := r.stop.UTC()
	monday := time.Date(stop.Year(), stop.Month(), stop.Day()-(int(stop.Weekday())+6)%7, 0, 0, 0, 0, time.UTC)
	last := time.Date(monday.Year(), monday.Month(), monday.Day(), 8, 0, 0, 0, r.loc)
	if last.Before(monday) || last.After(r.stop.Add(-time.Hour)) {
		last = r.stop.Add(-30 * time.Minute).Truncate(time.Minute).In(r.loc)
	}
	r.lastOpens, r.nWaves = last, 0
	for k := range r.weeks {
		y, m, d := last.Date()
		h, mi, _ := last.Clock()
		if time.Date(y, m, d-7*k, h, mi, 0, 0, r.loc).Before(r.base.Add(2 * time.Hour)) {
			break
		}
		r.nWaves = k + 1
	}
}

// diagnosticOpens is when the diagnostic opens, and whether it closes within the plan.
func (r *run) diagnosticOpens() (time.Time, bool) {
	y, m, d := r.base.In(r.loc).Date()
	opens := time.Date(y, m, d+1+7*(r.weeks/3), 10, 0, 0, 0, r.loc)
	return opens, opens.Add(diagnosticWindow).Before(r.end().Add(-12 * time.Hour))
}

// end is where the plan ends: when the demo clock catches up with real time.
func (r *run) end() time.Time { return r.stop }

// setup is what HR does before the weeks start: register the organisation in the segment
// registry, load the chat directory, set routing rules, create the surveys from the built-in
// templates, and report the newcomers.
func (r *run) setup(ctx context.Context) error {
	hr := r.hr(ctx)
	paths, headcounts := r.w.segments()
	for _, p := range paths {
		if _, err := r.pulse.UpsertSegment(hr, &pulsev1.UpsertSegmentRequest{Path: p, Headcount: uint32(headcounts[p])}); err != nil {
			return fmt.Errorf("UpsertSegment %s: %w", p, err)
		}
	}
	r.counts.Departments = len(paths) - len(r.w.teams) - 1
	r.counts.Teams, r.counts.People = len(r.w.teams), len(r.w.people)
	// The registry reaches the feedback service as events: the gateway lets people pick only
	// among the teams it holds.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := r.feedback.ListSegments(hr, &feedbackv1.ListSegmentsRequest{SegmentPrefix: r.cfg.Org, PageSize: 1000})
		if err != nil {
			return fmt.Errorf("ListSegments: %w", err)
		}
		held := 0
		for _, s := range resp.Segments {
			if int(s.Headcount) == headcounts[s.Path] {
				held++
			}
		}
		if held == len(paths) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the feedback service holds %d of the %d segments registered with pulse after 30s", held, len(paths))
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}

	var entries []gateway.Entry
	for _, p := range r.w.people {
		if p.known {
			entries = append(entries, gateway.Entry{TeamID: workspace, UserID: p.user, Segment: p.team.path, Language: p.lang})
		}
	}
	if err := r.putDirectory(ctx, entries); err != nil {
		return err
	}
	r.counts.DirectoryEntries = len(entries)

	org := r.cfg.Org
	for _, rule := range []*feedbackv1.RoutingRule{
		{SegmentPrefix: org, OwnerGroup: "hr-team"},
		{SegmentPrefix: org, Dimension: commonv1.Dimension_DIMENSION_WORKLOAD, OwnerGroup: "people-ops"},
		{SegmentPrefix: org, Dimension: commonv1.Dimension_DIMENSION_RECOGNITION, OwnerGroup: "managers"},
		{SegmentPrefix: org, Dimension: commonv1.Dimension_DIMENSION_CONNECTIONS, OwnerGroup: "managers"},
		{SegmentPrefix: org + "/engineering", Dimension: commonv1.Dimension_DIMENSION_ECOSYSTEM, OwnerGroup: "it-tools"},
		{SegmentPrefix: org + "/sales", OwnerGroup: "sales-leadership"},
	} {
		if _, err := r.feedback.UpsertRoutingRule(hr, &feedbackv1.UpsertRoutingRuleRequest{Rule: rule}); err != nil {
			return fmt.Errorf("UpsertRoutingRule %s %s: %w", rule.SegmentPrefix, rule.Dimension, err)
		}
		r.counts.RoutingRules++
	}

	tpls, err := r.pulse.ListTemplates(hr, &pulsev1.ListTemplatesRequest{Language: "fr"})
	if err != nil {
		return fmt.Errorf("ListTemplates: %w", err)
	}
	have := map[string]*pulsev1.Template{}
	for _, t := range tpls.Templates {
		have[t.Id] = t
	}
	for _, id := range []string{templateWeekly, templateDiagnostic, templateOnboarding} {
		if have[id] == nil {
			return fmt.Errorf("ListTemplates: no built-in template %q", id)
		}
	}
	tz := r.loc.String()
	if r.loc == time.UTC {
		tz = ""
	}
	create := func(key, tpl string, perWave uint32, sched *pulsev1.Schedule, bank []*pulsev1.Question) (string, error) {
		resp, err := r.pulse.CreateSurvey(hr, &pulsev1.CreateSurveyRequest{
			Survey: &pulsev1.Survey{TemplateId: tpl, Audience: org, DefaultLanguage: "fr", Schedule: sched,
				QuestionsPerWave: perWave, Questions: bank},
			IdempotencyKey: fmt.Sprintf("voix-demo-%d-%s", r.cfg.Seed, key),
		})
		if err != nil {
			return "", fmt.Errorf("CreateSurvey from %s: %w", tpl, err)
		}
		qs := map[string]question{}
		for _, q := range resp.Survey.Questions {
			qs[q.Id] = question{id: q.Id, kind: q.Kind, dim: q.Dimension}
		}
		r.dims[resp.Survey.Id] = qs
		r.counts.Surveys++
		return resp.Survey.Id, nil
	}
	// Every statement of the weekly pulse every week (the template rotates 4 of its 16), so
	// that each team has enough people in every dimension of the heatmap each week; and its
	// eNPS question every week too (the template asks it every fourth week), so that the week
	// the dashboard opens on has an eNPS.
	weeklyQs, err := everyWeekENPS(have[templateWeekly])
	if err != nil {
		return err
	}
	if r.weekly, err = create("weekly", templateWeekly, weeklyStatements, &pulsev1.Schedule{
		FirstOpensAt: timestamppb.New(r.weeklyOpens(1)), TimeZone: tz, ResponseWindow: durationpb.New(weeklyWindow),
	}, weeklyQs); err != nil {
		return err
	}
	if opens, ok := r.diagnosticOpens(); ok {
		if r.diagnostic, err = create("diagnostic", templateDiagnostic, 0, &pulsev1.Schedule{
			FirstOpensAt: timestamppb.New(opens), TimeZone: tz, ResponseWindow: durationpb.New(diagnosticWindow),
		}, nil); err != nil {
			return err
		}
	}
	// Onboarding cohorts are months from the start of the plan; the template asks 30 days
	// after a person starts, for 14 days.
	if r.onboarding, err = create("onboarding", templateOnboarding, 0, &pulsev1.Schedule{
		FirstOpensAt: timestamppb.New(r.base), TimeZone: tz,
	}, nil); err != nil {
		return err
	}
	for _, p := range r.w.people {
		if !p.newcomer {
			continue
		}
		resp, err := r.pulse.TriggerLifecycleSurvey(hr, &pulsev1.TriggerLifecycleSurveyRequest{
			Event: pulsev1.LifecycleEvent_LIFECYCLE_EVENT_STARTED, SubmitterRef: p.ref, Segment: p.team.path,
			EffectiveTime: timestamppb.New(r.started(p)),
		})
		if err != nil {
			return fmt.Errorf("TriggerLifecycleSurvey: %w", err)
		}
		if len(resp.SurveyIds) > 0 {
			r.counts.OnboardingInvitations++
		}
	}
	return nil
}

// everyWeekENPS is the question bank of template t, as ListTemplates shows it, with its eNPS
// question asked in every wave.
func everyWeekENPS(t *pulsev1.Template) ([]*pulsev1.Question, error) {
	var qs []*pulsev1.Question
	found := false
	for _, q := range t.GetSurvey().GetQuestions() {
		q = proto.CloneOf(q)
		if q.Kind == commonv1.QuestionKind_QUESTION_KIND_ENPS {
			q.Always, q.EveryNthWave, found = true, 0, true
		}
		qs = append(qs, q)
	}
	if !found {
		return nil, fmt.Errorf("ListTemplates: template %q has no eNPS question", t.GetId())
	}
	return qs, nil
}

// started is when newcomer p started: whole days before the plan's first day, so that their
// invitation (from the day 30 days later, for 14 days) falls on the same days of the plan
// whatever the time of day it starts.
func (r *run) started(p *person) time.Time {
	return r.base.UTC().Truncate(day).Add(-time.Duration(p.joined) * day)
}
