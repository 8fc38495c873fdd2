package messaging

import "time"

// WithAnnounceInterval sets the least time between two announcements of a
// PresenceTracker in one conversation (2 s by default), for tests.
func WithAnnounceInterval(d time.Duration) PresenceTrackerOption {
	return presenceOptionFunc(func(p *PresenceTracker) { p.interval = d })
}
