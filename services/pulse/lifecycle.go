package pulse

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	pulsev1 "github.com/voix-dev/voix/proto/voix/pulse/v1"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
	"github.com/voix-dev/voix/services/pulse/internal/store"
)

// Lifecycle surveys (the moments of truth) are answered when an HR system reports a moment of
// a person's journey: onboarding, exit and candidate surveys once per person; internal move,
// manager change, return from leave and anniversary surveys once per reported moment (a
// repeated moment: its answer marker is scoped to the cohort wave, and the invitation is
// used up by the answer). Their responses are counted in monthly cohort waves,
// opened by the scheduler without announcement (bots prompt from ListPendingSurveys, person
// by person): results of a cohort are readable once its month is over, so that reading them
// week after week cannot single out the one person who answered in between.

const maxLifecycleDelay = 366 * 24 * time.Hour

func lifecycleKind(k pulsev1.SurveyKind) bool {
	_, ok := lifecycleKinds[k]
	return ok
}

// lifecycleKinds maps each lifecycle survey kind to whether it repeats (a person may live the
// moment more than once).
var lifecycleKinds = map[pulsev1.SurveyKind]bool{
	pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING:        false,
	pulsev1.SurveyKind_SURVEY_KIND_EXIT:              false,
	pulsev1.SurveyKind_SURVEY_KIND_CANDIDATE:         false,
	pulsev1.SurveyKind_SURVEY_KIND_INTERNAL_MOVE:     true,
	pulsev1.SurveyKind_SURVEY_KIND_MANAGER_CHANGE:    true,
	pulsev1.SurveyKind_SURVEY_KIND_RETURN_FROM_LEAVE: true,
	pulsev1.SurveyKind_SURVEY_KIND_ANNIVERSARY:       true,
}

// repeatable reports whether a person may answer surveys of kind k once per reported moment.
func repeatable(k pulsev1.SurveyKind) bool { return lifecycleKinds[k] }

// inviteTag stands for the person in the survey's invitations; its scope differs from the
// answer marker's, so the two records cannot be joined without the secret.
func (s *Service) inviteTag(surveyID, ref string) []byte {
	return s.host.Secret.Tag("pulse/invite/"+surveyID, ref)
}

// invitation returns the person's invitation to sv if it is pending at now.
func (s *Service) invitation(tx store.ReadTx, sv *pulsev1.Survey, ref string, now time.Time) (store.Invitation, bool, error) {
	inv, ok, err := store.GetInvitation(tx, s.inviteTag(sv.Id, ref))
	if err != nil || !ok {
		return inv, false, err
	}
	return inv, !now.Before(inv.Opens) && now.Before(inv.Closes), nil
}

// kindFor maps what the HR system reports to the surveys it makes pending.
func kindFor(ev pulsev1.LifecycleEvent) pulsev1.SurveyKind {
	switch ev {
	case pulsev1.LifecycleEvent_LIFECYCLE_EVENT_LEAVING:
		return pulsev1.SurveyKind_SURVEY_KIND_EXIT
	case pulsev1.LifecycleEvent_LIFECYCLE_EVENT_CANDIDATE:
		return pulsev1.SurveyKind_SURVEY_KIND_CANDIDATE
	case pulsev1.LifecycleEvent_LIFECYCLE_EVENT_INTERNAL_MOVE:
		return pulsev1.SurveyKind_SURVEY_KIND_INTERNAL_MOVE
	case pulsev1.LifecycleEvent_LIFECYCLE_EVENT_MANAGER_CHANGE:
		return pulsev1.SurveyKind_SURVEY_KIND_MANAGER_CHANGE
	case pulsev1.LifecycleEvent_LIFECYCLE_EVENT_RETURN_FROM_LEAVE:
		return pulsev1.SurveyKind_SURVEY_KIND_RETURN_FROM_LEAVE
	case pulsev1.LifecycleEvent_LIFECYCLE_EVENT_ANNIVERSARY:
		return pulsev1.SurveyKind_SURVEY_KIND_ANNIVERSARY
	}
	return pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING
}

// trigger stores an invitation for the person in every active survey of the event's kind
// whose audience contains seg, from the day of effective time plus the survey's delay (to the
// day: a finer time would date the person), for the survey's response window. A person who
// already answered a once-per-person survey is not invited again; a repeated trigger moves
// the invitation (for a repeatable survey it is a new moment, answered anew).
func (s *Service) trigger(ev pulsev1.LifecycleEvent, ref string, seg segment.Path, effective time.Time) ([]string, error) {
	kind := kindFor(ev)
	if s.config != nil { // replicas: through the shared bucket (sharedconfig.go)
		return s.triggerShared(kind, ref, seg, effective)
	}
	var ids []string
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		ids = ids[:0]
		invs, err := s.invitationsFor(tx, kind, ref, seg, effective)
		if err != nil {
			return err
		}
		for _, in := range invs {
			if err := store.UnsafePutInvitation(tx, in.tag, in.inv); err != nil {
				return err
			}
			ids = append(ids, in.survey)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// newInvitation is an invitation trigger stores: to survey, under tag.
type newInvitation struct {
	survey string
	tag    []byte
	inv    store.Invitation
}

// invitationsFor lists the invitations a moment of kind for the person in seg makes.
func (s *Service) invitationsFor(tx store.ReadTx, kind pulsev1.SurveyKind, ref string, seg segment.Path, effective time.Time) ([]newInvitation, error) {
	var out []newInvitation
	for _, audience := range containing(seg) {
		surveys, err := surveysWithAudience(tx, audience)
		if err != nil {
			return nil, err
		}
		for _, sv := range surveys {
			if sv.Kind != kind || sv.State != pulsev1.SurveyState_SURVEY_STATE_ACTIVE {
				continue
			}
			if !repeatable(sv.Kind) {
				_, answered, err := store.GetMarker(tx, s.markerTag(answerScope(sv.Survey, 0), ref))
				if err != nil {
					return nil, err
				}
				if answered {
					continue
				}
			}
			opens := window.Of(window.Day, effective.Add(sv.LifecycleDelay.AsDuration())).Start
			inv := store.Invitation{Opens: opens, Closes: opens.Add(sv.Schedule.ResponseWindow.AsDuration())}
			out = append(out, newInvitation{survey: sv.Id, tag: s.inviteTag(sv.Id, ref), inv: inv})
		}
	}
	return out, nil
}

// checkInvited fails unless the person has a pending invitation to the lifecycle survey sv.
func (s *Service) checkInvited(sv *pulsev1.Survey, ref string, now time.Time) error {
	invited := func() (ok bool, err error) {
		err = s.host.DB.View(func(tx *bolt.Tx) error {
			_, ok, err = s.invitation(tx, sv, ref, now)
			return err
		})
		return ok, err
	}
	ok, err := invited()
	if err == nil && !ok && s.config != nil {
		// Replicas: triggered on another one a moment ago, not delivered by the watch yet.
		var found bool
		if found, err = s.fetchInvitation(s.inviteTag(sv.Id, ref)); found {
			ok, err = invited()
		}
	}
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("submitter_ref: %w: survey %s is answered after an HR system reports a moment of the person's journey (TriggerLifecycleSurvey), and nothing is pending for this person now", errNotInvited, sv.Id)
	}
	return nil
}
