package messaging

import "github.com/google/uuid"

// NewMessageID returns a new random message id (a version 4 UUID), the
// kind the SDK makes for a send without one. Choose the id before sending
// to know a message before the service answers: to show it as pending, to
// match its message:new echo, or to retry the send after an error without
// storing it twice (the service stores an id once).
func NewMessageID() string {
	// uuid reads crypto/rand, which does not fail (it aborts the program
	// on a broken system random source instead).
	return uuid.NewString()
}
