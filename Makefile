# Every target walks the workspace modules listed by go.work: `./...` never crosses modules.
# The code generators are built from the tools module (outside go.work) into bin/tools.

SHELL      := bash
MODULES    := $(shell go list -m -f '{{.Dir}}')
PKGS       := $(addsuffix /...,$(MODULES))
TOOLS_BIN  := $(CURDIR)/bin/tools
BUF        := $(TOOLS_BIN)/buf
export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: run demo test lint proto proto-check build tools clean audit chaos e2e-cluster breaking api-release bench

## run: one process with embedded NATS, every service, data under ./data (the built binary
## runs in the foreground, so Ctrl-C ends it with its own exit status, 0)
run:
	go build -o bin/voix ./cmd/voix
	./bin/voix dev

## demo: voix dev on a demo clock 12 weeks in the past, data under ./data-demo (made afresh);
## then, in another terminal, ./bin/voix demo fills it in about a minute
demo:
	go build -o bin/voix ./cmd/voix
	rm -rf data-demo
	./bin/voix dev --demo-weeks 12 --data-dir data-demo

## test: every module's tests, race detector on, real NATS and bbolt
test:
	go test -race -count=1 -timeout 15m $(PKGS)

## lint: gofmt, go vet, buf lint, and generated code up to date
lint: $(BUF)
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet $(PKGS)
	$(BUF) lint
	$(MAKE) --no-print-directory proto-check

## proto: regenerate the Go code beside each .proto
proto: $(BUF)
	$(BUF) generate

## proto-check: fail when the committed generated code is stale
proto-check: $(BUF)
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(BUF) generate -o $$tmp && \
	if ! diff -r -q $$tmp/proto proto -x '*.proto' -x go.mod -x go.sum >/dev/null; then \
		diff -r $$tmp/proto proto -x '*.proto' -x go.mod -x go.sum | head -40; \
		echo "generated code in proto/ is stale: run 'make proto' and commit"; exit 1; \
	fi; echo "generated code is up to date"

## audit: every service as its own process through a simulated week, then a byte scan, a
## differencing attack and linkage checks; ends with "audit: hits=0 reconstructions=0 …"
audit: build
	go run ./cmd/voix audit --bin-dir bin

## chaos: the crash test: a real nats-server and every service as its own process under load
## from simulated employees, one killed (SIGKILL) every 1-4 s and restarted; then checks that
## nothing acknowledged was lost or counted twice; ends with "chaos: acked=N lost=0
## duplicated=0 kills=K settle=Ss". CHAOS_DURATION=20s for a short run (default 60s);
## CHAOS_FLAGS=--long-outage also keeps sentiment down past JetStream's 2-minute duplicate
## window (the run then takes over 2 minutes)
chaos: build
	go run ./cmd/voix chaos --bin-dir bin $(CHAOS_FLAGS)

## e2e-cluster: three nats-server processes as one JetStream cluster, every service as its own
## process with --stream-replicas 3, under load; the NATS node leading FEEDBACK is SIGKILLed and
## restarted, then a service; checks nothing acknowledged was lost or counted twice and every
## stream and consumer has 3 current replicas; ends with "e2e-cluster: acked=N lost=0
## duplicated=0 nats_kills=1 leader_changes=C settle=Ss" (not part of `make test`). Then two
## sentiment replicas with --partitions 4: one SIGKILLed and restarted, the other frozen
## (SIGSTOP); checks every comment applied once by its owner and no partition with two owners
## at once ("e2e-cluster partitions: ... missing=0 double=0 overlaps=0 ..."; alone:
## E2E_CLUSTER_FLAGS=--only-partitions, about 50 s). Then two feedback and two pulse replicas
## sharing their marks, each person's submissions sent to both, one of each SIGKILLed; checks
## one comment and one response per person ("e2e-cluster replicas: ..."; alone: --only-writes)
e2e-cluster: build
	go run ./cmd/voix e2e-cluster --bin-dir bin $(E2E_CLUSTER_FLAGS)

## bench: the whole suite in one process under 64 clients for BENCH_DURATION (default 20s):
## ingest against the same-run gRPC echo and fsync ceilings, freshness, lag, lost (must be 0),
## footprint; the figures also go to bin/bench.json (docs/performance.md)
BENCH_DURATION ?= 20s
bench:
	mkdir -p bin && go run ./cmd/voix bench --duration $(BENCH_DURATION) --json bin/bench.json $(BENCH_FLAGS)

## breaking: no breaking change of the API against the last release (api/release.binpb)
breaking: $(BUF)
	$(BUF) breaking --against api/release.binpb

## api-release: record the API as it is now as the last release
api-release: $(BUF)
	$(BUF) build -o api/release.binpb

## build: every binary into ./bin
build:
	go build -o bin/ $$(go list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' $(PKGS))

tools: $(BUF)

$(BUF): tools/go.mod tools/go.sum
	cd tools && GOWORK=off GOBIN=$(TOOLS_BIN) go install tool

clean:
	rm -rf bin
