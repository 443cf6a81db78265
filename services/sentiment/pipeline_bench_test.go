package sentiment

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/natstest"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/servicetest"
)

// BenchmarkPipeline measures the apply rate end to end, through NATS: it publishes N events
// into their real stream of an embedded nats-server with JetStream (survey responses of three
// answers into PULSE, or comments into FEEDBACK), then starts the service, whose live
// consumers (as Start makes them: groups of consumerGroup events, one bbolt commit each, acks
// only after it, the publisher releasing meanwhile) drain the backlog. It reports the events
// acknowledged per second from the first ack to the last (ack-events/s), from Start to the
// last ack (start-events/s), and the process CPU per event over the first span (the embedded
// NATS server's included). Then it checks that the store recorded every event as applied:
// an ack is only ever sent after its commit.
//
// The events are 20,000 people's in 200 teams of acme, in the current week (each person about
// once per 20,000 events of N), made as the pulse and feedback services make them: random ids
// (so the applied-id records land all over their bucket, as in production) and sealed
// contributor tags.
//
//	go test -run '^$' -bench '^BenchmarkPipeline$' -benchtime 1x -timeout 20m
//
// VOIX_BENCH_EVENTS changes N (default 200,000); VOIX_BENCH_CPUPROFILE names a file for a CPU
// profile of the draining (from Start to the last ack; with one sub-benchmark).
func BenchmarkPipeline(b *testing.B) {
	total := 200_000
	if v, err := strconv.Atoi(os.Getenv("VOIX_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	b.Run("pulse", func(b *testing.B) {
		benchPipeline(b, total, events.PulseResponded, events.DurableSentimentPulse, pulseEvent)
	})
	b.Run("feedback", func(b *testing.B) {
		benchPipeline(b, total, events.FeedbackSubmitted, events.DurableSentimentFeedback, commentEvent)
	})
}

// pipelineEvent is event i of the benchmark, by person person of seg at at, ready to publish.
type pipelineEvent func(b testing.TB, secret *anonymity.Secret, i, person int, seg segment.Path, at time.Time) bus.Event

// benchContributors are the contributor tags of person in seg at at, sealed as the producers
// seal them (anonymity.Secret.SealedContributors).
func benchContributors(secret *anonymity.Secret, person int, seg segment.Path, at time.Time) []*eventsv1.ContributorTag {
	var out []*eventsv1.ContributorTag
	for _, c := range secret.SealedContributors(fmt.Sprint("person-", person), seg, at) {
		out = append(out, &eventsv1.ContributorTag{Segment: c.Segment, Window: c.Window, Tag: c.Tag})
	}
	return out
}

// pulseEvent is a survey response of three answers (as responseEvent), as the pulse service
// publishes it: a random response id, sealed contributor tags.
func pulseEvent(b testing.TB, secret *anonymity.Secret, i, person int, seg segment.Path, at time.Time) bus.Event {
	m := &eventsv1.ResponseSubmitted{
		ResponseId: rand.Text(), SurveyId: "s", Wave: 1, Segment: seg.String(),
		Answers: []*eventsv1.ScoredAnswer{
			{Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension(1 + i%8), Value: int32(1 + i%5)},
			{Kind: commonv1.QuestionKind_QUESTION_KIND_SCALE, Dimension: commonv1.Dimension(1 + (i+3)%8), Value: int32(1 + (i/5)%5)},
			{Kind: commonv1.QuestionKind_QUESTION_KIND_ENPS, Dimension: commonv1.Dimension_DIMENSION_ENGAGEMENT, Value: int32(i % 11)},
		},
		SubmittedDay: timestamppb.New(bus.Day(at)),
		Contributors: benchContributors(secret, person, seg, at),
	}
	data, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return bus.Event{ID: events.RespondedID(m.ResponseId), Type: events.PulseResponded.Type, Source: events.PulseResponded.Source,
		Subject: events.PulseResponded.Subject(seg), Time: bus.Day(at), Data: data}
}

// benchComments are the comments the feedback events carry, in turn.
var benchComments = []string{
	"My manager gives me clear feedback and I feel trusted to decide how I work.",
	"The workload this sprint was far too heavy, several of us stayed late every night.",
	"I am proud of what the team shipped, the customers noticed the difference.",
	"Nobody explained why the project was cancelled and it is hard to stay motivated.",
	"Great onboarding, people were friendly and helped me find my way quickly.",
	"Too many meetings, I barely have time for focused work anymore.",
	"I would like more opportunities to learn and grow into a senior role.",
	"Thanks to everyone who covered for me while I was on leave, much appreciated.",
	"La charge de travail est épuisante et nous manquons de personnel depuis des mois.",
	"Je me sens reconnu pour mon travail et l'équipe est très soudée.",
	"The new tools are slow and crash often, which is frustrating for everyone.",
	"It is fine overall.",
}

// commentEvent is a comment on one or two dimensions, as the feedback service publishes it: a
// random id, sealed contributor tags.
func commentEvent(b testing.TB, secret *anonymity.Secret, i, person int, seg segment.Path, at time.Time) bus.Event {
	m := &eventsv1.FeedbackSubmitted{
		FeedbackId: rand.Text(), Segment: seg.String(), Text: benchComments[i%len(benchComments)],
		Dimensions:   []commonv1.Dimension{commonv1.Dimension(1 + i%8)},
		SubmittedDay: timestamppb.New(bus.Day(at)),
		Contributors: benchContributors(secret, person, seg, at),
	}
	if i%3 == 0 {
		m.Dimensions = append(m.Dimensions, commonv1.Dimension(1+(i+3)%8))
	}
	data, err := proto.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	return bus.Event{ID: events.SubmittedID(m.FeedbackId), Type: events.FeedbackSubmitted.Type, Source: events.FeedbackSubmitted.Source,
		Subject: events.FeedbackSubmitted.Subject(seg), Time: bus.Day(at), Data: data}
}

func benchPipeline(b *testing.B, total int, kind events.Kind, durable string, event pipelineEvent) {
	for b.Loop() {
		env := servicetest.New(b)
		nc := natstest.Connect(b, env.NATS) // the streams, as every service ensures them
		secret, err := anonymity.LoadOrCreateSecret(host.DefaultSecretFile(env.DataDir))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		segs, at := benchTeamPaths(), time.Now()
		batch, ids := make([]bus.Event, 0, 1000), make([]string, 0, total)
		for i := 0; i < total; i++ {
			person := i % benchPeople
			batch = append(batch, event(b, secret, i, person, segs[person%len(segs)], at))
			ids = append(ids, batch[len(batch)-1].ID)
			if len(batch) == cap(batch) || i == total-1 {
				if _, err := nc.PublishBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}

		if path := os.Getenv("VOIX_BENCH_CPUPROFILE"); path != "" { // the draining only
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
		started := time.Now()
		s, err := Start(ctx, Config{Listen: "127.0.0.1:0", DataDir: env.DataDir, NATS: env.NATSConfig()})
		if err != nil {
			b.Fatal(err)
		}
		cons, err := nc.JetStream().Consumer(ctx, kind.Stream.Name, durable)
		if err != nil {
			b.Fatal(err)
		}
		var (
			first, last   time.Time
			floor0        uint64
			cpu0, cpuLast time.Duration
		)
		for {
			info, err := cons.Info(ctx)
			if err != nil {
				b.Fatal(err)
			}
			floor := info.AckFloor.Consumer
			if first.IsZero() && floor > 0 {
				first, floor0, cpu0 = time.Now(), floor, cpuTime()
			}
			if floor >= uint64(total) {
				last, cpuLast = time.Now(), cpuTime()
				break
			}
			if time.Since(started) > 15*time.Minute {
				b.Fatalf("%d of %d events acknowledged after 15 minutes", floor, total)
			}
			// Polling the server's ack floor (not a proof of anything): often until the first
			// ack, then at 50 Hz, which costs the server little next to the draining.
			if first.IsZero() {
				time.Sleep(2 * time.Millisecond)
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
		n := float64(uint64(total) - floor0)
		b.ReportMetric(n/last.Sub(first).Seconds(), "ack-events/s")
		b.ReportMetric(float64(total)/last.Sub(started).Seconds(), "start-events/s")
		b.ReportMetric(float64((cpuLast-cpu0).Microseconds())/n, "cpu-us/event")
		// Acked means committed: every event is recorded as applied, once.
		var applied int
		if err := s.host.DB.View(func(tx *bolt.Tx) error {
			for _, id := range ids {
				if consumer.Applied(tx, durable, id) {
					applied++
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if applied != total {
			b.Fatalf("%d of %d acknowledged events recorded as applied", applied, total)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyComments is the apply path of the live feedback consumer without NATS: N
// comments (VOIX_BENCH_EVENTS, default 100,000, made as BenchmarkPipeline makes them) applied in
// groups of consumerGroup, one bbolt commit each. "inline" scores each comment inside the
// transaction; "prepared" prepares each group first, as the live consumer does (prepare.go),
// then applies it. It reports the process CPU per event of preparing (prepare-cpu-us/event,
// on every core) and of applying (apply-cpu-us/event: the transaction, one goroutine, the
// commit and the garbage collector): on a loaded machine CPU time says more than wall time.
//
//	go test -run '^$' -bench '^BenchmarkApplyComments$' -benchtime 1x
func BenchmarkApplyComments(b *testing.B) {
	total := 100_000
	if v, err := strconv.Atoi(os.Getenv("VOIX_BENCH_EVENTS")); err == nil && v > 0 {
		total = v
	}
	for _, mode := range []string{"inline", "prepared"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				s, _ := startBench(b)
				segs, at := benchTeamPaths(), time.Now()
				evs := make([]bus.Event, total)
				for i := range evs {
					person := i % benchPeople
					evs[i] = commentEvent(b, s.host.Secret, i, person, segs[person%len(segs)], at)
				}
				src := s.sources()[0]
				h := s.grouped(s.liveHandler(src))
				flush := func(tx *bolt.Tx) error { return errors.Join(s.flushLog(tx), s.flushWriter(tx)) }
				var prep, apply time.Duration
				for lo := 0; lo < total; lo += consumerGroup {
					group := evs[lo:min(lo+consumerGroup, total)]
					release := func() {}
					if mode == "prepared" {
						c0 := cpuTime()
						release = s.livePrepare(src.durable)(group)
						prep += cpuTime() - c0
					}
					c0 := cpuTime()
					if _, err := consumer.ApplyGroupFlush(s.host.DB, src.durable, h, flush, group); err != nil {
						b.Fatal(err)
					}
					apply += cpuTime() - c0
					release()
				}
				b.ReportMetric(float64(prep.Microseconds())/float64(total), "prepare-cpu-us/event")
				b.ReportMetric(float64(apply.Microseconds())/float64(total), "apply-cpu-us/event")
			}
		})
	}
}
