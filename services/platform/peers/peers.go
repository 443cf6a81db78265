// Package peers lets the replicas of one service (issue 16: --replica) ask one another over
// core NATS request-reply: every replica registers its name in a JetStream key-value bucket
// (one key per replica, kept until an operator deletes it) and answers on the service's
// internal subjects (events.InternalCallPrefix: captured by no stream, so nothing sent there is
// stored); a replica asks every other registered replica at once and learns, by name, which
// ones did not answer within the deadline.
//
// Feedback's forwarded calls (services/feedback/forward.go: the first holder's answer, merged
// lists) and pulse's merged results (services/pulse/results_replicas.go) both use it.
//
// An answer larger than one NATS message goes as several parts, in order, each within the
// connection's maximum payload: an answer is complete once its last part arrived.
package peers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says where a replica registers and answers.
type Config struct {
	Conn *nats.Conn
	JS   jetstream.JetStream
	// Bucket is the key-value bucket of the replicas' names; Description its description.
	Bucket, Description string
	// Name is this replica's name (events.CheckReplicaName).
	Name string
	// Replicas is the bucket's JetStream replication (0: 1).
	Replicas int
	// Prefix starts the subjects the replica answers on: Prefix + method
	// ("voix.internal.pulse.call." + "Tallies").
	Prefix string
	// Handle answers one call of method with body, from replica from. An error is the
	// answer's error text, given to the asker.
	Handle func(ctx context.Context, method, from string, body []byte) ([]byte, error)
	// Workers caps the calls answered at once (0: 16).
	Workers int
	// Log receives the failures nobody waits for.
	Log *slog.Logger
}

// Peers is one replica's handle: its registration, the watch of the others, its answers.
type Peers struct {
	cfg  Config
	work chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	kv     jetstream.KeyValue
	known  map[string]bool // registered replicas, from the bucket's watch
	ready  bool            // known holds the bucket's keys as of the watch's start
	closed bool
}

// request is a call.
type request struct {
	From string `json:"from"`
	Body []byte `json:"body"`
}

// answer is one part of a replica's answer.
type answer struct {
	Replica string `json:"replica"`
	Part    int    `json:"part"`
	Parts   int    `json:"parts"`
	Err     string `json:"err,omitempty"`
	Body    []byte `json:"body,omitempty"`
}

// Start subscribes to cfg.Prefix + "*", registers the replica (retried in the background when NATS
// cannot be reached) and watches the others until the context goFn passes ends.
func Start(cfg Config, goFn func(func(context.Context))) (*Peers, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	p := &Peers{cfg: cfg, work: make(chan struct{}, cfg.Workers), known: map[string]bool{}}
	sub, err := cfg.Conn.Subscribe(cfg.Prefix+"*", p.onCall)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s*: %w", cfg.Prefix, err)
	}
	if cfg.Conn.IsConnected() {
		// Registered before the service serves, so that the others count it from now on.
		_ = cfg.Conn.Flush()
		if err := p.register(context.Background()); err != nil {
			cfg.Log.Warn("replica not registered at start; retrying", "bucket", cfg.Bucket, "err", err)
		}
	}
	goFn(func(ctx context.Context) {
		p.watch(ctx)
		_ = sub.Unsubscribe()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.wg.Wait() // calls in flight end before the caller closes its store
	})
	return p, nil
}

// Name is this replica's name.
func (p *Peers) Name() string { return p.cfg.Name }

func (p *Peers) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	kv := p.kv
	p.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv, err := p.cfg.JS.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: p.cfg.Bucket, Description: p.cfg.Description, History: 1, Replicas: max(1, p.cfg.Replicas),
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.kv = kv
	p.mu.Unlock()
	return kv, nil
}

func (p *Peers) register(ctx context.Context) error {
	kv, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, _ := json.Marshal(struct {
		Started time.Time `json:"started"`
	}{time.Now().UTC()})
	_, err = kv.Put(ctx, p.cfg.Name, v)
	return err
}

// watch registers the replica (again, if that failed at start) and keeps known up to date
// until ctx ends, re-creating the watch when NATS fails.
func (p *Peers) watch(ctx context.Context) {
	registered := false
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		if !registered {
			registered = p.register(ctx) == nil
		}
		if registered {
			if err := p.watchOnce(ctx); err != nil {
				p.cfg.Log.Warn("watch of the replicas", "bucket", p.cfg.Bucket, "err", err)
			} else {
				wait = 100 * time.Millisecond
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (p *Peers) watchOnce(ctx context.Context) error {
	kv, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	// Deletes too: a replica removed for good (nats kv del BUCKET NAME) is no longer asked.
	w, err := kv.WatchAll(ctx, jetstream.MetaOnly())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	seen := map[string]bool{}
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil { // the keys there were when the watch started
				p.mu.Lock()
				p.known, p.ready = maps.Clone(seen), true
				p.mu.Unlock()
				initial = false
				continue
			}
			if e.Operation() == jetstream.KeyValuePut {
				seen[e.Key()] = true
			} else {
				delete(seen, e.Key())
			}
			if !initial {
				p.mu.Lock()
				p.known = maps.Clone(seen)
				p.mu.Unlock()
			}
		}
	}
}

// Others are the registered replicas but this one, sorted.
func (p *Peers) Others(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	known, ready := p.known, p.ready
	p.mu.Unlock()
	if !ready {
		kv, err := p.bucket(ctx)
		if err != nil {
			return nil, err
		}
		lister, err := kv.ListKeys(ctx)
		if err != nil {
			return nil, err
		}
		known = map[string]bool{}
		for k := range lister.Keys() {
			known[k] = true
		}
		if err := lister.Stop(); err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	var out []string
	for k := range known {
		if k != p.cfg.Name {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ErrUnreachable is Ask's error when the call could not be sent (NATS).
var ErrUnreachable = errors.New("the other replicas cannot be reached (NATS)")

// Ask sends body as method (on Config.Prefix + method) to every replica of others and waits, up to timeout, for each one's whole answer.
// answers holds the answers by replica (an answer with an error: in errs), silent the
// replicas that did not answer completely in time, sorted.
func (p *Peers) Ask(ctx context.Context, method string, body []byte, others []string, timeout time.Duration) (answers map[string][]byte, errs map[string]string, silent []string, err error) {
	answers, errs = map[string][]byte{}, map[string]string{}
	silent, err = p.AskEach(ctx, method, body, others, timeout, func(replica string, body []byte, errText string) bool {
		if errText != "" {
			errs[replica] = errText
		} else {
			answers[replica] = body
		}
		return false
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return answers, errs, silent, nil
}

// AskEach sends body as method (on Config.Prefix + method) to every replica of others and
// gives take each one's whole answer as it arrives (errText: the answer's error, body nil),
// until take returns true (stop: the first answer that settles the call), every replica
// answered, or timeout passed. silent names, sorted, the replicas that had not answered
// completely when the timeout passed; nil when take stopped the call or all answered.
func (p *Peers) AskEach(ctx context.Context, method string, body []byte, others []string, timeout time.Duration, take func(replica string, body []byte, errText string) (stop bool)) (silent []string, err error) {
	data, err := json.Marshal(request{From: p.cfg.Name, Body: body})
	if err != nil {
		return nil, err
	}
	nc := p.cfg.Conn
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(p.cfg.Prefix+method, inbox, data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	want := map[string]bool{}
	for _, r := range others {
		want[r] = true
	}
	parts := map[string][]byte{}
	next := map[string]int{}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for len(want) > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			for r := range want {
				silent = append(silent, r)
			}
			slices.Sort(silent)
			return silent, nil
		case m := <-ch:
			var a answer
			if json.Unmarshal(m.Data, &a) != nil || !want[a.Replica] || a.Part != next[a.Replica] {
				continue // not one asked, or a part out of order (NATS keeps one sender's order)
			}
			next[a.Replica]++
			parts[a.Replica] = append(parts[a.Replica], a.Body...)
			if a.Part+1 < a.Parts {
				continue
			}
			delete(want, a.Replica)
			whole := parts[a.Replica]
			delete(parts, a.Replica)
			if a.Err != "" {
				whole = nil
			}
			if take(a.Replica, whole, a.Err) {
				return nil, nil
			}
		}
	}
	return nil, nil
}

// onCall answers a call of another replica.
func (p *Peers) onCall(m *nats.Msg) {
	var r request
	if m.Reply == "" || json.Unmarshal(m.Data, &r) != nil || r.From == p.cfg.Name {
		return // its own call, or not one
	}
	method := m.Subject[len(p.cfg.Prefix):]
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	p.work <- struct{}{}
	go func() {
		defer func() { <-p.work; p.wg.Done() }()
		body, err := p.cfg.Handle(context.Background(), method, r.From, r.Body)
		if err := p.respond(m.Reply, body, err); err != nil {
			p.cfg.Log.Warn("answer a replica's call", "method", method, "from", r.From, "err", err)
		}
	}()
}

// respond sends body (or err) to reply in parts that each fit in one message.
func (p *Peers) respond(reply string, body []byte, herr error) error {
	nc := p.cfg.Conn
	if herr != nil {
		data, _ := json.Marshal(answer{Replica: p.cfg.Name, Parts: 1, Err: herr.Error()})
		return nc.Publish(reply, data)
	}
	// The envelope: JSON with the body in base64 (4/3) and the replica's name.
	size := int((nc.MaxPayload()-1024)*3/4) - len(p.cfg.Name)
	size = max(size, 1024)
	n := max(1, (len(body)+size-1)/size)
	for i := range n {
		chunk := body[i*size : min((i+1)*size, len(body))]
		data, err := json.Marshal(answer{Replica: p.cfg.Name, Part: i, Parts: n, Body: chunk})
		if err != nil {
			return err
		}
		if err := nc.Publish(reply, data); err != nil {
			return err
		}
	}
	return nil
}
