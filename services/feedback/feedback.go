// Package feedback is the anonymous feedback service: an employee speaks up through a bot or an
// app, the comment is scrubbed and stored without anything that says who wrote it, and the
// author keeps a secret follow-up token as their only handle on the thread.
//
// It owns the loop that makes speaking up worth it: the workflow from NEW to an answer, the
// anonymous two-way thread, routing to an owner group once the sentiment service has scored a
// comment, upvotes, deadlines and loop statistics. And it owns what readers may learn: a
// comment is shown under a segment only when that segment's headcount reaches the comment
// threshold, times are days, and aggregates obey the minimum group size. Headcounts are the
// pulse service's segment registry, which this service copies from its SegmentUpserted events.
// The bbolt layout is in internal/store.
package feedback

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/groupcommit"
	"github.com/voix-dev/voix/services/platform/host"
	"github.com/voix-dev/voix/services/platform/marks"
	"github.com/voix-dev/voix/services/platform/sharedconf"
)

// DefaultListen is the feedback service's gRPC address in docs/design.md.
const DefaultListen = "127.0.0.1:7102"

// DefaultIdempotencyTTL is how long a SubmitFeedback idempotency key is at least remembered
// (until the end of the UTC day it ends in, since its record keeps days only): long
// enough for any bot's retries, short enough that the record (a keyed hash of the author
// scoped to the key) does not outlive them.
const DefaultIdempotencyTTL = 24 * time.Hour

// Defaults of the loop (issue 5).
const (
	// DefaultDailyLimit is how many comments one person may submit in a UTC day.
	DefaultDailyLimit = 20
	// DefaultAckDeadline is how long a comment may stay NEW before it is overdue.
	DefaultAckDeadline = 7 * 24 * time.Hour
	// DefaultResolveDeadline is how long a comment may stay open before it is overdue.
	DefaultResolveDeadline = 30 * 24 * time.Hour
	// DefaultDeadlineInterval is how often missed deadlines are looked for.
	DefaultDeadlineInterval = time.Minute
)

// Config configures the service. Zero values take the documented defaults.
type Config struct {
	// Listen is the gRPC address, host:port. Default DefaultListen; "127.0.0.1:0" picks a port.
	Listen string
	// DataDir holds the store in DataDir/feedback/feedback.db. Required.
	DataDir string
	// NATS says how to reach NATS. URL required.
	NATS bus.Config
	// TokensFile defaults to the host's file under DataDir.
	TokensFile string
	// Secret is the deployment's shared anonymity secret; its File defaults to
	// <DataDir>/secret.key, which must exist unless Secret.Create (host.Config).
	Secret anonymity.SecretSource
	// IdempotencyTTL is how long an idempotency key is remembered. Default DefaultIdempotencyTTL.
	IdempotencyTTL time.Duration
	// CommentThreshold is the headcount a segment needs before comments are shown under it.
	// Default anonymity.DefaultCommentThreshold (10). Fix it before the first comment: lowering
	// it later shows old comments under smaller segments than their authors expected.
	CommentThreshold int
	// MinGroupSize is k for loop statistics: hidden below k distinct people. Default
	// anonymity.DefaultMinGroupSize (5); at least 2.
	MinGroupSize int
	// DailyLimit is how many comments one person may submit per UTC day. Default
	// DefaultDailyLimit (20).
	DailyLimit int
	// AckDeadline and ResolveDeadline are counted from the day a comment was made (only the
	// day is stored). Defaults DefaultAckDeadline (7 days) and DefaultResolveDeadline (30 days).
	// They apply to comments made after a change.
	AckDeadline, ResolveDeadline time.Duration
	// DeadlineInterval is how often the service looks for missed deadlines. Default
	// DefaultDeadlineInterval (1 minute).
	DeadlineInterval time.Duration
	// Log receives structured logs. Default: discarded.
	Log *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxStreams caps the concurrent gRPC calls of one client connection (host.Config).
	MaxStreams uint32
	// Ops are the operator's settings: TLS, metrics, per-token stream cap (host.Ops).
	Ops host.Ops
	// Notify configures how owner groups' notification targets are told (notify.go).
	Notify NotifyConfig
	// Replica, when named, makes this service one of several replicas sharing the
	// idempotency records through NATS (replicas.go). Default: one replica.
	Replica ReplicaConfig
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		return errors.New("feedback: DataDir is required")
	}
	if c.NATS.URL == "" {
		return errors.New("feedback: NATS.URL is required (e.g. nats://127.0.0.1:4222)")
	}
	if c.IdempotencyTTL == 0 {
		c.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if c.IdempotencyTTL < time.Minute {
		return errors.New("feedback: IdempotencyTTL must be at least a minute: bots retry for longer")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CommentThreshold == 0 {
		c.CommentThreshold = anonymity.DefaultCommentThreshold
	}
	if c.MinGroupSize == 0 {
		c.MinGroupSize = anonymity.DefaultMinGroupSize
	}
	if c.DailyLimit == 0 {
		c.DailyLimit = DefaultDailyLimit
	}
	if c.AckDeadline == 0 {
		c.AckDeadline = DefaultAckDeadline
	}
	if c.ResolveDeadline == 0 {
		c.ResolveDeadline = DefaultResolveDeadline
	}
	if c.DeadlineInterval == 0 {
		c.DeadlineInterval = DefaultDeadlineInterval
	}
	switch {
	case c.CommentThreshold < 2:
		return errors.New("feedback: CommentThreshold must be at least 2: a segment of one is a person")
	case c.MinGroupSize < 2:
		return errors.New("feedback: MinGroupSize must be at least 2: a group of one is a person")
	case c.DailyLimit < 1:
		return errors.New("feedback: DailyLimit must be at least 1")
	case c.AckDeadline < 0, c.ResolveDeadline < c.AckDeadline:
		return errors.New("feedback: want 0 < AckDeadline <= ResolveDeadline")
	case c.DeadlineInterval < time.Second:
		return errors.New("feedback: DeadlineInterval must be at least a second")
	}
	return nil
}

// applyGroup is the most events feedback's busy consumers (feedback-scored, feedback-notify,
// feedback-survey-comments) apply in one transaction. Their applies go through the service's
// committer (host.WriteThrough), where one event applied alone waits a whole commit cycle of
// the submissions: under load a consumer of Group 1 applies about one event per cycle (40 a
// second measured for feedback-notify while 2,000 comments a second came in).
const applyGroup = 256

// Service is a running feedback service.
type Service struct {
	cfg  Config
	host *host.Host
	// commit group-commits the submissions: one transaction and fsync for all that arrive
	// while the previous commit is on its way to disk (platform/groupcommit).
	commit *groupcommit.Committer
	// notify is the sender of notifications to owner groups (notify.go).
	notify *notifier
	// placements caches each organisation's placement (display.go).
	placements placementCache
	// marks are the idempotency records shared with the other replicas; nil with one
	// replica (replicas.go).
	marks *marks.Marks
	// config is the routing rules, notification targets and action plans shared with the
	// other replicas; nil with one replica (sharedconfig.go).
	config *sharedconf.Shared
	// afterClaim, in tests, runs after a claim is taken: an error leaves the claim held, as a
	// replica that died before its commit would.
	afterClaim atomic.Pointer[func() error]
	// deadlineCommitted, in tests, runs after each transaction of CheckDeadlines committed,
	// with the comments it checked.
	deadlineCommitted atomic.Pointer[func(checked int)]
}

// Start opens the store, connects to NATS (the outbox relay starts with it) and serves gRPC.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	h, err := host.New(ctx, host.Config{
		Name:       feedbackv1.FeedbackService_ServiceDesc.ServiceName,
		Store:      "feedback",
		Listen:     cfg.Listen,
		DataDir:    cfg.DataDir,
		NATS:       cfg.NATS,
		TokensFile: cfg.TokensFile,
		Secret:     cfg.Secret,
		Policy:     policy,
		Log:        cfg.Log,
		MaxStreams: cfg.MaxStreams,
		Ops:        cfg.Ops,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, host: h, commit: groupcommit.New(h.DB, 0), notify: newNotifier(cfg.Notify)}
	// The relay's deletions and the consumers' applies share the committer's commits instead
	// of taking the writer lock and fsyncs of their own between them.
	h.WriteThrough(s.commit)
	if err := store.Init(h.DB, s.unsafeIndex); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.buildFilters(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startMarks(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startConfig(); err != nil { // replicas: rules, targets and plans shared (sharedconfig.go)
		s.Close()
		return nil, err
	}
	apiSrv, err := s.forwarding(&api{svc: s}) // forward.go: calls about another replica's comments
	if err != nil {
		s.Close()
		return nil, err
	}
	feedbackv1.RegisterFeedbackServiceServer(h.GRPC(), apiSrv)
	for _, c := range []consumer.Config{{
		// Scores of comments, for their labels and routing.
		Stream:         events.SentimentScored.Stream.Name,
		Durable:        s.perReplica(events.DurableFeedbackScored), // replicas.go
		FilterSubjects: []string{events.SentimentScored.All()},
		Handle:         s.appliedAlone(events.DurableFeedbackScored, s.applyScoredAndRoute), // applyScored, then FeedbackRouted (notify.go)
		Log:            h.Log,
		// One commit for the scores received together instead of two fsyncs per comment: they
		// share feedback's writer lock with the submissions. The handler writes only in tx.
		Group: applyGroup,
	}, {
		// The segment registry's headcounts, for placement and ListSegments.
		Stream:         events.PulseSegmentUpserted.Stream.Name,
		Durable:        s.perReplica(events.DurableFeedbackSegments),
		FilterSubjects: []string{events.PulseSegmentUpserted.All()},
		Handle:         s.applySegment,
		Log:            h.Log,
	}} {
		if err := h.Consume(c); err != nil {
			s.Close()
			return nil, err
		}
	}
	h.Go(s.pruneLoop)
	h.Go(s.deadlineLoop)
	h.Go(s.planDueLoop)
	if err := s.startNotify(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.startSurveyItems(); err != nil { // survey_items.go
		s.Close()
		return nil, err
	}
	h.Serve()
	return s, nil
}

// Addr is the gRPC address the service listens on.
func (s *Service) Addr() string { return s.host.Addr() }

// Close stops serving and closes NATS and the store. Committed comments are on disk, and their
// events are either published or still in the outbox for the next start.
func (s *Service) Close() error {
	err := s.host.Close() // stops gRPC first: no submission is waiting for the committer after it
	s.commit.Close()
	return err
}

// pruneExpired deletes the idempotency records and rate-limit counters expired at the
// service's clock, 10,000 per transaction, and returns how many it deleted. A failure of one
// kind does not stop the other.
func (s *Service) pruneExpired() (int, error) {
	const batch = 10_000
	total := 0
	var errs []error
	for _, prune := range []func(*bolt.DB, time.Time, int) (int, error){store.PruneIdempotency, store.PruneRateLimits} {
		for {
			n, err := prune(s.host.DB, s.cfg.Now(), batch)
			total += n
			if err != nil {
				errs = append(errs, err)
			}
			if err != nil || n < batch {
				break
			}
		}
	}
	return total, errors.Join(errs...)
}

// sealDays moves the index entries of finished days, older than yesterday (whose comments
// can still be scored and routed), to the tiers where they fill their pages
// (store.UnsafeSealDays), a transaction per sealMaxBytes of a bucket, and returns how many it
// moved.
func (s *Service) sealDays() (int, error) {
	before := today(s.cfg.Now()).AddDate(0, 0, -1)
	took := time.Now()
	total, txs := 0, 0
	for {
		var n int
		var more bool
		err := s.host.DB.Update(func(tx *bolt.Tx) (err error) {
			n, more, err = store.UnsafeSealDays(tx, before)
			return err
		})
		total, txs = total+n, txs+1
		if err != nil || !more {
			if total > 0 {
				s.host.Log.Info("feedback: sealed the index entries of finished days", "entries", total,
					"before", before.Format(time.DateOnly), "transactions", txs, "took", time.Since(took).Round(time.Millisecond))
			}
			return total, err
		}
	}
}

// pruneLoop deletes expired idempotency records and rate-limit counters now and then: each is a
// keyed hash of an author that should not outlive the retries or the day it exists for. It
// seals the index entries of finished days too (sealDays).
func (s *Service) pruneLoop(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		if _, err := s.pruneExpired(); err != nil {
			s.host.Log.Error("prune expired tags", "err", err)
		}
		if _, err := s.sealDays(); err != nil {
			s.host.Log.Error("seal the index entries of finished days", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
