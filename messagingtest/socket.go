package messagingtest

import (
	"net/http"
)

const socketPath = "/socket.io/"

// socketLayer is the Socket.IO side of one run. (Stub until the server
// side of internal/socketio lands.)
type socketLayer struct {
	s    *Server
	done <-chan struct{}
}

func newSocketLayer(s *Server, done <-chan struct{}) *socketLayer {
	return &socketLayer{s: s, done: done}
}

func (l *socketLayer) ServeHTTP(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
func (l *socketLayer) close()                                           {}
func (l *socketLayer) wait()                                            {}
func (l *socketLayer) dropAll()                                         {}
func (l *socketLayer) pauseHeartbeats(bool)                             {}
