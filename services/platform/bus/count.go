package bus

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/voix-dev/voix/services/platform/events"
)

// Count is how many messages of kind k its stream holds, over every segment.
func Count(ctx context.Context, js jetstream.JetStream, k events.Kind) (int, error) {
	st, err := js.Stream(ctx, k.Stream.Name)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(k.All()))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}
