# Loan applications: an event-sourced, CQRS platform.
#
#   make run    start the system on its embedded defaults
#   make test   everything CI checks: formatting, vet, tidy modules, tests (race detector on)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Modules of the workspace (see go.work).
MODULES := devstack
DATA    ?= .data
EVENTSTORE_ADDR ?= 127.0.0.1:2113

GO ?= go

.PHONY: run test lint generate bench bench-eventstore tidy

## run: start the event store on $(EVENTSTORE_ADDR), keeping data in $(DATA)/eventstore (Ctrl-C stops it)
run:
	$(GO) run ./devstack/cmd/eventstore -addr $(EVENTSTORE_ADDR) -data $(DATA)/eventstore

## test: lint, then every module's tests with the race detector
test: lint
	@for m in $(MODULES); do \
		echo "== go test -race ./$$m/..."; \
		(cd $$m && $(GO) test -race -count=1 -timeout 10m ./...); \
	done

## lint: gofmt, go vet and tidy go.mod files
lint:
	@unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
	@for m in $(MODULES); do \
		(cd $$m && cp go.mod /tmp/go.mod.before && cp go.sum /tmp/go.sum.before && $(GO) mod tidy && \
		 if ! cmp -s go.mod /tmp/go.mod.before || ! cmp -s go.sum /tmp/go.sum.before; then \
			echo "$$m: go.mod/go.sum were not tidy (now fixed: commit them)"; exit 1; fi); \
	done

## generate: regenerate generated code
generate:
	@for m in $(MODULES); do (cd $$m && $(GO) generate ./...); done

## bench: every benchmark
bench: bench-eventstore

## bench-eventstore: append, read and subscription rates of the embedded event store beside the machine's limits
bench-eventstore:
	$(GO) run ./devstack/cmd/eventstore-bench $(BENCH_FLAGS)
