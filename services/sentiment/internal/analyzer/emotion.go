package analyzer

import "fmt"

// Emotion is the feeling a comment mostly expresses, beyond its polarity: "stressed"
// and "sad" are both negative but call for different answers. "" means none stands out.
type Emotion string

// Emotions.
const (
	NoEmotion   Emotion = ""
	Joy         Emotion = "joy"
	Gratitude   Emotion = "gratitude"
	Pride       Emotion = "pride"
	Frustration Emotion = "frustration"
	Sadness     Emotion = "sadness"
	Stress      Emotion = "stress"
	Fatigue     Emotion = "fatigue"
)

func parseEmotion(s string) (Emotion, error) {
	switch e := Emotion(s); e {
	case Joy, Gratitude, Pride, Frustration, Sadness, Stress, Fatigue:
		return e, nil
	}
	return "", fmt.Errorf("emotion %q is not one of joy, gratitude, pride, frustration, sadness, stress, fatigue", s)
}

// emotionOrder breaks no ties: it only makes the tally's iteration deterministic.
var emotionOrder = [...]Emotion{Joy, Gratitude, Pride, Frustration, Sadness, Stress, Fatigue}

// tally counts emotion cues; the dominant one needs a strict majority over the runner-up,
// since a comment that is as stressed as it is grateful has no single feeling to report.
type tally [len(emotionOrder)]float64

func (t *tally) add(e Emotion, w float64) {
	if e == NoEmotion {
		return
	}
	for i, o := range emotionOrder {
		if o == e {
			t[i] += w
			return
		}
	}
}

func (t *tally) dominant() Emotion {
	best, second := -1, -1
	for i := range t {
		switch {
		case best < 0 || t[i] > t[best]:
			best, second = i, best
		case second < 0 || t[i] > t[second]:
			second = i
		}
	}
	if t[best] <= 0 || (second >= 0 && t[second] == t[best]) {
		return NoEmotion
	}
	return emotionOrder[best]
}
