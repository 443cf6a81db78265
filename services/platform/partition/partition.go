// Package partition runs one service as N replicas, each organisation owned by exactly one
// replica at a time. Organisations are spread over a fixed number of partitions by a hash of
// the organisation token of the event subjects (voix.<stream>.<kind>.<org>.<segment…>): the
// FNV-1a hash that nats-server's {{partition(n, …)}} subject transform uses, so the mapping is
// JetStream's own. Ownership of a partition is a lease in a JetStream key-value bucket, taken
// with compare-and-swap (Create when the key is absent, Update at the revision held) and
// expired by the server (the bucket's TTL) when its holder stops renewing it.
//
// Each replica keeps a complete materialised view of the partitions it owns: when it gains a
// partition it reads that partition's events from the stream, from the checkpoint its own
// store holds for it (0 if it never owned it), so the events the previous owner applied are
// applied here too, once. Each transaction records the events' ids (consumer.UnsafeRecord,
// under the source's durable name, so a republished copy is recognised), the checkpoint and
// the owner log, and commits only if the lease is still held (the fence; see Group.holds).
//
// Failure modes (docs/operations.md):
//   - A replica that dies stops renewing; the server removes its leases after the TTL and the
//     other replicas take its partitions, each rebuilding them from the stream. A partition
//     whose owner is gone and that no replica is alive to take waits: its events stay in the
//     stream (within its retention) and are applied when a replica comes.
//   - A replica paused (GC, SIGSTOP, cut off from NATS) longer than its lease commits nothing
//     more: a transaction commits only before the local deadline renewal start + TTL, which
//     is before the server can have removed the lease, so before another replica can hold it.
//     What remains is the time between that check and bbolt's commit (one fsync).
//   - A replica that joins takes partitions as the others release those above their fair
//     share; a release stops the partition's readers first, so the two terms never overlap.
//   - What an owner decided that the next one must go on from (sentiment: its releases) is
//     carried by the partition log (log.go, Config.Inherit): the new owner's marker fences
//     the previous one, and it replays the records before the marker before it applies
//     anything new. Where the log cannot account for every decision, the windows begun before
//     the take-over are frozen (Releasable), as they are without a log.
package partition

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Of is the partition of key among n partitions: FNV-1a 32 of key modulo n, exactly what
// nats-server computes for {{partition(n, …)}} over one token.
func Of(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Org is the organisation token of an event subject voix.<stream>.<kind>.<org>[.<segment…>],
// or "" for a subject without one.
func Org(subject string) string {
	rest := subject
	for range 3 {
		_, after, ok := strings.Cut(rest, ".")
		if !ok {
			return ""
		}
		rest = after
	}
	org, _, _ := strings.Cut(rest, ".")
	return org
}

// OfSubject is the partition of an event subject's organisation among n partitions.
func OfSubject(subject string, n int) int { return Of(Org(subject), n) }

// Buckets of the replica's store.
var (
	checkpointBucket = []byte("partition_checkpoint")
	ownerLogBucket   = []byte("partition_owner_log")
)

// Term is one entry of the owner log: a replica applying one source's events of one partition
// during one ownership, from Start (its first transaction) to End (its last commit). First and
// Last are the stream sequences of the first and last event it applied, Applied how many.
type Term struct {
	Replica   string    `json:"replica"`
	Partition int       `json:"partition"`
	Source    string    `json:"source"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	First     uint64    `json:"first"`
	Last      uint64    `json:"last"`
	Applied   uint64    `json:"applied"`
}

// ReadLog returns the owner log of a replica's store, by partition then start.
func ReadLog(db *bolt.DB) ([]Term, error) {
	var out []Term
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(ownerLogBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var t Term
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("partition: owner log: %w", err)
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// Overlaps returns the pairs of terms of different replicas that held one partition at the
// same time: none, if ownership never had two holders.
func Overlaps(terms []Term) [][2]Term {
	var out [][2]Term
	for i, a := range terms {
		for _, b := range terms[i+1:] {
			if a.Partition != b.Partition || a.Replica == b.Replica {
				continue
			}
			if !a.End.Before(b.Start) && !b.End.Before(a.Start) {
				out = append(out, [2]Term{a, b})
			}
		}
	}
	return out
}

func termKey(p int, source string, start time.Time) []byte {
	k := binary.BigEndian.AppendUint32(nil, uint32(p))
	k = binary.BigEndian.AppendUint64(k, uint64(start.UnixNano()))
	return append(k, source...)
}

func checkpointKey(source string, p int) []byte {
	return binary.BigEndian.AppendUint32([]byte(source+"\x00"), uint32(p))
}

// Checkpoint is the last stream sequence of source the store holds partition p through.
func Checkpoint(tx *bolt.Tx, source string, p int) uint64 {
	b := tx.Bucket(checkpointBucket)
	if b == nil {
		return 0
	}
	v := b.Get(checkpointKey(source, p))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putCheckpoint(tx *bolt.Tx, source string, p int, seq uint64) error {
	b, err := tx.CreateBucketIfNotExists(checkpointBucket)
	if err != nil {
		return err
	}
	return b.Put(checkpointKey(source, p), binary.BigEndian.AppendUint64(nil, seq))
}

func putTerm(tx *bolt.Tx, t Term) error {
	b, err := tx.CreateBucketIfNotExists(ownerLogBucket)
	if err != nil {
		return err
	}
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return b.Put(termKey(t.Partition, t.Source, t.Start), v)
}

// errFenced rolls back a transaction of a partition whose lease may have passed to another
// replica.
var errFenced = errors.New("partition: lease no longer held")
