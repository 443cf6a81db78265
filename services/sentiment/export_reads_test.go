package sentiment

import (
	"context"
	"time"

	commonv1 "github.com/voix-dev/voix/proto/voix/common/v1"
	sentimentv1 "github.com/voix-dev/voix/proto/voix/sentiment/v1"
	"github.com/voix-dev/voix/services/platform/segment"
	"github.com/voix-dev/voix/services/platform/window"
)

// ReadTrendUncached reads the trend of seg and dim over the published windows from start's to
// end's from the store, bypassing the cache.
func (s *Service) ReadTrendUncached(seg string, dim commonv1.Dimension, start, end time.Time) (*sentimentv1.GetTrendResponse, error) {
	var windows []window.Window
	for w := window.Of(s.cfg.Publish, start); !w.Start.After(end); w = w.Next() {
		windows = append(windows, w)
	}
	points, err := s.trend(context.Background(), segment.MustParse(seg), dim, windows)
	return &sentimentv1.GetTrendResponse{Points: points}, err
}
