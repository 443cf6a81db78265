package store

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Loop is the part of a comment's workflow state that readers do not see as such: the days it
// was acknowledged and closed (for loop statistics) and whether hr chose its owner (so that a
// later scoring does not route it elsewhere). Only days are kept, like every other time of a
// comment.
type Loop struct {
	// AckDay is the day the comment left NEW; zero until then.
	AckDay time.Time
	// CloseDay is the day it was RESOLVED or DECLINED; zero until then.
	CloseDay time.Time
	// OwnerByHR is true once hr assigned the owner with AssignOwner.
	OwnerByHR bool
}

const loopSize = 8 + 8 + 1

func putDay(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.BigEndian.AppendUint64(b, 0)
	}
	return binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
}

func getDay(b []byte) time.Time {
	v := binary.BigEndian.Uint64(b)
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}

// GetLoop returns the loop state of comment id; a comment without one has the zero Loop.
func GetLoop(tx ReadTx, id string) (Loop, error) {
	bk, err := Loops.in(tx)
	if err != nil {
		return Loop{}, err
	}
	v := bk.Get([]byte(id))
	if v == nil {
		return Loop{}, nil
	}
	if len(v) != loopSize {
		return Loop{}, fmt.Errorf("store: loop record of %s has %d bytes, want %d", id, len(v), loopSize)
	}
	return Loop{AckDay: getDay(v), CloseDay: getDay(v[8:]), OwnerByHR: v[16] == 1}, nil
}

// UnsafePutLoop stores the loop state of comment id.
func UnsafePutLoop(tx WriteTx, id string, l Loop) error {
	bk, err := Loops.writable(tx)
	if err != nil {
		return err
	}
	v := putDay(putDay(make([]byte, 0, loopSize), l.AckDay), l.CloseDay)
	if l.OwnerByHR {
		v = append(v, 1)
	} else {
		v = append(v, 0)
	}
	return bk.Put([]byte(id), v)
}
