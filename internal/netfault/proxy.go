package netfault

import (
	"bytes"
	"errors"
	"net"
	"sync"
)

// Fault is how a Proxy cuts a connection.
type Fault int

const (
	// FIN closes both sides cleanly (each peer reads end of stream).
	FIN Fault = iota + 1
	// RST resets both sides (each peer reads "connection reset").
	RST
	// MidFrame forwards half of the next chunk of bytes, in whichever
	// direction it comes, then closes both sides: the peer holds a
	// truncated frame.
	MidFrame
	// BlackHole stops forwarding in both directions without closing
	// anything, as a NAT table or a load balancer that forgot the
	// connection does: bytes sent either way are read and dropped, and
	// neither peer learns of it until a timeout of its own fires.
	BlackHole
)

// String names the fault.
func (f Fault) String() string {
	switch f {
	case FIN:
		return "FIN"
	case RST:
		return "RST"
	case MidFrame:
		return "mid-frame"
	case BlackHole:
		return "black hole"
	}
	return "none"
}

// Proxy is a TCP proxy on 127.0.0.1 that forwards every connection to a
// target address and cuts connections on command, one (Link.Cut) or all
// (CutAll), or as each opens (OnRequest).
type Proxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	links     map[*Link]struct{}
	onRequest func(*Link)
	closed    bool
	wg        sync.WaitGroup
}

// NewProxy listens on a free port of 127.0.0.1 and forwards to target
// (host:port). Close it when done.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, links: make(map[*Link]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// OnRequest sets f, called (on the link's goroutine) once the first bytes
// a client sent on a new connection were forwarded; Link.FirstLine tells
// what they were (an HTTP request line). f may cut the link, so that the
// request reaches the target and its answer is lost. Nil means none.
func (p *Proxy) OnRequest(f func(*Link)) {
	p.mu.Lock()
	p.onRequest = f
	p.mu.Unlock()
}

// Links returns the connections open through the proxy.
func (p *Proxy) Links() []*Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Link, 0, len(p.links))
	for l := range p.links {
		out = append(out, l)
	}
	return out
}

// CutAll cuts every open connection with f and returns how many it cut.
func (p *Proxy) CutAll(f Fault) int {
	links := p.Links()
	for _, l := range links {
		l.Cut(f)
	}
	return len(links)
}

// Close stops accepting, closes every connection (black holes included)
// and waits for the proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, l := range p.Links() {
		l.close(false)
	}
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		l := &Link{p: p, client: client, server: server}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go l.pump(client, server, true)
		go l.pump(server, client, false)
	}
}

// Link is one connection through a Proxy.
type Link struct {
	p              *Proxy
	client, server net.Conn

	mu        sync.Mutex
	firstLine string
	fault     Fault // 0 while forwarding
	closed    bool
	pumps     int // pumps that exited
}

// FirstLine is the first line the client sent (for HTTP, the request
// line), "" before it sent anything.
func (l *Link) FirstLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstLine
}

// Fault returns the fault the link was cut with, 0 if none.
func (l *Link) Fault() Fault {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fault
}

// Cut cuts the link with f; the first cut wins.
func (l *Link) Cut(f Fault) {
	l.mu.Lock()
	if l.fault != 0 || l.closed {
		l.mu.Unlock()
		return
	}
	l.fault = f
	l.mu.Unlock()
	switch f {
	case FIN:
		l.close(false)
	case RST:
		l.close(true)
	}
	// MidFrame acts on the next chunk; BlackHole drops from now on.
}

// close closes both sides, with a reset when rst.
func (l *Link) close(rst bool) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	for _, c := range []net.Conn{l.client, l.server} {
		if tc, ok := c.(*net.TCPConn); ok && rst {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}

// pump copies src to dst until src fails, applying the link's fault to
// every chunk.
func (l *Link) pump(src, dst net.Conn, fromClient bool) {
	defer l.p.wg.Done()
	defer l.exited()
	buf := make([]byte, 32<<10)
	first := fromClient
	for {
		n, err := src.Read(buf)
		if n > 0 {
			l.mu.Lock()
			f := l.fault
			l.mu.Unlock()
			switch f {
			case BlackHole:
				continue // dropped; src stays open
			case MidFrame:
				_, _ = dst.Write(buf[:max(n/2, 1)])
				l.close(false)
				return
			case FIN, RST:
				return
			}
			if first {
				line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
				l.mu.Lock()
				l.firstLine = string(line)
				l.mu.Unlock()
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				if l.Fault() == BlackHole {
					continue
				}
				l.close(false)
				return
			}
			if first {
				first = false
				l.p.mu.Lock()
				f := l.p.onRequest
				l.p.mu.Unlock()
				if f != nil {
					f(l)
				}
			}
		}
		if err != nil {
			if l.Fault() == BlackHole && !errors.Is(err, net.ErrClosed) {
				// A peer that gives up closes its side: a black hole
				// hides that from the other peer too.
				return
			}
			l.close(false)
			return
		}
	}
}

// exited removes the link once both pumps have exited.
func (l *Link) exited() {
	l.mu.Lock()
	l.pumps++
	done := l.pumps == 2
	l.mu.Unlock()
	if done {
		l.close(false)
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	}
}
