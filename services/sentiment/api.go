package sentiment

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/alert"
	"github.com/voix-dev/voix/services/sentiment/internal/analyzer"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

var (
	readers = []auth.Role{auth.RoleManager, auth.RoleHR, auth.RoleAdmin}
	policy  = auth.Policy{
		sentimentv1.SentimentService_AnalyzeText_FullMethodName:    {auth.RoleSubmitter, auth.RoleManager, auth.RoleHR, auth.RoleAdmin},
		sentimentv1.SentimentService_GetSentiment_FullMethodName:   readers,
		sentimentv1.SentimentService_GetTrend_FullMethodName:       readers,
		sentimentv1.SentimentService_GetHeatmap_FullMethodName:     readers,
		sentimentv1.SentimentService_ListAlerts_FullMethodName:     readers,
		sentimentv1.SentimentService_WatchSentiment_FullMethodName: readers,
		sentimentv1.SentimentService_RebuildRollups_FullMethodName: {auth.RoleAdmin},
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
	t := a.svc.cfg.Now()
	if req.Time != nil {
		if err := req.Time.CheckValid(); err != nil {
			return nil, rpcerr.InvalidArgument("time", "must be a valid timestamp")
		}
		t = req.Time.AsTime()
	}
	w := window.Of(g, t)
	k := rollup.Key{Segment: seg.String(), Dimension: int32(req.Dimension), Window: tagWindow(w)}
	var st rollup.Stats
	var shown bool
	if err := a.svc.host.DB.View(func(tx *bolt.Tx) error {
		st, shown, err = a.svc.view(tx, seg, k.Dimension, w)
		return err
	}); err != nil {
		return nil, rpcerr.To(err)
	}
	return &sentimentv1.GetSentimentResponse{Aggregate: aggregateProto(k, w, st, !shown)}, nil
}

// maxTrendPoints bounds a GetTrend series (sentiment.proto).
const maxTrendPoints = 366

func (a *api) GetTrend(ctx context.Context, req *sentimentv1.GetTrendRequest) (*sentimentv1.GetTrendResponse, error) {
	seg, err := readTarget(ctx, req.Segment, req.Dimension)
	if err != nil {
		return nil, err
	}
	g, err := a.granularity(req.Granularity)
	if err != nil {
		return nil, err
	}
	if req.StartTime == nil {
		return nil, rpcerr.InvalidArgument("start_time", "required")
	}
	if err := req.StartTime.CheckValid(); err != nil {
		return nil, rpcerr.InvalidArgument("start_time", "must be a valid timestamp")
	}
	end := a.svc.cfg.Now()
	if req.EndTime != nil {
		if err := req.EndTime.CheckValid(); err != nil {
			return nil, rpcerr.InvalidArgument("end_time", "must be a valid timestamp")
		}
		end = req.EndTime.AsTime()
	}
	first, last := window.Of(g, req.StartTime.AsTime()), window.Of(g, end)
	if last.Start.Before(first.Start) {
		return nil, rpcerr.InvalidArgument("end_time", "must not be before start_time")
	}
	var windows []window.Window
	for w := first; !w.Start.After(last.Start); w = w.Next() {
		if len(windows) == maxTrendPoints {
			return nil, rpcerr.InvalidArgument("end_time", fmt.Sprintf("the series would have more than %d points: narrow the range or use a longer granularity", maxTrendPoints))
		}
		windows = append(windows, w)
	}
	resp := &sentimentv1.GetTrendResponse{}
	err = a.svc.host.DB.View(func(tx *bolt.Tx) error {
		for _, w := range windows {
			st, shown, err := a.svc.view(tx, seg, int32(req.Dimension), w)
			if err != nil {
				return err
			}
			k := rollup.Key{Segment: seg.String(), Dimension: int32(req.Dimension), Window: tagWindow(w)}
			p := &sentimentv1.TrendPoint{Aggregate: aggregateProto(k, w, st, !shown)}
			if shown {
				p.CiLow, p.CiHigh = confidence(st)
			}
			resp.Points = append(resp.Points, p)
		}
		return nil
	})
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return resp, nil
}

// heatmapDimensions are the columns of a heatmap: every dimension of DESIGN.md.
var heatmapDimensions = []commonv1.Dimension{
	commonv1.Dimension_DIMENSION_MEANING, commonv1.Dimension_DIMENSION_GROWTH,
	commonv1.Dimension_DIMENSION_CONNECTIONS, commonv1.Dimension_DIMENSION_IMAGE,
	commonv1.Dimension_DIMENSION_ECOSYSTEM, commonv1.Dimension_DIMENSION_RECOGNITION,
	commonv1.Dimension_DIMENSION_WORKLOAD, commonv1.Dimension_DIMENSION_ENGAGEMENT,
}

func (a *api) GetHeatmap(ctx context.Context, req *sentimentv1.GetHeatmapRequest) (*sentimentv1.GetHeatmapResponse, error) {
	prefix, err := segment.Parse(req.SegmentPrefix)
	if err != nil {
		return nil, rpcerr.InvalidArgument("segment_prefix", err.Error())
	}
	if err := auth.CheckSegment(ctx, "segment_prefix", prefix.String()); err != nil {
		return nil, err
	}
	g, err := a.granularity(req.Granularity)
	if err != nil {
		return nil, err
	}
	t := a.svc.cfg.Now()
	if req.Time != nil {
		if err := req.Time.CheckValid(); err != nil {
			return nil, rpcerr.InvalidArgument("time", "must be a valid timestamp")
		}
		t = req.Time.AsTime()
	}
	w := window.Of(g, t)
	resp := &sentimentv1.GetHeatmapResponse{}
	err = a.svc.host.DB.View(func(tx *bolt.Tx) error {
		var rows []string
		for _, seg := range rollup.Segments(tx, prefix.String()) {
			if parentOf(seg) == prefix.String() {
				rows = append(rows, seg)
			}
		}
		for _, seg := range rows {
			row := &sentimentv1.HeatmapRow{Segment: seg}
			for _, d := range heatmapDimensions {
				st, shown, err := a.svc.released(tx, seg, int32(d), tagWindow(w))
				if err != nil {
					return err
				}
				k := rollup.Key{Segment: seg, Dimension: int32(d), Window: tagWindow(w)}
				row.Cells = append(row.Cells, aggregateProto(k, w, st, !shown))
			}
			resp.Rows = append(resp.Rows, row)
		}
		return nil
	})
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return resp, nil
}

// WatchSentiment relays voix.sentiment.updated.<prefix> and everything below it. It reads the
// same subjects HR portals subscribe to, so both see exactly the published aggregates.
func (a *api) WatchSentiment(req *sentimentv1.WatchSentimentRequest, stream sentimentv1.SentimentService_WatchSentimentServer) error {
	seg, err := segment.Parse(req.SegmentPrefix)
	if err != nil {
		return rpcerr.InvalidArgument("segment_prefix", err.Error())
	}
	if err := auth.CheckSegment(stream.Context(), "segment_prefix", seg.String()); err != nil {
		return err
	}
	msgs := make(chan *nats.Msg, 256)
	nc := a.svc.host.Bus.Conn()
	for _, subj := range events.SentimentUpdated.Filters(seg) {
		sub, err := nc.ChanSubscribe(subj, msgs)
		if err != nil {
			return status.Errorf(codes.Unavailable, "subscribe to %s: %v", subj, err)
		}
		defer sub.Unsubscribe()
	}
	// Headers tell the client the subscription is in place: nothing published from now on is
	// missed.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case m := <-msgs:
			var u eventsv1.SentimentUpdated
			if err := proto.Unmarshal(m.Data, &u); err != nil {
				a.svc.host.Log.Warn("undecodable sentiment update", "subject", m.Subject, "err", err)
				continue
			}
			if err := stream.Send(&sentimentv1.WatchSentimentResponse{Update: &u}); err != nil {
				return err
			}
		}
	}
}

// readTarget checks the segment and dimension of a read, and that the caller may read there.
func readTarget(ctx context.Context, seg string, dim commonv1.Dimension) (segment.Path, error) {
	p, err := segment.Parse(seg)
	if err != nil {
		return p, rpcerr.InvalidArgument("segment", err.Error())
	}
	if err := auth.CheckSegment(ctx, "segment", p.String()); err != nil {
		return p, err
	}
	if _, ok := commonv1.Dimension_name[int32(dim)]; !ok {
		return p, rpcerr.InvalidArgument("dimension", "must be a known Dimension")
	}
	return p, nil
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
		name := granularityName(pub)
		return 0, rpcerr.InvalidArgument("granularity", fmt.Sprintf("must be %s (or unset): this deployment shows %s aggregates only, "+
			"since two window lengths of the same people could be subtracted from each other", strings.ToUpper(name), name))
	}
	return want, nil
}

func (a *api) ListAlerts(ctx context.Context, req *sentimentv1.ListAlertsRequest) (*sentimentv1.ListAlertsResponse, error) {
	prefix, err := segment.Parse(req.SegmentPrefix)
	if err != nil {
		return nil, rpcerr.InvalidArgument("segment_prefix", err.Error())
	}
	if err := auth.CheckSegment(ctx, "segment_prefix", prefix.String()); err != nil {
		return nil, err
	}
	size := int(req.PageSize)
	switch {
	case size == 0:
		size = 50
	case size < 1 || size > 200:
		return nil, rpcerr.InvalidArgument("page_size", "must be 1..200 (0 means 50)")
	}
	offset := 0
	if req.PageToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.PageToken)
		if err != nil || !strings.HasPrefix(string(raw), "alerts:") {
			return nil, rpcerr.InvalidArgument("page_token", "is not a token from a previous ListAlerts")
		}
		if offset, err = strconv.Atoi(strings.TrimPrefix(string(raw), "alerts:")); err != nil || offset < 0 {
			return nil, rpcerr.InvalidArgument("page_token", "is not a token from a previous ListAlerts")
		}
	}
	resp := &sentimentv1.ListAlertsResponse{}
	err = a.svc.host.DB.View(func(tx *bolt.Tx) error {
		alerts, more, err := alert.List(tx, prefix.String(), offset, size)
		if err != nil {
			return rpcerr.InvalidArgument("page_token", err.Error())
		}
		resp.Alerts = alerts
		if more {
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte("alerts:" + strconv.Itoa(offset+len(alerts))))
		}
		return nil
	})
	if err != nil {
		return nil, rpcerr.To(err)
	}
	return resp, nil
}

// RebuildRollups recomputes the rollups from the streams. It blocks the consumers for its
// duration, so it answers only when the rebuilt rollups are in place.
func (a *api) RebuildRollups(ctx context.Context, _ *sentimentv1.RebuildRollupsRequest) (*sentimentv1.RebuildRollupsResponse, error) {
	n, err := a.svc.rebuild(ctx)
	if err != nil {
		return nil, rpcerr.To(err, rpcerr.Rule{Err: errHistoryAgedOut, Code: codes.FailedPrecondition})
	}
	return &sentimentv1.RebuildRollupsResponse{EventsReplayed: n}, nil
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
