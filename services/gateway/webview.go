package gateway

// View models of the dashboard's pages: what the templates show, built from the services'
// answers only. Hidden aggregates and groups arrive without numbers and are shown without
// numbers; nothing here computes a number the services did not return.

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/segment"
)

// dimensions are the heatmap's columns, in the order of docs/design.md.
var dimensions = []commonv1.Dimension{
	commonv1.Dimension_DIMENSION_MEANING, commonv1.Dimension_DIMENSION_GROWTH,
	commonv1.Dimension_DIMENSION_CONNECTIONS, commonv1.Dimension_DIMENSION_IMAGE,
	commonv1.Dimension_DIMENSION_ECOSYSTEM, commonv1.Dimension_DIMENSION_RECOGNITION,
	commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_ENGAGEMENT,
}

func dimKey(d commonv1.Dimension) string {
	if d == commonv1.Dimension_DIMENSION_UNSPECIFIED {
		return "dim.ALL"
	}
	return "dim." + strings.TrimPrefix(d.String(), "DIMENSION_")
}

func statusKey(st commonv1.FeedbackStatus) string {
	return "status." + strings.TrimPrefix(st.String(), "FEEDBACK_STATUS_")
}

func labelKey(l commonv1.SentimentLabel) string {
	return "label." + strings.TrimPrefix(l.String(), "SENTIMENT_LABEL_")
}

// toneClass buckets a mean score in [-1, 1] for the cell colour (a colour-blind-safe diverging
// scale in the CSS); the number is always printed beside it.
func toneClass(mean float64) string {
	switch {
	case mean < -0.5:
		return "tone-n2"
	case mean < -0.15:
		return "tone-n1"
	case mean <= 0.15:
		return "tone-0"
	case mean <= 0.5:
		return "tone-p1"
	default:
		return "tone-p2"
	}
}

// toneKey names the bucket in words, for screen readers and the legend.
func toneKey(mean float64) string {
	switch {
	case mean < -0.15:
		return "tone.negative"
	case mean <= 0.15:
		return "tone.mixed"
	default:
		return "tone.positive"
	}
}

// --- heatmap ---

type heatmapData struct {
	Dims               []commonv1.Dimension
	Rows               []hmRow
	Week               string // ISO week key, e.g. 2026-W48
	PrevWeek, NextWeek string // YYYY-MM-DD of a day in the neighbouring weeks; NextWeek empty for the current week
	HasHidden          bool
	Overall, Enps      *card
	Participation      *card
	Tones              []legendTone
}

type hmRow struct {
	Segment, Name string
	Cells         []hmCell
}

type hmCell struct {
	Dim commonv1.Dimension
	// Hidden cells carry no numbers; ScoreHidden ones show their people but no score.
	Hidden, ScoreHidden bool
	Mean, People, Enps  string
	Class, Tone         string
}

// card is a headline number; Hidden says it is not shown, Note says where it comes from.
type card struct {
	Value, Detail, Note string
	Hidden, Missing     bool
}

type legendTone struct{ Class, Label string }

func cellOf(p *page, a *commonv1.Aggregate) hmCell {
	c := hmCell{Dim: a.GetDimension()}
	switch {
	case a == nil || a.Hidden:
		c.Hidden = true
		c.Class = "hidden"
	case a.GetScoreHidden():
		c.ScoreHidden = true
		c.People = fmt.Sprint(a.People)
		c.Class = "tone-none"
	default:
		c.Mean = p.Signed(a.MeanScore, 2)
		c.People = fmt.Sprint(a.People)
		c.Class = toneClass(a.MeanScore)
		c.Tone = p.T(toneKey(a.MeanScore))
	}
	if !c.Hidden && a.Enps != nil {
		c.Enps = p.Signed(a.Enps.Score, 0)
	}
	return c
}

func (s *Service) heatmapView(ctx context.Context, p *page, seg string, at time.Time, resp *sentimentv1.GetHeatmapResponse) *heatmapData {
	y, w := at.UTC().ISOWeek()
	d := &heatmapData{Dims: dimensions, Week: fmt.Sprintf("%d-W%02d", y, w), PrevWeek: at.AddDate(0, 0, -7).Format(time.DateOnly)}
	if next := at.AddDate(0, 0, 7); !next.After(s.cfg.Now().AddDate(0, 0, 6)) {
		d.NextWeek = next.Format(time.DateOnly)
	}
	for _, r := range resp.Rows {
		row := hmRow{Segment: r.Segment, Name: r.Segment}
		if path, err := segment.Parse(r.Segment); err == nil {
			el := path.Elements()
			row.Name = el[len(el)-1]
		}
		byDim := map[commonv1.Dimension]*commonv1.Aggregate{}
		for _, c := range r.Cells {
			byDim[c.Dimension] = c
		}
		for _, dim := range dimensions {
			c := cellOf(p, byDim[dim])
			c.Dim = dim
			d.HasHidden = d.HasHidden || c.Hidden
			row.Cells = append(row.Cells, c)
		}
		d.Rows = append(d.Rows, row)
	}
	for _, m := range []float64{-0.75, -0.3, 0, 0.3, 0.75} {
		d.Tones = append(d.Tones, legendTone{Class: toneClass(m), Label: p.T("legend." + toneClass(m))})
	}
	// Headlines of the prefix itself: its overall score and eNPS this week, and the
	// participation of its latest survey wave. Failures leave a card empty.
	ts := timestamppb.New(at)
	if g, err := s.web.sentiment.GetSentiment(ctx, &sentimentv1.GetSentimentRequest{Segment: seg, Time: ts}); err == nil {
		d.Overall = aggregateCard(p, g.Aggregate)
	}
	if g, err := s.web.sentiment.GetSentiment(ctx, &sentimentv1.GetSentimentRequest{Segment: seg, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Time: ts}); err == nil {
		a := g.Aggregate
		switch {
		case a.GetHidden():
			d.Enps = &card{Hidden: true}
		case a.GetEnps() == nil:
			d.Enps = &card{Missing: true}
		default:
			d.Enps = &card{Value: p.Signed(a.Enps.Score, 0), Detail: p.T("enps.counts", a.Enps.Promoters, a.Enps.Passives, a.Enps.Detractors), Note: p.T("card.week", d.Week)}
		}
	}
	d.Participation, d.Enps = s.latestSurvey(ctx, p, seg, d.Enps)
	return d
}

func aggregateCard(p *page, a *commonv1.Aggregate) *card {
	switch {
	case a.GetHidden():
		return &card{Hidden: true}
	case a.GetScoreHidden():
		return &card{Value: "·", Detail: p.T("heatmap.people", a.People), Note: p.T("heatmap.scorehidden")}
	}
	return &card{Value: p.Signed(a.MeanScore, 2), Detail: p.T("heatmap.people", a.People), Note: p.T(toneKey(a.MeanScore))}
}

// latestSurvey is the participation card: the total of the survey wave that closed last under
// seg. When the week's aggregates carry no eNPS, the wave's eNPS question fills that card.
func (s *Service) latestSurvey(ctx context.Context, p *page, seg string, enps *card) (*card, *card) {
	if s.web.pulse == nil {
		return nil, enps
	}
	list, err := s.web.pulse.ListSurveys(ctx, &pulsev1.ListSurveysRequest{SegmentPrefix: seg})
	if err != nil {
		return nil, enps
	}
	var best *pulsev1.Survey
	var bestClose time.Time
	for _, sv := range list.Surveys {
		for _, w := range sv.Waves {
			if w.Closed && w.ClosesAt.AsTime().After(bestClose) {
				best, bestClose = sv, w.ClosesAt.AsTime()
			}
		}
	}
	if best == nil {
		return &card{Missing: true}, enps
	}
	req := &pulsev1.GetResultsRequest{SurveyId: best.Id, Language: p.Lang}
	if path, err := segment.Parse(seg); err == nil {
		if aud, err := segment.Parse(best.Audience); err == nil && path.Within(aud) {
			req.SegmentPrefix = seg
		}
	}
	res, err := s.web.pulse.GetResults(ctx, req)
	if err != nil {
		return nil, enps
	}
	title := localized(best.Title, p.Lang, best.DefaultLanguage)
	t := res.GetTotal()
	if t.GetHidden() {
		return &card{Hidden: true, Note: title}, enps
	}
	part := &card{Value: p.T("card.respondents", t.Respondents), Note: title}
	if t.Headcount > 0 {
		part.Value = p.Pct(t.Participation)
		part.Detail = p.T("card.of", t.Respondents, t.Headcount)
	}
	if enps == nil || enps.Missing {
		for _, q := range t.Questions {
			if q.Kind == commonv1.QuestionKind_QUESTION_KIND_ENPS && !q.Hidden && q.Enps != nil {
				enps = &card{Value: p.Signed(q.Enps.Score, 0), Detail: p.T("enps.counts", q.Enps.Promoters, q.Enps.Passives, q.Enps.Detractors), Note: title}
				break
			}
		}
	}
	return part, enps
}

func localized(t *commonv1.LocalizedText, lang, fallback string) string {
	m := t.GetTranslations()
	if v := m[lang]; v != "" {
		return v
	}
	if v := m[fallback]; v != "" {
		return v
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		return m[k]
	}
	return ""
}

// --- trends ---

// chart is an inline SVG line chart of one dimension's weekly mean score with its 95%
// confidence band; Rows repeat it as a table.
type chart struct {
	Title             string
	W, H, Left, Right float64
	Top, Bottom, Zero float64
	Bands, Lines      []string
	Points            []chartPoint
	XTicks            []tick
	YTicks            []tick
	Rows              []trendRow
	Shown             int
}

type chartPoint struct {
	X, Y, Lo, Hi float64
	Label        string
}

type tick struct {
	X, Y  float64
	Label string
}

type trendRow struct {
	Week, Mean, Low, High, People string
	Hidden, ScoreHidden           bool
}

func trendChart(p *page, d commonv1.Dimension, pts []*sentimentv1.TrendPoint) *chart {
	c := &chart{Title: p.Dim(d), W: 360, H: 170, Left: 40, Right: 338, Top: 10, Bottom: 140}
	y := func(v float64) float64 { return c.Top + (1-math.Max(-1, math.Min(1, v)))/2*(c.Bottom-c.Top) }
	x := func(i int) float64 {
		if len(pts) < 2 {
			return (c.Left + c.Right) / 2
		}
		return c.Left + float64(i)*(c.Right-c.Left)/float64(len(pts)-1)
	}
	c.Zero = y(0)
	for _, v := range []float64{1, 0.5, 0, -0.5, -1} {
		c.YTicks = append(c.YTicks, tick{X: c.Left - 4, Y: y(v), Label: p.Signed(v, 1)})
	}
	every := max(1, (len(pts)+3)/4)
	var run []int
	flush := func() {
		if len(run) >= 2 {
			var up, down, line []string
			for _, i := range run {
				a := pts[i]
				up = append(up, fmt.Sprintf("%.1f,%.1f", x(i), y(a.CiHigh)))
				line = append(line, fmt.Sprintf("%.1f,%.1f", x(i), y(a.Aggregate.MeanScore)))
			}
			for j := len(run) - 1; j >= 0; j-- {
				i := run[j]
				down = append(down, fmt.Sprintf("%.1f,%.1f", x(i), y(pts[i].CiLow)))
			}
			c.Bands = append(c.Bands, strings.Join(append(up, down...), " "))
			c.Lines = append(c.Lines, strings.Join(line, " "))
		}
		run = nil
	}
	for i, pt := range pts {
		a := pt.GetAggregate()
		key := a.GetWindow().GetKey()
		if i%every == 0 || i == len(pts)-1 {
			label := key
			if _, wk, ok := strings.Cut(key, "-"); ok {
				label = wk
			}
			c.XTicks = append(c.XTicks, tick{X: x(i), Y: c.Bottom + 16, Label: label})
		}
		row := trendRow{Week: key, Hidden: a.GetHidden(), ScoreHidden: a.GetScoreHidden() && !a.GetHidden()}
		if a.GetHidden() || a.GetScoreHidden() || a == nil {
			flush()
			if row.ScoreHidden {
				row.People = fmt.Sprint(a.People)
			}
			c.Rows = append(c.Rows, row)
			continue
		}
		c.Shown++
		row.Mean, row.Low, row.High, row.People = p.Signed(a.MeanScore, 2), p.Signed(pt.CiLow, 2), p.Signed(pt.CiHigh, 2), fmt.Sprint(a.People)
		c.Rows = append(c.Rows, row)
		run = append(run, i)
		c.Points = append(c.Points, chartPoint{X: x(i), Y: y(a.MeanScore), Lo: y(pt.CiLow), Hi: y(pt.CiHigh),
			Label: p.T("trends.point", key, row.Mean, row.Low, row.High, a.People)})
	}
	flush()
	return c
}

// --- surveys ---

type surveyRow struct {
	ID, Title, Kind, Audience, State string
	Waves, Closed                    int
}

func surveyRowOf(p *page, sv *pulsev1.Survey) surveyRow {
	r := surveyRow{
		ID: sv.Id, Title: localized(sv.Title, p.Lang, sv.DefaultLanguage), Audience: sv.Audience,
		Kind: p.T("kind." + strings.TrimPrefix(sv.Kind.String(), "SURVEY_KIND_")), Waves: len(sv.Waves),
		State: p.T("state." + strings.TrimPrefix(sv.State.String(), "SURVEY_STATE_")),
	}
	for _, w := range sv.Waves {
		if w.Closed {
			r.Closed++
		}
	}
	return r
}

type surveyData struct {
	ID, Title, Kind, Audience string
	Diagnostic                bool
	Waves                     []waveLink
	Selected                  uint32
	ResultsError              string
	Total                     *groupView
	Children                  []groupView
	Trend                     []*pulsev1.WaveTrend
	// MoreComments links to the next page of the wave's comments ("" on the last page).
	MoreComments string
}

type waveLink struct {
	Number        uint32
	Closes        string
	Open, Current bool
}

type groupView struct {
	Segment                string
	Hidden                 bool
	Respondents, Headcount uint32
	Participation          string
	Questions              []questionView
	Maturity               []maturityView
}

type questionView struct {
	ID, Text, Kind         string
	Dim                    commonv1.Dimension
	Hidden                 bool
	Responses              uint32
	Mean, Favourable, Enps string
	EnpsDetail             string
	Dist                   []bucketView
	Comments               []*pulsev1.TextAnswer
}

type bucketView struct {
	Value     string
	Count     uint32
	Share     float64
	ShareText string
}

type maturityView struct {
	Dim          commonv1.Dimension
	Level, Score string
	LevelClass   string
	Actions      []string
}

func surveyView(p *page, sv *pulsev1.Survey, wave uint32) *surveyData {
	d := &surveyData{
		ID: sv.Id, Title: localized(sv.Title, p.Lang, sv.DefaultLanguage), Audience: sv.Audience,
		Kind:       p.T("kind." + strings.TrimPrefix(sv.Kind.String(), "SURVEY_KIND_")),
		Diagnostic: sv.Kind == pulsev1.SurveyKind_SURVEY_KIND_DIAGNOSTIC, Selected: wave,
	}
	for _, w := range sv.Waves {
		if w.Closed || sv.LiveResults {
			d.Waves = append(d.Waves, waveLink{Number: w.Number, Closes: p.Day(w.ClosesAt), Open: !w.Closed})
		}
	}
	return d
}

func (d *surveyData) fill(p *page, res *pulsev1.GetResultsResponse) {
	if n := len(res.Trend); n > 0 {
		d.Selected = res.Trend[n-1].Wave
	}
	for i := range d.Waves {
		d.Waves[i].Current = d.Waves[i].Number == d.Selected
	}
	if res.Total != nil {
		g := groupOf(p, res.Total)
		d.Total = &g
	}
	for _, c := range res.Children {
		d.Children = append(d.Children, groupOf(p, c))
	}
}

func groupOf(p *page, g *pulsev1.GroupResult) groupView {
	v := groupView{Segment: g.Segment, Hidden: g.Hidden, Respondents: g.Respondents, Headcount: g.Headcount}
	if g.Hidden {
		return v
	}
	if g.Headcount > 0 {
		v.Participation = p.Pct(g.Participation)
	}
	for _, q := range g.Questions {
		qv := questionView{ID: q.QuestionId, Text: q.Text, Dim: q.Dimension, Hidden: q.Hidden, Responses: q.Responses,
			Kind: p.T("qkind." + strings.TrimPrefix(q.Kind.String(), "QUESTION_KIND_")), Comments: q.Comments}
		if !q.Hidden {
			switch q.Kind {
			case commonv1.QuestionKind_QUESTION_KIND_SCALE:
				qv.Mean = p.Num(q.Mean, 2)
				qv.Favourable = p.Pct(q.FavourableShare)
			case commonv1.QuestionKind_QUESTION_KIND_ENPS:
				qv.Mean = p.Num(q.Mean, 1)
			}
			if q.Enps != nil {
				qv.Enps = p.Signed(q.Enps.Score, 0)
				qv.EnpsDetail = p.T("enps.counts", q.Enps.Promoters, q.Enps.Passives, q.Enps.Detractors)
			}
			var total uint32
			for _, b := range q.Distribution {
				total += b.Count
			}
			for _, b := range q.Distribution {
				bv := bucketView{Value: b.Value, Count: b.Count}
				if total > 0 {
					bv.Share = float64(b.Count) / float64(total)
					bv.ShareText = p.Pct(bv.Share)
				}
				qv.Dist = append(qv.Dist, bv)
			}
		}
		v.Questions = append(v.Questions, qv)
	}
	for _, m := range g.Maturity {
		lvl := strings.TrimPrefix(m.Level.String(), "MATURITY_LEVEL_")
		v.Maturity = append(v.Maturity, maturityView{Dim: m.Dimension, Level: p.T("level." + lvl), LevelClass: "level-" + strings.ToLower(lvl),
			Score: p.Num(m.Score, 2), Actions: m.Actions})
	}
	return v
}

// --- loops ---

type loopData struct {
	Hidden                 bool
	ByStatus               []statusCount
	Ack, Resolve, OpenRate string
	// Plans are the action plans under the segment: shown even when the loop figures are
	// hidden, since a plan names no one who spoke.
	Plans     []planView
	MorePlans bool
	// The loop statistics' plan counts under the segment.
	PlansOpen, PlansDone, PlansOverdue uint32
	// CanPlan shows the forms that create and update plans (plans.go): hr and admin.
	CanPlan bool
	Form    planForm
	Dims    []option
}

// planView is an action plan as HR sees it on the loops page.
type planView struct {
	ID, Title, Segment, Dimension, Status, Owner, Due string
	// Note is the latest progress note and NoteDay its day.
	Note, NoteDay string
	// Next are the legal next statuses; none once DONE or DROPPED.
	Next []option
}

// planViews lists the plans of a ListActionPlans page.
func planViews(p *page, r *feedbackv1.ListActionPlansResponse) ([]planView, bool) {
	var out []planView
	for _, a := range r.GetPlans() {
		v := planView{
			ID: a.Id, Title: a.Title, Segment: a.Segment, Dimension: p.Dim(a.Dimension),
			Status: planStatusText(p.Lang, a.Status), Owner: a.OwnerGroup, Due: p.Day(a.DueTime),
		}
		if n := len(a.Notes); n > 0 {
			v.Note, v.NoteDay = a.Notes[n-1].Text, p.Day(a.Notes[n-1].CreateDay)
		}
		for _, st := range planTransitions[a.Status] {
			v.Next = append(v.Next, option{Value: int32(st), Name: planStatusText(p.Lang, st)})
		}
		out = append(out, v)
	}
	return out, r.GetNextPageToken() != ""
}

type statusCount struct {
	Name  string
	Count uint32
}

func loopView(p *page, r *feedbackv1.GetLoopStatsResponse) *loopData {
	// Plans are counted even when the comments' figures are hidden: they name no one.
	d := &loopData{Hidden: r.Hidden, PlansOpen: r.PlansOpen, PlansDone: r.PlansDone, PlansOverdue: r.PlansOverdue}
	if r.Hidden {
		return d
	}
	for _, st := range []commonv1.FeedbackStatus{
		commonv1.FeedbackStatus_FEEDBACK_STATUS_NEW, commonv1.FeedbackStatus_FEEDBACK_STATUS_ACKNOWLEDGED,
		commonv1.FeedbackStatus_FEEDBACK_STATUS_IN_PROGRESS, commonv1.FeedbackStatus_FEEDBACK_STATUS_RESOLVED,
		commonv1.FeedbackStatus_FEEDBACK_STATUS_DECLINED,
	} {
		n, ok := r.ByStatus[st.String()]
		if !ok {
			n = r.ByStatus[strings.TrimPrefix(st.String(), "FEEDBACK_STATUS_")]
		}
		d.ByStatus = append(d.ByStatus, statusCount{Name: p.Status(st), Count: n})
	}
	days := func(dur interface{ AsDuration() time.Duration }) string {
		return p.T("loops.days", p.Num(dur.AsDuration().Hours()/24, 0))
	}
	d.Ack, d.Resolve = p.T("loops.none"), p.T("loops.none")
	if r.MedianTimeToAcknowledge != nil {
		d.Ack = days(r.MedianTimeToAcknowledge)
	}
	if r.MedianTimeToResolve != nil {
		d.Resolve = days(r.MedianTimeToResolve)
	}
	d.OpenRate = p.Pct(r.OpenLoopRate)
	return d
}

// --- inbox ---

type inboxData struct {
	Filter               inboxFilter
	Statuses             []option
	Dims                 []option
	Labels               []option
	Comments             []commentView
	Next, Back           string
	CanAnswer, CanAssign bool
}

type option struct {
	Value    int32
	Name     string
	Selected bool
}

type commentView struct {
	ID, Anchor, Text, Day, Updated, Segment string
	Status, StatusClass, Label, LabelClass  string
	Owner                                   string
	Upvotes, Messages                       uint32
	Dims                                    []string
	Risk                                    bool
	Risks                                   []string // the flags' names in the page's language
	Next                                    []option
}

// commentRisks names the risk flags of c (feedback.proto, Feedback.risks: harassment or
// discrimination, intent to quit, burnout or distress, safety) in the page's language. The
// inbox lists flagged comments first and marks each flag.
func commentRisks(p *page, c *feedbackv1.Feedback) []string {
	var out []string
	for _, f := range c.Risks {
		out = append(out, p.T(riskKey(f)))
	}
	return out
}

// riskKey is the catalog key of a risk flag; a flag this version does not know is named
// generically.
func riskKey(f commonv1.RiskFlag) string {
	if _, ok := commonv1.RiskFlag_name[int32(f)]; !ok || f == commonv1.RiskFlag_RISK_FLAG_UNSPECIFIED {
		return "inbox.risk"
	}
	return "risk." + strings.TrimPrefix(f.String(), "RISK_FLAG_")
}

func inboxView(p *page, sess session, f inboxFilter, resp *feedbackv1.ListFeedbackResponse, next string) *inboxData {
	d := &inboxData{Filter: f, Next: next, Back: p.Here,
		CanAnswer: sess.p.Role == auth.RoleHR || sess.p.Role == auth.RoleManager,
		CanAssign: sess.p.Role == auth.RoleHR}
	for v := int32(1); v <= 5; v++ {
		d.Statuses = append(d.Statuses, option{Value: v, Name: p.Status(commonv1.FeedbackStatus(v)), Selected: f.Status == v})
	}
	for _, dim := range dimensions {
		d.Dims = append(d.Dims, option{Value: int32(dim), Name: p.Dim(dim), Selected: f.Dimension == int32(dim)})
	}
	for v := int32(1); v <= 3; v++ {
		d.Labels = append(d.Labels, option{Value: v, Name: p.Label(commonv1.SentimentLabel(v)), Selected: f.Label == v})
	}
	for _, c := range resp.Feedback {
		cv := commentView{
			ID: c.Id, Anchor: "c-" + c.Id, Text: c.Text, Day: p.Day(c.CreateDay), Updated: p.Day(c.UpdateDay), Segment: c.Segment,
			Status: p.Status(c.Status), StatusClass: "st-" + strings.ToLower(strings.TrimPrefix(c.Status.String(), "FEEDBACK_STATUS_")),
			Owner: c.OwnerGroup, Upvotes: c.Upvotes, Messages: c.MessageCount,
			Risks: commentRisks(p, c),
		}
		cv.Risk = len(cv.Risks) > 0
		if c.SentimentLabel != commonv1.SentimentLabel_SENTIMENT_LABEL_UNSPECIFIED {
			cv.Label = p.Label(c.SentimentLabel)
			cv.LabelClass = "lb-" + strings.ToLower(strings.TrimPrefix(c.SentimentLabel.String(), "SENTIMENT_LABEL_"))
		}
		for _, dim := range c.Dimensions {
			cv.Dims = append(cv.Dims, p.Dim(dim))
		}
		for _, st := range transitions[c.Status] {
			cv.Next = append(cv.Next, option{Value: int32(st), Name: p.Status(st)})
		}
		d.Comments = append(d.Comments, cv)
	}
	slices.SortStableFunc(d.Comments, func(a, b commentView) int {
		switch {
		case a.Risk == b.Risk:
			return 0
		case a.Risk:
			return -1
		}
		return 1
	})
	return d
}
