package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/internal/socketio"
)

// The connection side of the Socket: socketio's hooks, the connector that
// makes each new connection ready, and every room call (join, watch,
// leave, unwatch, and the rejoin after a reconnection).

// rejoinParallel bounds the joins in flight while rejoining rooms.
const rejoinParallel = 16

// ErrConnectionUnstable is reported to OnError when 5 consecutive
// connections each ended within 1 s of being made (a server or proxy that
// breaks every connection right after it is made, e.g. with a packet the
// client cannot decode): the socket keeps reconnecting, but does no work. It is reported once per such streak,
// wrapping the last connection's cause; a connection that lasts resets
// the count.
var ErrConnectionUnstable = errors.New("messaging: every connection ends right after it is made")

const (
	// unstableConnections is how many consecutive short connections make
	// an ErrConnectionUnstable report.
	unstableConnections = 5
	// shortConnection is how long a connection must last to count as
	// having done work.
	shortConnection = time.Second
)

// roomMode is what the socket asked for a conversation's room.
type roomMode int

const (
	roomJoined  roomMode = iota + 1 // JoinConversation
	roomWatched                     // WatchConversation
	roomLeft                        // LeaveConversation, UnwatchConversation
)

// ---- socketio hooks: they run on socketio's read goroutine and must not
// block; they only record state and queue work. ----

func (s *Socket) onConnect() {
	s.mu.Lock()
	s.connAt = time.Now()
	s.conns++
	s.connCtx, s.connCancel = context.WithCancel(s.base)
	s.nsUp = true
	// Under the lock the connector decides to stop with (takeConnection):
	// either it still runs and takes up this connection, or it has stopped
	// and starts again here.
	s.connector.KickLocked()
	s.mu.Unlock()
}

func (s *Socket) onDisconnect(reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nsUp = false
	if s.connCancel != nil {
		s.connCancel()
	}
	if s.state == StateClosed {
		return
	}
	cause := fmt.Errorf("messaging: connection lost: %s", reason)
	if err != nil {
		cause = fmt.Errorf("messaging: connection lost: %s: %w", reason, err)
	}
	s.countShortLocked(cause)
	if s.cfg.reconnection && reason != ReasonServerDisconnect && reason != ReasonClientDisconnect {
		retryIn := s.retryIn
		if retryIn == 0 {
			retryIn = s.cfg.delay // not scheduled (cannot happen with socketio's order)
		}
		s.retryIn = 0
		s.setStateLocked(StateReconnecting, cause, reason, retryIn)
	} else {
		s.setStateLocked(StateDisconnected, cause, reason, 0)
	}
	s.queue.pushControl(item{kind: itemLost})
}

// countShortLocked counts the connection just lost if it was short, and
// reports ErrConnectionUnstable at the unstableConnections-th in a row.
func (s *Socket) countShortLocked(cause error) {
	if s.connAt.IsZero() || time.Since(s.connAt) >= shortConnection {
		s.shortConns = 0
		return
	}
	s.shortConns++
	if s.shortConns == unstableConnections {
		s.queueError(fmt.Errorf("%w: %d connections in a row ended within %v of being made; the last: %w",
			ErrConnectionUnstable, s.shortConns, shortConnection, cause))
	}
}

// onReconnectScheduled records the delay of the first attempt after a lost
// connection; socketio reports it just before onDisconnect.
func (s *Socket) onReconnectScheduled(n int, delay time.Duration) {
	if n == 1 {
		s.mu.Lock()
		s.retryIn = delay
		s.mu.Unlock()
	}
}

func (s *Socket) onReconnectAttempt(n int) {
	s.queue.pushControl(item{kind: itemReconnecting, n: n})
}

func (s *Socket) onReconnectFailed(err error) {
	err = reconnectFailed(err)
	s.mu.Lock()
	if s.state != StateClosed {
		s.setStateLocked(StateDisconnected, err, ReasonReconnectFailed, 0)
	}
	s.mu.Unlock()
	s.queueError(err)
}

func (s *Socket) onConnectError(err error) {
	var ce *socketio.ConnectError
	var te *tokenSourceError
	switch {
	case errors.As(err, &ce):
		cerr := &ConnectError{Message: ce.Message}
		s.mu.Lock()
		if s.state != StateClosed {
			s.setStateLocked(StateDisconnected, cerr, ReasonConnectRefused, 0)
		}
		s.mu.Unlock()
		s.queueError(cerr)
	case errors.As(err, &te):
		s.queueError(te)
	default:
		s.log.LogAttrs(context.Background(), slog.LevelInfo, "messaging: connection attempt failed",
			slog.String("error", err.Error()))
	}
}

// ---- the connector: rejoins rooms after every (re)connection, then lets
// waiting calls through. ----

// The connector is a lazy worker (internal/lazy) on s.mu: onConnect
// kicks it, and it runs while a connection waits to be made ready.

// takeConnection, called by the connector with s.mu held, takes up the
// newest connection if it is not taken up yet, and returns the job that
// makes it ready.
func (s *Socket) takeConnection() (job func(), ok bool) {
	if s.readyConn == s.conns || s.state == StateClosed {
		return nil, false
	}
	s.readyConn = s.conns
	n, cctx, up := s.conns, s.connCtx, s.nsUp
	rooms := make(map[string]roomMode, len(s.rooms))
	for id, m := range s.rooms {
		rooms[id] = m
	}
	presence := s.presence
	return func() {
		if up {
			s.makeReady(n, cctx, rooms, presence)
		} // else lost again; a newer connection is taken up, if any
	}, true
}

// makeReady rejoins the rooms of connection n and, if it still is the
// newest and up, moves the socket to StateConnected.
func (s *Socket) makeReady(n uint64, cctx context.Context, rooms map[string]roomMode, presence PresenceStatus) {
	if s.rejoin(cctx, rooms, presence) != nil {
		return // lost again; a newer connection is taken up, if any
	}
	s.mu.Lock()
	ready := s.conns == n && s.nsUp && s.state != StateClosed
	var leave []string
	var status PresenceStatus
	if ready {
		s.setStateLocked(StateConnected, nil, "", 0)
		s.queue.pushControl(item{kind: itemReady})
		// Rooms left and presence set while the rejoin ran would
		// otherwise wait for the next reconnection.
		for id, m := range s.rooms {
			if m == roomLeft && rooms[id] != roomLeft {
				leave = append(leave, id)
			}
		}
		if s.presence != presence {
			status = s.presence
		}
	}
	s.mu.Unlock()
	for _, id := range leave {
		_ = s.sio.Emit(cctx, EventLeaveConversation, id)
	}
	if status != "" {
		_ = s.sio.Emit(cctx, EventPresenceUpdate, status)
	}
}

// rejoin restores the rooms of a new connection: joins and watches again
// (in parallel), leaves again the rooms the server joined on its own but
// the caller had left, and announces the last presence status. It fails
// only when the connection ends meanwhile.
func (s *Socket) rejoin(ctx context.Context, rooms map[string]roomMode, presence PresenceStatus) error {
	sem := make(chan struct{}, rejoinParallel)
	var wg sync.WaitGroup
	for id, mode := range rooms {
		if mode == roomLeft {
			continue
		}
		event := EventJoinConversation
		if mode == roomWatched {
			event = EventWatchConversation
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, s.cfg.ackTimeout)
			defer cancel()
			args, err := s.sio.EmitWithAck(actx, event, id)
			if err == nil {
				_, err = decodeAck(event, args)
			}
			var ae *AckError
			switch {
			case err == nil:
			case errors.As(err, &ae):
				// Refused now (removed from the conversation, capability
				// withdrawn): forget the room.
				s.mu.Lock()
				if s.rooms[id] == mode {
					delete(s.rooms, id)
				}
				s.mu.Unlock()
				s.queueError(fmt.Errorf("messaging: rejoining conversation %s: %w", id, err))
			case ctx.Err() == nil:
				s.queueError(fmt.Errorf("messaging: rejoining conversation %s: %w", id, err))
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for id, mode := range rooms {
		if mode == roomLeft {
			_ = s.sio.Emit(ctx, EventLeaveConversation, id)
		}
	}
	if presence != "" {
		_ = s.sio.Emit(ctx, EventPresenceUpdate, presence)
	}
	return ctx.Err()
}

// JoinConversation joins a conversation's room, so that its events reach
// this socket, and keeps it joined across reconnections. The service
// already joins, at connect time, the rooms of every conversation the
// caller participated in then; joining is needed for conversations the
// caller joined later, and it also marks where the socket's history
// backfill starts for the conversation (see "Delivery" in the package
// documentation): with backfill on, it first reads the conversation's
// newest message over REST. A refusal names the conversation and
// unwraps to an *AckError (errors.As; "Not a participant" matches
// ErrNotParticipant).
func (s *Socket) JoinConversation(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.reported(err)
	}
	return s.reported(s.joinRoom(ctx, conversationID, roomJoined, EventJoinConversation))
}

// WatchConversation observes a conversation without participating in it,
// like JoinConversation otherwise. Only agents with the messaging.observe
// capability may; others get an error unwrapping to an *AckError,
// matching ErrForbidden ("Observe capability required").
func (s *Socket) WatchConversation(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.reported(err)
	}
	return s.reported(s.joinRoom(ctx, conversationID, roomWatched, EventWatchConversation))
}

func (s *Socket) joinRoom(ctx context.Context, id string, mode roomMode, event string) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	if _, err := s.waitReady(ctx); err != nil {
		return fmt.Errorf("messaging: %s: %w", event, err)
	}
	anchor := s.anchorFor(ctx, id)
	// Recorded before the call, so that a reconnection during it joins
	// the room again.
	s.mu.Lock()
	prev, had := s.rooms[id]
	s.rooms[id] = mode
	s.mu.Unlock()
	_, err := s.request(ctx, event, resendSafe, id)
	if err != nil {
		err = nameRoom(err, id)
		s.mu.Lock()
		if s.rooms[id] == mode {
			if had {
				s.rooms[id] = prev
			} else {
				delete(s.rooms, id)
			}
		}
		s.mu.Unlock()
		return err
	}
	if anchor != nil {
		s.queue.pushControl(*anchor)
	}
	return nil
}

// roomRefusal is the refusal of a room call, naming the conversation as
// REST errors name their path: "messaging: join:conversation <id>
// refused: Not a participant". It unwraps to the *AckError.
type roomRefusal struct {
	conversationID string
	ack            *AckError
}

func (e *roomRefusal) Error() string {
	return fmt.Sprintf("messaging: %s %s refused: %s", e.ack.Event, e.conversationID, e.ack.Message)
}

func (e *roomRefusal) Unwrap() error { return e.ack }

// nameRoom makes a refusal of a room call name its conversation.
func nameRoom(err error, conversationID string) error {
	if ae, ok := err.(*AckError); ok {
		return &roomRefusal{conversationID: conversationID, ack: ae}
	}
	return err
}

// leaveRoom records that the caller left a room, so that it is left again
// after a reconnection (the service joins every conversation of the
// caller at connect time), and tells the server now if connected.
func (s *Socket) leaveRoom(ctx context.Context, id, event string) error {
	if ctx == nil {
		return invalid("ctx", "is nil")
	}
	s.mu.Lock()
	st := s.state
	if st != StateClosed {
		s.rooms[id] = roomLeft
	}
	s.mu.Unlock()
	if st == StateClosed {
		return fmt.Errorf("messaging: %s: %w", event, ErrClosed)
	}
	s.queue.pushControl(item{kind: itemForget, conv: id})
	if st != StateConnected {
		return nil // not in any room now; left again after reconnecting
	}
	err := s.emit(ctx, event, id)
	if errors.Is(err, ErrNotConnected) {
		return nil
	}
	return err
}

// LeaveConversation leaves a conversation's room: its events stop reaching
// this socket, also after reconnections, until JoinConversation. The
// caller stays a participant (see Client.LeaveConversation to stop being
// one). It does not wait for a connection: while disconnected it only
// records the choice. It fails after Close.
func (s *Socket) LeaveConversation(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.reported(err)
	}
	return s.reported(s.leaveRoom(ctx, conversationID, EventLeaveConversation))
}

// UnwatchConversation stops observing a conversation, as LeaveConversation
// leaves one.
func (s *Socket) UnwatchConversation(ctx context.Context, conversationID string) error {
	if err := requireUUID("conversationID", conversationID); err != nil {
		return s.reported(err)
	}
	return s.reported(s.leaveRoom(ctx, conversationID, EventUnwatchConversation))
}
