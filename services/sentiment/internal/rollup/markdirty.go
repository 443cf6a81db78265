package rollup

// UnsafeMarkDirty marks k changed again, for the publisher's next flush: a publisher that
// took it (UnsafeTakeDirty) but may not decide it yet (a partition whose new owner is still
// replaying what it inherited) puts it back rather than forget it.
func UnsafeMarkDirty(tx Buckets, k Key) error {
	dirty := tx.Bucket(bucketDirty)
	if dirty.Get(k.bytes()) != nil {
		return nil
	}
	return dirty.Put(k.bytes(), []byte{})
}
