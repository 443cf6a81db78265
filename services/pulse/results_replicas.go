package pulse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/peers"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// Results across replicas (issue 16). With --replica, each replica stores the answers it
// took; GetResults on any replica answers with every replica's answers:
//
//   - Every replica registers its name in the key-value bucket ReplicasBucket and answers the
//     internal call TalliesMethod on events.InternalCallPrefix + "pulse.call." (core NATS
//     request-reply, platform/peers: captured by no stream, so the raw counts it carries are
//     never stored in an event stream; only the services' NATS user may use voix.internal.>).
//   - GetResults asks every other registered replica, at once, for its raw per-segment tallies
//     of the waves read (the days before today for a live wave, as the asker says), the
//     version of each wave's tallies, and the TEXT answers under the requested prefix with
//     their order values. The raw tallies are added to this replica's, segment by segment,
//     before anything is suppressed: the suppression of docs/design.md (Anonymity) runs once,
//     on the merged counts. Suppressed numbers are never merged: a team whose k people
//     answered on two replicas is shown, a team of k-1 over both stays hidden on both.
//   - A person is counted on one replica only: the one-response-per-wave marks (replicas.go)
//     let one replica store their answer.
//   - A replica that does not answer within talliesTimeout makes GetResults Unavailable,
//     naming it. Results are never partial: an HR reader cannot tell a partial result from a
//     complete one, and a partial read followed by the complete one would differ by the
//     missing replica's answers alone, a group that may be smaller than k. A replica removed
//     for good must be deleted from the bucket (nats kv del voix_replicas_pulse NAME).
//   - Comments: the order value of a TEXT answer is the deployment secret's HMAC of its
//     question and response ids (results_cache.go), the same on every replica, so the merged
//     listing, and its page tokens, are the same whichever replica is read.
//   - Cache: the results cache's stamp holds every other replica's wave versions, from the
//     answers of this call; a response taken on another replica changes its version and the
//     next read computes afresh. Every read asks the others (one round trip); the asker keeps
//     each replica's last answer (remoteMemo) and sends its versions, and a replica whose
//     waves are still at them answers without the tallies and comments.
//
// The holder answers any replica of the deployment: the call names a survey, waves and a
// prefix, and holds nothing from the client; the asker authorised the reader before asking.
// What travels is below k and raw (TEXT answers too, before the asker decides which it may
// show): it stays on the internal subject, never in a stream, a log or a response.
//
// Limits: each replica freezes a closed wave's headcounts at its own first read (results.go,
// waveHeadcounts), so a headcount changed between two replicas' first reads shows differently
// through each (the counts of answers do not differ). A replica that never registered (an
// older version during a rolling upgrade) is not asked.

// ReplicasBucket is the key-value bucket in which pulse replicas register their names.
const ReplicasBucket = "voix_replicas_pulse"

// TalliesMethod is the internal call for a replica's raw tallies of some waves.
const TalliesMethod = "Tallies"

// talliesTimeout bounds how long GetResults waits for every other replica's tallies.
const talliesTimeout = 2 * time.Second

// pulseCallPrefix starts the subjects of the calls between pulse replicas.
const pulseCallPrefix = events.InternalCallPrefix + "pulse.call."

// startPeers registers the replica and answers the others' calls; nothing with one replica.
func (s *Service) startPeers() error {
	if s.cfg.Replica.Name == "" {
		return nil
	}
	p, err := peers.Start(peers.Config{
		Conn: s.host.Bus.Conn(), JS: s.host.Bus.JetStream(),
		Bucket: ReplicasBucket, Description: "voix pulse replicas (merged results)",
		Name: s.cfg.Replica.Name, Replicas: s.cfg.NATS.Replicas, Prefix: pulseCallPrefix,
		Handle: s.answerCall, Log: s.host.Log,
	}, s.host.Go)
	if err != nil {
		return fmt.Errorf("pulse: %w", err)
	}
	s.peers = p
	return nil
}

// talliesRequest asks for the raw tallies of waves of one survey.
type talliesRequest struct {
	Survey string        `json:"survey"`
	Waves  []talliesWave `json:"waves"`
	// Prefix and Texts: the TEXT answers to these questions under the prefix.
	Prefix string   `json:"prefix"`
	Texts  []string `json:"texts,omitempty"`
	// Known are the wave versions (parallel to Waves) of the answer the asker holds from each
	// replica, by name: a wave still at that version is answered Same, without its data.
	Known map[string][]uint64 `json:"known,omitempty"`
}

type talliesWave struct {
	Number uint32 `json:"number"`
	Before int64  `json:"before,omitempty"` // unix seconds: the days before it only; 0: all
}

// talliesAnswer is a replica's raw tallies, per wave of the request.
type talliesAnswer struct {
	Waves []waveTallies `json:"waves"`
}

type waveTallies struct {
	Version  uint64            `json:"version"`
	Same     bool              `json:"same,omitempty"`     // at the version the asker knows: no data
	Segments map[string][]byte `json:"segments,omitempty"` // store.Tally, binary
	Texts    []remoteText      `json:"texts,omitempty"`
}

type remoteText struct {
	Segment  string `json:"s"`
	Question string `json:"q"`
	Order    []byte `json:"o"`
	Text     string `json:"t"`
}

// remoteTallies are the other replicas' answers to one GetResults (decode merges them); stamp
// names every replica's wave versions.
type remoteTallies struct {
	others  []string
	answers map[string]talliesAnswer
	n       int // waves
	stamp   string
}

// answerCall answers another replica's call.
func (s *Service) answerCall(_ context.Context, method, _ string, body []byte) ([]byte, error) {
	if method != TalliesMethod {
		return nil, fmt.Errorf("pulse: unknown internal call %q", method)
	}
	var req talliesRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("pulse: unreadable %s call: %v", method, err)
	}
	prefix, err := segment.Parse(req.Prefix)
	if err != nil {
		return nil, fmt.Errorf("pulse: %s call: prefix: %v", method, err)
	}
	texts := map[string]bool{}
	for _, id := range req.Texts {
		texts[id] = true
	}
	order := s.orderer(req.Survey)
	known := req.Known[s.cfg.Replica.Name]
	out := talliesAnswer{Waves: make([]waveTallies, len(req.Waves))}
	err = s.host.DB.View(func(tx *bolt.Tx) error {
		for i, w := range req.Waves {
			var before time.Time
			if w.Before != 0 {
				before = time.Unix(w.Before, 0)
			}
			wt := &out.Waves[i]
			v, err := store.WaveVersion(tx, req.Survey, w.Number)
			if err != nil {
				return err
			}
			wt.Version = v
			if len(known) == len(req.Waves) && known[i] == v {
				wt.Same = true
				continue
			}
			wt.Segments = map[string][]byte{}
			err = store.ForEachTally(tx, req.Survey, w.Number, before, func(seg string, t *store.Tally) error {
				b, err := t.MarshalBinary()
				wt.Segments[seg] = b
				return err
			})
			if err != nil {
				return err
			}
			if len(texts) == 0 {
				continue
			}
			within := map[string]bool{}
			err = store.ForEachText(tx, req.Survey, w.Number, before, func(seg, questionID, responseID, text string) error {
				if !texts[questionID] {
					return nil
				}
				in, ok := within[seg]
				if !ok {
					p, err := segment.Parse(seg)
					in = err == nil && p.Within(prefix)
					within[seg] = in
				}
				if in {
					o := order.of(questionID, responseID)
					wt.Texts = append(wt.Texts, remoteText{Segment: seg, Question: questionID, Order: o[:], Text: text})
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pulse: replica %s: read tallies of survey %s: %v", s.cfg.Replica.Name, req.Survey, err)
	}
	return json.Marshal(out)
}

// remoteTallies asks every other registered replica for its raw tallies of q's waves; nil when
// this is the only replica. An error is a gRPC status: Unavailable when a replica does not
// answer.
func (s *Service) remoteTallies(ctx context.Context, q resultsQuery, waves []*pulsev1.Wave, live []bool, today time.Time) (*remoteTallies, error) {
	if s.peers == nil {
		return nil, nil
	}
	others, err := s.peers.Others(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "pulse: the other replicas, whose answers count in the results (NATS key-value bucket %s), cannot be reached: %v", ReplicasBucket, err)
	}
	if len(others) == 0 {
		return nil, nil
	}
	req := talliesRequest{Survey: q.survey.Id, Prefix: q.prefix.String()}
	texts := map[string]bool{}
	for i, w := range waves {
		tw := talliesWave{Number: w.Number}
		if live[i] {
			tw.Before = today.Unix()
		}
		req.Waves = append(req.Waves, tw)
		for _, id := range w.QuestionIds {
			if qu := q.survey.question(id); qu != nil && qu.Kind == commonv1.QuestionKind_QUESTION_KIND_TEXT && !texts[id] {
				texts[id] = true
				req.Texts = append(req.Texts, id)
			}
		}
	}
	memoKey, err := json.Marshal(req)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "pulse: marshal %s: %v", TalliesMethod, err)
	}
	held := map[string]talliesAnswer{}
	for _, r := range others {
		if a, ok := s.remoteMemo.get(r, memoKey); ok {
			held[r] = a
			if req.Known == nil {
				req.Known = map[string][]uint64{}
			}
			for _, wt := range a.Waves {
				req.Known[r] = append(req.Known[r], wt.Version)
			}
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "pulse: marshal %s: %v", TalliesMethod, err)
	}
	answers, failed, silent, err := s.peers.Ask(ctx, TalliesMethod, body, others, talliesTimeout)
	switch {
	case errors.Is(err, peers.ErrUnreachable):
		return nil, status.Errorf(codes.Unavailable, "pulse: the other replicas, whose answers count in the results, cannot be reached: %v", err)
	case err != nil:
		return nil, status.FromContextError(err).Err()
	case len(silent) > 0:
		return nil, status.Errorf(codes.Unavailable, "pulse: replica %s did not answer within %s; the results would miss the answers it took: retry later (a replica removed for good must be deleted: nats kv del %s NAME)",
			strings.Join(silent, ", "), talliesTimeout, ReplicasBucket)
	case len(failed) > 0:
		names := slices.Sorted(maps.Keys(failed))
		for _, r := range names {
			s.host.Log.Warn("pulse: a replica failed to give its tallies", "replica", r, "err", failed[r])
		}
		return nil, status.Errorf(codes.Unavailable, "pulse: replica %s could not give its tallies; the results would miss the answers it took: retry later",
			strings.Join(names, ", "))
	}
	out := &remoteTallies{others: others, answers: map[string]talliesAnswer{}, n: len(waves)}
	var stamp strings.Builder
	for _, r := range others {
		var a talliesAnswer
		if err := json.Unmarshal(answers[r], &a); err != nil || len(a.Waves) != len(waves) {
			return nil, status.Errorf(codes.Internal, "pulse: replica %s answered unreadable tallies", r)
		}
		changed := false
		for i := range a.Waves {
			switch {
			case !a.Waves[i].Same:
				changed = true
			case len(held[r].Waves) == len(waves) && held[r].Waves[i].Version == a.Waves[i].Version:
				a.Waves[i] = held[r].Waves[i]
			default:
				return nil, status.Errorf(codes.Internal, "pulse: replica %s answered a version this replica does not hold", r)
			}
		}
		if changed {
			s.remoteMemo.put(r, memoKey, a)
		}
		out.answers[r] = a
		stamp.WriteString(r)
		for _, wt := range a.Waves {
			stamp.WriteString(" " + strconv.FormatUint(wt.Version, 10))
		}
		stamp.WriteString(";")
	}
	out.stamp = stamp.String()
	return out, nil
}

// decode is the other replicas' raw tallies merged, per wave, by segment, and their TEXT
// answers: decoded only when the results are computed, not when the cache has them.
func (rt *remoteTallies) decode() (waves []map[string]*gTally, texts [][]remoteText, err error) {
	waves, texts = make([]map[string]*gTally, rt.n), make([][]remoteText, rt.n)
	for i := range waves {
		waves[i] = map[string]*gTally{}
	}
	for _, r := range rt.others {
		for i, wt := range rt.answers[r].Waves {
			for seg, b := range wt.Segments {
				var t store.Tally
				if err := t.UnmarshalBinary(b); err != nil {
					return nil, nil, status.Errorf(codes.Internal, "pulse: replica %s answered an unreadable tally of %q", r, seg)
				}
				g := waves[i][seg]
				if g == nil {
					g = &gTally{}
					waves[i][seg] = g
				}
				g.add(tallyCells(&t))
			}
			for _, t := range wt.Texts {
				if len(t.Order) != orderSize {
					return nil, nil, status.Errorf(codes.Internal, "pulse: replica %s answered a comment without its order", r)
				}
			}
			texts[i] = append(texts[i], wt.Texts...)
		}
	}
	return waves, texts, nil
}

// remoteMemo keeps the last tallies each other replica gave for a request: a read sends their
// versions, and a replica whose waves are still at them answers without the data. What it
// holds is never changed: readers share it.
type remoteMemo struct {
	mu sync.Mutex
	m  map[string]talliesAnswer // by replica name, 0x00, the request without Known
}

// maxRemoteMemos bounds the answers kept; beyond, the memo starts over.
const maxRemoteMemos = 64

func (m *remoteMemo) get(replica string, req []byte) (talliesAnswer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.m[replica+"\x00"+string(req)]
	return a, ok
}

func (m *remoteMemo) put(replica string, req []byte, a talliesAnswer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil || len(m.m) >= maxRemoteMemos {
		m.m = map[string]talliesAnswer{}
	}
	m.m[replica+"\x00"+string(req)] = a
}

// add adds o's raw counts to g's.
func (g *gTally) add(o *gTally) {
	g.respondents += o.respondents
	for id, qt := range o.q {
		g.question(id).merge(qt)
	}
}

// question is the survey's question id, or nil.
func (sv *survey) question(id string) *pulsev1.Question {
	for _, qu := range sv.Questions {
		if qu.Id == id {
			return qu
		}
	}
	return nil
}
