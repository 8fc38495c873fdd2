// Package rawfloor is the floor under the floor: the same Socket.IO frames
// and the same ack matching as package floor, but with no WebSocket
// library at all. It does the HTTP upgrade itself and writes and reads
// RFC 6455 frames by hand on a bare net.Conn: one masked text frame per
// write, one write syscall per frame, a 64 KiB buffered reader. What the
// floor costs beyond this is the cost of coder/websocket itself.
//
// It implements only what the benchmark server sends: unfragmented or
// fragmented text frames, pings and close frames, no extensions.
package rawfloor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/symbia-labs/messaging-go/bench/internal/acks"
	"github.com/symbia-labs/messaging-go/bench/internal/load"
)

// messageID is the message id of every message, as in package floor.
const messageID = "5b0e6a1c-3f7d-4c2a-9e8b-1d2f3a4b5c6d"

// acceptGUID is the fixed GUID of RFC 6455's Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Driver dials raw connections.
type Driver struct{}

// Conn is one connection.
type Conn struct {
	nc        net.Conn
	br        *bufio.Reader
	send      []byte
	onMessage func()

	rbuf []byte // the message being read, reused

	wmu  sync.Mutex // serialises frame writes
	wbuf []byte
	mask uint64 // xorshift state for mask keys

	acks acks.Table
	done chan struct{}
}

// Dial connects, upgrades, reads the open packet and connects the
// namespace with {token}.
func (Driver) Dial(ctx context.Context, rawURL, conversation string, onMessage func()) (load.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c := &Conn{
		nc: nc,
		br: bufio.NewReaderSize(nc, 64<<10),
		send: []byte(`["message:send",{"conversationId":"` + conversation + `","id":"` + messageID +
			`","content":"` + load.Content + `"}]`),
		onMessage: onMessage,
		done:      make(chan struct{}),
	}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	c.mask = binary.LittleEndian.Uint64(seed[:]) | 1
	fail := func(err error) (load.Conn, error) {
		_ = nc.Close()
		return nil, err
	}
	if err := c.upgrade(u.Host); err != nil {
		return fail(err)
	}
	if b, err := c.readMessage(); err != nil || len(b) == 0 || b[0] != '0' {
		return fail(fmt.Errorf("open packet: %q %v", b, err))
	}
	if err := c.write([]byte(`40{"token":"` + load.Token + `"}`)); err != nil {
		return fail(err)
	}
	if b, err := c.readMessage(); err != nil || !bytes.HasPrefix(b, []byte("40{")) {
		return fail(fmt.Errorf("CONNECT reply: %q %v", b, err))
	}
	_ = nc.SetDeadline(time.Time{})
	go c.read()
	return c, nil
}

// upgrade does the HTTP/1.1 WebSocket handshake.
func (c *Conn) upgrade(host string) error {
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.nc, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: status %s", resp.Status)
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return errors.New("upgrade: bad Sec-WebSocket-Accept")
	}
	return nil
}

// writeFrameLocked writes one masked frame of opcode op whose payload is a
// followed by p, in one syscall. The caller holds wmu.
func (c *Conn) writeFrameLocked(op byte, a, p []byte) error {
	b := c.wbuf[:0]
	b = append(b, 0x80|op)
	switch n := len(a) + len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	// xorshift64: the mask need not be unpredictable on loopback.
	x := c.mask
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	c.mask = x
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], uint32(x))
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, a...)
	b = append(b, p...)
	maskBytes(b[start:], key)
	c.wbuf = b
	_, err := c.nc.Write(b)
	return err
}

// maskBytes XORs p with the repeating 4-byte key, eight bytes at a time.
func maskBytes(p []byte, key [4]byte) {
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k64)
	}
	for j := 0; i < len(p); i, j = i+1, j+1 {
		p[i] ^= key[j&3]
	}
}

func (c *Conn) write(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrameLocked(0x1, nil, p)
}

// readMessage returns the next text message (joining fragments), answering
// WebSocket pings on the way. The returned slice is valid until the next
// call.
func (c *Conn) readMessage() ([]byte, error) {
	msg := c.rbuf[:0]
	defer func() { c.rbuf = msg[:0] }()
	for {
		// Peek instead of reading into local arrays: a local array
		// handed to an io.Reader escapes, one allocation per frame.
		h, err := c.br.Peek(2)
		if err != nil {
			return nil, err
		}
		fin, op := h[0]&0x80 != 0, h[0]&0x0f
		masked := h[1]&0x80 != 0
		n := uint64(h[1] & 0x7f)
		hl := 2
		switch n {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if masked {
			hl += 4
		}
		h, err = c.br.Peek(hl)
		if err != nil {
			return nil, err
		}
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(h[2:]))
		case 127:
			n = binary.BigEndian.Uint64(h[2:])
		}
		if n > 1<<20 {
			return nil, fmt.Errorf("frame of %d bytes", n)
		}
		var key [4]byte
		if masked {
			copy(key[:], h[hl-4:])
		}
		_, _ = c.br.Discard(hl)
		start := len(msg)
		msg = slices.Grow(msg, int(n))[:start+int(n)]
		if _, err := io.ReadFull(c.br, msg[start:]); err != nil {
			return nil, err
		}
		if masked {
			maskBytes(msg[start:], key)
		}
		switch op {
		case 0x8: // close
			return nil, io.EOF
		case 0x9: // ping
			payload := append([]byte(nil), msg[start:]...)
			msg = msg[:start]
			c.wmu.Lock()
			err := c.writeFrameLocked(0xA, nil, payload)
			c.wmu.Unlock()
			if err != nil {
				return nil, err
			}
			continue
		case 0xA: // pong
			msg = msg[:start]
			continue
		}
		if fin {
			return msg, nil
		}
	}
}

// read answers Engine.IO pings, delivers acks and counts message:new.
func (c *Conn) read() {
	defer close(c.done)
	for {
		b, err := c.readMessage()
		if err != nil {
			c.acks.Fail(err)
			return
		}
		switch kind, id, ok := acks.Classify(b); kind {
		case acks.Ping:
			_ = c.write([]byte{'3'})
		case acks.Ack:
			c.acks.Deliver(id, ok)
		case acks.MessageNew:
			if c.onMessage != nil {
				c.onMessage()
			}
		}
	}
}

// emit writes "42<id><body>" as one frame and waits for the ack.
func (c *Conn) emit(ctx context.Context, body []byte) error {
	id, ch, err := c.acks.Register()
	if err != nil {
		return err
	}
	var head [24]byte
	p := append(head[:0], '4', '2')
	p = strconv.AppendUint(p, id, 10)
	c.wmu.Lock()
	err = c.writeFrameLocked(0x1, p, body)
	c.wmu.Unlock()
	if err != nil {
		c.acks.Forget(id)
		return err
	}
	return c.acks.Wait(ctx, id, ch)
}

// Send emits message:send and waits for {success:true}.
func (c *Conn) Send(ctx context.Context) error { return c.emit(ctx, c.send) }

// Join emits join:conversation and waits for its ack.
func (c *Conn) Join(ctx context.Context, conversation string) error {
	return c.emit(ctx, []byte(`["join:conversation","`+conversation+`"]`))
}

// Close drops the connection.
func (c *Conn) Close() error {
	err := c.nc.Close()
	<-c.done
	return err
}
