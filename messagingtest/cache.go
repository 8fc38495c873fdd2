package messagingtest

import (
	"slices"
	"sync"
	"time"
)

// participantCache is the socket side's participant cache: per user, the
// set of conversations known to include them, trusted for ttl after the
// last change. Only positive answers are cached; a removal does not
// invalidate it, so a removed participant passes socket checks until the
// entry goes stale. Keys are conversation ids as the client sent them.
type participantCache struct {
	now   func() time.Time
	ttl   time.Duration
	store *store

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	convs map[string]bool
	order []string // convs in the order they became known
	at    time.Time
}

func (e *cacheEntry) add(id string) {
	if !e.convs[id] {
		e.convs[id] = true
		e.order = append(e.order, id)
	}
}

func (e *cacheEntry) remove(id string) {
	if e.convs[id] {
		delete(e.convs, id)
		e.order = slices.DeleteFunc(e.order, func(x string) bool { return x == id })
	}
}

func newParticipantCache(now func() time.Time, ttl time.Duration, st *store) *participantCache {
	return &participantCache{now: now, ttl: ttl, store: st, entries: make(map[string]*cacheEntry)}
}

// fill replaces userID's entry with convs (on connect).
func (c *participantCache) fill(userID string, convs []string) {
	if c.ttl == 0 {
		return
	}
	e := &cacheEntry{convs: make(map[string]bool, len(convs)), at: c.now()}
	for _, id := range convs {
		e.add(id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[userID] = e
}

// isParticipant answers from the cache when it knows, else from the store.
func (c *participantCache) isParticipant(convID, userID string) (bool, error) {
	if c.ttl > 0 {
		c.mu.Lock()
		e := c.entries[userID]
		if e != nil && c.now().Sub(e.at) > c.ttl {
			delete(c.entries, userID)
			e = nil
		}
		hit := e != nil && e.convs[convID]
		c.mu.Unlock()
		if hit {
			return true, nil
		}
	}
	ok, err := c.store.isParticipant(convID, userID)
	if err != nil || c.ttl == 0 {
		return ok, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[userID]
	if e == nil {
		e = &cacheEntry{convs: make(map[string]bool)}
		c.entries[userID] = e
	}
	if ok {
		e.add(convID)
	} else {
		e.remove(convID)
	}
	e.at = c.now()
	return ok, nil
}

// known returns the cached conversations of userID (stale or not), or
// false when there is no entry.
func (c *participantCache) known(userID string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[userID]
	if e == nil {
		return nil, false
	}
	return slices.Clone(e.order), true
}

func (c *participantCache) invalidate(userID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, userID)
}
