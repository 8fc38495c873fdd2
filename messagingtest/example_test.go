package messagingtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/symbia-labs/messaging-go/messagingtest"
)

// call sends a JSON request with a Bearer token and returns the status and
// body.
func call(srv *messagingtest.Server, method, path, token, body string) (int, string) {
	req, err := http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func Example() {
	srv := messagingtest.NewServer()
	defer srv.Close()
	srv.AddUser("alice-token", messagingtest.Principal{ID: "11111111-1111-4111-8111-111111111111"})

	status, body := call(srv, "POST", "/api/conversations", "alice-token", `{"type":"group","name":"team"}`)
	var conv struct {
		ID           string `json:"id"`
		Participants []struct {
			Role string `json:"role"`
		} `json:"participants"`
	}
	_ = json.Unmarshal([]byte(body), &conv)
	fmt.Println(status, conv.Participants[0].Role)

	status, body = call(srv, "POST", "/api/conversations/"+conv.ID+"/messages", "alice-token", `{"content":"hello"}`)
	var msg struct {
		Content  string `json:"content"`
		Sequence int    `json:"sequence"`
	}
	_ = json.Unmarshal([]byte(body), &msg)
	fmt.Println(status, msg.Content, msg.Sequence)

	// What the code under test stored, for assertions.
	fmt.Println(len(srv.Messages(conv.ID)), srv.Stats().MessagesStored)

	// The service's answers, faults included.
	fmt.Println(call(srv, "GET", "/api/conversations", "wrong-token", ""))
	fmt.Println(call(srv, "GET", "/api/conversations/00000000-0000-4000-8000-000000000000", "alice-token", ""))
	fmt.Println(call(srv, "GET", "/api/conversations/not-a-uuid", "alice-token", ""))
	// Output:
	// 201 owner
	// 201 hello 1
	// 1 1
	// 401 {"error":"Authentication required"}
	// 403 {"error":"Not a participant in this conversation"}
	// 404 {"error":"Conversation not found"}
}

func ExampleServer_FailNext() {
	srv := messagingtest.NewServer()
	defer srv.Close()
	srv.AddUser("tok", messagingtest.Principal{ID: "11111111-1111-4111-8111-111111111111"})

	// The next two requests fail, asking the client to come back later.
	srv.FailNext(2, http.StatusServiceUnavailable, 2*time.Second)
	for i := 0; i < 3; i++ {
		fmt.Println(call(srv, "GET", "/api/conversations", "tok", ""))
	}
	// Output:
	// 503 {"error":"Service Unavailable"}
	// 503 {"error":"Service Unavailable"}
	// 200 []
}
