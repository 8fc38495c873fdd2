package messaging

// Typing shown while streams write: shared by the streams of one socket
// and conversation, so that one stream ending does not stop another's.

import (
	"context"
	"strings"
	"sync"
)

// streamTyping counts, per conversation, the streams of one socket
// showing the caller typing, so that typing:stop is sent when the last of
// them ends, not when the first does: receivers take a typing stop as the
// end of the sender's streams (see ChunkAssembler). It lives on the Socket
// (Socket.streams); its entries exist only while streams run. The zero
// value is ready.
type streamTyping struct {
	mu sync.Mutex
	m  map[string]*typingShare // lower-cased conversation id → share
}

// typingShare is the typing indicator of one socket in one conversation.
// Its mutex orders the starts and stops on the wire.
type typingShare struct {
	users  int // streams holding the entry (streamTyping's lock)
	mu     sync.Mutex
	active int // streams showing typing (mu)
}

// enter returns the conversation's share, held until leave.
func (r *streamTyping) enter(conv string) *typingShare {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := strings.ToLower(conv)
	sh := r.m[k]
	if sh == nil {
		if r.m == nil {
			r.m = make(map[string]*typingShare)
		}
		sh = &typingShare{}
		r.m[k] = sh
	}
	sh.users++
	return sh
}

// leave releases a share taken by enter.
func (r *streamTyping) leave(conv string, sh *typingShare) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sh.users--
	if sh.users == 0 {
		delete(r.m, strings.ToLower(conv))
	}
}

// len returns how many conversations have a share.
func (r *streamTyping) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.m)
}

// set records one stream's typing (was → on) and tells the service: a
// start each time a stream starts or refreshes, a stop when the last
// stream stops. Errors are ignored: typing is best effort.
func (sh *typingShare) set(ctx context.Context, s *Socket, conv string, was, on bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch {
	case on && !was:
		sh.active++
	case !on && was:
		sh.active--
	}
	if on {
		_ = s.StartTyping(ctx, conv)
	} else if sh.active == 0 {
		_ = s.StopTyping(ctx, conv)
	}
}
