package messagingtest

import "sync"

// peer is one live socket as the hub sees it. emit must not block: the
// hub calls it under its lock so that every socket sees broadcasts in the
// same order.
type peer interface {
	emit(event string, payload []byte)
}

// hub holds the live sockets and their rooms, as Socket.IO's adapter does.
type hub struct {
	mu         sync.Mutex
	peers      map[peer]map[string]bool // live socket → its rooms
	rooms      map[string]map[peer]bool
	broadcasts int64
}

func newHub() *hub {
	return &hub{peers: make(map[peer]map[string]bool), rooms: make(map[string]map[peer]bool)}
}

func roomOf(conversationID string) string { return "conversation:" + conversationID }

func (h *hub) add(p peer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.peers[p] = make(map[string]bool)
}

// remove takes p out of every room.
func (h *hub) remove(p peer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for room := range h.peers[p] {
		h.leaveLocked(p, room)
	}
	delete(h.peers, p)
}

func (h *hub) join(p peer, room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rooms, ok := h.peers[p]
	if !ok {
		return // already gone
	}
	rooms[room] = true
	if h.rooms[room] == nil {
		h.rooms[room] = make(map[peer]bool)
	}
	h.rooms[room][p] = true
}

func (h *hub) leave(p peer, room string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leaveLocked(p, room)
}

func (h *hub) leaveLocked(p peer, room string) {
	delete(h.peers[p], room)
	if members := h.rooms[room]; members != nil {
		delete(members, p)
		if len(members) == 0 {
			delete(h.rooms, room)
		}
	}
}

// toRoom emits to every socket in room except except (nil for none).
func (h *hub) toRoom(room string, except peer, event string, payload []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broadcasts++
	for p := range h.rooms[room] {
		if p != except {
			p.emit(event, payload)
		}
	}
}

// toAll emits to every live socket except except.
func (h *hub) toAll(except peer, event string, payload []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broadcasts++
	for p := range h.peers {
		if p != except {
			p.emit(event, payload)
		}
	}
}

func (h *hub) counts() (live int, broadcasts int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.peers), h.broadcasts
}
