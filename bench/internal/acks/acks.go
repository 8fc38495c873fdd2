// Package acks is what the two benchmark floors (bench/internal/floor on
// coder/websocket, bench/internal/rawfloor on a bare net.Conn) share: the
// table of acks in flight, and how a received Socket.IO frame is told
// apart without decoding its JSON. The floors differ only in how they
// write and read WebSocket frames.
package acks

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
)

// ErrRefused is an ack without success:true.
var ErrRefused = errors.New("floor: ack without success:true")

var chans = sync.Pool{New: func() any { return make(chan bool, 1) }}

// Table holds the acks in flight of one connection. The zero Table is
// ready.
type Table struct {
	next    atomic.Uint64
	mu      sync.Mutex
	pending map[uint64]chan bool
	err     error // why the connection's reader stopped
}

// Register gives the next ack id and the channel its ack arrives on; it
// fails once the reader has stopped.
func (t *Table) Register() (uint64, chan bool, error) {
	id := t.next.Add(1) - 1
	ch := chans.Get().(chan bool)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return 0, nil, t.err
	}
	if t.pending == nil {
		t.pending = make(map[uint64]chan bool)
	}
	t.pending[id] = ch
	return id, ch, nil
}

// Forget drops an id whose packet was not written.
func (t *Table) Forget(id uint64) {
	t.mu.Lock()
	delete(t.pending, id)
	t.mu.Unlock()
}

// Wait waits for the ack of id.
func (t *Table) Wait(ctx context.Context, id uint64, ch chan bool) error {
	select {
	case ok := <-ch:
		chans.Put(ch)
		if ok {
			return nil
		}
		t.mu.Lock()
		err := t.err
		t.mu.Unlock()
		if err != nil {
			return err
		}
		return ErrRefused
	case <-ctx.Done():
		t.Forget(id)
		return ctx.Err()
	}
}

// Deliver hands an ack to its waiter, if any.
func (t *Table) Deliver(id uint64, ok bool) {
	t.mu.Lock()
	ch := t.pending[id]
	delete(t.pending, id)
	t.mu.Unlock()
	if ch != nil {
		ch <- ok
	}
}

// Fail records why the reader stopped and fails every ack in flight.
func (t *Table) Fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err
	for id, ch := range t.pending {
		ch <- false
		delete(t.pending, id)
	}
}

// Kinds of received frames.
const (
	Other      = iota
	Ping       // Engine.IO ping: answer "3"
	Ack        // "43<id>…": id and success
	MessageNew // a message:new event
)

var (
	ackPrefix     = []byte("43")
	ackOK         = []byte(`[{"success":true`)
	messageNewPfx = []byte(`42["message:new",`)
)

// Classify tells what a received Engine.IO message is, reading only its
// prefix; for an Ack it returns the id and whether it says success.
func Classify(b []byte) (kind int, id uint64, ok bool) {
	switch {
	case len(b) == 1 && b[0] == '2':
		return Ping, 0, false
	case bytes.HasPrefix(b, ackPrefix):
		i := 2
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		id, err := strconv.ParseUint(string(b[2:i]), 10, 64)
		if err != nil {
			return Other, 0, false
		}
		return Ack, id, bytes.HasPrefix(b[i:], ackOK)
	case bytes.HasPrefix(b, messageNewPfx):
		return MessageNew, 0, false
	}
	return Other, 0, false
}
