// Package netfault injects network faults, for tests: Conn and Dialer
// break a client's writes on demand (what a failed write did or did not
// hand to the network), and Proxy is a loopback TCP proxy that cuts
// connections by FIN, RST, mid-frame or black hole (a connection that
// stops forwarding without closing). It is test support: only tests
// import it.
package netfault

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
)

// Mode is how a Conn's writes behave.
type Mode int32

const (
	// Pass: writes go through.
	Pass Mode = iota
	// Refuse: a write fails before taking any byte (EPIPE).
	Refuse
	// Closed: a write fails before taking any byte, as on a socket closed
	// under the writer (net.ErrClosed).
	Closed
	// Half: a write hands half its bytes to the network, then fails
	// (ECONNRESET).
	Half
)

// Conn is a network connection whose writes fail on demand while its reads
// go on.
type Conn struct {
	net.Conn
	mode    atomic.Int32
	hold    atomic.Bool
	held    chan struct{}
	verdict chan Mode
	gone    chan struct{}
	once    sync.Once
}

func newConn(nc net.Conn) *Conn {
	return &Conn{Conn: nc, held: make(chan struct{}, 1), verdict: make(chan Mode, 1), gone: make(chan struct{})}
}

// Set makes the following writes behave as m.
func (c *Conn) Set(m Mode) { c.mode.Store(int32(m)) }

// Hold makes the next write wait, after signalling on Held, until Release
// (or Close).
func (c *Conn) Hold() { c.hold.Store(true) }

// Held receives once a held write waits.
func (c *Conn) Held() <-chan struct{} { return c.held }

// Release lets the held write go on as m; later writes behave as Set says.
func (c *Conn) Release(m Mode) { c.verdict <- m }

// Write implements net.Conn.
func (c *Conn) Write(p []byte) (int, error) {
	m := Mode(c.mode.Load())
	if c.hold.CompareAndSwap(true, false) {
		c.held <- struct{}{}
		select {
		case m = <-c.verdict:
		case <-c.gone:
			return 0, net.ErrClosed
		}
	}
	switch m {
	case Refuse:
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}
	case Closed:
		return 0, &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}
	case Half:
		n, _ := c.Conn.Write(p[:len(p)/2])
		return n, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
	}
	return c.Conn.Write(p)
}

// Close implements net.Conn; it also ends a held write.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.gone) })
	return c.Conn.Close()
}

// Dialer makes HTTP clients whose connections are Conns. The zero value is
// ready.
type Dialer struct {
	mu   sync.Mutex
	last *Conn
	tr   *http.Transport
}

// Client returns an HTTP client that dials Conns. Call Close when done.
func (d *Dialer) Client() *http.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tr == nil {
		d.tr = &http.Transport{DialContext: d.dial}
	}
	return &http.Client{Transport: d.tr}
}

func (d *Dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := newConn(nc)
	d.mu.Lock()
	d.last = c
	d.mu.Unlock()
	return c, nil
}

// Last returns the connection dialed last, nil before any.
func (d *Dialer) Last() *Conn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// Close closes the client's idle connections.
func (d *Dialer) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tr != nil {
		d.tr.CloseIdleConnections()
	}
}
