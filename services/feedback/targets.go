package feedback

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/types/known/timestamppb"

	feedbackv1 "github.com/voix-dev/voix/proto/voix/feedback/v1"
	"github.com/voix-dev/voix/services/feedback/internal/store"
	"github.com/voix-dev/voix/services/platform/auth"
	"github.com/voix-dev/voix/services/platform/page"
	"github.com/voix-dev/voix/services/platform/rpcerr"
	"github.com/voix-dev/voix/services/platform/segment"
)

// The notification-target registry: per owner group and segment subtree, where its owners are
// told (notify.go). hr and admin manage the targets within their prefix.

const (
	maxURLBytes       = 2048
	defaultTargetPage = 50
	maxTargetPage     = 200
)

const (
	kindSlack   = feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_SLACK_WEBHOOK
	kindWebhook = feedbackv1.NotificationTargetKind_NOTIFICATION_TARGET_KIND_WEBHOOK
)

// validateTarget checks a target of SetNotificationTarget; the caller checks its prefix
// against the token.
func validateTarget(t *feedbackv1.NotificationTarget) (store.Target, error) {
	if t == nil {
		return store.Target{}, rpcerr.InvalidArgument("target", "required")
	}
	if len(t.Id) > maxIDBytes {
		return store.Target{}, rpcerr.InvalidArgument("target.id", fmt.Sprintf("must be at most %d bytes", maxIDBytes))
	}
	if err := checkOwnerGroup("target.owner_group", t.OwnerGroup); err != nil {
		return store.Target{}, err
	}
	p, err := segment.Parse(t.SegmentPrefix)
	if err != nil {
		return store.Target{}, rpcerr.InvalidArgument("target.segment_prefix", err.Error())
	}
	if t.Kind != kindSlack && t.Kind != kindWebhook {
		return store.Target{}, rpcerr.InvalidArgument("target.kind", "must be NOTIFICATION_TARGET_KIND_SLACK_WEBHOOK or NOTIFICATION_TARGET_KIND_WEBHOOK")
	}
	if len(t.Url) > maxURLBytes {
		return store.Target{}, rpcerr.InvalidArgument("target.url", fmt.Sprintf("must be at most %d bytes", maxURLBytes))
	}
	u, err := url.Parse(t.Url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return store.Target{}, rpcerr.InvalidArgument("target.url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return store.Target{}, rpcerr.InvalidArgument("target.url", "must not hold a user or password")
	}
	return store.Target{ID: t.Id, OwnerGroup: t.OwnerGroup, Prefix: p, Kind: t.Kind, URL: t.Url}, nil
}

// apiTarget is a stored target as the API shows it: never its secret.
func apiTarget(t store.Target) *feedbackv1.NotificationTarget {
	return &feedbackv1.NotificationTarget{Id: t.ID, OwnerGroup: t.OwnerGroup, SegmentPrefix: t.Prefix.String(), Kind: t.Kind, Url: t.URL}
}

// ownTarget loads target id if it lies within p's prefix; otherwise, as for an unknown id,
// NotFound on field.
func ownTarget(tx store.ReadTx, p auth.Principal, field, id string) (store.Target, error) {
	t, err := store.GetTarget(tx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Target{}, err
	}
	if err != nil || !p.Covers(t.Prefix.String()) {
		return store.Target{}, fmt.Errorf("%s: %w: target %q", field, errNotFound, id)
	}
	return t, nil
}

// setTarget creates or replaces t and returns it with the secret of a WEBHOOK that got a new
// one (a new target, or a Slack one turned into a webhook); a replaced WEBHOOK keeps its
// secret, which is never shown again.
func (s *Service) setTarget(ctx context.Context, t store.Target) (store.Target, string, error) {
	if s.config != nil {
		return s.setTargetShared(ctx, t) // replicas: the bucket first (sharedconfig_ops.go)
	}
	p, _ := auth.FromContext(ctx)
	newID := rand.Text()
	fresh := make([]byte, 32)
	rand.Read(fresh)
	secret := ""
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		if t.ID != "" {
			old, err := ownTarget(tx, p, "target.id", t.ID)
			if err != nil {
				return err
			}
			t.Secret = old.Secret
		} else {
			t.ID = newID
		}
		switch {
		case t.Kind != kindWebhook:
			t.Secret = nil
		case t.Secret == nil:
			secret = hex.EncodeToString(fresh)
			t.Secret = []byte(secret)
		}
		return store.UnsafePutTarget(tx, t)
	})
	return t, secret, err
}

// deleteTarget deletes a target within the caller's prefix.
func (s *Service) deleteTarget(ctx context.Context, id string) error {
	if s.config != nil {
		return s.deleteShared(ctx, targetKind, id) // replicas: the bucket first (sharedconfig_ops.go)
	}
	p, _ := auth.FromContext(ctx)
	return s.host.DB.Update(func(tx *bolt.Tx) error {
		if _, err := ownTarget(tx, p, "id", id); err != nil {
			return err
		}
		return store.UnsafeDeleteTarget(tx, id)
	})
}

// listTargets returns up to size targets within prefix after id after, in id order.
func (s *Service) listTargets(prefix segment.Path, after string, size int) ([]store.Target, bool, error) {
	if err := s.configReady(); err != nil { // replicas: not before the shared targets are read
		return nil, false, err
	}
	var out []store.Target
	more := false
	err := s.host.DB.View(func(tx *bolt.Tx) error {
		all, err := store.AllTargets(tx)
		if err != nil {
			return err
		}
		for _, t := range all {
			if !t.Prefix.Within(prefix) || (after != "" && t.ID <= after) {
				continue
			}
			if len(out) == size {
				more = true
				break
			}
			out = append(out, t)
		}
		return nil
	})
	return out, more, err
}

func (a *api) SetNotificationTarget(ctx context.Context, req *feedbackv1.SetNotificationTargetRequest) (*feedbackv1.SetNotificationTargetResponse, error) {
	t, err := validateTarget(req.Target)
	if err != nil {
		return nil, err
	}
	if err := auth.CheckSegment(ctx, "target.segment_prefix", t.Prefix.String()); err != nil {
		return nil, err
	}
	if u, err := url.Parse(t.URL); err == nil {
		if ok, rule := a.svc.notify.egress.checkURLHost(ctx, u.Hostname()); !ok {
			return nil, rpcerr.InvalidArgument("target.url", rule)
		}
	}
	t, secret, err := a.svc.setTarget(ctx, t)
	if err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.SetNotificationTargetResponse{Target: apiTarget(t), Secret: secret}, nil
}

func (a *api) ListNotificationTargets(ctx context.Context, req *feedbackv1.ListNotificationTargetsRequest) (*feedbackv1.ListNotificationTargetsResponse, error) {
	prefix, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	size, fp, key, err := page.Open(req, "ListNotificationTargets", defaultTargetPage, maxTargetPage)
	if err != nil {
		return nil, err
	}
	ts, more, err := a.svc.listTargets(prefix, string(key), size)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &feedbackv1.ListNotificationTargetsResponse{}
	for _, t := range ts {
		resp.Targets = append(resp.Targets, apiTarget(t))
	}
	if more {
		resp.NextPageToken = page.Token(fp, []byte(ts[len(ts)-1].ID))
	}
	return resp, nil
}

func (a *api) DeleteNotificationTarget(ctx context.Context, req *feedbackv1.DeleteNotificationTargetRequest) (*feedbackv1.DeleteNotificationTargetResponse, error) {
	if err := checkID("id", req.Id); err != nil {
		return nil, err
	}
	if err := a.svc.deleteTarget(ctx, req.Id); err != nil {
		return nil, toStatus(err)
	}
	return &feedbackv1.DeleteNotificationTargetResponse{}, nil
}

func (a *api) ListDeadLetters(ctx context.Context, req *feedbackv1.ListDeadLettersRequest) (*feedbackv1.ListDeadLettersResponse, error) {
	prefix, err := checkPrefix(ctx, "segment_prefix", req.SegmentPrefix)
	if err != nil {
		return nil, err
	}
	size, fp, after, err := page.Open(req, "ListDeadLetters", defaultTargetPage, maxTargetPage)
	if err != nil {
		return nil, err
	}
	if after != nil && len(after) < 8 {
		return nil, rpcerr.InvalidArgument("page_token", "not a token of ListDeadLetters")
	}
	resp := &feedbackv1.ListDeadLettersResponse{}
	err = a.svc.host.DB.View(func(tx *bolt.Tx) error {
		var last []byte
		return store.ScanDeadLetters(tx, after, func(k []byte, d *store.Delivery) (bool, error) {
			p, err := segment.Parse(d.Prefix)
			if err != nil || !p.Within(prefix) {
				return true, nil
			}
			if len(resp.DeadLetters) == size {
				resp.NextPageToken = page.Token(fp, last)
				return false, nil
			}
			dl := &feedbackv1.DeadLetter{
				Id: deliveryID(d.Key), TargetId: d.TargetID, Kind: d.Note.Kind, LinkId: d.Note.LinkID,
				Segment: d.Note.Segment, Attempts: d.Attempts, LastError: d.LastError,
			}
			if day, err := time.Parse(time.DateOnly, d.DeadDay); err == nil {
				dl.DeadDay = timestamppb.New(day)
			}
			resp.DeadLetters = append(resp.DeadLetters, dl)
			last = bytes.Clone(k)
			return true, nil
		})
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}
