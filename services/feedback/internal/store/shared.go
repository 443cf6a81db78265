package store

// The records feedback replicas share through the key-value bucket voix_config_feedback
// (services/feedback/sharedconfig.go, platform/sharedconf): a routing rule, a notification
// target and an action plan travel as the JSON this package stores, and the revision of each
// key applied to this store is kept in the bucket config_revisions (key: the bucket's key,
// value: big-endian uint64), which sharedconf creates.

import "encoding/json"

// EncodeRule is r as the store keeps it.
func EncodeRule(r Rule) ([]byte, error) { return encodeRule(r) }

// DecodeRule reads EncodeRule's output.
func DecodeRule(data []byte) (Rule, error) { return decodeRule([]byte("(shared)"), data) }

// EncodeTarget is t as the store keeps it, with a WEBHOOK's signing secret.
func EncodeTarget(t Target) ([]byte, error) {
	return json.Marshal(targetJSON{ID: t.ID, OwnerGroup: t.OwnerGroup, Prefix: t.Prefix.String(), Kind: int32(t.Kind), URL: t.URL, Secret: t.Secret})
}

// DecodeTarget reads EncodeTarget's output.
func DecodeTarget(data []byte) (Target, error) { return decodeTarget([]byte("(shared)"), data) }

// EncodePlan is p as the store keeps it.
func EncodePlan(p *Plan) ([]byte, error) { return encodePlan(p) }

// DecodePlan reads EncodePlan's output.
func DecodePlan(data []byte) (*Plan, error) { return decodePlan("(shared)", data) }
