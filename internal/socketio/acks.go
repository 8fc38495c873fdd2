package socketio

import (
	"encoding/json"
	"sync"
)

type ackResult struct {
	args []json.RawMessage
	err  error
}

// ackTable holds the callers waiting for acks, by ack id, on either side.
// The zero value is ready. It is guarded by its owner's mutex: every method
// needs it held.
type ackTable struct {
	next    uint64 // id of the next ack; the first is 0
	waiting map[uint64]chan ackResult
}

// add registers a caller and returns the packet id to ask for and the
// channel the ack (or the failure) will come on.
func (t *ackTable) add() (uint64, chan ackResult) {
	if t.waiting == nil {
		t.waiting = make(map[uint64]chan ackResult)
	}
	id := t.next
	t.next++
	ch := make(chan ackResult, 1)
	t.waiting[id] = ch
	return id, ch
}

// drop forgets a caller that stopped waiting.
func (t *ackTable) drop(id uint64) { delete(t.waiting, id) }

// failAll completes every waiting caller with err.
func (t *ackTable) failAll(err error) {
	for id, ch := range t.waiting {
		ch <- ackResult{err: err}
		delete(t.waiting, id)
	}
}

// deliverAck hands an ACK packet to the caller waiting for it, if any; mu
// guards acks.
func deliverAck(mu *sync.Mutex, acks *ackTable, p *Packet) {
	if p.ID == nil {
		return
	}
	args, err := p.Args()
	mu.Lock()
	ch, ok := acks.waiting[*p.ID]
	delete(acks.waiting, *p.ID)
	mu.Unlock()
	if ok {
		ch <- ackResult{args: args, err: err}
	}
}
