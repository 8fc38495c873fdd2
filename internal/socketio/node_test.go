package socketio

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/symbia-labs/messaging-go/internal/testnode"
)

// The Node referee: testdata/conformance/server.js runs the official
// socket.io server. Tests that need it skip when node or the npm modules are
// missing, unless MESSAGING_CONFORMANCE=required, where they fail.

const conformanceDir = "../../testdata/conformance"

func requireNode(t *testing.T) (nodePath string) {
	t.Helper()
	return testnode.Require(t, conformanceDir)
}

// nodeServer is one running server.js.
type nodeServer struct {
	t    *testing.T
	node string
	env  []string
	Port int
	URL  string
	cmd  *exec.Cmd
	wait chan error
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startNode starts server.js on a free loopback port; env adds variables
// such as SIO_PING_INTERVAL=300. The server is stopped at test cleanup.
func startNode(t *testing.T, env ...string) *nodeServer {
	t.Helper()
	ns := &nodeServer{t: t, node: requireNode(t), env: env, Port: freePort(t)}
	ns.URL = fmt.Sprintf("http://127.0.0.1:%d", ns.Port)
	ns.start()
	t.Cleanup(ns.Stop)
	return ns
}

func (ns *nodeServer) start() {
	t := ns.t
	t.Helper()
	var lastErr error
	// The port may briefly stay busy after a restart: retry a few times.
	for try := 0; try < 20; try++ {
		cmd := exec.Command(ns.node, "server.js", fmt.Sprint(ns.Port))
		cmd.Dir = conformanceDir
		cmd.Env = append(os.Environ(), ns.env...)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start node: %v", err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			ok := false
			for sc.Scan() {
				if !ok && strings.HasPrefix(sc.Text(), "READY ") {
					ok = true
					ready <- true
				}
			}
			if !ok {
				ready <- false
			}
		}()
		wait := make(chan error, 1)
		select {
		case ok := <-ready:
			if ok {
				go func() { wait <- cmd.Wait() }()
				ns.cmd, ns.wait = cmd, wait
				return
			}
			lastErr = cmd.Wait()
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("node server.js did not print READY within 15s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("node server.js failed to start: %v", lastErr)
}

// Kill stops the server abruptly (SIGKILL), as a crash would.
func (ns *nodeServer) Kill() {
	if ns.cmd == nil {
		return
	}
	_ = ns.cmd.Process.Signal(syscall.SIGKILL)
	<-ns.wait
	ns.cmd = nil
}

// Restart kills the server and starts a new one on the same port.
func (ns *nodeServer) Restart() {
	ns.Kill()
	ns.start()
}

// Stop ends the server.
func (ns *nodeServer) Stop() {
	if ns.cmd == nil {
		return
	}
	_ = ns.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ns.wait:
	case <-time.After(5 * time.Second):
		_ = ns.cmd.Process.Kill()
		<-ns.wait
	}
	ns.cmd = nil
}
