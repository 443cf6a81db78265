// Package cluster is voix's end-to-end test on a three-node JetStream cluster (make
// e2e-cluster), the first step of running past one machine.
//
// A run starts three nats-server processes on loopback as one JetStream cluster (routes
// between them, each node with its own store and sync_interval: always), then the chaos
// harness's services (pulse, feedback, sentiment, each one OS process) connected to the client
// URLs of all three nodes with --stream-replicas 3, and the harness's load. While the load
// runs it kills (SIGKILL) the node that leads the FEEDBACK stream, measures how long the
// cluster takes to elect new leaders and accept publishes again, restarts the node a few
// seconds later, then kills and restarts a service. When the load is over, the harness settles
// and verifies (every acknowledged item readable once, the sentiment rollups equal to the
// acknowledged items), and the run checks that every stream and durable consumer is really
// replicated three times: three replicas configured, a leader, both followers current
// (the restarted node included).
//
// It ends with "e2e-cluster: acked=N lost=L duplicated=D nats_kills=K leader_changes=C
// settle=Ss"; the run fails unless L and D are 0 and the replication checks hold. Then come
// the partition phase (partitions.go: sentiment replicas partitioned by organisation) and the
// write phase (writes.go: feedback and pulse replicas sharing their marks).
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/cmd/voix/internal/chaos"
	"github.com/voix-dev/voix/cmd/voix/internal/proc"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/events"
)

// Replicas is the replica count of every stream in the run.
const Replicas = 3

// Config configures a run.
type Config struct {
	// BinDir holds the pulse, feedback and sentiment binaries (make build). Required.
	BinDir string
	// NATSServer is the nats-server binary. Default: built into Dir/bin.
	NATSServer string
	// Dir is where the run writes everything. Required.
	Dir string
	// Duration of the load. Default 40 s; it must cover the disruptions.
	Duration time.Duration
	// Workers is how many simulated employees act at once. Default 16.
	Workers int
	// Seed of the load's choices. Default: random.
	Seed uint64
	// KillAfter is when, after the load starts, the NATS node is killed (default 8 s); it is
	// restarted NATSDown (default 4 s) after every stream accepted publishes again. The
	// service Service (default feedback) is killed ServiceAfter (default 6 s) after the node
	// is back and restarted 1 s later.
	KillAfter, NATSDown, ServiceAfter time.Duration
	Service                           string
	// Log receives progress lines. Default: discarded.
	Log io.Writer
	// SkipPartitions skips the partition phase (partitions.go): two sentiment replicas with
	// --partitions, one killed and restarted, the owner logs and stores checked.
	SkipPartitions bool
	// OnlyPartitions runs the partition phase alone on the cluster: no load, no NATS kill.
	OnlyPartitions bool
	// SkipWrites skips the write phase (writes.go): two feedback and two pulse replicas
	// sharing their marks, each person's submissions sent to both.
	SkipWrites bool
	// OnlyWrites runs the write phase alone on the cluster.
	OnlyWrites bool
}

// Result is what a run found.
type Result struct {
	chaos.Result
	// NATSKills counts the NATS nodes killed; LeaderChanges the stream and consumer leader
	// elections seen (JetStream advisories) from the start of the load to the end of the
	// checks, StreamElections and ConsumerElections them apart.
	NATSKills, LeaderChanges           int
	StreamElections, ConsumerElections int
	// Takeover is what happened after the NATS kill.
	Takeover Takeover
	// Replication lists what the R3 checks found wrong; empty when every stream and consumer
	// has three current replicas.
	Replication []string
	// Partitions is what the partition phase found; nil when skipped. OnlyPartitions says the
	// phase ran alone (no load: the harness's lines are not reported).
	Partitions     *PartitionResult
	OnlyPartitions bool
	// Writes is what the write phase found; nil when skipped. OnlyWrites says it ran alone.
	Writes     *WritesResult
	OnlyWrites bool
}

// Takeover is the measure of one NATS node kill.
type Takeover struct {
	// Victim is the node killed, and Led the streams it led.
	Victim string
	Led    []string
	// Leader is, per stream, the time from the kill until stream info answered with a leader
	// other than the victim; Publish until the stream held an event it did not hold at the
	// kill (a relay's or consumer's publish succeeded). Missing: not seen within the bound.
	Leader, Publish map[string]time.Duration
	// Idle lists the streams that held no event at the kill (CX, which the load does not
	// write): only their leader is awaited.
	Idle []string
}

// Max is the longest time to the first publish after the kill over every stream, and whether
// every stream saw one.
func (t Takeover) Max() (time.Duration, bool) {
	var m time.Duration
	for _, st := range events.Streams() {
		if slices.Contains(t.Idle, st.Name) {
			continue
		}
		d, ok := t.Publish[st.Name]
		if !ok {
			return m, false
		}
		m = max(m, d)
	}
	return m, true
}

// OK reports whether nothing was lost or duplicated and the streams are R3.
func (r Result) OK() bool {
	if r.OnlyPartitions || r.OnlyWrites { // a phase alone
		return (r.Partitions == nil || r.Partitions.OK()) && (r.Writes == nil || r.Writes.OK())
	}
	return r.Result.OK() && len(r.Replication) == 0 && (r.Partitions == nil || r.Partitions.OK()) &&
		(r.Writes == nil || r.Writes.OK())
}

// Line is the run's summary line.
func (r Result) Line() string {
	return fmt.Sprintf("e2e-cluster: acked=%d lost=%d duplicated=%d nats_kills=%d leader_changes=%d settle=%.1fs",
		r.Acked, r.LostN, r.DuplicatedN, r.NATSKills, r.LeaderChanges, r.Settle.Seconds())
}

// Report writes the harness's findings, the take-over, the replication findings and the
// summary line.
func (r Result) Report(w io.Writer) {
	if r.OnlyPartitions {
		r.Partitions.Report(w)
		return
	}
	if r.OnlyWrites {
		r.Writes.Report(w)
		return
	}
	r.Result.Report(w)
	t := r.Takeover
	if t.Victim != "" {
		var parts []string
		for _, st := range events.Streams() {
			l, p := "none", "none"
			if d, ok := t.Leader[st.Name]; ok {
				l = fmt.Sprintf("%.2fs", d.Seconds())
			}
			if d, ok := t.Publish[st.Name]; ok {
				p = fmt.Sprintf("%.2fs", d.Seconds())
			}
			parts = append(parts, fmt.Sprintf("%s leader %s publish %s", st.Name, l, p))
		}
		m, all := t.Max()
		mt := fmt.Sprintf("%.2fs", m.Seconds())
		if !all {
			mt = "incomplete"
		}
		fmt.Fprintf(w, "e2e-cluster: killed %s (leader of %s): %s; takeover=%s\n",
			t.Victim, strings.Join(t.Led, ","), strings.Join(parts, "; "), mt)
		fmt.Fprintf(w, "e2e-cluster: leader elections seen: streams=%d consumers=%d\n", r.StreamElections, r.ConsumerElections)
	}
	for _, f := range r.Replication {
		fmt.Fprintln(w, "replication:", f)
	}
	if r.Partitions != nil {
		r.Partitions.Report(w)
	}
	if r.Writes != nil {
		r.Writes.Report(w)
	}
	fmt.Fprintln(w, r.Line())
}

// natsConfig is one node's configuration: client and route ports on loopback, JetStream on
// file with every write fsynced before its ack, routes to every node, the services user.
const natsConfig = `# Written by voix e2e-cluster.
server_name: %s
listen: %s
jetstream {
  store_dir: %q
  sync_interval: always
}
cluster {
  name: voix-e2e
  listen: %s
  routes: [
%s  ]
}
accounts {
  VOIX: {
    jetstream: enabled
    users: [ { user: %s, password: $VOIX_NATS_SERVICES_PASSWORD } ]
  }
}
`

// natsNode is one nats-server process.
type natsNode struct {
	name string
	*proc.Proc
	url string
}

// disruptionAllowance is the part of the disruptions' schedule that is not configured: the
// streams' leader elections after the NATS kill (up to 7 s seen on 2 busy cores), the service's
// restart a second after its kill and its start. A load shorter than the schedule plus this
// ends while the service is down (25 s of load failed that way with the defaults).
const disruptionAllowance = 15 * time.Second

// Run runs the test. The error is about the harness or the cluster (a process that does not
// start, a cluster that never elects a leader); what was lost or duplicated and the
// replication findings are in the Result.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.BinDir == "" || cfg.Dir == "" {
		return Result{}, errors.New("e2e-cluster: BinDir and Dir are required")
	}
	cfg.Duration = cmp(cfg.Duration, 40*time.Second)
	cfg.KillAfter = cmp(cfg.KillAfter, 8*time.Second)
	cfg.NATSDown = cmp(cfg.NATSDown, 4*time.Second)
	cfg.ServiceAfter = cmp(cfg.ServiceAfter, 6*time.Second)
	if cfg.Service == "" {
		cfg.Service = "feedback"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if need := cfg.KillAfter + cfg.NATSDown + cfg.ServiceAfter + disruptionAllowance; cfg.Duration < need && !cfg.OnlyPartitions && !cfg.OnlyWrites {
		return Result{}, fmt.Errorf("e2e-cluster: --duration %v is too short for the disruptions: at least %v", cfg.Duration, need)
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	cfg.Log = &syncWriter{w: cfg.Log} // the disruptions and the harness log at once
	var err error
	if cfg.Dir, err = filepath.Abs(cfg.Dir); err != nil {
		return Result{}, err
	}
	if cfg.NATSServer == "" {
		bin := filepath.Join(cfg.Dir, "bin")
		if err := os.MkdirAll(bin, 0o700); err != nil {
			return Result{}, err
		}
		logf(cfg.Log, "building nats-server into %s", bin)
		if cfg.NATSServer, err = chaos.BuildNATSServer(ctx, bin); err != nil {
			return Result{}, err
		}
	}

	pass, err := auth.NewToken()
	if err != nil {
		return Result{}, err
	}
	nodes, err := startNATS(ctx, cfg, pass)
	defer func() {
		for _, n := range nodes {
			_ = n.Stop()
		}
	}()
	if err != nil {
		return Result{}, err
	}
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url)
	}
	// One connection per node, so that whatever is killed, a survivor still answers.
	conns := make([]*nats.Conn, len(nodes))
	defer func() {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
	}()
	for i, n := range nodes {
		if conns[i], err = nats.Connect(n.url, nats.UserInfo(chaos.NATSUser, pass), nats.MaxReconnects(-1),
			nats.ReconnectWait(100*time.Millisecond)); err != nil {
			return Result{}, err
		}
	}
	if err := waitJetStream(ctx, conns[0]); err != nil {
		return Result{}, err
	}
	logf(cfg.Log, "three-node JetStream cluster up: %s", strings.Join(urls, ","))

	if cfg.OnlyPartitions {
		pr, err := runPartitions(ctx, cfg, urls, pass)
		return Result{Partitions: &pr, OnlyPartitions: true}, err
	}
	if cfg.OnlyWrites {
		wr, err := runWrites(ctx, cfg, urls, pass)
		return Result{Writes: &wr, OnlyWrites: true}, err
	}
	leaders := &elections{seen: map[string]bool{}, last: map[string]time.Time{}}
	var res Result
	disrupt := func(ctx context.Context, h *chaos.Handle, stop <-chan struct{}) error {
		// Count the elections from the start of the load, on every node's connection (an
		// advisory reaches each subscriber; the ids tell them apart).
		for _, nc := range conns {
			for _, subj := range []string{streamLeaderAdvisory, consumerLeaderAdvisory} {
				sub, err := nc.Subscribe(subj, leaders.note)
				if err != nil {
					return err
				}
				defer sub.Unsubscribe()
			}
		}
		if !pause(ctx, stop, cfg.KillAfter) {
			return errors.New("e2e-cluster: the load ended before the NATS kill")
		}
		tk, victim, err := killLeader(ctx, cfg, nodes, conns, leaders)
		res.Takeover = tk
		if err != nil {
			return err
		}
		res.NATSKills++
		if !pause(ctx, stop, cfg.NATSDown) {
			return errors.New("e2e-cluster: the load ended while a NATS node was down")
		}
		if err := victim.Start(ctx); err != nil {
			return fmt.Errorf("e2e-cluster: restart %s: %w", victim.name, err)
		}
		logf(cfg.Log, "%s is back", victim.name)
		if !pause(ctx, stop, cfg.ServiceAfter) {
			return errors.New("e2e-cluster: the load ended before the service kill")
		}
		if err := h.Kill(cfg.Service); err != nil {
			return err
		}
		if !pause(ctx, stop, time.Second) {
			return errors.New("e2e-cluster: the load ended while a service was down")
		}
		return h.Restart(ctx, cfg.Service)
	}
	cres, err := chaos.RunExternal(ctx, chaos.Config{
		BinDir: cfg.BinDir, Dir: filepath.Join(cfg.Dir, "services"), Duration: cfg.Duration,
		Workers: cfg.Workers, Seed: cfg.Seed, Log: cfg.Log,
	}, chaos.External{URLs: urls, Password: pass, ServiceFlags: []string{"--stream-replicas", fmt.Sprint(Replicas)}}, disrupt)
	res.Result = cres
	if res.Kills != nil {
		res.Kills["nats"] += res.NATSKills
	}
	if err == nil {
		res.Replication, err = checkReplication(ctx, cfg, conns)
	}
	if err == nil && !cfg.SkipPartitions {
		var pr PartitionResult
		pr, err = runPartitions(ctx, cfg, urls, pass)
		res.Partitions = &pr
	}
	if err == nil && !cfg.SkipWrites {
		var wr WritesResult
		wr, err = runWrites(ctx, cfg, urls, pass)
		res.Writes = &wr
	}
	res.StreamElections, res.ConsumerElections = leaders.count()
	res.LeaderChanges = res.StreamElections + res.ConsumerElections
	return res, err
}

// startNATS writes the three nodes' configurations and starts them.
func startNATS(ctx context.Context, cfg Config, pass string) ([]*natsNode, error) {
	var nodes []*natsNode
	var routes []string
	for range 3 {
		client, err := proc.FreeAddr()
		if err != nil {
			return nil, err
		}
		route, err := proc.FreeAddr()
		if err != nil {
			return nil, err
		}
		routes = append(routes, route)
		nodes = append(nodes, &natsNode{url: "nats://" + client, Proc: &proc.Proc{Addr: client}})
	}
	var rl strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&rl, "    nats-route://%s\n", r)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o700); err != nil {
		return nil, err
	}
	for i, n := range nodes {
		n.name = fmt.Sprintf("n%d", i+1)
		store := filepath.Join(cfg.Dir, "nats", n.name)
		if err := os.MkdirAll(store, 0o700); err != nil {
			return nil, err
		}
		conf := filepath.Join(cfg.Dir, "nats", n.name+".conf")
		text := fmt.Sprintf(natsConfig, n.name, n.Addr, store, routes[i], rl.String(), chaos.NATSUser)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		n.Name, n.Bin, n.Args = "nats "+n.name, cfg.NATSServer, []string{"-c", conf}
		n.Env = []string{"VOIX_NATS_SERVICES_PASSWORD=" + pass}
		n.Log = filepath.Join(cfg.Dir, "logs", n.name+".log")
	}
	for _, n := range nodes {
		if err := n.Start(ctx); err != nil {
			return nodes, err
		}
	}
	return nodes, nil
}

// waitJetStream waits until the cluster answers JetStream requests (a meta leader exists).
func waitJetStream(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("e2e-cluster: JetStream not available on the cluster after 60 s: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The subjects of JetStream's stream and consumer leader elections.
const (
	streamLeaderAdvisory   = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.>"
	consumerLeaderAdvisory = "$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.>"
)

// elections counts distinct leader election advisories (by id), of streams and of consumers.
type elections struct {
	mu   sync.Mutex
	seen map[string]bool // advisory id → is a stream's
	// last is when each stream's last election advisory was received.
	last map[string]time.Time
}

// electedAt is when the last election of stream was received.
func (e *elections) electedAt(stream string) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.last[stream]
	return t, ok
}

func (e *elections) note(m *nats.Msg) {
	var adv struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m.Data, &adv) != nil || adv.ID == "" {
		return
	}
	now := time.Now()
	stream := strings.HasPrefix(m.Subject, "$JS.EVENT.ADVISORY.STREAM.")
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, dup := e.seen[adv.ID]; dup {
		return // the same advisory through another node's connection
	}
	e.seen[adv.ID] = stream
	if stream {
		// $JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.<stream>
		e.last[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]] = now
	}
}

// count is the number of stream and of consumer elections seen.
func (e *elections) count() (streams, consumers int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.seen {
		if st {
			streams++
		} else {
			consumers++
		}
	}
	return streams, consumers
}

// streamState is what stream info says of one stream.
type streamState struct {
	leader  string
	lastSeq uint64
}

func streamInfo(ctx context.Context, js jetstream.JetStream, name string, timeout time.Duration) (*jetstream.StreamInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := js.Stream(cctx, name)
	if err != nil {
		return nil, err
	}
	return st.Info(cctx)
}

// killLeader kills the node that leads the FEEDBACK stream, then polls stream info through a
// survivor until every stream has another leader and holds an event it did not hold at the
// kill, for up to a minute.
func killLeader(ctx context.Context, cfg Config, nodes []*natsNode, conns []*nats.Conn, leaders *elections) (Takeover, *natsNode, error) {
	js, err := jetstream.New(conns[0])
	if err != nil {
		return Takeover{}, nil, err
	}
	before := map[string]streamState{}
	for _, st := range events.Streams() {
		info, err := streamInfo(ctx, js, st.Name, time.Second)
		if err != nil {
			return Takeover{}, nil, fmt.Errorf("e2e-cluster: stream info %s: %w", st.Name, err)
		}
		if info.Cluster == nil {
			return Takeover{}, nil, fmt.Errorf("e2e-cluster: stream %s has no cluster information", st.Name)
		}
		before[st.Name] = streamState{leader: info.Cluster.Leader, lastSeq: info.State.LastSeq}
	}
	vi := slices.IndexFunc(nodes, func(n *natsNode) bool { return n.name == before[events.Feedback.Name].leader })
	if vi < 0 {
		return Takeover{}, nil, fmt.Errorf("e2e-cluster: stream %s has no known leader (%q)", events.Feedback.Name, before[events.Feedback.Name].leader)
	}
	victim := nodes[vi]
	tk := Takeover{Victim: victim.name, Leader: map[string]time.Duration{}, Publish: map[string]time.Duration{}}
	for _, st := range events.Streams() {
		if before[st.Name].leader == victim.name {
			tk.Led = append(tk.Led, st.Name)
		}
		if before[st.Name].lastSeq == 0 {
			tk.Idle = append(tk.Idle, st.Name)
		}
	}
	survivor, err := jetstream.New(conns[(vi+1)%len(conns)])
	if err != nil {
		return tk, victim, err
	}

	killed := time.Now()
	victim.Kill()
	logf(cfg.Log, "killed NATS node %s (leader of %s)", victim.name, strings.Join(tk.Led, ","))
	// One poller per stream, so that a stream without a leader (whose requests time out)
	// does not delay the others' measures.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, st := range events.Streams() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(killed) < time.Minute && ctx.Err() == nil {
				info, err := streamInfo(ctx, survivor, st.Name, 200*time.Millisecond)
				if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != victim.name {
					at := time.Since(killed)
					mu.Lock()
					if _, ok := tk.Leader[st.Name]; !ok {
						tk.Leader[st.Name] = at
					}
					published := info.State.LastSeq > before[st.Name].lastSeq
					if before[st.Name].lastSeq == 0 {
						mu.Unlock()
						return // idle: its leader is all there is to wait for
					}
					if published {
						tk.Publish[st.Name] = at
					}
					mu.Unlock()
					if published {
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	// A led stream's election is dated more exactly by its advisory than by polling.
	for _, name := range tk.Led {
		if at, ok := leaders.electedAt(name); ok && at.After(killed) {
			if d := at.Sub(killed); d < tk.Leader[name] {
				tk.Leader[name] = d
			}
		}
	}
	for _, st := range events.Streams() {
		if _, ok := tk.Leader[st.Name]; !ok {
			return tk, victim, fmt.Errorf("e2e-cluster: stream %s has no leader a minute after %s was killed", st.Name, victim.name)
		}
	}
	m, _ := tk.Max()
	logf(cfg.Log, "publishes accepted again %.2fs after the kill (leaders: %v)", m.Seconds(), tk.Leader)
	return tk, victim, nil
}

// checkReplication waits (up to a minute) until every stream and durable consumer has three
// replicas configured, a leader and both followers current, and returns what still is not so.
func checkReplication(ctx context.Context, cfg Config, conns []*nats.Conn) ([]string, error) {
	js, err := jetstream.New(conns[0])
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		findings, err := replication(ctx, js)
		if err == nil && len(findings) == 0 {
			logf(cfg.Log, "every stream and consumer has %d current replicas", Replicas)
			return nil, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				findings = append(findings, err.Error())
			}
			return findings, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// durableConsumers are the durables the services create, each checked at R3.
var durableConsumers = []string{
	events.DurableSentimentFeedback, events.DurableSentimentPulse, events.DurableFeedbackScored,
	events.DurableFeedbackSegments, events.DurableFeedbackNotify, events.DurableFeedbackSurveyComments,
	events.DurablePulseActions,
}

// replication describes every stream and durable consumer that is not at R3 with a leader and current
// followers.
func replication(ctx context.Context, js jetstream.JetStream) ([]string, error) {
	var out []string
	check := func(what string, replicas int, ci *jetstream.ClusterInfo) {
		if replicas != Replicas {
			out = append(out, fmt.Sprintf("%s: %d replicas configured, want %d", what, replicas, Replicas))
		}
		if ci == nil || ci.Leader == "" {
			out = append(out, what+": no leader")
			return
		}
		if len(ci.Replicas) != Replicas-1 {
			out = append(out, fmt.Sprintf("%s: leader %s and %d followers, want %d", what, ci.Leader, len(ci.Replicas), Replicas-1))
		}
		for _, p := range ci.Replicas {
			if !p.Current || p.Offline {
				out = append(out, fmt.Sprintf("%s: follower %s not current (offline=%v, lag=%d)", what, p.Name, p.Offline, p.Lag))
			}
		}
	}
	durables := map[string]bool{}
	for _, st := range events.Streams() {
		info, err := streamInfo(ctx, js, st.Name, time.Second)
		if err != nil {
			return out, fmt.Errorf("stream %s: %w", st.Name, err)
		}
		check("stream "+st.Name, info.Config.Replicas, info.Cluster)
		s, err := js.Stream(ctx, st.Name)
		if err != nil {
			return out, err
		}
		names := s.ConsumerNames(ctx)
		for name := range names.Name() {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			c, err := s.Consumer(cctx, name)
			var ci *jetstream.ConsumerInfo
			if err == nil {
				ci, err = c.Info(cctx)
			}
			cancel()
			if err != nil {
				return out, fmt.Errorf("consumer %s/%s: %w", st.Name, name, err)
			}
			if ci.Config.Durable == "" {
				continue // the verifier's own ordered readers: ephemeral, R1 by design
			}
			durables[ci.Config.Durable] = true
			// A consumer's 0 replicas means the stream's.
			r := ci.Config.Replicas
			if r == 0 {
				r = info.Config.Replicas
			}
			check("consumer "+st.Name+"/"+name, r, ci.Cluster)
		}
		if err := names.Err(); err != nil {
			return out, fmt.Errorf("consumers of %s: %w", st.Name, err)
		}
	}
	for _, d := range durableConsumers {
		if !durables[d] {
			out = append(out, "durable consumer "+d+" does not exist")
		}
	}
	return out, nil
}

// pause waits d, and reports false if stop or ctx came first.
func pause(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s e2e-cluster: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
