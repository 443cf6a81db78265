package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Header names of the envelope: the JetStream dedup id and CloudEvents binary-mode attributes.
const (
	HeaderMsgID       = jetstream.MsgIDHeader // "Nats-Msg-Id"
	HeaderSpecVersion = "ce-specversion"
	HeaderID          = "ce-id"
	HeaderType        = "ce-type"
	HeaderSource      = "ce-source"
	HeaderTime        = "ce-time"
	HeaderContentType = "content-type"

	SpecVersion         = "1.0"
	ContentTypeProtobuf = "application/protobuf"
)

// ErrInvalidEvent is wrapped by every error about a malformed Event or message envelope.
var ErrInvalidEvent = errors.New("bus: invalid event")

// Event is one event of the contract, as published and as consumed.
type Event struct {
	// ID identifies the event: it is both Nats-Msg-Id (JetStream dedup) and ce-id (consumer
	// dedup). Required; the same logical event must keep the same ID across retries.
	ID string
	// Type is the CloudEvents type, e.g. "voix.feedback.submitted.v1". Required.
	Type string
	// Source is the CloudEvents source, e.g. "voix/feedback". Required.
	Source string
	// Subject is the NATS subject, e.g. "voix.feedback.submitted.acme.eng". Required.
	Subject string
	// Time is when the event happened. Zero means now, at publish (the outbox fixes it when the
	// event is added, so retries carry the same time).
	Time time.Time
	// Data is the protobuf payload.
	Data []byte
}

// Validate reports the first missing or malformed field.
func (ev Event) Validate() error {
	switch {
	case ev.ID == "":
		return fmt.Errorf("%w: ID is required (it becomes Nats-Msg-Id and ce-id)", ErrInvalidEvent)
	case ev.Type == "":
		return fmt.Errorf("%w: Type is required (ce-type, e.g. voix.feedback.submitted.v1)", ErrInvalidEvent)
	case ev.Source == "":
		return fmt.Errorf("%w: Source is required (ce-source, e.g. voix/feedback)", ErrInvalidEvent)
	case ev.Subject == "":
		return fmt.Errorf("%w: Subject is required (e.g. voix.feedback.submitted.acme.eng)", ErrInvalidEvent)
	case strings.ContainsAny(ev.Subject, "*> \t\r\n"):
		return fmt.Errorf("%w: Subject %q must be a literal subject (no wildcards or spaces)", ErrInvalidEvent, ev.Subject)
	case strings.ContainsAny(ev.ID, "\r\n"):
		return fmt.Errorf("%w: ID %q must not contain line breaks", ErrInvalidEvent, ev.ID)
	}
	return nil
}

// Day is the time an event carries: the start of the UTC day holding t (now, for a zero t).
// Events, like everything voix stores or shows, carry days, never instants: the order and
// the time of day of comments and answers must not be recoverable, or a reader could match
// them with who was online. It is applied here, for every event, so that no publisher can
// forget it.
func Day(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Header is the envelope of ev as NATS headers.
func (ev Event) Header() nats.Header {
	h := nats.Header{}
	h.Set(HeaderMsgID, ev.ID)
	h.Set(HeaderSpecVersion, SpecVersion)
	h.Set(HeaderID, ev.ID)
	h.Set(HeaderType, ev.Type)
	h.Set(HeaderSource, ev.Source)
	h.Set(HeaderTime, Day(ev.Time).Format(time.RFC3339))
	h.Set(HeaderContentType, ContentTypeProtobuf)
	return h
}

// Publish stores ev in its stream and returns once JetStream acknowledged it. A duplicate ack
// (the ID was already stored within DuplicateWindow) is a success: the event is there once.
// Without a deadline on ctx, the JetStream default timeout (5 s) applies.
func (b *Bus) Publish(ctx context.Context, ev Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	msg := &nats.Msg{Subject: ev.Subject, Data: ev.Data, Header: ev.Header()}
	ack, err := b.js.PublishMsg(ctx, msg)
	if err != nil {
		return fmt.Errorf("bus: publish %s: %w", ev.Type, b.connErr(err))
	}
	if ack == nil || ack.Stream == "" {
		return fmt.Errorf("bus: publish %s: no stream acknowledged it", ev.Type)
	}
	return nil
}

// EventFromMsg decodes the envelope of a JetStream message. It fails (wrapping
// ErrInvalidEvent) when the message has no id or type, or a malformed ce-time: such a message
// can never be processed and should be terminated, not retried.
func EventFromMsg(m jetstream.Msg) (Event, error) {
	return decode(m.Subject(), m.Headers(), m.Data())
}

// EventFromNATSMsg decodes the envelope of a core NATS message (a plain subscriber, such as an
// HR portal on voix.sentiment.updated.>).
func EventFromNATSMsg(m *nats.Msg) (Event, error) {
	return decode(m.Subject, m.Header, m.Data)
}

func decode(subject string, h nats.Header, data []byte) (Event, error) {
	ev := Event{
		ID:      h.Get(HeaderID),
		Type:    h.Get(HeaderType),
		Source:  h.Get(HeaderSource),
		Subject: subject,
		Data:    data,
	}
	if ev.ID == "" {
		ev.ID = h.Get(HeaderMsgID)
	}
	if ev.ID == "" {
		return Event{}, fmt.Errorf("%w: a message has neither %s nor %s", ErrInvalidEvent, HeaderID, HeaderMsgID)
	}
	if ev.Type == "" {
		return Event{}, fmt.Errorf("%w: a message has no %s", ErrInvalidEvent, HeaderType)
	}
	if s := h.Get(HeaderTime); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Event{}, fmt.Errorf("%w: a message's %s is not RFC 3339", ErrInvalidEvent, HeaderTime)
		}
		ev.Time = t
	}
	return ev, nil
}

// ErrNotConnected wraps a publish that failed while the connection was down (nats.go then
// reports whatever check failed first, such as "headers not supported by this server").
var ErrNotConnected = errors.New("not connected to NATS")

// connErr is err, said plainly when the connection is down.
func (b *Bus) connErr(err error) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("%w (%w)", ErrNotConnected, err)
	}
	return err
}

// PublishTimeout bounds a publish (or each batch) whose context has no deadline.
const PublishTimeout = 5 * time.Second

// PublishBatch publishes evs in order without waiting for each ack before sending the next,
// then waits for the acks. It returns how many events, from the first, are acknowledged, and
// the error that stopped it. Events after a failed one may also have been stored: republishing
// them with the same ids is then absorbed by JetStream's duplicate window.
func (b *Bus) PublishBatch(ctx context.Context, evs []Event) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, PublishTimeout)
		defer cancel()
	}
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	var sendErr error
	for _, ev := range evs {
		if sendErr = ev.Validate(); sendErr != nil {
			break
		}
		f, err := b.js.PublishMsgAsync(&nats.Msg{Subject: ev.Subject, Data: ev.Data, Header: ev.Header()})
		if err != nil {
			sendErr = fmt.Errorf("bus: publish %s: %w", ev.Type, b.connErr(err))
			break
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		ev := evs[i]
		select {
		case ack := <-f.Ok():
			if ack == nil || ack.Stream == "" {
				return i, fmt.Errorf("bus: publish %s: no stream acknowledged it", ev.Type)
			}
		case err := <-f.Err():
			return i, fmt.Errorf("bus: publish %s: %w", ev.Type, err)
		case <-ctx.Done():
			return i, fmt.Errorf("bus: publish %s: waiting for ack: %w", ev.Type, ctx.Err())
		}
	}
	return len(futures), sendErr
}
