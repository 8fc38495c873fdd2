package messaging

// Where requests go: the endpoint (parseEndpoint), the HTTP transport the
// SDK makes for itself (newHTTPClient), and the one sockets made by
// NewSocket share (acquireSocketTransport).

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Settings of the transport the SDK makes for itself. The dial and TLS
// handshake bounds are net/http's defaults; the request timeout
// (WithRequestTimeout) bounds each whole request on top of them.
const (
	transportDialTimeout   = 30 * time.Second
	transportKeepAlive     = 30 * time.Second
	transportTLSTimeout    = 10 * time.Second
	transportIdleTimeout   = 90 * time.Second
	transportIdlePerHost   = 16 // net/http's default of 2 reconnects under concurrent sends
	transportMaxIdleConns  = 100
	transportExpectTimeout = time.Second
)

// socketTransport is the SDK transport that sockets made by NewSocket
// share, with the number of open ones: when the last one closes, its idle
// connections (and their goroutines) are released.
var socketTransport struct {
	mu     sync.Mutex
	client *http.Client
	t      *http.Transport
	users  int
}

// acquireSocketTransport returns the shared socket transport, made on
// first use. Its transport is returned as the socket's own (ownTransport)
// only to mark it as the SDK's; the socket's history client does not
// close it (see newSocket): releaseSocketTransport does.
func acquireSocketTransport() (*http.Client, *http.Transport) {
	st := &socketTransport
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.client == nil {
		st.client, st.t = newHTTPClient()
	}
	st.users++
	return st.client, st.t
}

// releaseSocketTransport is called once by each closed socket that
// acquired the shared transport.
func releaseSocketTransport() {
	st := &socketTransport
	st.mu.Lock()
	defer st.mu.Unlock()
	st.users--
	if st.users == 0 && st.t != nil {
		st.t.CloseIdleConnections()
	}
}

// newHTTPClient makes the SDK's own HTTP client: a clone of
// http.DefaultTransport with the settings above, so that Close can release
// its connections without touching anyone else's. A program that replaced
// http.DefaultTransport with something other than an *http.Transport (a
// mock, an instrumented RoundTripper) keeps getting it through
// http.DefaultClient, which the SDK then does not own.
func newHTTPClient() (*http.Client, *http.Transport) {
	dt, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return http.DefaultClient, nil
	}
	t := dt.Clone()
	t.DialContext = (&net.Dialer{Timeout: transportDialTimeout, KeepAlive: transportKeepAlive}).DialContext
	t.TLSHandshakeTimeout = transportTLSTimeout
	t.IdleConnTimeout = transportIdleTimeout
	t.MaxIdleConns = transportMaxIdleConns
	t.MaxIdleConnsPerHost = transportIdlePerHost
	t.ExpectContinueTimeout = transportExpectTimeout
	return &http.Client{Transport: t}, t
}

func parseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, invalid("endpoint", "%v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, invalid("endpoint", "scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return nil, invalid("endpoint", "has no host")
	}
	if u.User != nil {
		return nil, invalid("endpoint", "must not carry credentials: use WithToken or WithAPIKey")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, invalid("endpoint", "must not have a query or fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
