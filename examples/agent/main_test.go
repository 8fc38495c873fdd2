package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestAgentDemoEmbedded(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	err := run(context.Background(), config{wait: 10 * time.Second, delay: 20 * time.Millisecond}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	for _, want := range []string{
		"started an in-process test service",
		`alice asks "Plan a weekend in Paris"`,
		"sees the agent typing…",
		"paused",
		"resumed",
		`complete: "Day one: the Louvre in the morning, a walk along the Seine, dinner in the Marais. Day two:`,
		"complete after stream.preempt",
		"preempted (new question), the reply keeps",
		`complete: "The Louvre is closed on Tuesdays, not Mondays: on Monday it opens at nine."`,
		"complete after stream.handoff",
		"handed off to agent:billing",
		"Done in",
	} {
		assert.Contains(t, out.String(), want)
	}
}

func TestAgentNeedsAToken(t *testing.T) {
	err := run(context.Background(), config{endpoint: "http://127.0.0.1:1"}, &bytes.Buffer{})
	assert.ErrorContains(t, err, "needs the agent's token")
}
