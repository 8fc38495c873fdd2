package messaging

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func socketTransportUsers() int {
	socketTransport.mu.Lock()
	defer socketTransport.mu.Unlock()
	return socketTransport.users
}

// Sockets made by NewSocket share one SDK transport (one each cost
// several KiB per idle connection), released by the last Close; a
// caller's client is never shared nor counted.
func TestNewSocketsShareOneTransport(t *testing.T) {
	before := socketTransportUsers()
	a, err := NewSocket(WithEndpoint("http://127.0.0.1:1"), WithToken("t"))
	require.NoError(t, err)
	b, err := NewSocket(WithEndpoint("http://127.0.0.1:1"), WithToken("t"))
	require.NoError(t, err)
	assert.Same(t, a.cfg.common.httpClient, b.cfg.common.httpClient)
	assert.Nil(t, a.rest.cfg.common.ownTransport, "the history client does not close the shared transport")
	assert.Equal(t, before+2, socketTransportUsers())

	mine := &http.Client{}
	c, err := NewSocket(WithEndpoint("http://127.0.0.1:1"), WithHTTPClient(mine))
	require.NoError(t, err)
	assert.Same(t, mine, c.cfg.common.httpClient)
	assert.Equal(t, before+2, socketTransportUsers())
	require.NoError(t, c.Close())

	require.NoError(t, a.Close())
	require.NoError(t, a.Close()) // released once
	assert.Equal(t, before+1, socketTransportUsers())
	require.NoError(t, b.Close())
	assert.Equal(t, before, socketTransportUsers())
}
