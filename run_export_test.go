package messaging

import "time"

// Hooks into runs, streams and trackers, for the tests of the external
// package.

// SetRunIssueHook makes the streams of r call h with the content of each
// send or edit, just before making it. Set it before Run.Stream.
func SetRunIssueHook(r *Run, h func(content string)) { r.issueHook = h }

// WithTypingClock replaces the tracker's time.Now.
func WithTypingClock(now func() time.Time) TypingTrackerOption { return withTypingClock(now) }

// SweepTyping makes the tracker expire entries now, as its timer would.
func SweepTyping(t *TypingTracker) { t.sweep() }

// StreamTypingShares returns in how many conversations s's streams show
// the caller typing now.
func StreamTypingShares(s *Socket) int { return s.streams.len() }
