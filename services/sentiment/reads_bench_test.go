package sentiment

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// The shape of the benchmarks' organisation: 20,000 people in 200 teams of acme, 52 weeks.
const (
	benchPeople = 20_000
	benchTeams  = 200
	benchWeeks  = 52
	benchFlush  = 20_000 // events between two flushes (releases)
)

// benchFirst is the Monday of the first of the benchmarks' weeks.
var benchFirst = time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)

// benchStore is a service on a store the benchmarks fill (fillWeeks), its clock and config.
type benchStore struct {
	s     *Service
	env   *servicetest.Env
	cfg   Config
	clock *atomic.Int64
}

// startBenchStore starts a service whose clock starts at benchFirst and follows fillWeeks.
func startBenchStore(b *testing.B) *benchStore {
	b.Helper()
	clock := new(atomic.Int64)
	clock.Store(benchFirst.UnixNano())
	env := servicetest.New(b)
	cfg := Config{Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig(),
		Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }, PublishInterval: time.Hour}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return &benchStore{s: s, env: env, cfg: cfg, clock: clock}
}

// benchTeamPaths are acme/t000 … acme/t199.
func benchTeamPaths() []segment.Path {
	segs := make([]segment.Path, benchTeams)
	for i := range segs {
		segs[i] = segment.MustParse(fmt.Sprintf("acme/t%03d", i))
	}
	return segs
}

// fillWeeks applies total survey responses (three answers each, responseEvent) of benchPeople
// people in benchTeams teams over benchWeeks weeks in time order, the way the live consumer
// applies them (consumer.ApplyGroupFlush, group events per commit, ids recorded), with a flush
// after every benchFlush events and the clock following the weeks; then the last week ends,
// and the last flush releases it. applied, if set, is told the wall and CPU time of each
// group applied; flushed of each flush.
func (bs *benchStore) fillWeeks(b *testing.B, total, group int, applied, flushed func(wall, cpu time.Duration)) {
	b.Helper()
	s := bs.s
	segs := benchTeamPaths()
	flushAll := func() {
		t0, c0 := time.Now(), cpuTime()
		for {
			var taken int
			if err := s.host.DB.Update(func(tx *bolt.Tx) error {
				var err error
				_, taken, err = s.unsafeFlush(tx, tx, maxDirtyPerFlush)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if taken < maxDirtyPerFlush {
				break
			}
		}
		if flushed != nil {
			flushed(time.Since(t0), cpuTime()-c0)
		}
	}
	evs := make([]bus.Event, 0, group)
	for i := 0; i < total; {
		week := i * benchWeeks / total
		at := benchFirst.AddDate(0, 0, 7*week).Add(time.Duration(i%5) * 24 * time.Hour)
		bs.clock.Store(at.UnixNano())
		evs = evs[:0]
		for ; len(evs) < group && i < total && i*benchWeeks/total == week; i++ {
			person := i % benchPeople
			evs = append(evs, responseEvent(b, s.host.Secret, i, segs[person%len(segs)], at))
		}
		t0, c0 := time.Now(), cpuTime()
		if _, err := consumer.ApplyGroupFlush(s.host.DB, "bench", s.grouped(s.applyResponse), func(tx *bolt.Tx) error { return s.flushWriter(tx) }, evs); err != nil {
			b.Fatal(err)
		}
		if applied != nil {
			applied(time.Since(t0), cpuTime()-c0)
		}
		if i%benchFlush < len(evs) || i == total {
			flushAll()
		}
	}
	// The last week ends: its final release, and the seals it allows.
	bs.clock.Store(benchFirst.AddDate(0, 0, 7*benchWeeks+8).UnixNano())
	flushAll()
}

// benchReadEvents is how many events BenchmarkGetHeatmap and BenchmarkGetTrend apply before
// reading: VOIX_BENCH_EVENTS, default 200,000 (as many rows and shown cells as at one million:
// every team has more than k people a week in each of its dimensions either way).
func benchReadEvents() int {
	if v, err := strconv.Atoi(os.Getenv("VOIX_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 200_000
}

// filledReads fills a store once (fillWeeks) and returns the service and an HR client context.
func filledReads(b *testing.B) (*benchStore, sentimentv1.SentimentServiceClient, context.Context) {
	bs := startBenchStore(b)
	b.Cleanup(func() { bs.s.Close() })
	bs.fillWeeks(b, benchReadEvents(), consumerGroup, nil, nil)
	client := sentimentv1.NewSentimentServiceClient(servicetest.Dial(b, bs.s.Addr()))
	return bs, client, bs.env.As(context.Background(), auth.RoleHR)
}

// benchLastWeek is a time in the last of the benchmarks' weeks.
func benchLastWeek() time.Time { return benchFirst.AddDate(0, 0, 7*(benchWeeks-1)) }

// serverCall is one call of a handler of serviceDesc as the server makes it, without gRPC: the
// handler (with its authorisation, as HR) and the codec's encoding of its answer.
func serverCall[Req proto.Message](b *testing.B, s *Service, method string, req Req) func() {
	var handler grpc.MethodHandler
	for _, m := range serviceDesc.Methods {
		if m.MethodName == method {
			handler = m.Handler
		}
	}
	ctx := auth.NewContext(context.Background(), auth.Principal{Name: "bench", Role: auth.RoleHR, Prefix: "acme"})
	a := &api{svc: s}
	dec := func(v any) error { proto.Merge(v.(proto.Message), req); return nil }
	var buf []byte
	return func() {
		resp, err := handler(a, ctx, dec, nil)
		if err != nil {
			b.Fatal(err)
		}
		if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf[:0], resp.(proto.Message)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetHeatmap reads the heatmap of acme (200 teams × 8 dimensions) of the last week,
// full and compact (as the dashboard asks), once the store is filled (fillWeeks,
// VOIX_BENCH_EVENTS events, once for all the sub-benchmarks): over gRPC, client and server in
// this process (grpc-*: what a caller waits for, mostly the client decoding the answer), and
// the server's part alone (server-*: the handler and the encoding of its answer).
//
//	go test -run '^$' -bench '^Benchmark(GetHeatmap|GetTrend)$' -benchmem -count 6 | tee new.txt; benchstat old.txt new.txt
func BenchmarkGetHeatmap(b *testing.B) {
	bs, client, ctx := filledReads(b)
	for _, compact := range []bool{false, true} {
		name := "full"
		if compact {
			name = "compact"
		}
		req := &sentimentv1.GetHeatmapRequest{SegmentPrefix: "acme", Time: timestamppb.New(benchLastWeek()), Compact: compact}
		resp, err := client.GetHeatmap(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.Rows) != benchTeams {
			b.Fatalf("GetHeatmap: %d rows, want %d", len(resp.Rows), benchTeams)
		}
		b.Run("grpc-"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.GetHeatmap(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("server-"+name, func(b *testing.B) {
			call := serverCall(b, bs.s, "GetHeatmap", req)
			b.ReportAllocs()
			for b.Loop() {
				call()
			}
		})
	}
}

// BenchmarkGetTrend reads the trend of one team's engagement over the 52 weeks, once the store
// is filled: over gRPC and the server's part alone (as BenchmarkGetHeatmap).
func BenchmarkGetTrend(b *testing.B) {
	bs, client, ctx := filledReads(b)
	req := &sentimentv1.GetTrendRequest{Segment: "acme/t007", Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT,
		StartTime: timestamppb.New(benchFirst), EndTime: timestamppb.New(benchLastWeek())}
	resp, err := client.GetTrend(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	if len(resp.Points) != benchWeeks {
		b.Fatalf("GetTrend: %d points, want %d", len(resp.Points), benchWeeks)
	}
	b.Run("grpc", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.GetTrend(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("server", func(b *testing.B) {
		call := serverCall(b, bs.s, "GetTrend", req)
		b.ReportAllocs()
		for b.Loop() {
			call()
		}
	})
}

// benchHeatmapAnswer is a heatmap of benchTeams rows × 8 dimensions shaped as the one
// BenchmarkMillion reads: 550 of the 1,600 cells shown, with their scores, and eNPS on
// engagement.
func benchHeatmapAnswer() heatmapAnswer {
	w := window.Of(window.Week, benchLastWeek())
	win := anonymity.ContributorWindow(w)
	var rows, compact []*sentimentv1.HeatmapRow
	for i, seg := range benchTeamPaths() {
		row := &sentimentv1.HeatmapRow{Segment: seg.String()}
		for j, d := range heatmapDimensions {
			st := rollup.Stats{People: uint32(90 + i%20), ScoredPeople: uint32(60 + i%20), Count: uint32(80 + j),
				Positive: 30, Neutral: 20, Negative: uint32(30 + j), MicroSum: int64(1000 * (i - j)), Version: 1}
			if d == commonv1.Dimension_DIMENSION_ENGAGEMENT {
				st.Promoters, st.Passives, st.Detractors, st.ENPSPeople = 20, 30, 40, 90
			}
			k := rollup.Key{Segment: row.Segment, Dimension: int32(d), Window: win}
			row.Cells = append(row.Cells, heatmapCell(k, st, (8*i+j)%32 >= 11, 5))
		}
		rows, compact = append(rows, row), append(compact, compactRow(row))
	}
	return heatmapAnswer{rows: rows, compact: compact, tw: timeWindowProto(w), forms: new(heatmapForms)}
}

// BenchmarkDecodeHeatmap decodes the GetHeatmap answer of 200 teams × 8 dimensions, full and
// compact, as a gRPC client's codec does (proto.Unmarshal): what a caller of the full answer
// spent most of its time on (BenchmarkMillion's heatmap-cpu-us/call). full-repeated is the
// full answer as it was served before its cells left out their segment and window (each cell
// repeating its row's segment and the answer's window).
//
//	go test -run '^$' -bench '^BenchmarkDecodeHeatmap$' -benchmem -count 6
func BenchmarkDecodeHeatmap(b *testing.B) {
	a := benchHeatmapAnswer()
	full, _ := a.response(false)
	repeated := proto.Clone(full).(*sentimentv1.GetHeatmapResponse)
	for _, row := range repeated.Rows {
		for _, c := range row.Cells {
			c.Segment, c.Window = row.Segment, repeated.Window
		}
	}
	for _, form := range []string{"full-repeated", "full", "compact"} {
		var raw []byte
		switch form {
		case "full-repeated":
			raw, _ = proto.Marshal(repeated)
		default:
			_, raw = a.response(form == "compact")
		}
		b.Run(form, func(b *testing.B) {
			b.ReportAllocs()
			c0 := cpuTime()
			for b.Loop() {
				var resp sentimentv1.GetHeatmapResponse
				if err := proto.Unmarshal(raw, &resp); err != nil {
					b.Fatal(err)
				}
			}
			// The machine is shared: the process's CPU time per decode (the garbage collector's
			// included) is steadier than ns/op.
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(len(raw)), "answer-bytes")
		})
	}
}
