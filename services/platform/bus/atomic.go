package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/voix-dev/voix/services/platform/events"
)

// Headers of a JetStream atomic batch (nats-server 2.12+, ADR-50).
const (
	headerBatchID     = "Nats-Batch-Id"
	headerBatchSeq    = "Nats-Batch-Sequence"
	headerBatchCommit = "Nats-Batch-Commit"
)

// MaxAtomicBatch is the most events PublishAtomic takes at once: the server's default limit
// of an atomic batch.
const MaxAtomicBatch = 1000

// ErrAtomicRefused wraps the server's refusal of an atomic batch. Nothing of the batch is
// stored. It happens when one of the events is already stored (a republish after a crash
// between the ack and the outbox's delete: an atomic batch with a duplicate is refused as a
// whole) or when the stream does not allow atomic publishes (an older server, a stream made
// by hand); the caller then publishes the events one by one (PublishBatch), where duplicates
// are absorbed.
var ErrAtomicRefused = errors.New("bus: atomic batch refused")

// PublishAtomic stores evs, which must all belong to one stream (StreamOf), as one JetStream
// atomic batch: all of them or none. With sync_interval always the server then syncs the
// batch once instead of once per message, so events stay durable before their ack without
// one fsync each. It returns nil once the batch is stored.
func (b *Bus) PublishAtomic(ctx context.Context, evs []Event) error {
	switch {
	case len(evs) == 0:
		return nil
	case len(evs) > MaxAtomicBatch:
		return fmt.Errorf("bus: atomic batch of %d events, at most %d", len(evs), MaxAtomicBatch)
	}
	stream := StreamOf(evs[0].Subject)
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			return err
		}
		if s := StreamOf(ev.Subject); s == "" || s != stream {
			return fmt.Errorf("bus: atomic batch spans streams %q and %q", stream, s)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, PublishTimeout)
		defer cancel()
	}
	// The server keeps Nats-Batch-Id in every stored message. A fresh id per batch would be a
	// value shared by exactly the events committed together, which no other header gives away
	// (docs/design.md, Anonymity): the id is therefore the same for every batch of a stream
	// and a source, as constant as ce-source. One relay per service publishes one batch at a
	// time, so two batches never share it in flight; a batch left incomplete by a lost
	// connection is dropped by the server when the next one starts at sequence 1 (that batch is
	// then refused, and the relay publishes it one by one).
	id := batchID(stream, evs[0].Source)
	for i, ev := range evs {
		m := &nats.Msg{Subject: ev.Subject, Data: ev.Data, Header: ev.Header()}
		m.Header.Set(headerBatchID, id)
		m.Header.Set(headerBatchSeq, strconv.Itoa(i+1))
		if i < len(evs)-1 {
			if err := b.nc.PublishMsg(m); err != nil {
				return fmt.Errorf("bus: atomic batch: %w", b.connErr(err))
			}
			continue
		}
		m.Header.Set(headerBatchCommit, "1")
		resp, err := b.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return fmt.Errorf("bus: atomic batch commit: %w", b.connErr(err))
		}
		var ack struct {
			Stream string `json:"stream"`
			Count  int    `json:"count"`
			Error  *struct {
				Code        int    `json:"code"`
				ErrCode     int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return fmt.Errorf("bus: atomic batch commit: undecodable answer: %w", err)
		}
		if ack.Error != nil {
			return fmt.Errorf("%w: %s (err_code %d)", ErrAtomicRefused, ack.Error.Description, ack.Error.ErrCode)
		}
		if ack.Stream == "" || ack.Count != len(evs) {
			return fmt.Errorf("bus: atomic batch commit: %d of %d events acknowledged", ack.Count, len(evs))
		}
	}
	return nil
}

// batchID is the constant atomic batch id of a stream and an event source (at most 64 bytes).
func batchID(stream, source string) string {
	id := "voix-relay-" + stream + "-" + strings.ReplaceAll(source, "/", "-")
	return id[:min(len(id), 64)]
}

// StreamOf is the name of the stream whose subjects hold subject, or "" for none.
func StreamOf(subject string) string {
	for _, st := range events.Streams() {
		if strings.HasPrefix(subject, strings.TrimSuffix(st.Subjects, ">")) {
			return st.Name
		}
	}
	return ""
}
