package store

import (
	"encoding/binary"
	"fmt"
)

// ConfigRevisions records, for a pulse replica (--replica), the revision of each entry of the
// shared configuration bucket (voix_config_pulse: surveys and their state) applied to this
// store: key = the bucket's key ("survey.<id>"), value = big-endian uint64 revision. An entry
// is applied only when its revision is higher, so a replayed or older value changes nothing.
var ConfigRevisions = Bucket("config_revisions")

// AppliedRevision is the revision of the configuration entry key this store applied, 0 for
// none.
func AppliedRevision(tx ReadTx, key string) (uint64, error) {
	bk, err := ConfigRevisions.in(tx)
	if err != nil {
		return 0, err
	}
	v := bk.Get([]byte(key))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("store: config revision of %q: %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// UnsafeSetAppliedRevision records that the store holds revision rev of entry key.
func UnsafeSetAppliedRevision(tx WriteTx, key string, rev uint64) error {
	bk, err := ConfigRevisions.writable(tx)
	if err != nil {
		return err
	}
	return bk.Put([]byte(key), binary.BigEndian.AppendUint64(nil, rev))
}

// EncodeSurvey is a survey's value in the shared configuration bucket: its stored form.
func EncodeSurvey(s Survey) ([]byte, error) {
	return encode(fmt.Sprintf("survey %q", s.ID), s)
}

// DecodeSurvey reads a value EncodeSurvey wrote.
func DecodeSurvey(b []byte) (Survey, error) {
	var s Survey
	if err := decode("survey", b, &s); err != nil {
		return Survey{}, err
	}
	if s.ID == "" {
		return Survey{}, fmt.Errorf("store: decode survey: no id")
	}
	return s, nil
}
