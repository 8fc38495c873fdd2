package netfault

import (
	"bufio"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// echoServer echoes every line; it returns its address.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() { _, _ = io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

func proxyT(t *testing.T) (*Proxy, net.Conn, *bufio.Reader) {
	t.Helper()
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	if l, err := r.ReadString('\n'); err != nil || l != "GET / HTTP/1.1\r\n" {
		t.Fatalf("echo: %q %v", l, err)
	}
	return p, c, r
}

func TestProxyForwardsAndRecordsTheFirstLine(t *testing.T) {
	p, _, _ := proxyT(t)
	links := p.Links()
	if len(links) != 1 || links[0].FirstLine() != "GET / HTTP/1.1" {
		t.Fatalf("links %v", links)
	}
}

func TestProxyCuts(t *testing.T) {
	for _, tc := range []struct {
		f    Fault
		want func(error) bool
	}{
		{FIN, func(err error) bool { return errors.Is(err, io.EOF) }},
		{RST, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) }},
	} {
		t.Run(tc.f.String(), func(t *testing.T) {
			p, c, r := proxyT(t)
			if n := p.CutAll(tc.f); n != 1 {
				t.Fatalf("cut %d links", n)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := r.ReadByte(); !tc.want(err) {
				t.Fatalf("read after %v: %v", tc.f, err)
			}
		})
	}
}

func TestProxyMidFrame(t *testing.T) {
	p, c, r := proxyT(t)
	p.CutAll(MidFrame)
	if _, err := c.Write([]byte("0123456789\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(r)
	if len(got) >= 11 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after a mid-frame cut: %q %v", got, err)
	}
}

func TestProxyBlackHoleKeepsTheConnectionOpenAndSilent(t *testing.T) {
	p, c, r := proxyT(t)
	p.CutAll(BlackHole)
	if _, err := c.Write([]byte("lost\n")); err != nil {
		t.Fatal(err)
	}
	// Nothing comes back, and the connection does not end: the read
	// times out (a short deadline here is the assertion's subject, not a
	// wait for a condition).
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := r.ReadByte()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read from a black hole: %v, want a timeout", err)
	}
	if l := p.Links(); len(l) != 1 || l[0].Fault() != BlackHole {
		t.Fatalf("links %v", l)
	}
}
