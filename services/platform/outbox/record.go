package outbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/voix-dev/voix/services/platform/bus"
)

// The stored form of an event. Records are written in a binary form: the byte recordBinary,
// then ID, Type, Source and Subject (each a uvarint length and the bytes), Time (a varint of
// Unix seconds and a uvarint of nanoseconds) and Data (a uvarint length and the bytes). Every
// event of a submission is encoded here and decoded by the relay: JSON, with Data in base64,
// cost a submission more than the bbolt put of its record. Records written before in JSON
// (they start with '{') are still read, so an outbox left by an older version drains.
const recordBinary byte = 0x01

// jsonRecord is the JSON form of records written before the binary one.
type jsonRecord struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Subject string    `json:"subject"`
	Time    time.Time `json:"time"`
	Data    []byte    `json:"data,omitempty"`
}

// encodeRecord is the binary form of ev, whose Time is already the day (Prepare).
func encodeRecord(ev bus.Event) []byte {
	n := 1 + 5*binary.MaxVarintLen64 + 2*binary.MaxVarintLen64 + len(ev.ID) + len(ev.Type) + len(ev.Source) + len(ev.Subject) + len(ev.Data)
	b := make([]byte, 0, n)
	b = append(b, recordBinary)
	for _, s := range [...]string{ev.ID, ev.Type, ev.Source, ev.Subject} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, ev.Time.Unix())
	b = binary.AppendUvarint(b, uint64(ev.Time.Nanosecond()))
	b = binary.AppendUvarint(b, uint64(len(ev.Data)))
	return append(b, ev.Data...)
}

var errTruncated = errors.New("truncated record")

// DecodeRecord returns the event stored in an outbox record value, in either form. It copies
// what it keeps out of v, which may be a bbolt value valid only inside its transaction. For
// tests and tools that read the outbox bucket; the relay uses it too.
func DecodeRecord(v []byte) (bus.Event, error) {
	if len(v) > 0 && v[0] == '{' {
		var r jsonRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return bus.Event{}, err
		}
		return bus.Event{ID: r.ID, Type: r.Type, Source: r.Source, Subject: r.Subject, Time: r.Time, Data: r.Data}, nil
	}
	if len(v) == 0 || v[0] != recordBinary {
		return bus.Event{}, fmt.Errorf("unknown record form (first byte %#x)", firstByte(v))
	}
	rest := v[1:]
	bytesField := func() ([]byte, error) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, errTruncated
		}
		f := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return f, nil
	}
	var strs [4]string
	for i := range strs {
		f, err := bytesField()
		if err != nil {
			return bus.Event{}, err
		}
		strs[i] = string(f) // a copy
	}
	sec, k := binary.Varint(rest)
	if k <= 0 {
		return bus.Event{}, errTruncated
	}
	rest = rest[k:]
	nsec, k := binary.Uvarint(rest)
	if k <= 0 || nsec >= uint64(time.Second) {
		return bus.Event{}, errTruncated
	}
	rest = rest[k:]
	data, err := bytesField()
	if err != nil {
		return bus.Event{}, err
	}
	if len(rest) != 0 {
		return bus.Event{}, fmt.Errorf("%d bytes after the record", len(rest))
	}
	ev := bus.Event{ID: strs[0], Type: strs[1], Source: strs[2], Subject: strs[3], Time: time.Unix(sec, int64(nsec)).UTC()}
	if len(data) > 0 {
		ev.Data = append([]byte(nil), data...)
	}
	return ev, nil
}

func firstByte(v []byte) byte {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}
