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

// Lifecycle surveys (onboarding, exit) are answered once per person, when an HR system says
// the person started or is leaving. Their responses are counted in monthly cohort waves,
// opened by the scheduler without announcement (bots prompt from ListPendingSurveys, person
// by person): results of a cohort are readable once its month is over, so that reading them
// week after week cannot single out the one person who answered in between.

const maxLifecycleDelay = 366 * 24 * time.Hour

func lifecycleKind(k pulsev1.SurveyKind) bool {
	return k == pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING || k == pulsev1.SurveyKind_SURVEY_KIND_EXIT
}

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
	if ev == pulsev1.LifecycleEvent_LIFECYCLE_EVENT_LEAVING {
		return pulsev1.SurveyKind_SURVEY_KIND_EXIT
	}
	return pulsev1.SurveyKind_SURVEY_KIND_ONBOARDING
}

// trigger stores an invitation for the person in every active survey of the event's kind
// whose audience contains seg, from the day of effective time plus the survey's delay (to the
// day: a finer time would date the person), for the survey's response window. A person who
// already answered is not invited again; a repeated trigger moves the invitation.
func (s *Service) trigger(ev pulsev1.LifecycleEvent, ref string, seg segment.Path, effective time.Time) ([]string, error) {
	kind := kindFor(ev)
	var ids []string
	err := s.host.DB.Update(func(tx *bolt.Tx) error {
		ids = ids[:0]
		for _, audience := range containing(seg) {
			surveys, err := surveysWithAudience(tx, audience)
			if err != nil {
				return err
			}
			for _, sv := range surveys {
				if sv.Kind != kind || sv.State != pulsev1.SurveyState_SURVEY_STATE_ACTIVE {
					continue
				}
				_, answered, err := store.GetMarker(tx, s.markerTag(answerScope(sv.Survey, 0), ref))
				if err != nil {
					return err
				}
				if answered {
					continue
				}
				opens := window.Of(window.Day, effective.Add(sv.LifecycleDelay.AsDuration())).Start
				inv := store.Invitation{Opens: opens, Closes: opens.Add(sv.Schedule.ResponseWindow.AsDuration())}
				if err := store.UnsafePutInvitation(tx, s.inviteTag(sv.Id, ref), inv); err != nil {
					return err
				}
				ids = append(ids, sv.Id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// checkInvited fails unless the person has a pending invitation to the lifecycle survey sv.
func (s *Service) checkInvited(sv *pulsev1.Survey, ref string, now time.Time) error {
	return s.host.DB.View(func(tx *bolt.Tx) error {
		_, ok, err := s.invitation(tx, sv, ref, now)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("submitter_ref: %w: survey %s is answered after an HR system reports the person's start or leaving, and nothing is pending for this person now", errNotInvited, sv.Id)
		}
		return nil
	})
}
