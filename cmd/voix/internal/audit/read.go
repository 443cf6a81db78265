package audit

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// observation is one shown number: the query and the units behind it.
type observation struct {
	query  string
	family string // numbers of one family may be combined
	units  []int
}

// placement is a comment (or survey text answer) seen under a segment.
type placement struct {
	query   string
	comment string
	shown   string
	// below lists the sub-segments of shown the reader saw show comments of their own in the
	// same listing; filled for survey texts, whose groups come together.
	below []string
	pulse bool
}

// codeShape is a word with the shape of a follow-up code: 26 characters of base32, with a
// digit, in any case.
var codeShape = regexp.MustCompile(`(?i)(^|[^a-z0-9])([a-z2-7]{26})([^a-z0-9]|$)`)

func holdsCode(s string) bool {
	for _, m := range codeShape.FindAllStringSubmatch(s, -1) {
		if strings.ContainsAny(m[2], "234567") {
			return true
		}
	}
	return false
}

// reader is one role's view: its token and the prefix it may read.
type reader struct {
	role   auth.Role
	prefix segment.Path
}

func (r *run) readers() []reader {
	return []reader{{auth.RoleHR, segment.MustParse(org)}, {auth.RoleManager, segment.MustParse(managerPrefix)}}
}

// segmentsWithin lists the org's segments within prefix.
func (r *run) segmentsWithin(prefix segment.Path) []string {
	var out []string
	for s := range r.w.segments() {
		if segment.MustParse(s).Within(prefix) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// read is what the readers can read at the end of a day, with every filter the APIs take.
func (r *run) read(ctx context.Context) error {
	// Let the publisher release what the day's events allow (it runs every second).
	time.Sleep(2500 * time.Millisecond)
	for _, rd := range r.readers() {
		if err := r.readSentiment(ctx, rd); err != nil {
			return err
		}
		if err := r.readPulse(ctx, rd); err != nil {
			return err
		}
		if err := r.readFeedback(ctx, rd); err != nil {
			return err
		}
	}
	return r.countComments(ctx)
}

// countComments checks that HR reads exactly the comments people meant to file: a malformed
// subcommand, a pasted code or a mistyped team filed as a comment would show here.
func (r *run) countComments(ctx context.Context) error {
	ids := map[string]bool{}
	req := &feedbackv1.ListFeedbackRequest{SegmentPrefix: org, PageSize: 200}
	for {
		resp, err := r.fb.ListFeedback(r.as(ctx, auth.RoleHR), req)
		if err != nil {
			return err
		}
		for _, f := range resp.Feedback {
			ids[f.Id] = true
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if len(ids) != r.comments+r.surveyItems {
		r.res.Hits = append(r.res.Hits, fmt.Sprintf("day %d: HR reads %d comments where people filed %d and %d survey comments were released: a command or a code became a comment", r.today, len(ids), r.comments, r.surveyItems))
	}
	return nil
}

var allDims = func() []commonv1.Dimension {
	var out []commonv1.Dimension
	for v := range commonv1.Dimension_name {
		out = append(out, commonv1.Dimension(v))
	}
	slices.Sort(out)
	return out
}()

// shownAggregate records one aggregate a reader was shown.
func (r *run) shownAggregate(query string, g commonv1.Granularity, a *commonv1.Aggregate) {
	if a == nil || a.Hidden || a.People == 0 {
		return
	}
	if g == commonv1.Granularity_GRANULARITY_UNSPECIFIED {
		g = commonv1.Granularity_GRANULARITY_WEEK
	}
	if a.ScoreHidden {
		// Only counts of distinct people are shown (people, and emotions of k people or more):
		// no sum of contributions that a reader could add or subtract.
		return
	}
	from := a.Window.GetStart().AsTime().UTC().Format(time.DateOnly)
	k := cellKey{a.Segment, a.Dimension, g, from}
	enps := -1 // not shown (fewer than k people answered it): it does not pin the moment
	if e := a.Enps; e != nil {
		enps = int(e.Promoters + e.Passives + e.Detractors)
	}
	us, ok := r.l.shown(k, int(a.People), int(a.Count), enps)
	if !ok {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s shows %d people, %d items, %d eNPS answers in %s: no moment of the harness's record matches", query, a.People, a.Count, enps, k))
		return
	}
	r.obs = append(r.obs, observation{query: query, family: "sentiment", units: us})
}

func (r *run) readSentiment(ctx context.Context, rd reader) error {
	c := r.as(ctx, rd.role)
	now := r.w.day(r.today)
	type win struct {
		g  commonv1.Granularity
		at time.Time
	}
	var wins []win
	for _, d := range r.days {
		if d <= r.today {
			wins = append(wins, win{commonv1.Granularity_GRANULARITY_DAY, r.w.day(d)})
		}
	}
	wins = append(wins,
		win{commonv1.Granularity_GRANULARITY_WEEK, now}, win{commonv1.Granularity_GRANULARITY_WEEK, now.AddDate(0, 0, -7)},
		win{commonv1.Granularity_GRANULARITY_MONTH, now}, win{commonv1.Granularity_GRANULARITY_MONTH, r.w.day(r.days[0])})
	for _, seg := range r.segmentsWithin(rd.prefix) {
		for _, dim := range allDims {
			for _, w := range wins {
				q := fmt.Sprintf("GetSentiment %s %s %s %s as %s", seg, dim, w.g, w.at.Format(time.DateOnly), rd.role)
				resp, err := r.st.GetSentiment(c, &sentimentv1.GetSentimentRequest{Segment: seg, Dimension: dim, Granularity: w.g, Time: timestamppb.New(w.at)})
				r.res.Queries++
				if refused(err) {
					continue
				}
				if err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
				r.shownAggregate(q, w.g, resp.Aggregate)
			}
			for _, g := range []commonv1.Granularity{commonv1.Granularity_GRANULARITY_WEEK, commonv1.Granularity_GRANULARITY_DAY} {
				q := fmt.Sprintf("GetTrend %s %s %s as %s", seg, dim, g, rd.role)
				resp, err := r.st.GetTrend(c, &sentimentv1.GetTrendRequest{Segment: seg, Dimension: dim, Granularity: g,
					StartTime: timestamppb.New(r.w.day(r.days[0]).AddDate(0, 0, -7)), EndTime: timestamppb.New(now.Add(time.Hour))})
				r.res.Queries++
				if refused(err) {
					continue
				}
				if err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
				for _, p := range resp.Points {
					r.shownAggregate(q+" point "+p.Aggregate.GetWindow().GetStart().AsTime().Format(time.DateOnly), g, p.Aggregate)
				}
			}
		}
		for _, g := range []commonv1.Granularity{commonv1.Granularity_GRANULARITY_WEEK, commonv1.Granularity_GRANULARITY_MONTH} {
			for _, at := range []time.Time{now, now.AddDate(0, 0, -7)} {
				q := fmt.Sprintf("GetHeatmap %s %s %s as %s", seg, g, at.Format(time.DateOnly), rd.role)
				resp, err := r.st.GetHeatmap(c, &sentimentv1.GetHeatmapRequest{SegmentPrefix: seg, Granularity: g, Time: timestamppb.New(at)})
				r.res.Queries++
				if refused(err) {
					continue
				}
				if err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
				for _, row := range resp.Rows {
					for _, cell := range row.Cells {
						// A cell's segment and window are its row's and the answer's.
						cell.Segment, cell.Window = row.Segment, resp.Window
						r.shownAggregate(q+" cell "+row.Segment+" "+cell.Dimension.String(), g, cell)
					}
				}
			}
		}
	}
	return nil
}

// waveClosed reports whether wave w is closed on the harness's today (09:00 + 36 h after it
// opened).
func (r *run) waveClosed(w uint32) bool {
	open := map[uint32]int{1: r.days[0], 2: r.days[0] + 7}[w]
	return r.w.day(r.today).After(r.w.day(open).Add(-time.Hour).Add(36 * time.Hour))
}

func (r *run) readPulse(ctx context.Context, rd reader) error {
	c := r.as(ctx, rd.role)
	var ranges [][2]uint32
	for _, w := range []uint32{1, 2} {
		if r.waveClosed(w) {
			ranges = append(ranges, [2]uint32{w, w})
		}
	}
	if len(ranges) == 2 {
		ranges = append(ranges, [2]uint32{1, 2})
	}
	for _, rg := range ranges {
		for _, seg := range r.segmentsWithin(rd.prefix) {
			q := fmt.Sprintf("GetResults waves %d-%d %s as %s", rg[0], rg[1], seg, rd.role)
			resp, err := allResults(c, r.pl, &pulsev1.GetResultsRequest{SurveyId: r.surveyID, FirstWave: rg[0], LastWave: rg[1], SegmentPrefix: seg})
			r.res.Queries++
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			r.checkText(q, resp)
			groups := append([]*pulsev1.GroupResult{resp.Total}, resp.Children...)
			var withTexts []string
			for _, g := range resp.Children {
				if groupTexts(g) > 0 {
					withTexts = append(withTexts, g.Segment)
				}
			}
			for _, g := range groups {
				r.shownGroup(q, rg, g)
			}
			// Each text answer is placed under the most specific group showing it.
			childOf := map[string]string{}
			for _, g := range resp.Children {
				for _, qr := range g.Questions {
					for _, t := range qr.Comments {
						childOf[t.Text] = g.Segment
					}
				}
			}
			for _, qr := range resp.Total.GetQuestions() {
				for _, t := range qr.Comments {
					pl := placement{query: q, comment: t.Text, shown: resp.Total.Segment, pulse: true}
					if s, ok := childOf[t.Text]; ok {
						pl.shown = s
					} else {
						pl.below = withTexts
					}
					r.placements = append(r.placements, pl)
				}
			}
		}
	}
	return nil
}

// allResults reads every page of GetResults' comments into the first page's groups (the
// numbers are the same on every page).
func allResults(ctx context.Context, pl pulsev1.PulseServiceClient, req *pulsev1.GetResultsRequest) (*pulsev1.GetResultsResponse, error) {
	req = proto.Clone(req).(*pulsev1.GetResultsRequest)
	req.PageSize = 500
	resp, err := pl.GetResults(ctx, req)
	for token := resp.GetNextPageToken(); err == nil && token != ""; {
		req.PageToken = token
		var next *pulsev1.GetResultsResponse
		if next, err = pl.GetResults(ctx, req); err != nil {
			break
		}
		all := append([]*pulsev1.GroupResult{resp.Total}, resp.Children...)
		for gi, g := range append([]*pulsev1.GroupResult{next.Total}, next.Children...) {
			for qi, q := range g.GetQuestions() {
				if gi < len(all) && qi < len(all[gi].GetQuestions()) {
					all[gi].Questions[qi].Comments = append(all[gi].Questions[qi].Comments, q.Comments...)
				}
			}
		}
		token = next.NextPageToken
	}
	return resp, err
}

func groupTexts(g *pulsev1.GroupResult) int {
	n := 0
	for _, q := range g.Questions {
		n += len(q.Comments)
	}
	return n
}

// shownGroup records a survey group's shown numbers: its respondents, and each question's.
func (r *run) shownGroup(query string, rg [2]uint32, g *pulsev1.GroupResult) {
	if g == nil || g.Hidden || g.Respondents == 0 {
		return
	}
	seg := segment.MustParse(g.Segment)
	units := func(q string) []int {
		var us []int
		for w := rg[0]; w <= rg[1]; w++ {
			for p, qs := range r.answered[w] {
				if r.w.people[p].team.Within(seg) && (q == "" || slices.Contains(qs, q)) {
					us = append(us, r.u.id(unitKey{"pulse", p, fmt.Sprint(w), q}))
				}
			}
		}
		slices.Sort(us)
		return us
	}
	resp := units("")
	if len(resp) != int(g.Respondents) {
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s: group %s shows %d respondents where the harness knows %d", query, g.Segment, g.Respondents, len(resp)))
		return
	}
	r.obs = append(r.obs, observation{query: query + " group " + g.Segment, family: "pulse", units: resp})
	for _, qr := range g.Questions {
		if qr.Hidden || qr.Responses == 0 {
			continue
		}
		r.obs = append(r.obs, observation{query: query + " group " + g.Segment + " question " + qr.QuestionId, family: "pulse", units: units(qr.QuestionId)})
	}
}

func (r *run) readFeedback(ctx context.Context, rd reader) error {
	c := r.as(ctx, rd.role)
	// Every filter: a comment is placed the same whatever the filter, which the placements
	// of all listings together check (the elimination intersects them).
	filters := []struct {
		name string
		set  func(*feedbackv1.ListFeedbackRequest)
	}{
		{"", func(*feedbackv1.ListFeedbackRequest) {}},
		{" status NEW", func(q *feedbackv1.ListFeedbackRequest) {
			q.Statuses = []commonv1.FeedbackStatus{commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW}
		}},
		{" label NEGATIVE", func(q *feedbackv1.ListFeedbackRequest) {
			q.Labels = []commonv1.SentimentLabel{commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE}
		}},
		{" dimension WORKLOAD", func(q *feedbackv1.ListFeedbackRequest) {
			q.Dimensions = []commonv1.Dimension{commonv1.Dimension_DIMENSION_WORKLOAD}
		}},
		{" today", func(q *feedbackv1.ListFeedbackRequest) {
			q.StartTime = timestamppb.New(r.w.day(r.today))
		}},
	}
	for _, seg := range r.segmentsWithin(rd.prefix) {
		for _, f := range filters {
			if err := r.listFeedback(c, rd, seg, f.name, f.set); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *run) listFeedback(c context.Context, rd reader, seg, filter string, set func(*feedbackv1.ListFeedbackRequest)) error {
	{
		q := fmt.Sprintf("ListFeedback %s%s as %s", seg, filter, rd.role)
		req := &feedbackv1.ListFeedbackRequest{SegmentPrefix: seg, PageSize: 50}
		set(req)
		for {
			resp, err := r.fb.ListFeedback(c, req)
			r.res.Queries++
			if err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
			r.checkText(q, resp)
			for _, f := range resp.Feedback {
				r.placements = append(r.placements, placement{query: q, comment: f.Id, shown: f.Segment})
				r.shownSegs[f.Segment] = true
			}
			if resp.NextPageToken == "" {
				break
			}
			req.PageToken = resp.NextPageToken
		}
	}
	return nil
}

// refused reports a read the service declines as a request (a window length it does not
// show): the reader learns nothing from it, and the harness tried.
func refused(err error) bool { return status.Code(err) == codes.InvalidArgument }

// checkText reports a follow-up code in any text a reader was given: comments and survey
// text answers (ids have the same shape and are not checked).
func (r *run) checkText(query string, m proto.Message) {
	var texts []string
	switch m := m.(type) {
	case *feedbackv1.ListFeedbackResponse:
		for _, f := range m.Feedback {
			texts = append(texts, f.Text)
		}
	case *pulsev1.GetResultsResponse:
		for _, g := range append([]*pulsev1.GroupResult{m.Total}, m.Children...) {
			for _, q := range g.GetQuestions() {
				for _, t := range q.Comments {
					texts = append(texts, t.Text)
				}
			}
		}
	}
	for _, t := range texts {
		if holdsCode(t) {
			r.res.Hits = append(r.res.Hits, fmt.Sprintf("%s: a text the reader got holds a follow-up code: %q", query, t))
		}
	}
}
