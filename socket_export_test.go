package messaging

// Counters of a socket's delivery, for the tests of the external package.

// DeliveryCounters returns how many messages s delivered from the history, how
// many live repeats it dropped, and how many history requests it made.
func DeliveryCounters(s *Socket) (backfilled, duplicates, fetches int64) {
	st := &s.d.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.backfilled, st.duplicates, st.fetches
}

// SocketQueue returns how many server events wait in s's handler queue
// and how many it dropped.
func SocketQueue(s *Socket) (queued int, dropped int64) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return s.q.events, s.q.dropped
}
