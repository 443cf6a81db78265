package events

import (
	"fmt"
	"regexp"
)

// A service that runs as several replicas (issue 16: feedback and pulse with --replica) has
// two kinds of durable consumers:
//
//   - shared: one durable for the deployment, whose events the replicas split between them
//     (each event is applied by one replica). For effects that must happen once across the
//     deployment: an owner told once, a survey comment made into one comment.
//   - per replica: one durable per replica, ReplicaDurable(name, replica), so that every
//     replica sees every event and applies it to its own store: a score to the replica that
//     holds the comment (the others skip it), the segment registry and the plans' news to
//     every replica.
//
// Durables of a service that runs alone (replica "") keep their plain names.

// ReplicaDurable is the name of durable consumer durable in replica replica: the durable
// followed by "-" and the replica's name; durable itself when replica is "" (one replica).
// The replica name must pass CheckReplicaName.
func ReplicaDurable(durable, replica string) string {
	if replica == "" {
		return durable
	}
	return durable + "-" + replica
}

// replicaName is what a replica's name may be: it ends durable consumer names, which NATS
// allows neither dots, wildcards, spaces nor path separators in.
var replicaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckReplicaName reports whether name can name a replica: 1 to 64 ASCII letters, digits,
// '-' or '_'.
func CheckReplicaName(name string) error {
	if !replicaName.MatchString(name) {
		return fmt.Errorf("replica name %q: must be 1..64 ASCII letters, digits, '-' or '_' (it ends durable consumer names)", name)
	}
	return nil
}

// InternalCallPrefix starts the subjects on which a service's replicas call one another
// (issue 16: a feedback call about a comment another replica holds). Core NATS request-reply
// only: no stream captures voix.internal.>, so nothing sent on it is stored. Only the
// services' NATS user may publish or subscribe under it (deploy/nats/accounts.conf).
const InternalCallPrefix = "voix.internal."

// FeedbackCall is the subject on which every feedback replica takes calls that another
// replica forwards, for method (the RPC's short name, "Reply"):
// voix.internal.feedback.call.Reply.
func FeedbackCall(method string) string { return InternalCallPrefix + "feedback.call." + method }
