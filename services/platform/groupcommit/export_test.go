package groupcommit

// Queued is how many writes wait for c's next transaction.
func Queued(c *Committer) int { return len(c.queue) }
