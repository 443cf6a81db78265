package anonymity

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/voix-dev/voix/services/platform/segment"
)

// TestSealedTagsLinkNothing: two events of one person in one week carried the same week tag,
// so anyone reading the stream could link them. Sealed, two seals of one tag share no 8-byte
// run, and the holder of the secret opens both to the same tag.
func TestSealedTagsLinkNothing(t *testing.T) {
	s, err := NewSecret(bytes.Repeat([]byte{7}, SecretSize))
	if err != nil {
		t.Fatal(err)
	}
	seg := segment.MustParse("acme/eng/platform")
	mon := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	wed := mon.Add(48 * time.Hour)
	a, b := s.SealedContributors("U1", seg, mon), s.SealedContributors("U1", seg, wed)
	plainA, plainB := s.Contributors("U1", seg, mon), s.Contributors("U1", seg, wed)
	shared := 0
	for i := range a {
		if len(a[i].Tag) != SealedTagSize {
			t.Fatalf("sealed tag of %d bytes, want %d", len(a[i].Tag), SealedTagSize)
		}
		if bytes.Contains(a[i].Tag, plainA[i].Tag[:8]) {
			t.Fatalf("the sealed tag holds the tag in clear")
		}
		for j := range b {
			for k := 0; k+8 <= len(a[i].Tag); k++ {
				if bytes.Contains(b[j].Tag, a[i].Tag[k:k+8]) {
					t.Fatalf("seals %d and %d share the bytes %x", i, j, a[i].Tag[k:k+8])
				}
			}
		}
		opened, err := s.OpenTag(a[i].Segment, a[i].Window, a[i].Tag)
		if err != nil || !bytes.Equal(opened, plainA[i].Tag) {
			t.Fatalf("OpenTag = %x, %v; want %x", opened, err, plainA[i].Tag)
		}
		if a[i].Window == b[i].Window {
			shared++
			ob, err := s.OpenTag(b[i].Segment, b[i].Window, b[i].Tag)
			if err != nil || !bytes.Equal(ob, opened) || !bytes.Equal(ob, plainB[i].Tag) {
				t.Fatalf("the same person's tag in the same window opened differently: %v", err)
			}
		}
	}
	if shared == 0 {
		t.Fatal("Monday and Wednesday share no window: the test proves nothing")
	}
	// A seal opens only in its own scope and under its own secret; a legacy plain tag passes.
	if _, err := s.OpenTag("acme/eng", a[0].Window, a[len(a)-1].Tag); !errors.Is(err, ErrSealedTag) {
		t.Errorf("a seal opened in another scope: %v", err)
	}
	other, _ := NewSecret(bytes.Repeat([]byte{8}, SecretSize))
	if _, err := other.OpenTag(a[0].Segment, a[0].Window, a[0].Tag); !errors.Is(err, ErrSealedTag) {
		t.Errorf("a seal opened under another secret: %v", err)
	}
	if got, err := s.OpenTag(plainA[0].Segment, plainA[0].Window, plainA[0].Tag); err != nil || !bytes.Equal(got, plainA[0].Tag) {
		t.Errorf("a legacy plain tag: %x, %v", got, err)
	}
	if _, err := s.OpenTag("acme", "week:2026-W48", []byte("short")); !errors.Is(err, ErrSealedTag) {
		t.Errorf("5 bytes opened: %v", err)
	}
}

// BenchmarkSealedContributors is what SubmitFeedback and SubmitResponse spend on the sealed
// tags of one submission (three ancestors, three windows).
func BenchmarkSealedContributors(b *testing.B) {
	s, _ := NewSecret(bytes.Repeat([]byte{1}, SecretSize))
	seg := segment.MustParse("acme/engineering/platform")
	at := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		s.SealedContributors("U123ABC", seg, at)
	}
}

// BenchmarkOpenTag is what the sentiment service spends opening one sealed tag.
func BenchmarkOpenTag(b *testing.B) {
	s, _ := NewSecret(bytes.Repeat([]byte{1}, SecretSize))
	at := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	tags := s.SealedContributors("U123ABC", segment.MustParse("acme/engineering"), at)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.OpenTag(tags[0].Segment, tags[0].Window, tags[0].Tag); err != nil {
			b.Fatal(err)
		}
	}
}
