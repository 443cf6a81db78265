package feedback

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/bus"
	"github.com/voix-dev/voix/services/platform/consumer"
	"github.com/voix-dev/voix/services/platform/events"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Owners are told (issue 15). Events drive it, not a scan of the comments: the durable consumer
// feedback-notify reads voix.feedback.routed, overdue, action_created and action_due, and for
// each one queues a delivery per matching notification target (owner group, and a segment
// prefix that holds the event's segment) in the consumer's transaction, so that a redelivered
// event queues nothing twice. A sender then posts each queued delivery, retrying with a
// backoff that doubles up to a bound, and after the last attempt moves it to the dead letters,
// which ListDeadLetters lists.
//
// What a target is told: the kind, the segment (a comment's shown segment, never its
// author's), the owner group, the dimensions, the label, the risk flags, a plan's title and
// status, the comment or plan id to open in voix, and the day. Never a comment's text (a
// receiver reads it in voix, under voix's access rules), its author, follow-up token or time
// of day.

// SignatureHeader carries a WEBHOOK body's signature: "sha256=" and the hex HMAC-SHA256 of
// the body under the target's secret.
const SignatureHeader = "X-Voix-Signature"

// DeliveryHeader carries the delivery's id (event id and target id): the same on every retry,
// so that a receiver that got a delivery twice (the sender crashed after the post and before
// it recorded the success) can tell.
const DeliveryHeader = "X-Voix-Delivery"

// Defaults of NotifyConfig.
const (
	DefaultNotifyAttempts   = 8
	DefaultNotifyRetryDelay = 2 * time.Second
	DefaultNotifyMaxDelay   = 10 * time.Minute
	DefaultNotifyTimeout    = 10 * time.Second
	notifyParallel          = 8
	// notifyScan bounds the pending deliveries one round of the sender looks at: enough that
	// many deliveries waiting for a retry (a target down for hours) never hide a new one.
	notifyScan = 100_000
)

// NotifyConfig configures the delivery of notifications. Zero values take the defaults.
type NotifyConfig struct {
	// Attempts is how many times a delivery is tried before it becomes a dead letter.
	// Default DefaultNotifyAttempts (8).
	Attempts int
	// RetryDelay is the wait after the first failure; it doubles after each one, up to
	// MaxDelay. Defaults DefaultNotifyRetryDelay (2 s) and DefaultNotifyMaxDelay (10 min).
	RetryDelay, MaxDelay time.Duration
	// Timeout bounds one post. Default DefaultNotifyTimeout (10 s).
	Timeout time.Duration
	// Client posts the notifications. Default: an http.Client with Timeout that follows no
	// redirect (a redirect is a failure: a notification goes only where hr pointed it), uses no
	// proxy, and refuses to connect to an address the egress rule refuses (egress.go). A
	// Client given here is used as it is: the dial-time check is then the caller's.
	Client *http.Client
	// Allow lists what notification targets may reach although the egress rule refuses it
	// (loopback, link-local, private, metadata): IPs ("127.0.0.1"), CIDR ranges
	// ("10.20.0.0/16") and host names ("hooks.internal"). Default: none. Flag --notify-allow.
	Allow []string
}

func (c *NotifyConfig) defaults() {
	if c.Attempts <= 0 {
		c.Attempts = DefaultNotifyAttempts
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = DefaultNotifyRetryDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultNotifyMaxDelay
	}
	if c.MaxDelay < c.RetryDelay {
		c.MaxDelay = c.RetryDelay
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultNotifyTimeout
	}
}

// notifier is the sender's state: which deliveries are being posted, and when each failed one
// may be tried again. Retry times live in memory only (a restart retries at once): stored,
// they would be instants next to a comment id.
type notifier struct {
	cfg      NotifyConfig
	egress   egress
	badAllow error // a malformed Allow entry: startNotify fails with it
	wake     chan struct{}
	mu       sync.Mutex
	inflight map[string]bool
	notUntil map[string]time.Time
}

func newNotifier(cfg NotifyConfig) *notifier {
	cfg.defaults()
	eg, err := parseEgress(cfg.Allow)
	if cfg.Client == nil {
		cfg.Client = eg.client(cfg.Timeout)
	}
	return &notifier{cfg: cfg, egress: eg, badAllow: err, wake: make(chan struct{}, 1), inflight: map[string]bool{}, notUntil: map[string]time.Time{}}
}

// forget drops the retry times of deliveries that are no longer pending (their target was
// deleted).
func (n *notifier) forget(pending [][]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.notUntil) == 0 {
		return
	}
	keep := make(map[string]bool, len(pending))
	for _, k := range pending {
		keep[string(k)] = true
	}
	for id := range n.notUntil {
		if !keep[id] {
			delete(n.notUntil, id)
		}
	}
}

func (n *notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// startNotify starts the feedback-notify consumer and the sender.
func (s *Service) startNotify() error {
	if s.notify.badAllow != nil {
		return fmt.Errorf("feedback: %w", s.notify.badAllow)
	}
	err := s.host.Consume(consumer.Config{
		Stream:  events.Feedback.Name,
		Durable: events.DurableFeedbackNotify,
		FilterSubjects: []string{
			events.FeedbackRouted.All(), events.FeedbackOverdue.All(),
			events.FeedbackActionCreated.All(), events.FeedbackActionDue.All(),
		},
		Handle: s.applyNotify, // writes only in tx (the sender is poked on commit): safe in groups
		Log:    s.host.Log,
		Group:  applyGroup,
	})
	if err != nil {
		return err
	}
	s.host.Go(s.sendLoop)
	return nil
}

// applyScoredAndRoute is the feedback-scored handler: applyScored, then, when the comment got
// a new owner group or its first risk flags, FeedbackRouted on its shown segment, in the same
// transaction. Its id names the comment and the owner, so a redelivered score queues nothing
// new.
func (s *Service) applyScoredAndRoute(tx *bolt.Tx, ev bus.Event) error {
	if err := s.configReady(); err != nil { // replicas: route by the shared rules only (sharedconfig.go)
		return err
	}
	var it eventsv1.ItemScored
	before := (*store.Comment)(nil)
	if proto.Unmarshal(ev.Data, &it) == nil && it.Kind == eventsv1.ItemKind_ITEM_KIND_FEEDBACK {
		if c, err := store.GetComment(tx, it.ItemId); err == nil {
			before = c
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if err := s.applyScored(tx, ev); err != nil || before == nil {
		return err
	}
	after, err := store.GetComment(tx, before.ID)
	if err != nil {
		return err
	}
	newOwner := after.OwnerGroup != "" && after.OwnerGroup != before.OwnerGroup
	newRisk := len(after.Risks) > 0 && len(before.Risks) == 0 && after.OwnerGroup != ""
	if !newOwner && !newRisk {
		return nil
	}
	_, shown, err := s.view(tx, after)
	if err != nil {
		return err
	}
	day := today(s.cfg.Now())
	out := &eventsv1.FeedbackRouted{
		FeedbackId: after.ID, Segment: shown.String(), OwnerGroup: after.OwnerGroup,
		Dimensions: after.Dimensions, Label: after.SentimentLabel, Risks: after.Risks, RoutedDay: timestamppb.New(day),
	}
	return s.unsafePublish(tx, events.FeedbackRouted, events.RoutedID(after.ID, after.OwnerGroup), shown, day, out)
}

// notification maps an event the notify consumer reads to what targets are told; ok false for
// an event that tells nobody (an overdue comment without an owner).
func notification(ev bus.Event) (store.Notification, bool, error) {
	perm := func(err error) error {
		return fmt.Errorf("decode %s: %v: %w", ev.Type, err, consumer.ErrPermanent)
	}
	day := func(t *timestamppb.Timestamp) string { return t.AsTime().UTC().Format(time.DateOnly) }
	switch ev.Type {
	case events.FeedbackRouted.Type:
		var m eventsv1.FeedbackRouted
		if err := proto.Unmarshal(ev.Data, &m); err != nil {
			return store.Notification{}, false, perm(err)
		}
		n := store.Notification{Kind: "routed", LinkID: m.FeedbackId, Segment: m.Segment, OwnerGroup: m.OwnerGroup,
			Label: labelName(m.Label), Day: day(m.RoutedDay)}
		for _, d := range m.Dimensions {
			n.Dimensions = append(n.Dimensions, strings.TrimPrefix(d.String(), "DIMENSION_"))
		}
		for _, r := range m.Risks {
			n.Risks = append(n.Risks, strings.TrimPrefix(r.String(), "RISK_FLAG_"))
		}
		return n, m.OwnerGroup != "", nil
	case events.FeedbackOverdue.Type:
		var m eventsv1.FeedbackOverdue
		if err := proto.Unmarshal(ev.Data, &m); err != nil {
			return store.Notification{}, false, perm(err)
		}
		return store.Notification{Kind: "overdue", LinkID: m.FeedbackId, Segment: m.Segment, OwnerGroup: m.OwnerGroup,
			Status:   strings.TrimPrefix(m.Status.String(), "FEEDBACK_STATUS_"),
			Deadline: strings.ToLower(strings.TrimPrefix(m.Deadline.String(), "DEADLINE_")), Day: day(m.DueDay)}, m.OwnerGroup != "", nil
	case events.FeedbackActionCreated.Type, events.FeedbackActionDue.Type:
		var m eventsv1.ActionPlanChanged
		if err := proto.Unmarshal(ev.Data, &m); err != nil {
			return store.Notification{}, false, perm(err)
		}
		kind := "action_created"
		if ev.Type == events.FeedbackActionDue.Type {
			kind = "action_due"
		}
		n := store.Notification{Kind: kind, LinkID: m.PlanId, Segment: m.Segment, OwnerGroup: m.OwnerGroup, Title: m.Title,
			Status: strings.TrimPrefix(feedbackv1.ActionPlanStatus(m.Status).String(), "ACTION_PLAN_STATUS_"), Day: day(m.ChangedDay)}
		if m.Dimension != commonv1.Dimension_DIMENSION_UNSPECIFIED {
			n.Dimensions = []string{strings.TrimPrefix(m.Dimension.String(), "DIMENSION_")}
		}
		return n, m.OwnerGroup != "", nil
	}
	return store.Notification{}, false, nil
}

func labelName(l commonv1.SentimentLabel) string {
	if l == commonv1.SentimentLabel_SENTIMENT_LABEL_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(l.String(), "SENTIMENT_LABEL_")
}

// applyNotify is the feedback-notify handler: it queues one delivery of ev per target of its
// owner group whose prefix holds its segment. Keys name the event and the target, so even an
// event applied again (its id pruned from processed_events) queues nothing twice while the
// first is pending.
func (s *Service) applyNotify(tx *bolt.Tx, ev bus.Event) error {
	n, ok, err := notification(ev)
	if err != nil || !ok {
		return err
	}
	seg, err := segment.Parse(n.Segment)
	if err != nil {
		return fmt.Errorf("%s %s: segment: %v: %w", ev.Type, ev.ID, err, consumer.ErrPermanent)
	}
	targets, err := store.AllTargets(tx)
	if err != nil {
		return err
	}
	queued := false
	for _, t := range targets {
		if t.OwnerGroup != n.OwnerGroup || !seg.Within(t.Prefix) {
			continue
		}
		d := &store.Delivery{Key: store.DeliveryKey(ev.ID, t.ID), TargetID: t.ID, Note: n, Prefix: t.Prefix.String()}
		added, err := store.UnsafeAddDelivery(tx, d)
		if err != nil {
			return err
		}
		queued = queued || added
	}
	if queued {
		tx.OnCommit(s.notify.poke)
	}
	return nil
}

// sendLoop posts the queued deliveries: on every commit that queued one, after each post, and
// every second, it starts those that are neither being posted nor waiting for their retry, at
// most notifyParallel at once.
func (s *Service) sendLoop(ctx context.Context) {
	n := s.notify
	sem := make(chan struct{}, notifyParallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var timer *time.Timer
	for {
		var keys [][]byte
		err := s.host.DB.View(func(tx *bolt.Tx) error {
			var err error
			keys, err = store.PendingDeliveries(tx, notifyScan)
			return err
		})
		if err != nil {
			s.host.Log.Error("list pending deliveries", "err", err)
		}
		now := time.Now()
		var next time.Time
		n.forget(keys)
		for _, k := range keys {
			id := string(k)
			n.mu.Lock()
			busy := n.inflight[id]
			until, waiting := n.notUntil[id]
			if !busy && (!waiting || !now.Before(until)) {
				n.inflight[id] = true
				delete(n.notUntil, id)
				busy = true
				n.mu.Unlock()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					s.deliver(ctx, k)
					n.mu.Lock()
					delete(n.inflight, id)
					n.mu.Unlock()
					n.poke()
				}()
				continue
			}
			n.mu.Unlock()
			if waiting && !busy && (next.IsZero() || until.Before(next)) {
				next = until
			}
		}
		var retry <-chan time.Time
		if !next.IsZero() {
			if timer == nil {
				timer = time.NewTimer(time.Until(next))
			} else {
				timer.Reset(time.Until(next))
			}
			retry = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-tick.C:
		case <-retry:
		}
	}
}

// deliver posts one delivery and records the outcome: success deletes it, a failure counts an
// attempt and schedules the next (or buries it after the last). A post cut short by the
// service closing records nothing: the next start tries again.
func (s *Service) deliver(ctx context.Context, key []byte) {
	var d *store.Delivery
	var t store.Target
	gone := false
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		var err error
		if d, err = store.GetDelivery(tx, key); err != nil {
			return err
		}
		t, err = store.GetTarget(tx, d.TargetID)
		if errors.Is(err, store.ErrNotFound) {
			gone, err = true, nil
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return // delivered or dropped meanwhile
	}
	if err != nil {
		s.host.Log.Error("read delivery", "err", err)
		return
	}
	if gone {
		s.recordDelivery(key, func(tx *bolt.Tx, _ *store.Delivery) error { return store.UnsafeDeleteDelivery(tx, key) })
		return
	}
	failure := s.post(ctx, t, key, d.Note)
	if failure == "" {
		// Recorded even when the service is closing (it waits for this goroutine): otherwise
		// the next start would post a delivery the receiver has already taken.
		s.recordDelivery(key, func(tx *bolt.Tx, _ *store.Delivery) error { return store.UnsafeDeleteDelivery(tx, key) })
		return
	}
	if ctx.Err() != nil {
		return
	}
	cfg := s.notify.cfg
	s.host.Log.Warn("notification not delivered", "kind", d.Note.Kind, "attempt", d.Attempts+1, "failure", failure)
	s.recordDelivery(key, func(tx *bolt.Tx, cur *store.Delivery) error {
		cur.Attempts++
		cur.LastError = failure
		if int(cur.Attempts) >= cfg.Attempts {
			return store.UnsafeBury(tx, cur, today(s.cfg.Now()))
		}
		delay := cfg.RetryDelay << min(cur.Attempts-1, 30)
		if delay <= 0 || delay > cfg.MaxDelay {
			delay = cfg.MaxDelay
		}
		s.notify.mu.Lock()
		s.notify.notUntil[string(key)] = time.Now().Add(delay)
		s.notify.mu.Unlock()
		return store.UnsafePutDelivery(tx, cur)
	})
}

// recordDelivery applies fn to the pending delivery of key in a write transaction; nothing
// when it is no longer pending.
func (s *Service) recordDelivery(key []byte, fn func(tx *bolt.Tx, d *store.Delivery) error) {
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		d, err := store.GetDelivery(tx, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(tx, d)
	})
	if err != nil {
		s.host.Log.Error("record delivery", "err", err)
	}
}

// deliveryID is a delivery's key as the API and the receivers see it: "<event id>|<target id>".
func deliveryID(key []byte) string { return strings.Replace(string(key), "\x00", "|", 1) }

// webhookBody is what a WEBHOOK target receives.
type webhookBody struct {
	ID string `json:"id"`
	store.Notification
}

// slackText is the one line a Slack target shows.
func slackText(n store.Notification) string {
	var b strings.Builder
	switch n.Kind {
	case "routed":
		fmt.Fprintf(&b, "New comment for %s in %s", n.OwnerGroup, n.Segment)
	case "overdue":
		fmt.Fprintf(&b, "Comment overdue (%s) for %s in %s, still %s", n.Deadline, n.OwnerGroup, n.Segment, n.Status)
	case "action_created":
		fmt.Fprintf(&b, "New action plan for %s in %s: %q", n.OwnerGroup, n.Segment, n.Title)
	case "action_due":
		fmt.Fprintf(&b, "Action plan due for %s in %s: %q, still %s", n.OwnerGroup, n.Segment, n.Title, n.Status)
	default:
		fmt.Fprintf(&b, "%s for %s in %s", n.Kind, n.OwnerGroup, n.Segment)
	}
	var tags []string
	tags = append(tags, n.Dimensions...)
	if n.Label != "" {
		tags = append(tags, n.Label)
	}
	if len(tags) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(tags, ", "))
	}
	if len(n.Risks) > 0 {
		fmt.Fprintf(&b, ". Risk flags: %s", strings.Join(n.Risks, ", "))
	}
	fmt.Fprintf(&b, ". Open %s in voix.", n.LinkID)
	return b.String()
}

// post sends one notification to t and returns "" on a 2xx answer, else what failed: an HTTP
// status or a transport error class, never a response body.
func (s *Service) post(ctx context.Context, t store.Target, key []byte, n store.Notification) string {
	var body []byte
	var err error
	switch t.Kind {
	case feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_SLACK_WEBHOOK:
		body, err = json.Marshal(map[string]string{"text": slackText(n)})
	default:
		body, err = json.Marshal(webhookBody{ID: deliveryID(key), Notification: n})
	}
	if err != nil {
		return "encode"
	}
	ctx, cancel := context.WithTimeout(ctx, s.notify.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return "bad url"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "voix-feedback")
	req.Header.Set(DeliveryHeader, deliveryID(key))
	if t.Kind == feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK {
		req.Header.Set(SignatureHeader, Sign(t.Secret, body))
	}
	resp, err := s.notify.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(err, errEgressRefused) {
			return "refused: the address is not allowed (--notify-allow)"
		}
		if ctx.Err() != nil {
			return "timeout"
		}
		return "transport error"
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return ""
}

// Sign is the X-Voix-Signature of body under secret: "sha256=" and the hex HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
