package sentiment

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/analyzer"
)

var (
	readers = []auth.Role{auth.RoleManager, auth.RoleHR, auth.RoleAdmin}
	policy  = auth.Policy{
		sentimentv1.SentimentService_AnalyzeText_FullMethodName:      {auth.RoleSubmitter, auth.RoleManager, auth.RoleHR, auth.RoleAdmin},
		sentimentv1.SentimentService_GetSentiment_FullMethodName:     readers,
		sentimentv1.SentimentService_GetTrend_FullMethodName:         readers,
		sentimentv1.SentimentService_GetHeatmap_FullMethodName:       readers,
		sentimentv1.SentimentService_ListAlerts_FullMethodName:       readers,
		sentimentv1.SentimentService_WatchSentiment_FullMethodName:   readers,
		sentimentv1.SentimentService_RebuildRollups_FullMethodName:   {auth.RoleAdmin},
		sentimentv1.SentimentService_GetRebuildStatus_FullMethodName: {auth.RoleAdmin},
		// The customer mirror (cx.go).
		sentimentv1.SentimentService_RecordCustomerSignal_FullMethodName: {auth.RoleAdmin},
		sentimentv1.SentimentService_GetAttentionSymmetry_FullMethodName: readers,
	}
)

const maxTextRunes = 4000

// api is the gRPC face of the service: validation, authorisation and mapping only.
type api struct {
	sentimentv1.UnimplementedSentimentServiceServer
	svc *Service
}

func (a *api) AnalyzeText(_ context.Context, req *sentimentv1.AnalyzeTextRequest) (*sentimentv1.AnalyzeTextResponse, error) {
	if !utf8.ValidString(req.Text) {
		return nil, rpcerr.InvalidArgument("text", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(req.Text)); n == 0 || n > maxTextRunes {
		return nil, rpcerr.InvalidArgument("text", "must be 1..4000 characters")
	}
	if req.Language != "" && req.Language != "fr" && req.Language != "en" {
		return nil, rpcerr.InvalidArgument("language", `must be "fr", "en" or empty`)
	}
	res := a.svc.analyze(req.Text, req.Language)
	return &sentimentv1.AnalyzeTextResponse{
		Score: res.Score, Label: labelProto(res.Label), Language: res.Language,
		Dimensions: dimensionScores(res), Emotion: emotionProto(res.Emotion),
		Probabilities: &sentimentv1.ClassProbabilities{
			Negative: res.Probabilities.Negative, Neutral: res.Probabilities.Neutral, Positive: res.Probabilities.Positive,
		},
		Risks: riskFlags(res.Risks),
	}, nil
}

func (a *api) GetSentiment(ctx context.Context, req *sentimentv1.GetSentimentRequest) (*sentimentv1.GetSentimentResponse, error) {
	seg, err := readTarget(ctx, req.Segment, req.Dimension)
	if err != nil {
		return nil, err
	}
	g, err := a.granularity(req.Granularity)
	if err != nil {
		return nil, err
	}
	t, err := a.instant("time", req.Time)
	if err != nil {
		return nil, err
	}
	agg, err := a.svc.readAggregate(ctx, seg, req.Dimension, window.Of(g, t))
	if err != nil {
		return nil, toStatus(err)
	}
	return &sentimentv1.GetSentimentResponse{Aggregate: agg}, nil
}

// maxTrendPoints bounds a GetTrend series and a GetAttentionSymmetry range (sentiment.proto).
const maxTrendPoints = 366

// windows reads a request's granularity and range (start_time required, end_time defaulting
// as instant says) as the windows from start's to end's, at most maxTrendPoints.
func (a *api) windows(gran commonv1.Granularity, startTS, endTS *timestamppb.Timestamp) ([]window.Window, error) {
	g, err := a.granularity(gran)
	if err != nil {
		return nil, err
	}
	if startTS == nil {
		return nil, rpcerr.InvalidArgument("start_time", "required")
	}
	start, err := a.instant("start_time", startTS)
	if err != nil {
		return nil, err
	}
	end, err := a.instant("end_time", endTS)
	if err != nil {
		return nil, err
	}
	first, last := window.Of(g, start), window.Of(g, end)
	if last.Start.Before(first.Start) {
		return nil, rpcerr.InvalidArgument("end_time", "must not be before start_time")
	}
	var windows []window.Window
	for w := first; !w.Start.After(last.Start); w = w.Next() {
		if len(windows) == maxTrendPoints {
			return nil, rpcerr.InvalidArgument("end_time", fmt.Sprintf("the range would have more than %d windows: narrow it or use a longer granularity", maxTrendPoints))
		}
		windows = append(windows, w)
	}
	return windows, nil
}

func (a *api) GetTrend(ctx context.Context, req *sentimentv1.GetTrendRequest) (*sentimentv1.GetTrendResponse, error) {
	resp, _, err := a.trend(ctx, req)
	return resp, err
}

// getTrend is GetTrend as serviceDesc serves it: from its encoding (encoded.go).
func (a *api) getTrend(ctx context.Context, req *sentimentv1.GetTrendRequest) (any, error) {
	resp, raw, err := a.trend(ctx, req)
	if err != nil {
		return nil, err
	}
	return served(resp, raw), nil
}

// trend is GetTrend's answer and, when it has one, its encoding (readCache keeps both).
func (a *api) trend(ctx context.Context, req *sentimentv1.GetTrendRequest) (*sentimentv1.GetTrendResponse, []byte, error) {
	seg, err := readTarget(ctx, req.Segment, req.Dimension)
	if err != nil {
		return nil, nil, err
	}
	windows, err := a.windows(req.Granularity, req.StartTime, req.EndTime)
	if err != nil {
		return nil, nil, err
	}
	resp, raw, err := a.svc.trendAnswer(ctx, seg, req.Dimension, windows)
	if err != nil {
		return nil, nil, toStatus(err)
	}
	return resp, raw, nil
}

func (a *api) GetHeatmap(ctx context.Context, req *sentimentv1.GetHeatmapRequest) (*sentimentv1.GetHeatmapResponse, error) {
	resp, _, err := a.heatmap(ctx, req)
	return resp, err
}

// getHeatmap is GetHeatmap as serviceDesc serves it: from its encoding (encoded.go).
func (a *api) getHeatmap(ctx context.Context, req *sentimentv1.GetHeatmapRequest) (any, error) {
	resp, raw, err := a.heatmap(ctx, req)
	if err != nil {
		return nil, err
	}
	return served(resp, raw), nil
}

// heatmap is GetHeatmap's answer and, when it has one, its encoding (readCache keeps both).
func (a *api) heatmap(ctx context.Context, req *sentimentv1.GetHeatmapRequest) (*sentimentv1.GetHeatmapResponse, []byte, error) {
	prefix, err := readPrefix(ctx, req.SegmentPrefix)
	if err != nil {
		return nil, nil, err
	}
	g, err := a.granularity(req.Granularity)
	if err != nil {
		return nil, nil, err
	}
	t, err := a.instant("time", req.Time)
	if err != nil {
		return nil, nil, err
	}
	hm, err := a.svc.heatmap(ctx, prefix, window.Of(g, t))
	if err != nil {
		return nil, nil, toStatus(err)
	}
	resp, raw := hm.response(req.Compact)
	return resp, raw, nil
}

// WatchSentiment sends the current released state of the prefix's subtree, then every
// release published under it; with a resume_token, every release published after it
// (Service.watch). Headers tell the client the watch is in place: nothing published from then
// on is missed.
func (a *api) WatchSentiment(req *sentimentv1.WatchSentimentRequest, stream sentimentv1.SentimentService_WatchSentimentServer) error {
	prefix, err := readPrefix(stream.Context(), req.SegmentPrefix)
	if err != nil {
		return err
	}
	var resume *uint64
	if req.ResumeToken != "" {
		seq, err := a.svc.parseResumeToken(prefix, req.ResumeToken)
		if err != nil {
			return rpcerr.InvalidArgument("resume_token", err.Error())
		}
		resume = &seq
	}
	err = a.svc.watch(stream.Context(), prefix, resume,
		func() error { return stream.SendHeader(metadata.MD{}) },
		func(u watchUpdate) error {
			return stream.Send(&sentimentv1.WatchSentimentResponse{
				Update: u.update, ResumeToken: u.token, Initial: u.initial, CaughtUp: u.caughtUp,
			})
		})
	return toStatus(err)
}

// readTarget checks the segment and dimension of a read, and that the caller may read there.
func readTarget(ctx context.Context, seg string, dim commonv1.Dimension) (segment.Path, error) {
	p, err := segment.Parse(seg)
	if err != nil {
		return p, rpcerr.InvalidArgument("segment", err.Error())
	}
	if err := auth.CheckPath(ctx, "segment", p); err != nil {
		return p, err
	}
	if _, ok := commonv1.Dimension_name[int32(dim)]; !ok {
		return p, rpcerr.InvalidArgument("dimension", "must be a known Dimension")
	}
	return p, nil
}

// readPrefix checks the segment_prefix of a read, and that the caller may read there.
func readPrefix(ctx context.Context, prefix string) (segment.Path, error) {
	p, err := segment.Parse(prefix)
	if err != nil {
		return p, rpcerr.InvalidArgument("segment_prefix", err.Error())
	}
	if err := auth.CheckPath(ctx, "segment_prefix", p); err != nil {
		return p, err
	}
	return p, nil
}

// instant is the time a read names in field, or now when it names none.
func (a *api) instant(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return a.svc.cfg.Now(), nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, rpcerr.InvalidArgument(field, "must be a valid timestamp")
	}
	return ts.AsTime(), nil
}

// granularity is the window length of a read: only the published one (Config.Publish).
// Days, weeks and months of the same people overlap, and weeks and months do not even nest:
// with two lengths readable, a reader could subtract one from the other (a month minus its
// whole weeks, a week minus its other days) and reach values the hiding rules of the segment
// tree never weighed, which is how the audit isolated single people. One length, one family
// of disjoint windows, each released as a tree.
func (a *api) granularity(g commonv1.Granularity) (window.Granularity, error) {
	pub := a.svc.cfg.Publish
	var want window.Granularity
	switch g {
	case commonv1.Granularity_GRANULARITY_UNSPECIFIED:
		return pub, nil
	case commonv1.Granularity_GRANULARITY_DAY:
		want = window.Day
	case commonv1.Granularity_GRANULARITY_WEEK:
		want = window.Week
	case commonv1.Granularity_GRANULARITY_MONTH:
		want = window.Month
	default:
		return 0, rpcerr.InvalidArgument("granularity", "must be a known Granularity")
	}
	if want != pub {
		name := pub.String()
		return 0, rpcerr.InvalidArgument("granularity", fmt.Sprintf("must be %s (or unset): this deployment shows %s aggregates only, "+
			"since two window lengths of the same people could be subtracted from each other", strings.ToUpper(name), name))
	}
	return want, nil
}

func (a *api) ListAlerts(ctx context.Context, req *sentimentv1.ListAlertsRequest) (*sentimentv1.ListAlertsResponse, error) {
	prefix, err := readPrefix(ctx, req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	q, err := validateListAlerts(req, prefix)
	if err != nil {
		return nil, toStatus(err)
	}
	resp, err := a.svc.listAlerts(ctx, q)
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

// RebuildRollups recomputes the rollups from the streams while the consumers keep running
// (rebuild.go), and answers once the rebuilt rollups are in place.
func (a *api) RebuildRollups(ctx context.Context, _ *sentimentv1.RebuildRollupsRequest) (*sentimentv1.RebuildRollupsResponse, error) {
	if a.svc.partitioned() {
		return nil, toStatus(errPartitioned)
	}
	n, err := a.svc.rebuild(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &sentimentv1.RebuildRollupsResponse{EventsReplayed: n, ReleasesKept: a.svc.progress.pinned.Load()}, nil
}

// GetRebuildStatus reports the running rebuild's progress, or the last one's.
func (a *api) GetRebuildStatus(context.Context, *sentimentv1.GetRebuildStatusRequest) (*sentimentv1.GetRebuildStatusResponse, error) {
	p := &a.svc.progress
	return &sentimentv1.GetRebuildStatusResponse{
		Running: a.svc.rebuilding.Load(), EventsReplayed: p.replayed.Load(), EventsTotal: p.total.Load(),
		ReleasesKept: p.pinned.Load(),
	}, nil
}

func emotionProto(e analyzer.Emotion) sentimentv1.Emotion {
	switch e {
	case analyzer.Joy:
		return sentimentv1.Emotion_EMOTION_JOY
	case analyzer.Gratitude:
		return sentimentv1.Emotion_EMOTION_GRATITUDE
	case analyzer.Pride:
		return sentimentv1.Emotion_EMOTION_PRIDE
	case analyzer.Frustration:
		return sentimentv1.Emotion_EMOTION_FRUSTRATION
	case analyzer.Sadness:
		return sentimentv1.Emotion_EMOTION_SADNESS
	case analyzer.Stress:
		return sentimentv1.Emotion_EMOTION_STRESS
	case analyzer.Fatigue:
		return sentimentv1.Emotion_EMOTION_FATIGUE
	}
	return sentimentv1.Emotion_EMOTION_UNSPECIFIED
}
