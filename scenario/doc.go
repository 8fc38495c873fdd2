// Package scenario holds the behaviour tests of the SDK written as one
// scenario suite: REST and socket, two users (alice, bob) and an agent,
// exercised only through the SDK's own Client and Socket.
//
// By default every scenario runs against an in-memory
// [github.com/symbia-labs/messaging-go/messagingtest] server. With
// MESSAGING_TEST_ENDPOINT set, the same scenarios run against that server
// instead, with the credentials of MESSAGING_TEST_TOKEN_ALICE,
// MESSAGING_TEST_TOKEN_BOB (users) and MESSAGING_TEST_TOKEN_AGENT (an agent
// with cap:messaging.interrupt, cap:messaging.route and
// cap:messaging.observe). See README.md in this directory, and COVERAGE.md
// for which test covers which row of the protocol tables.
//
// The package has no API: everything is in its _test.go files.
package scenario
