package netfault

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// Gate is a dialer whose connections can all be cut at once (Shut), after
// which new dials wait until Reopen: a client that loses its connection
// and comes back later. It works against any server. The zero Gate is
// not ready: use NewGate.
type Gate struct {
	mu    sync.Mutex
	open  chan struct{} // closed while open
	conns []net.Conn
}

// NewGate returns an open gate.
func NewGate() *Gate {
	g := &Gate{open: make(chan struct{})}
	close(g.open)
	return g
}

// HTTPClient returns a client dialling through the gate, and its
// transport (whose idle connections the caller closes when done).
func (g *Gate) HTTPClient() (*http.Client, *http.Transport) {
	tr := &http.Transport{DialContext: g.Dial}
	return &http.Client{Transport: tr}, tr
}

// Dial dials once the gate is open, and remembers the connection.
func (g *Gate) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		g.mu.Lock()
		g.conns = append(g.conns, c)
		g.mu.Unlock()
	}
	return c, err
}

// Shut cuts every connection and holds new dials.
func (g *Gate) Shut() {
	g.mu.Lock()
	g.open = make(chan struct{})
	conns := g.conns
	g.conns = nil
	g.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Reopen lets new dials through.
func (g *Gate) Reopen() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}
