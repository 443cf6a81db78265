package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/voix-dev/voix/cmd/voix/internal/chaos"
	"github.com/voix-dev/voix/cmd/voix/internal/proc"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	"github.com/voix-dev/voix/services/platform/anonymity"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/partition"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/sentiment"
)

// The partition phase: two sentiment replicas (--partitions, --replica) as OS processes on
// the cluster, comments for several organisations, one replica SIGKILLed mid-stream and
// restarted, then both stopped and their stores read.
const (
	// PhasePartitions is the partition count of the phase's replicas.
	PhasePartitions = 4
	// phaseLease is the replicas' lease TTL: the longest a dead replica's partitions wait.
	phaseLease = 3 * time.Second
	// phaseIDPrefix marks the phase's comments among the load's.
	phaseIDPrefix = "e2e-partition/"
)

// phaseOrgs are three organisations per partition, so that every partition has events.
var phaseOrgs = func() []string {
	var orgs []string
	per := make([]int, PhasePartitions)
	for i := 0; len(orgs) < 3*PhasePartitions; i++ {
		org := fmt.Sprintf("org%d", i)
		if p := partition.Of(org, PhasePartitions); per[p] < 3 {
			per[p]++
			orgs = append(orgs, org)
		}
	}
	return orgs
}()

// PartitionResult is what the partition phase found.
type PartitionResult struct {
	// Published is how many comments the phase published, over len(phaseOrgs) organisations.
	Published int
	// Applied is, per replica, how many events its owner log says it applied; Stored how many
	// distinct event ids its store recorded. Applied above Stored is an event applied twice.
	Applied map[string]uint64
	Stored  map[string]int
	// Missing counts the phase's comments the final owner of their partition did not apply.
	Missing int
	// Overlaps describes each time two replicas held one partition at once.
	Overlaps []string
	// Takeover is, over the partitions the killed replica held, the longest time from the
	// kill to the survivor's first transaction on it (a lease TTL at most, plus the catch-up).
	Takeover time.Duration
	// TakenOver counts those partitions.
	TakenOver int
	// PausedTakenOver counts the partitions the other replica held when it was paused
	// (SIGSTOP) and that the first took while it slept; PausedCommits those on which the
	// paused one committed after the take-over, on waking (none: its fence refuses them).
	PausedTakenOver, PausedCommits int
	// Aggregates lists the organisations whose weekly all-dimensions rollups, in the store of
	// their partition's final owner, do not count exactly the comments published for them (a
	// recomputation from the published comments: every comment is one item).
	Aggregates []string
	// Orgs counts the organisations whose rollups were compared.
	Orgs int
	// Updates counts the SentimentUpdated published for the phase's organisations;
	// InheritedUpdates those of the partitions taken over from the killed replica that the
	// survivor published before the killed one came back (windows begun under the killed
	// one: without the partition log they stay frozen, 0); Isolating the pairs of values
	// shown of one aggregate whose difference is 1..k-1 people (must be 0).
	Updates, InheritedUpdates int
	Isolating                 []string

	pausedAt, resumedAt, restartedAt time.Time
	victimHeld                       map[int]bool // partitions the killed replica held
}

// OK reports whether every comment was applied once by its owner and no partition had two
// owners at once.
func (p PartitionResult) OK() bool {
	if p.Missing != 0 || len(p.Overlaps) != 0 || p.TakenOver == 0 || p.PausedTakenOver == 0 || p.PausedCommits != 0 ||
		len(p.Aggregates) != 0 || p.Orgs == 0 || p.InheritedUpdates == 0 || len(p.Isolating) != 0 {
		return false
	}
	for r, n := range p.Applied {
		if n != uint64(p.Stored[r]) {
			return false
		}
	}
	return true
}

// Line is the phase's summary line.
func (p PartitionResult) Line() string {
	return fmt.Sprintf("e2e-cluster partitions: replicas=2 partitions=%d published=%d missing=%d double=%d overlaps=%d taken_over=%d takeover=%.2fs paused_taken_over=%d paused_commits=%d aggregates_checked=%d aggregates_wrong=%d updates=%d inherited_updates=%d isolating=%d",
		PhasePartitions, p.Published, p.Missing, p.double(), len(p.Overlaps), p.TakenOver, p.Takeover.Seconds(), p.PausedTakenOver, p.PausedCommits,
		p.Orgs, len(p.Aggregates), p.Updates, p.InheritedUpdates, len(p.Isolating))
}

func (p PartitionResult) double() uint64 {
	var d uint64
	for r, n := range p.Applied {
		if s := uint64(p.Stored[r]); n > s {
			d += n - s
		}
	}
	return d
}

// Report writes the findings and the summary line.
func (p PartitionResult) Report(w io.Writer) {
	for _, r := range slices.Sorted(mapKeys(p.Applied)) {
		fmt.Fprintf(w, "e2e-cluster partitions: %s applied %d events, stored %d ids\n", r, p.Applied[r], p.Stored[r])
	}
	for _, o := range p.Overlaps {
		fmt.Fprintln(w, "partitions: overlap:", o)
	}
	for _, a := range p.Aggregates {
		fmt.Fprintln(w, "partitions: aggregates:", a)
	}
	for _, a := range p.Isolating {
		fmt.Fprintln(w, "partitions: isolating:", a)
	}
	fmt.Fprintln(w, p.Line())
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// phase is the partition phase's state.
type phase struct {
	cfg      Config
	urls     []string
	replicas []*proc.Proc
	dirs     []string
	secret   *anonymity.Secret
	js       jetstream.JetStream
	ids      map[string]int // comment id -> partition
	perOrg   map[string]int // organisation -> comments published
	n        int
}

// runPartitions runs the phase on the running cluster.
func runPartitions(ctx context.Context, cfg Config, urls []string, pass string) (PartitionResult, error) {
	var res PartitionResult
	dir := filepath.Join(cfg.Dir, "partitions")
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return res, err
	}
	secretFile := filepath.Join(dir, "secret.key")
	secret, err := anonymity.LoadOrCreateSecret(secretFile)
	if err != nil {
		return res, err
	}
	tok, err := auth.NewToken()
	if err != nil {
		return res, err
	}
	tokens := filepath.Join(dir, "token-hashes.json")
	if err := auth.WriteTokens(tokens, auth.TokenFile{Tokens: []auth.TokenRecord{
		{Name: "e2e-hr", Role: auth.RoleHR, Prefix: phaseOrgs[0], SHA256: auth.HashToken(tok)}}}); err != nil {
		return res, err
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(chaos.NATSUser, pass), nats.MaxReconnects(-1))
	if err != nil {
		return res, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}
	ph := &phase{cfg: cfg, urls: urls, secret: secret, js: js, ids: map[string]int{}, perOrg: map[string]int{}}
	for _, name := range []string{"s1", "s2"} {
		addr, err := proc.FreeAddr()
		if err != nil {
			return res, err
		}
		d := filepath.Join(dir, name)
		ph.dirs = append(ph.dirs, d)
		ph.replicas = append(ph.replicas, &proc.Proc{
			Name: "sentiment-" + name, Bin: proc.BinPath(cfg.BinDir, "sentiment"), Addr: addr, GRPC: true,
			Log: filepath.Join(dir, "logs", name+".log"), Env: []string{"VOIX_NATS_PASSWORD=" + pass},
			Args: []string{"--listen", addr, "--data-dir", d, "--nats-url", strings.Join(urls, ","),
				"--nats-user", chaos.NATSUser, "--tokens-file", tokens, "--secret-file", secretFile,
				"--stream-replicas", fmt.Sprint(Replicas), "--partitions", fmt.Sprint(PhasePartitions),
				"--replica", name, "--lease-ttl", phaseLease.String()},
		})
	}
	defer func() {
		for _, r := range ph.replicas {
			_ = r.Stop()
		}
	}()
	for _, r := range ph.replicas {
		if err := r.Start(ctx); err != nil {
			return res, err
		}
	}
	logf(cfg.Log, "partitions: two sentiment replicas, %d partitions, lease %v", PhasePartitions, phaseLease)
	// Comments while both run, then the kill, comments while one runs, the restart, more.
	if err := ph.publishFor(ctx, 2*phaseLease); err != nil {
		return res, err
	}
	victim := ph.replicas[0]
	killed := time.Now()
	victim.Kill()
	logf(cfg.Log, "partitions: killed %s (SIGKILL)", victim.Name)
	if err := ph.publishFor(ctx, 3*phaseLease); err != nil {
		return res, err
	}
	res.restartedAt = time.Now()
	if err := victim.Start(ctx); err != nil {
		return res, err
	}
	logf(cfg.Log, "partitions: %s is back", victim.Name)
	if err := ph.publishFor(ctx, 2*phaseLease); err != nil {
		return res, err
	}
	// The other replica freezes (SIGSTOP) longer than its leases: the first takes its
	// partitions; when it wakes up it must commit nothing on them.
	paused := ph.replicas[1]
	if err := paused.Signal(syscall.SIGSTOP); err != nil {
		return res, err
	}
	res.pausedAt = time.Now()
	logf(cfg.Log, "partitions: paused %s (SIGSTOP)", paused.Name)
	perr := ph.publishFor(ctx, 3*phaseLease)
	if err := paused.Signal(syscall.SIGCONT); err != nil {
		return res, err
	}
	res.resumedAt = time.Now()
	logf(cfg.Log, "partitions: resumed %s (SIGCONT)", paused.Name)
	if perr != nil {
		return res, perr
	}
	if err := ph.publishFor(ctx, 2*phaseLease); err != nil {
		return res, err
	}
	res.Published = ph.n
	// Stop both and read their stores; until every comment is in its final owner's store,
	// start them again and let them catch up (a bounded number of times).
	for round := 0; ; round++ {
		if err := chaos.Sleep(ctx, phaseLease); err != nil {
			return res, err
		}
		for _, r := range ph.replicas {
			if err := r.Stop(); err != nil {
				return res, err
			}
		}
		if err := ph.check(&res, killed); err != nil {
			return res, err
		}
		if err := ph.checkUpdates(ctx, &res, killed); err != nil {
			return res, err
		}
		if res.Missing == 0 || round == 4 {
			break
		}
		logf(cfg.Log, "partitions: %d comments not yet applied by their owners; letting the replicas catch up", res.Missing)
		for _, r := range ph.replicas {
			if err := r.Start(ctx); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// publishFor publishes comments for every organisation for d, a few every 50 ms.
func (ph *phase) publishFor(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	now := time.Now().UTC()
	for time.Now().Before(end) {
		for _, org := range phaseOrgs {
			ph.n++
			id := fmt.Sprintf("%s%d", phaseIDPrefix, ph.n)
			seg := segment.MustParse(org + "/eng")
			var tags []*eventsv1.ContributorTag
			for _, c := range ph.secret.Contributors(fmt.Sprintf("person-%d", ph.n), seg, now) {
				tags = append(tags, &eventsv1.ContributorTag{Segment: c.Segment, Window: c.Window, Tag: c.Tag})
			}
			data, err := proto.Marshal(&eventsv1.FeedbackSubmitted{FeedbackId: id, Segment: seg.String(),
				Text: "the new process works well and I like it", SubmittedDay: timestamppb.New(now.Truncate(24 * time.Hour)),
				Contributors: tags})
			if err != nil {
				return err
			}
			ev := bus.Event{ID: events.SubmittedID(id), Type: events.FeedbackSubmitted.Type, Source: events.FeedbackSubmitted.Source,
				Subject: events.FeedbackSubmitted.Subject(seg), Time: now, Data: data}
			msg := &nats.Msg{Subject: ev.Subject, Data: ev.Data, Header: ev.Header()}
			if err := publishRetry(ctx, ph.js, msg); err != nil {
				return err
			}
			ph.ids[ev.ID] = partition.Of(org, PhasePartitions)
			ph.perOrg[org]++
		}
		if err := chaos.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// publishRetry publishes msg until JetStream acknowledges it (its id dedups a retry).
func publishRetry(ctx context.Context, js jetstream.JetStream, msg *nats.Msg) error {
	for i := 0; ; i++ {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.PublishMsg(c, msg)
		cancel()
		if err == nil || ctx.Err() != nil || i == 20 {
			return err
		}
		if err := chaos.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// check reads the stopped replicas' stores: owner logs, applied ids.
func (ph *phase) check(res *PartitionResult, killed time.Time) error {
	res.Applied, res.Stored, res.Overlaps, res.Missing = map[string]uint64{}, map[string]int{}, nil, 0
	var all []partition.Term
	applied := map[string]map[string]bool{} // replica -> the phase's ids it applied
	counted := map[string]map[string]int{}  // replica -> organisation -> items in its weekly rollups
	for i, r := range ph.replicas {
		name := strings.TrimPrefix(r.Name, "sentiment-")
		db, err := bolt.Open(filepath.Join(ph.dirs[i], "sentiment", "sentiment.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("partitions: open %s's store: %w", name, err)
		}
		terms, err := partition.ReadLog(db)
		if err == nil {
			applied[name], counted[name] = map[string]bool{}, map[string]int{}
			err = db.View(func(tx *bolt.Tx) error {
				for _, org := range phaseOrgs {
					n, err := sentiment.CountedItems(tx, org)
					if err != nil {
						return err
					}
					counted[name][org] = n
				}
				root := tx.Bucket([]byte(consumer.ProcessedBucketName))
				if root == nil {
					return nil
				}
				for _, d := range []string{events.DurableSentimentFeedback, events.DurableSentimentPulse} {
					b := root.Bucket([]byte(d))
					if b == nil {
						continue
					}
					res.Stored[name] += b.Stats().KeyN
					if d == events.DurableSentimentFeedback {
						if err := b.ForEach(func(k, _ []byte) error {
							if strings.HasPrefix(string(k), events.SubmittedID(phaseIDPrefix)) {
								applied[name][string(k)] = true
							}
							return nil
						}); err != nil {
							return err
						}
					}
				}
				return nil
			})
		}
		db.Close()
		if err != nil {
			return fmt.Errorf("partitions: read %s's store: %w", name, err)
		}
		for _, t := range terms {
			res.Applied[name] += t.Applied
		}
		all = append(all, terms...)
	}
	for _, o := range partition.Overlaps(all) {
		res.Overlaps = append(res.Overlaps, fmt.Sprintf("partition %d: %s %s..%s (seq %d..%d) and %s %s..%s (seq %d..%d)",
			o[0].Partition, o[0].Replica, o[0].Start.Format(time.StampMilli), o[0].End.Format(time.StampMilli), o[0].First, o[0].Last,
			o[1].Replica, o[1].Start.Format(time.StampMilli), o[1].End.Format(time.StampMilli), o[1].First, o[1].Last))
	}
	// The final owner of a partition is the replica whose last term on it began last.
	final := map[int]partition.Term{}
	for _, t := range all {
		if f, ok := final[t.Partition]; !ok || t.Start.After(f.Start) {
			final[t.Partition] = t
		}
	}
	for id, p := range ph.ids {
		f, ok := final[p]
		if !ok || !applied[f.Replica][id] {
			res.Missing++
		}
	}
	// Aggregates: the final owner's rollups of each organisation against the comments
	// published for it.
	res.Aggregates, res.Orgs = nil, 0
	for _, org := range phaseOrgs {
		f, ok := final[partition.Of(org, PhasePartitions)]
		if !ok {
			continue // reported as missing above
		}
		res.Orgs++
		if got, want := counted[f.Replica][org], ph.perOrg[org]; got != want {
			res.Aggregates = append(res.Aggregates, fmt.Sprintf("%s: %s's weekly rollups count %d items, %d comments published", org, f.Replica, got, want))
		}
	}
	// Take-over: the victim's partitions, first taken by the survivor after the kill.
	victim := strings.TrimPrefix(ph.replicas[0].Name, "sentiment-")
	held := map[int]bool{}
	for p := 0; p < PhasePartitions; p++ {
		if ownerAt(all, p, killed) == victim {
			held[p] = true
		}
	}
	res.TakenOver, res.Takeover, res.victimHeld = 0, 0, held
	for p := range held {
		var first time.Time
		for _, t := range all {
			if t.Partition == p && t.Replica != victim && t.Start.After(killed) && (first.IsZero() || t.Start.Before(first)) {
				first = t.Start
			}
		}
		if !first.IsZero() {
			res.TakenOver++
			res.Takeover = max(res.Takeover, first.Sub(killed))
		}
	}
	// The pause: partitions the paused replica held before it, that the other took during it.
	sleeper := strings.TrimPrefix(ph.replicas[1].Name, "sentiment-")
	res.PausedTakenOver, res.PausedCommits = 0, 0
	for p := 0; p < PhasePartitions; p++ {
		held := ownerAt(all, p, res.pausedAt) == sleeper
		var taken time.Time
		for _, t := range all {
			if t.Partition != p {
				continue
			}
			if t.Replica != sleeper && t.Start.After(res.pausedAt) && t.Start.Before(res.resumedAt) && (taken.IsZero() || t.Start.Before(taken)) {
				taken = t.Start
			}
		}
		if !held || taken.IsZero() {
			continue
		}
		res.PausedTakenOver++
		// The sleeper's term from before the take-over must have ended before it: a later end
		// is a commit it made while another held p (Overlaps reports it too, with its times).
		for _, t := range all {
			if t.Partition == p && t.Replica == sleeper && t.Start.Before(taken) && t.End.After(taken) {
				res.PausedCommits++
			}
		}
	}
	return nil
}

// ownerAt is the replica whose term on partition p began last before at: the owner at that
// time, or "" if none had applied anything on p yet.
func ownerAt(terms []partition.Term, p int, at time.Time) string {
	var last partition.Term
	for _, t := range terms {
		if t.Partition == p && t.Start.Before(at) && t.Start.After(last.Start) {
			last = t
		}
	}
	return last.Replica
}
