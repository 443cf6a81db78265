package analyzer

import (
	"cmp"
	"math/bits"
	"slices"
)

// phTable maps the feature keys of an unhashed model to their packed rows with a
// perfect hash: every key has a slot of its own, found with one small lookup (its
// bucket's pilot, in 64 KiB that stay in cache) and one probe, so a lookup reads one
// 16-byte slot wherever the key is, and a key the model lacks lands on a slot whose key
// differs and reads zeros. Keys whose weights all quantised to zero are left out:
// reading nothing and reading a row of zeros add the same.
//
// The construction is PTHash's (Pibiri and Trani, 2021): keys are grouped into buckets
// by bits 32 and up; buckets, largest first, each get the smallest pilot that sends all
// their keys to free slots. It is deterministic: the same keys give the same table.
type phTable struct {
	slots  []tableSlot // m slots in use, then empty ones up to a power of two (smask+1)
	pilots []uint16    // per bucket: bmask+1 of them
	bmask  uint64      // bucket of key k: (k >> 32) & bmask
	m      uint64      // slots in use: slotIn returns less
	smask  uint64      // len(slots) - 1, so that an index masked with it needs no bounds check
}

// tableSlot is a key and its row, biased (rowBias); an empty slot is key 0 with a row
// of zeros, which reads zero for any key, key 0 included, so it needs no mark.
type tableSlot struct{ k, w uint64 }

const (
	slotMul = 0xBF58476D1CE4E5B9 // odd: spreads every bit of the moved key into the top bits
)

// slotIn is the slot of key k with pilot p in a table of m slots: the top bits of a
// multiply (not a modulo) place it, and the pilot changes the key before the multiply,
// so keys that meet under one pilot part under another.
func slotIn(k uint64, p uint16, m uint64) uint64 {
	hi, _ := bits.Mul64((k^uint64(p))*slotMul, m)
	return hi
}

// packed returns the row of key k, 0 when the table does not have it.
func (t *phTable) packed(k uint64) uint64 {
	s := &t.slots[slotIn(k, t.pilots[(k>>32)&t.bmask], t.m)&t.smask]
	w := s.w
	if s.k != k {
		w = rowBias
	}
	return w ^ rowBias
}

// rowBias adds 128 to each weight of a row when XORed with it: rows are stored so,
// each weight in [0, 255], which model.accumulate adds as unsigned bytes.
const rowBias = 0x8080808080808080

// sum adds the rows of at most 256 keys in biased 16-bit lanes (model.accumulate):
// the even bytes of each row in even, the odd ones in odd. No read waits for another,
// so the reads of successive keys go out together. (Finding all the slots first, then
// reading them, took more instructions; so did two keys per turn of the loop, whose
// values no longer fit in registers.) Both indexes are masked with a length minus one,
// which leaves them as they are (slotIn is below m, at most len(slots)) and lets the
// compiler drop their bounds checks.
func (t *phTable) sum(keys []uint64) (even, odd uint64) {
	slots, pilots, m := t.slots, t.pilots, t.m
	if len(slots) == 0 || len(pilots) == 0 {
		return 0, 0 // never: a table has a slot and a bucket at least
	}
	smask, bmask := uint64(len(slots)-1), uint64(len(pilots)-1)
	for _, k := range keys {
		s := &slots[slotIn(k, pilots[(k>>32)&bmask], m)&smask]
		w := s.w
		if s.k != k {
			w = rowBias
		}
		even += w & laneMask
		odd += (w >> 8) & laneMask
	}
	return even, odd
}

// newPHTable places the keys whose rows are not zero. keys are distinct.
func newPHTable(keys, rows []uint64) *phTable {
	var live []uint64
	var liveRows []uint64
	for i, k := range keys {
		if rows[i] != 0 {
			live = append(live, k)
			liveRows = append(liveRows, rows[i])
		}
	}
	n := uint64(len(live))
	// About four keys per bucket and a table 6% larger than the keys: the pilots stay
	// small and the search short.
	nb := uint64(1) << max(bits.Len64(n/4), 1)
	t := &phTable{bmask: nb - 1}
	for m := n + n/16 + 1; ; m += m/32 + 1 {
		if t.place(live, liveRows, nb, m) {
			return t
		}
	}
}

// place tries a table of m slots; it fails when a bucket finds no pilot (never seen:
// the largest pilot the shipped model needs is about 1,300), and newPHTable then
// tries a larger table.
func (t *phTable) place(keys, rows []uint64, nb, m uint64) bool {
	t.m = m
	t.smask = uint64(1)<<bits.Len64(m-1) - 1
	t.slots = make([]tableSlot, t.smask+1)
	for i := range t.slots {
		t.slots[i].w = rowBias // key 0, a row of zeros
	}
	t.pilots = make([]uint16, nb)
	// Keys by bucket: start[b]..start[b+1] in order.
	start := make([]int, nb+1)
	for _, k := range keys {
		start[(k>>32)&t.bmask+1]++
	}
	for b := range nb {
		start[b+1] += start[b]
	}
	order := make([]int, len(keys)) // key indices, grouped by bucket
	fill := slices.Clone(start[:nb])
	for i, k := range keys {
		b := (k >> 32) & t.bmask
		order[fill[b]] = i
		fill[b]++
	}
	buckets := make([]int, nb)
	for b := range buckets {
		buckets[b] = b
	}
	slices.SortStableFunc(buckets, func(a, b int) int {
		return cmp.Compare(start[b+1]-start[b], start[a+1]-start[a])
	})
	taken := make([]uint64, (m+63)/64)
	var pos []uint64
	for _, b := range buckets {
		members := order[start[b]:start[b+1]]
		if len(members) == 0 {
			break
		}
		pos = slices.Grow(pos[:0], len(members))[:len(members)]
		found := false
	pilots:
		for p := range 1 << 16 {
			for j, i := range members {
				s := slotIn(keys[i], uint16(p), m)
				if taken[s>>6]&(1<<(s&63)) != 0 || slices.Contains(pos[:j], s) {
					continue pilots
				}
				pos[j] = s
			}
			for j, i := range members {
				s := pos[j]
				taken[s>>6] |= 1 << (s & 63)
				t.slots[s] = tableSlot{keys[i], rows[i] ^ rowBias}
			}
			t.pilots[b] = uint16(p)
			found = true
			break
		}
		if !found {
			return false
		}
	}
	return true
}
