package rollup

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// statsFormat is the first byte of a binary Stats; a JSON one starts with '{'.
const statsFormat byte = 1

// encode is the binary form of s: statsFormat, then its fields as varints in a fixed order,
// then the emotions (their number, then name length, name and count each, by name).
func (s Stats) encode() []byte {
	v := make([]byte, 0, 48+16*len(s.Emotions))
	v = append(v, statsFormat)
	for _, x := range [...]uint64{uint64(s.People), uint64(s.Count), uint64(s.Positive), uint64(s.Neutral), uint64(s.Negative)} {
		v = binary.AppendUvarint(v, x)
	}
	v = binary.AppendVarint(v, s.MicroSum)
	v = binary.AppendVarint(v, s.MicroSquares)
	for _, x := range [...]uint64{uint64(s.Promoters), uint64(s.Passives), uint64(s.Detractors), s.Version, uint64(s.Pending),
		uint64(s.ScoredPeople), uint64(s.ENPSPeople), uint64(s.PendingEpoch), uint64(s.OpenEpoch)} {
		v = binary.AppendUvarint(v, x)
	}
	v = binary.AppendUvarint(v, uint64(len(s.Emotions)))
	names := make([]string, 0, len(s.Emotions))
	for e := range s.Emotions {
		names = append(names, e)
	}
	slices.Sort(names)
	for _, e := range names {
		v = binary.AppendUvarint(v, uint64(len(e)))
		v = append(v, e...)
		v = binary.AppendUvarint(v, uint64(s.Emotions[e]))
	}
	return v
}

var errMalformed = errors.New("malformed record")

// decode reads a binary Stats, or a JSON one written by an earlier version.
func (s *Stats) decode(v []byte) error {
	*s = Stats{}
	if len(v) > 0 && v[0] == '{' {
		return json.Unmarshal(v, s)
	}
	if len(v) == 0 || v[0] != statsFormat {
		return fmt.Errorf("%w: unknown format", errMalformed)
	}
	v = v[1:]
	bad := false
	uv := func() uint64 {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			bad = true
			return 0
		}
		v = v[n:]
		return x
	}
	sv := func() int64 {
		x, n := binary.Varint(v)
		if n <= 0 {
			bad = true
			return 0
		}
		v = v[n:]
		return x
	}
	u32 := func() uint32 { return uint32(uv()) }
	s.People, s.Count, s.Positive, s.Neutral, s.Negative = u32(), u32(), u32(), u32(), u32()
	s.MicroSum, s.MicroSquares = sv(), sv()
	s.Promoters, s.Passives, s.Detractors = u32(), u32(), u32()
	s.Version = uv()
	s.Pending, s.ScoredPeople, s.ENPSPeople = u32(), u32(), u32()
	s.PendingEpoch, s.OpenEpoch = u32(), u32()
	n := uv()
	for i := uint64(0); i < n && !bad; i++ {
		l := uv()
		if bad || uint64(len(v)) < l {
			bad = true
			break
		}
		name := string(v[:l])
		v = v[l:]
		if s.Emotions == nil {
			s.Emotions = map[string]uint32{}
		}
		s.Emotions[name] = u32()
	}
	if bad {
		return errMalformed
	}
	return nil
}
