package feedback_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	eventsv1 "github.com/voix-dev/voix/proto/voix/events/v1"
	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
)

// TestFilteredListingsReadTheirIndexInTheFullListingsOrder: ListFeedback with a status, owner
// or dimension filter reads an index of that filter (by_filter), kept by every path that
// changes a comment's status (UpdateStatus), owner (AssignOwner, routing after scoring) or
// dimensions (scoring). Each filtered listing, paged, must be the unfiltered listing with the
// filters applied, in the same order; and so again after a restart on a store whose index was
// dropped (a store made before it existed), which builds it.
func TestFilteredListingsReadTheirIndexInTheFullListingsOrder(t *testing.T) {
	f := start(t)
	hr := f.as(auth.RoleHR)
	f.headcount(t, "acme/eng", 20)
	f.headcount(t, "acme/sales", 20)
	f.rule(t, "acme/sales", dimWorkload, "sales-leads")
	dims := []commonv1.Dimension{dimWorkload, dimEcosystem, dimGrowth}
	var all []string
	for d := range 3 {
		for i := range 12 {
			seg := []string{"acme/eng", "acme/sales"}[i%2]
			var ds []commonv1.Dimension
			if i%3 != 0 {
				ds = append(ds, dims[i%3])
			}
			if i%4 == 1 {
				ds = append(ds, dims[(i+1)%3]) // two dimensions: listed once under both
			}
			id := f.submit(t, &feedbackv1.SubmitFeedbackRequest{Segment: seg, Text: fmt.Sprintf("day %d comment %d", d, i), SubmitterRef: fmt.Sprintf("U%d-%d", d, i), Dimensions: ds}).FeedbackId
			all = append(all, id)
		}
		f.clock.Add(24 * time.Hour)
	}
	for i, id := range all {
		switch i % 5 {
		case 1:
			if _, err := f.setStatus(hr, id, stAck, "seen"); err != nil {
				t.Fatal(err)
			}
		case 2:
			if _, err := f.setStatus(hr, id, stDeclined, "no"); err != nil {
				t.Fatal(err)
			}
		case 3:
			if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: id, OwnerGroup: "people-ops"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Scoring adds a dimension, and routes sales comments of that dimension to sales-leads.
	for i, id := range all {
		if i%7 == 0 {
			seg := []string{"acme/eng", "acme/sales"}[i%2]
			publishScored(t, f, &eventsv1.ItemScored{ItemId: id, Kind: eventsv1.ItemKind_ITEM_KIND_FEEDBACK, Segment: seg, Score: -0.5,
				Label: commonv1.SentimentLabel_SENTIMENT_LABEL_NEGATIVE, Dimensions: []*eventsv1.DimensionScore{{Dimension: dimWorkload, Score: -0.5}}})
			waitScored(t, f, id)
		}
	}
	// A status change after an owner change, and an owner change after another.
	if _, err := f.setStatus(hr, all[3], stAck, "seen"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.AssignOwner(hr, &feedbackv1.AssignOwnerRequest{FeedbackId: all[8], OwnerGroup: "legal"}); err != nil {
		t.Fatal(err)
	}

	reqs := []*feedbackv1.ListFeedbackRequest{
		{Statuses: []commonv1.FeedbackStatus{stAck}},
		{Statuses: []commonv1.FeedbackStatus{stNew, stDeclined}},
		{Statuses: []commonv1.FeedbackStatus{stNew, stNew}},
		{OwnerGroup: "people-ops"},
		{OwnerGroup: "legal"},
		{OwnerGroup: "sales-leads"},
		{OwnerGroup: "nobody"},
		{Dimensions: []commonv1.Dimension{dimWorkload}},
		{Dimensions: []commonv1.Dimension{dimWorkload, dimEcosystem}},
		{Dimensions: []commonv1.Dimension{dimGrowth}, Statuses: []commonv1.FeedbackStatus{stNew}},
		{OwnerGroup: "people-ops", Statuses: []commonv1.FeedbackStatus{stAck}},
		{Dimensions: []commonv1.Dimension{dimWorkload}, SegmentPrefix: "acme/sales"},
	}
	check := func(t *testing.T) {
		full := listAll(t, f, hr, &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme"})
		if len(full) != len(all) {
			t.Fatalf("listed %d comments, want %d", len(full), len(all))
		}
		for _, r := range reqs {
			req := &feedbackv1.ListFeedbackRequest{SegmentPrefix: "acme", PageSize: 4, Statuses: r.Statuses, OwnerGroup: r.OwnerGroup, Dimensions: r.Dimensions}
			if r.SegmentPrefix != "" {
				req.SegmentPrefix = r.SegmentPrefix
			}
			var want []string
			for _, c := range full {
				if (len(req.Statuses) == 0 || slices.Contains(req.Statuses, c.Status)) &&
					(req.OwnerGroup == "" || c.OwnerGroup == req.OwnerGroup) &&
					(len(req.Dimensions) == 0 || slices.ContainsFunc(req.Dimensions, func(d commonv1.Dimension) bool { return slices.Contains(c.Dimensions, d) })) &&
					(c.Segment == req.SegmentPrefix || len(c.Segment) > len(req.SegmentPrefix) && c.Segment[:len(req.SegmentPrefix)+1] == req.SegmentPrefix+"/") {
					want = append(want, c.Id)
				}
			}
			name := fmt.Sprintf("%v %q %v %s", req.Statuses, req.OwnerGroup, req.Dimensions, req.SegmentPrefix)
			if got := ids(listAll(t, f, hr, req)); !slices.Equal(got, want) {
				t.Errorf("%s: listed %v, want %v", name, got, want)
			}
		}
	}
	t.Run("kept", check)

	// A store from before by_filter: no index, no mark (and no recent tiers).
	rewriteClosedStore(t, f, func(tx *bolt.Tx) error {
		if err := foldRecentTiers(tx); err != nil {
			return err
		}
		if err := tx.DeleteBucket(store.ByFilter); err != nil {
			return err
		}
		return tx.Bucket(store.Meta).Delete([]byte("filters"))
	})
	f.restart(t)
	t.Run("built", check)

	// A store whose index is in the layout before (meta "filters" "1"): one bucket of keys of
	// organisation, filter, then the by_day key's day, shuffle and id, with the author segment
	// as value. The next start builds it again in this one.
	rewriteClosedStore(t, f, func(tx *bolt.Tx) error {
		if err := foldRecentTiers(tx); err != nil {
			return err
		}
		var flat [][2][]byte
		days := tx.Bucket(store.ByDay).Cursor()
		index := tx.Bucket(store.ByFilter)
		if err := index.ForEachBucket(func(name []byte) error {
			org, _, _ := bytes.Cut(name, []byte{0})
			return index.Bucket(name).ForEach(func(order, _ []byte) error {
				prefix := append(append(bytes.Clone(org), 0), order...)
				k, author := days.Seek(prefix)
				if !bytes.HasPrefix(k, prefix) {
					return fmt.Errorf("by_filter entry %q of %q has no by_day entry", order, name)
				}
				flat = append(flat, [2][]byte{append(append(bytes.Clone(name), order...), k[len(prefix):]...), bytes.Clone(author)})
				return nil
			})
		}); err != nil {
			return err
		}
		if err := tx.DeleteBucket(store.ByFilter); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(store.ByFilter); err != nil {
			return err
		}
		for _, kv := range flat {
			if err := tx.Bucket(store.ByFilter).Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return tx.Bucket(store.Meta).Put([]byte("filters"), []byte("1"))
	})
	f.restart(t)
	t.Run("rebuilt", check)
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	db := openClosedStore(t, f)
	defer db.Close()
	var filters, flat int
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(store.ByFilter).ForEach(func(k, v []byte) error {
			if v == nil {
				filters++ // a bucket
			} else {
				flat++
			}
			return nil
		})
	})
	if filters == 0 || flat != 0 {
		t.Errorf("by_filter after the rebuild: %d filter buckets, %d keys of the layout before; want some, none", filters, flat)
	}
}

// foldRecentTiers rewrites a store's by_day and by_filter as a version before their recent
// tiers held them: every entry of by_day_recent and by_filter_recent in by_day and by_filter,
// and no recent tier.
func foldRecentTiers(tx *bolt.Tx) error {
	if err := tx.Bucket(store.ByDayRecent).ForEach(func(k, v []byte) error {
		return tx.Bucket(store.ByDay).Put(k, v)
	}); err != nil {
		return err
	}
	recent := tx.Bucket(store.ByFilterRecent)
	if err := recent.ForEachBucket(func(name []byte) error {
		dst, err := tx.Bucket(store.ByFilter).CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		return recent.Bucket(name).ForEach(func(k, v []byte) error { return dst.Put(k, v) })
	}); err != nil {
		return err
	}
	for _, b := range []store.Bucket{store.ByDayRecent, store.ByFilterRecent} {
		if err := tx.DeleteBucket(b); err != nil {
			return err
		}
	}
	return nil
}
