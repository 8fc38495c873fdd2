# The test command of the README; .ci/run calls exactly `make test`.
SHELL := /bin/bash
GO ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
CONFORMANCE := testdata/conformance
# Build this module alone, whatever go.work a parent directory may hold.
export GOWORK := off

.PHONY: test check fmt-check vet lint unit examples deps fuzz bench cover otel-vet otel-lint otel-unit

test: deps fmt-check vet lint unit otel-vet otel-lint otel-unit examples

# The protocol referee's Node modules (the official socket.io server).
deps:
	npm ci --prefix $(CONFORMANCE) --no-audit --no-fund --loglevel=error

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

lint:
	$(GO) run $(STATICCHECK) ./...

unit:
	MESSAGING_CONFORMANCE=required $(GO) test -race -count=1 -timeout 10m ./...

# The OpenTelemetry module (otel/) is a module of its own, so that the
# SDK's go.mod never requires OpenTelemetry; it is checked the same way.
# Its go.sum is committed, so a fresh clone builds it as is.
otel-vet:
	cd otel && $(GO) vet ./...

otel-lint:
	cd otel && $(GO) run $(STATICCHECK) ./...

otel-unit:
	cd otel && $(GO) test -race -count=1 -timeout 10m ./...

# Every example builds (into bin/), and the quickstart runs as from a fresh
# clone: without MESSAGING_ENDPOINT it starts its own in-process service.
# Its transcript is shown only when it fails.
examples:
	$(GO) build -o bin/ ./examples/...
	@out=$$(env -u MESSAGING_ENDPOINT timeout 60 bin/quickstart 2>&1) \
	  || { echo "$$out"; echo "examples/quickstart failed"; exit 1; }; echo "$$out" | tail -n 1

cover:
	$(GO) test -race -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -n 1

# Each fuzz target for FUZZTIME (default 60s).
FUZZTIME ?= 60s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; done

# The benchmark harness (docs/benchmarks.md): the Go SDK's Socket, the
# official socket.io-client and a bare coder/websocket floor, side by side
# against one Node socket.io server; repeats, medians, the micro-benchmarks,
# then docs/benchmarks.md and docs/benchmarks.svg are rewritten. The workload
# "turns" runs the agent server (bench/agentload, a module of its own) with
# and without the OpenTelemetry instrumentation, against messagingtest.
# BENCHFLAGS passes flags to bench/cmd/runbench, e.g. BENCHFLAGS="-reps 3"
# or BENCHFLAGS=-quick (a smoke run that writes nothing).
BENCHFLAGS ?=
bench: deps
	$(GO) run ./bench/cmd/runbench $(BENCHFLAGS)
