package sentiment

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/outbox"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/sentiment/internal/rollup"
)

// WatchSentiment reads the SENTIMENT stream, the one HR portals subscribe to, so a watcher and
// a portal see exactly the same releases. A watch has two parts:
//
//   - The initial state: the released aggregates of the subtree in the current window of the
//     published length and in the one before, read from the store. It is taken at a cut of the
//     stream: a stream sequence L such that the store holds exactly the releases published up
//     to L. The cut is found by reading L before and after the store's read transaction: when
//     no update of the subtree was published in between, and the transaction saw an empty
//     outbox (every committed release already published), the snapshot is the stream up to L.
//   - Then the stream from L+1 (or from the resume token's sequence + 1), with an ordered
//     consumer filtered to the subtree's subjects.
//
// A resume token is the stream sequence of the last update sent, sealed and bound to the prefix. Releases
// are never lost between the two parts and never sent twice, and a watch resumed from a token
// gets what followed it exactly once, as long as the stream still holds it (--event-retention).

// watchUpdate is one response of a watch.
type watchUpdate struct {
	update   *eventsv1.SentimentUpdated
	token    string
	initial  bool
	caughtUp bool
}

// cutAttempts bounds the search for a cut; between attempts the watch waits cutRetry, long
// enough for the outbox relay to publish what a flush queued. Past the last attempt the watch
// goes on with the last cut read before a snapshot, and drops repeats by version (see watch).
const (
	cutAttempts = 100
	cutRetry    = 20 * time.Millisecond
)

// tokenVersion is the first byte of a resume token.
const tokenVersion = 1

// tokenScope is the scope of the key that seals resume tokens (anonymity.Secret.Tag).
const tokenScope = "voix-watch-resume-token-v1"

// tokenCipher seals resume tokens with a key derived from the deployment's secret.
func (s *Service) tokenCipher() cipher.AEAD {
	block, err := aes.NewCipher(s.host.Secret.Tag(tokenScope, ""))
	if err != nil {
		panic(err) // a 32-byte key always makes an AES-256 block
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// resumeToken is the opaque token of stream sequence seq for prefix: the sequence sealed with
// AES-GCM under a key of the deployment's secret, the prefix as additional data, after a
// version byte and a random nonce, in unpadded base64url. Sealed, because a stream sequence
// counts every event of the SENTIMENT stream, one per scored comment among them: a reader who
// could compare the sequences of two releases would learn how many comments were scored
// between them, and when.
func (s *Service) resumeToken(prefix segment.Path, seq uint64) string {
	aead := s.tokenCipher()
	b := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+8+aead.Overhead())
	b[0] = tokenVersion
	if _, err := rand.Read(b[1:]); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return base64.RawURLEncoding.EncodeToString(
		aead.Seal(b, b[1:], binary.BigEndian.AppendUint64(nil, seq), []byte(prefix.String())))
}

// Resume token errors: the field's rule (rpcerr.InvalidArgument on resume_token).
var errTokenMalformed = errors.New("must be the resume_token of a WatchSentiment of the same segment_prefix, unchanged")

// parseResumeToken returns the stream sequence of a token made by resumeToken for prefix.
func (s *Service) parseResumeToken(prefix segment.Path, tok string) (uint64, error) {
	aead := s.tokenCipher()
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 1+aead.NonceSize()+8+aead.Overhead() || b[0] != tokenVersion {
		return 0, errTokenMalformed
	}
	nonce := b[1 : 1+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, b[1+aead.NonceSize():], []byte(prefix.String()))
	if err != nil {
		return 0, errTokenMalformed
	}
	return binary.BigEndian.Uint64(plain), nil
}

// aggregateID names an aggregate among the updates of a watch.
func aggregateID(a *commonv1.Aggregate) string {
	return a.GetSegment() + "\x00" + strconv.Itoa(int(a.GetDimension())) + "\x00" + a.GetWindow().GetKey()
}

// watch is WatchSentiment: with resume nil, the initial state of prefix, then every update
// published under it; with resume, every update published after the stream sequence *resume.
// ready is called once the consumer is in place, before anything is sent. It returns when ctx
// is done or send fails.
func (s *Service) watch(ctx context.Context, prefix segment.Path, resume *uint64, ready func() error, send func(watchUpdate) error) error {
	st, err := s.host.Bus.JetStream().Stream(ctx, events.Sentiment.Name)
	if err != nil {
		return fmt.Errorf("segment_prefix: %w: stream %s: %v", errBusUnavailable, events.Sentiment.Name, err)
	}
	filters := events.SentimentUpdated.Filters(prefix)
	var (
		start   uint64 // the first stream sequence to read
		initial []*eventsv1.SentimentUpdated
		last    uint64 // the last sequence of the subtree when the watch started
	)
	if resume != nil {
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("segment_prefix: %w: stream %s: %v", errBusUnavailable, events.Sentiment.Name, err)
		}
		if first := info.State.FirstSeq; *resume+1 < first {
			return fmt.Errorf("resume_token: %w (the stream starts at %d, the token is at %d)", errResumeAgedOut, first, *resume)
		}
		start = *resume + 1
		if last, err = lastSeq(ctx, st, filters); err != nil {
			return err
		}
	} else {
		cut, snap, err := s.initialState(ctx, st, prefix, filters)
		if err != nil {
			return err
		}
		start, initial, last = cut+1, snap, cut
	}

	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start,
	})
	if err != nil {
		return fmt.Errorf("segment_prefix: %w: consumer: %v", errBusUnavailable, err)
	}
	msgs := make(chan jetstream.Msg, 64)
	done := make(chan struct{})
	defer close(done)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-done:
		}
	}, jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("segment_prefix: %w: consume: %v", errBusUnavailable, err)
	}
	defer cc.Stop()
	if err := ready(); err != nil {
		return err
	}

	// seen is the version sent of each aggregate: a release republished after the duplicate
	// window, or (past a failed cut search) one that was both in the snapshot and published
	// after the cut, is not sent again.
	seen := map[string]uint64{}
	for _, u := range initial {
		seen[aggregateID(u.Aggregate)] = u.Version
		if err := send(watchUpdate{update: u, initial: true}); err != nil {
			return err
		}
	}
	caughtUp := false
	if start > last {
		caughtUp = true
		if err := send(watchUpdate{token: s.resumeToken(prefix, start-1), caughtUp: true}); err != nil {
			return err
		}
	}
	for {
		var m jetstream.Msg
		select {
		case <-ctx.Done():
			return nil
		case m = <-msgs:
		}
		meta, err := m.Metadata()
		if err != nil {
			s.host.Log.Warn("sentiment watch: message without metadata", "err", err)
			continue
		}
		seq := meta.Sequence.Stream
		var u eventsv1.SentimentUpdated
		if err := proto.Unmarshal(m.Data(), &u); err != nil || u.Aggregate == nil {
			s.host.Log.Warn("sentiment watch: undecodable update", "stream_seq", seq, "err", err)
		} else if id := aggregateID(u.Aggregate); u.Version > seen[id] {
			seen[id] = u.Version
			if err := send(watchUpdate{update: &u, token: s.resumeToken(prefix, seq)}); err != nil {
				return err
			}
		}
		if !caughtUp && seq >= last {
			caughtUp = true
			if err := send(watchUpdate{token: s.resumeToken(prefix, seq), caughtUp: true}); err != nil {
				return err
			}
		}
	}
}

// lastSeq is the stream sequence of the last message on any of filters, 0 if none.
func lastSeq(ctx context.Context, st jetstream.Stream, filters []string) (uint64, error) {
	var last uint64
	for _, f := range filters {
		m, err := st.GetLastMsgForSubject(ctx, f)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			continue
		case err != nil:
			return 0, fmt.Errorf("segment_prefix: %w: last message on %s: %v", errBusUnavailable, f, err)
		}
		last = max(last, m.Sequence)
	}
	return last, nil
}

// initialState finds a cut of the stream and reads the released state of prefix at it (see
// the comment at the top of this file).
func (s *Service) initialState(ctx context.Context, st jetstream.Stream, prefix segment.Path, filters []string) (uint64, []*eventsv1.SentimentUpdated, error) {
	var (
		before uint64
		snap   []*eventsv1.SentimentUpdated
	)
	for attempt := range cutAttempts {
		var err error
		if before, err = lastSeq(ctx, st, filters); err != nil {
			return 0, nil, err
		}
		var drained bool
		if snap, drained, err = s.snapshot(prefix); err != nil {
			return 0, nil, err
		}
		after, err := lastSeq(ctx, st, filters)
		if err != nil {
			return 0, nil, err
		}
		if drained && after == before {
			return before, snap, nil
		}
		if attempt == cutAttempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(cutRetry):
		}
	}
	s.host.Log.Warn("sentiment watch: no quiet cut of the stream; repeats are dropped by version", "attempts", cutAttempts)
	return before, snap, nil
}

// snapshot reads, in one transaction, the released aggregates of every segment of prefix and
// every dimension (0, all together, first) in the current window of the published length and
// the one before, as the updates that released them; and whether the outbox was empty, that
// is, whether every release committed so far had been published.
func (s *Service) snapshot(prefix segment.Path) ([]*eventsv1.SentimentUpdated, bool, error) {
	cur := window.Of(s.cfg.Publish, s.cfg.Now())
	windows := []window.Window{cur.Prev(), cur}
	dims := append([]commonv1.Dimension{commonv1.Dimension_DIMENSION_UNSPECIFIED}, heatmapDimensions...)
	var (
		out     []*eventsv1.SentimentUpdated
		drained bool
	)
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		out = out[:0]
		ob := tx.Bucket([]byte(outbox.BucketName))
		if ob == nil {
			return fmt.Errorf("bucket %s missing", outbox.BucketName)
		}
		k, _ := ob.Cursor().First()
		drained = k == nil
		segs, err := rollup.Segments(tx, prefix)
		if err != nil {
			return err
		}
		for _, w := range windows {
			for _, seg := range segs {
				for _, d := range dims {
					key := rollup.Key{Segment: seg.String(), Dimension: int32(d), Window: anonymity.ContributorWindow(w)}
					st, shown, err := rollup.Released(tx, key)
					if err != nil {
						return err
					}
					if shown {
						out = append(out, &eventsv1.SentimentUpdated{
							Aggregate: aggregateProto(key, w, st, false, s.cfg.MinGroupSize), Version: st.Version,
						})
					}
				}
			}
		}
		return nil
	})
	return out, drained, err
}
