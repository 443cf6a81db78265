package outbox

// RecordBytes is the stored form of a prepared record, for tests and benchmarks.
func RecordBytes(r Record) []byte { return r.v }
