package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/platform/segment"
)

// Target is where an owner group of a segment subtree is told: a Slack incoming webhook or a
// generic webhook signed with Secret.
type Target struct {
	ID         string
	OwnerGroup string
	Prefix     segment.Path
	Kind       feedbackv1.NotificationTargetKind
	URL        string
	// Secret signs a WEBHOOK's bodies (HMAC-SHA256); nil for Slack.
	Secret []byte
}

type targetJSON struct {
	ID         string `json:"id"`
	OwnerGroup string `json:"owner_group"`
	Prefix     string `json:"segment_prefix"`
	Kind       int32  `json:"kind"`
	URL        string `json:"url"`
	Secret     []byte `json:"secret,omitempty"`
}

func decodeTarget(id, v []byte) (Target, error) {
	var j targetJSON
	if err := json.Unmarshal(v, &j); err != nil {
		return Target{}, fmt.Errorf("store: decode target %s: %w", id, err)
	}
	p, err := segment.Parse(j.Prefix)
	if err != nil {
		return Target{}, fmt.Errorf("store: target %s: %w", id, err)
	}
	return Target{ID: j.ID, OwnerGroup: j.OwnerGroup, Prefix: p, Kind: feedbackv1.NotificationTargetKind(j.Kind), URL: j.URL, Secret: j.Secret}, nil
}

// UnsafePutTarget stores t under t.ID.
func UnsafePutTarget(tx WriteTx, t Target) error {
	bk, err := Targets.writable(tx)
	if err != nil {
		return err
	}
	if t.ID == "" || t.Prefix.IsZero() {
		return fmt.Errorf("store: target %q without an id or a prefix", t.ID)
	}
	data, err := json.Marshal(targetJSON{ID: t.ID, OwnerGroup: t.OwnerGroup, Prefix: t.Prefix.String(), Kind: int32(t.Kind), URL: t.URL, Secret: t.Secret})
	if err != nil {
		return err
	}
	return bk.Put([]byte(t.ID), data)
}

// GetTarget returns target id, or ErrNotFound.
func GetTarget(tx ReadTx, id string) (Target, error) {
	bk, err := Targets.in(tx)
	if err != nil {
		return Target{}, err
	}
	v := bk.Get([]byte(id))
	if v == nil {
		return Target{}, fmt.Errorf("%w: target %q", ErrNotFound, id)
	}
	return decodeTarget([]byte(id), v)
}

// UnsafeDeleteTarget deletes target id and its pending deliveries.
func UnsafeDeleteTarget(tx WriteTx, id string) error {
	bk, err := Targets.writable(tx)
	if err != nil {
		return err
	}
	if err := bk.Delete([]byte(id)); err != nil {
		return err
	}
	ds, err := Deliveries.writable(tx)
	if err != nil {
		return err
	}
	var drop [][]byte
	err = ds.ForEach(func(k, v []byte) error {
		if _, t, ok := bytes.Cut(k, []byte{0}); ok && string(t) == id {
			drop = append(drop, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := ds.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// AllTargets returns every notification target, in id order. Targets are few (a handful per
// owner group), so matching and listing read them all.
func AllTargets(tx ReadTx) ([]Target, error) {
	bk, err := Targets.in(tx)
	if err != nil {
		return nil, err
	}
	var out []Target
	err = bk.ForEach(func(k, v []byte) error {
		t, err := decodeTarget(k, v)
		if err != nil {
			return err
		}
		out = append(out, t)
		return nil
	})
	return out, err
}

// Notification is what a target is told: never a comment's text or author, days only.
type Notification struct {
	// Kind is "routed", "overdue", "action_created", "action_updated" or "action_due".
	Kind       string   `json:"kind"`
	LinkID     string   `json:"link_id"`
	Segment    string   `json:"segment"`
	OwnerGroup string   `json:"owner_group"`
	Dimensions []string `json:"dimensions,omitempty"`
	Label      string   `json:"label,omitempty"`
	Risks      []string `json:"risks,omitempty"`
	// Title and Status are a plan's; Status is also an overdue comment's.
	Title  string `json:"title,omitempty"`
	Status string `json:"status,omitempty"`
	// Deadline is an overdue comment's ("acknowledge", "resolve").
	Deadline string `json:"deadline,omitempty"`
	// Day is the event's day, "2006-01-02".
	Day string `json:"day"`
}

// Delivery is a notification on its way to one target.
type Delivery struct {
	// Key is the delivery's key: the event id, 0x00, the target id.
	Key      []byte       `json:"-"`
	TargetID string       `json:"target_id"`
	Note     Notification `json:"note"`
	Attempts uint32       `json:"attempts,omitempty"`
	// LastError is an HTTP status or a transport error class, never a body.
	LastError string `json:"last_error,omitempty"`
	// Prefix is the target's segment prefix (for listing dead letters by prefix).
	Prefix string `json:"segment_prefix"`
	// DeadDay is the day it was given up on; zero while pending.
	DeadDay string `json:"dead_day,omitempty"`
}

// DeliveryKey is the key of the delivery of event eventID to target targetID.
func DeliveryKey(eventID, targetID string) []byte {
	return append(append([]byte(eventID), 0), targetID...)
}

// UnsafePutDelivery stores d under d.Key, unless a delivery of that key is already pending:
// a redelivered event queues nothing twice.
func UnsafePutDelivery(tx WriteTx, d *Delivery) error {
	bk, err := Deliveries.writable(tx)
	if err != nil {
		return err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return bk.Put(bytes.Clone(d.Key), data)
}

// UnsafeAddDelivery stores d unless a delivery of its key is pending, and reports whether it
// did.
func UnsafeAddDelivery(tx WriteTx, d *Delivery) (bool, error) {
	bk, err := Deliveries.writable(tx)
	if err != nil {
		return false, err
	}
	if bk.Get(d.Key) != nil {
		return false, nil
	}
	return true, UnsafePutDelivery(tx, d)
}

// GetDelivery returns the pending delivery of key, or ErrNotFound.
func GetDelivery(tx ReadTx, key []byte) (*Delivery, error) {
	bk, err := Deliveries.in(tx)
	if err != nil {
		return nil, err
	}
	v := bk.Get(key)
	if v == nil {
		return nil, fmt.Errorf("%w: delivery", ErrNotFound)
	}
	d := &Delivery{Key: bytes.Clone(key)}
	if err := json.Unmarshal(v, d); err != nil {
		return nil, fmt.Errorf("store: decode delivery: %w", err)
	}
	return d, nil
}

// PendingDeliveries returns the keys of up to limit pending deliveries, in key order.
func PendingDeliveries(tx ReadTx, limit int) ([][]byte, error) {
	bk, err := Deliveries.in(tx)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	c := bk.Cursor()
	for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
		out = append(out, bytes.Clone(k))
	}
	return out, nil
}

// UnsafeDeleteDelivery deletes the pending delivery of key.
func UnsafeDeleteDelivery(tx WriteTx, key []byte) error {
	bk, err := Deliveries.writable(tx)
	if err != nil {
		return err
	}
	return bk.Delete(key)
}

// DeadLetterKey is a dead letter's key: its day (big-endian Unix seconds), then the delivery
// key, so that dead letters list oldest first.
func DeadLetterKey(day time.Time, deliveryKey []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(day.Unix())), deliveryKey...)
}

// UnsafeBury moves the pending delivery d to the dead letters, given up on on day.
func UnsafeBury(tx WriteTx, d *Delivery, day time.Time) error {
	if err := UnsafeDeleteDelivery(tx, d.Key); err != nil {
		return err
	}
	bk, err := DeadLetters.writable(tx)
	if err != nil {
		return err
	}
	d.DeadDay = formatDay(day)
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return bk.Put(DeadLetterKey(day, d.Key), data)
}

// ScanDeadLetters calls fn with each dead letter after the key `after` (from the first if
// nil), oldest first, until fn returns false.
func ScanDeadLetters(tx ReadTx, after []byte, fn func(k []byte, d *Delivery) (bool, error)) error {
	bk, err := DeadLetters.in(tx)
	if err != nil {
		return err
	}
	c := bk.Cursor()
	var k, v []byte
	if after == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(append(bytes.Clone(after), 0))
	}
	for ; k != nil; k, v = c.Next() {
		if len(k) < 8 {
			continue
		}
		d := &Delivery{Key: bytes.Clone(k[8:])}
		if err := json.Unmarshal(v, d); err != nil {
			return fmt.Errorf("store: decode dead letter: %w", err)
		}
		more, err := fn(k, d)
		if err != nil || !more {
			return err
		}
	}
	return nil
}
