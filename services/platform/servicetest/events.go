package servicetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/services/platform/bus"
)

// JetStream connects a test client to the Env's NATS; it closes in t.Cleanup.
func (e *Env) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(e.NATS.ClientURL())
	if err != nil {
		t.Fatalf("servicetest: connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("servicetest: jetstream: %v", err)
	}
	return js
}

// NextEvent reads the first event on subject from stream, waiting up to ten seconds for an
// outbox relay to publish it.
func (e *Env) NextEvent(t testing.TB, stream, subject string) jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cons, err := e.JetStream(t).OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatalf("servicetest: consumer on %s: %v", subject, err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("servicetest: no event on %s: %v", subject, err)
	}
	return msg
}

// PublishedIDs lists the event ids (Nats-Msg-Id) stream holds on subject, in stream order.
func (e *Env) PublishedIDs(t testing.TB, stream, subject string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := e.JetStream(t)
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("servicetest: stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatalf("servicetest: stream info: %v", err)
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	if n == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		t.Fatalf("servicetest: consumer on %s: %v", subject, err)
	}
	// In batches: each fetch of an ordered consumer creates a consumer on the server, which
	// counts what the filter leaves pending in the whole stream (a Next per message made
	// reading 10,000 events take seconds).
	ids := make([]string, 0, n)
	for len(ids) < n {
		batch, err := cons.Fetch(min(n-len(ids), 1_000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("servicetest: read %s: %v", subject, err)
		}
		got := 0
		for msg := range batch.Messages() {
			ids = append(ids, msg.Headers().Get(bus.HeaderMsgID))
			got++
		}
		if err := batch.Error(); err != nil || got == 0 {
			t.Fatalf("servicetest: read %s: %d of %d events, then %v", subject, len(ids), n, err)
		}
	}
	return ids
}

// FindSecret looks for secret in b, raw and in the encodings a careless program would use,
// and names the encoding it found.
func FindSecret(b []byte, secret string) (string, bool) {
	for name, n := range map[string]string{
		"raw":          secret,
		"lower":        strings.ToLower(secret),
		"hex":          hex.EncodeToString([]byte(secret)),
		"HEX":          strings.ToUpper(hex.EncodeToString([]byte(secret))),
		"base64":       base64.StdEncoding.EncodeToString([]byte(secret)),
		"base64 raw":   base64.RawStdEncoding.EncodeToString([]byte(secret)),
		"base64url":    base64.URLEncoding.EncodeToString([]byte(secret)),
		"base64url nr": base64.RawURLEncoding.EncodeToString([]byte(secret)),
	} {
		if bytes.Contains(b, []byte(n)) {
			return name, true
		}
	}
	return "", false
}
