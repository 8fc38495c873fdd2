package messaging

// Old names that dispatch.go (being reworked on another branch) still
// calls. Remove this file once dispatch.go calls notify and Empty.

// run is notify under its old name.
func run[T any](s *Socket, l *handlers[T], event string, v T) { notify(s, l, event, v) }

// empty is Empty under its old name.
func (l *handlers[T]) empty() bool { return l.Empty() }
