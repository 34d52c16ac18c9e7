# Loan applications: an event-sourced, CQRS platform.
#
#   make run    start the system on its embedded defaults
#   make test   everything CI checks: formatting, vet, tidy modules, tests (race detector on)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Modules of the workspace (see go.work).
MODULES := gen platform devstack command-service query-service projector-service publisher-service loanctl webapp chaos deploy
# deploy/ holds the deployment's checks: make deploy-check runs them (make test too).
TEST_MODULES := $(filter-out deploy,$(MODULES))
DATA    ?= .data
EVENTSTORE_ADDR ?= 127.0.0.1:2113

GO ?= go

# Code generation tools, pinned, installed into .bin/ by `make tools`.
BIN                   := $(CURDIR)/.bin
BUF_VERSION           := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION  := v2.33.0
BUF   := $(BIN)/buf
TOOLS := $(BIN)/.buf-$(BUF_VERSION) $(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION) \
         $(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GRPC_VERSION) $(BIN)/.grpc-gateway-$(GRPC_GATEWAY_VERSION)

.PHONY: run build test lint proto-check generate tools bench bench-eventstore bench-commands bench-projector bench-amqp bench-amqp-own-core chaos deploy-check

COMMAND_GRPC_ADDR ?= 127.0.0.1:8081
COMMAND_HTTP_ADDR ?= 127.0.0.1:8080
QUERY_GRPC_ADDR   ?= 127.0.0.1:8083
QUERY_HTTP_ADDR   ?= 127.0.0.1:8082
# Admin listeners: /metrics, /healthz, /readyz and /debug/pprof/ of each process (loopback only).
COMMAND_ADMIN_ADDR   ?= 127.0.0.1:9081
PROJECTOR_ADMIN_ADDR ?= 127.0.0.1:9082
QUERY_ADMIN_ADDR     ?= 127.0.0.1:9083
PUBLISHER_ADMIN_ADDR ?= 127.0.0.1:9084
# The read model: the embedded SQLite file, or a mongodb:// URI for MongoDB.
READMODEL_URL     ?= sqlite:$(DATA)/readmodel.db
# Identity: the development OpenID provider (devstack/cmd/identity) issues the
# tokens both services verify. Point OIDC_* at the lender's issuer instead.
IDENTITY_ADDR     ?= 127.0.0.1:8090
OIDC_ISSUER_URL   ?= http://$(IDENTITY_ADDR)
OIDC_AUDIENCE     ?= loans-api
OIDC_ROLES_CLAIM  ?= roles
# Browser frontends allowed to call the REST gateways (a frontend's usual development origins).
CORS_ALLOWED_ORIGINS ?= http://localhost:5173,http://127.0.0.1:5173
# RabbitMQ (off unless set): the command service also takes commands from it and
# publisher-service publishes the integration events to it, for example
#   make run AMQP_URL=amqp://guest:guest@127.0.0.1:5672/
AMQP_URL          ?=
# The broker the RabbitMQ tests and bench-amqp use (loopback only).
AMQP_TEST_URL     ?= amqp://guest:guest@127.0.0.1:5672/
# The web app for applicants, loan officers and analysts (a browser origin CORS_ALLOWED_ORIGINS allows).
WEBAPP_ADDR       ?= 127.0.0.1:5173
# What both API services are given under `make run`.
API_ENV = OIDC_ISSUER_URL='$(OIDC_ISSUER_URL)' OIDC_AUDIENCE='$(OIDC_AUDIENCE)' OIDC_ROLES_CLAIM='$(OIDC_ROLES_CLAIM)' \
          CORS_ALLOWED_ORIGINS='$(CORS_ALLOWED_ORIGINS)' 

## run: start the event store, identity provider, command service, projector and query service as separate processes (Ctrl-C stops them all)
run: build
	@mkdir -p $(DATA)/eventstore $(DATA)/identity
	@echo "event store      esdb://$(EVENTSTORE_ADDR)?tls=false   (data in $(DATA)/eventstore)"
	@echo "identity (DEV)   $(OIDC_ISSUER_URL)   users ada, bo, lena, max, omar, ana (password = user name)"
	@echo "command service  gRPC $(COMMAND_GRPC_ADDR), REST http://$(COMMAND_HTTP_ADDR)/v1/loan-applications"
	@echo "query service    gRPC $(QUERY_GRPC_ADDR), REST http://$(QUERY_HTTP_ADDR)/v1/loan-applications"
	@echo "read model       $(READMODEL_URL)"
	@echo "web app          http://$(WEBAPP_ADDR)   (sign in as a development user)"
	@echo "admin            http://$(COMMAND_ADMIN_ADDR)/metrics (command), $(PROJECTOR_ADMIN_ADDR) (projector), $(QUERY_ADMIN_ADDR) (query), $(PUBLISHER_ADMIN_ADDR) (publisher): /metrics /healthz /readyz /debug/pprof/"
	@if [ -n "$(AMQP_URL)" ]; then \
		echo "RabbitMQ         commands from exchange loans.commands, events to exchange loans.events (docs/COMMANDS-AMQP.md, docs/EVENTS.md)"; \
	else echo "RabbitMQ         off (make run AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ turns it on)"; fi
	@trap 'kill -TERM $$(jobs -p) 2>/dev/null; wait' INT TERM EXIT; \
	$(BIN)/eventstore -addr $(EVENTSTORE_ADDR) -data $(DATA)/eventstore & \
	$(BIN)/identity -addr $(IDENTITY_ADDR) -issuer $(OIDC_ISSUER_URL) -audience $(OIDC_AUDIENCE) -data $(DATA)/identity & \
	$(API_ENV) AMQP_URL='$(AMQP_URL)' $(BIN)/command-service -grpc-addr $(COMMAND_GRPC_ADDR) -http-addr $(COMMAND_HTTP_ADDR) \
		-eventstore 'esdb://$(EVENTSTORE_ADDR)?tls=false' -admin-addr $(COMMAND_ADMIN_ADDR) & \
	if [ -n "$(AMQP_URL)" ]; then \
		AMQP_URL='$(AMQP_URL)' $(BIN)/publisher-service -eventstore 'esdb://$(EVENTSTORE_ADDR)?tls=false' \
			-admin-addr $(PUBLISHER_ADMIN_ADDR) & \
	fi; \
	$(BIN)/projector-service run -eventstore 'esdb://$(EVENTSTORE_ADDR)?tls=false' -readmodel '$(READMODEL_URL)' \
		-admin-addr $(PROJECTOR_ADMIN_ADDR) & \
	$(API_ENV) $(BIN)/query-service -grpc-addr $(QUERY_GRPC_ADDR) -http-addr $(QUERY_HTTP_ADDR) -readmodel '$(READMODEL_URL)' \
		-admin-addr $(QUERY_ADMIN_ADDR) & \
	$(BIN)/webapp -addr $(WEBAPP_ADDR) -command-url http://$(COMMAND_HTTP_ADDR) -query-url http://$(QUERY_HTTP_ADDR) \
		-issuer-url $(OIDC_ISSUER_URL) & \
	wait -n

## build: build the binaries into .bin/
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./devstack/cmd/eventstore ./devstack/cmd/identity ./devstack/cmd/docstore ./command-service/cmd/command-service \
		./projector-service/cmd/projector-service ./query-service/cmd/query-service \
		./publisher-service/cmd/publisher-service ./loanctl/cmd/loanctl ./webapp/cmd/webapp

## test: lint, then every module's tests with the race detector, then the deployment's checks
test: lint
	@for m in $(TEST_MODULES); do \
		echo "== go test -race ./$$m/..."; \
		(cd $$m && $(GO) test -race -count=1 -timeout 10m ./...); \
	done
	@if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && [ "$(AMQP_TEST_URL)" = "amqp://guest:guest@127.0.0.1:5672/" ]; then \
		echo "NOTE: no RabbitMQ answers at 127.0.0.1:5672: the RabbitMQ tests (commands over AMQP, the event publisher) were SKIPPED"; \
		echo "      (start one with 'rabbitmq-server -detached', or set AMQP_TEST_URL)."; \
	fi
	@if [ ! -x /usr/bin/chromium ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		echo "NOTE: /usr/bin/chromium, node or npm is missing: the web app's browser tests (webapp, Playwright) were SKIPPED"; \
		echo "      (apt-get install -y chromium; .ci/run does it)."; \
	fi
	@if [ -z "$${MONGODB_URI:-}" ]; then \
		echo "NOTE: MONGODB_URI is not set: the read-model contract suite ran on SQLite and on embedded FerretDB;"; \
		echo "      its run against a real MongoDB was SKIPPED (set MONGODB_URI=mongodb://host:27017/?replicaSet=rs0 to run it)."; \
	fi
	@$(MAKE) --no-print-directory deploy-check

## deploy-check: deploy/ checked without Docker or a cluster: kustomize overlays render and decode strictly, the compose file loads, images pinned, the dashboard's and alerts' metrics are exported, the manifests' environment variables are read
deploy-check:
	@echo "== deploy-check"
	cd deploy && $(GO) test -count=1 ./...

## chaos: kill processes at random under simulated users, then check that nothing acknowledged was lost or duplicated and that the read model equals a replay (CHAOS_ROUNDS, default 100; CHAOS_SEED replays a schedule; CHAOS_FLAGS passes more flags)
chaos: build
	$(GO) run ./chaos/cmd/chaos -bin $(BIN) $(CHAOS_FLAGS)

## lint: buf lint, buf breaking, generated code fresh, gofmt, go vet and tidy go.mod files
lint: proto-check
	@unformatted=$$(gofmt -l $(MODULES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
	@for m in $(MODULES); do \
		(cd $$m && cp go.mod /tmp/go.mod.before && cp go.sum /tmp/go.sum.before && $(GO) mod tidy && \
		 if ! cmp -s go.mod /tmp/go.mod.before || ! cmp -s go.sum /tmp/go.sum.before; then \
			echo "$$m: go.mod/go.sum were not tidy (now fixed: commit them)"; exit 1; fi); \
	done

## generate: regenerate gen/ from proto/ with the pinned plugins
generate: $(TOOLS)
	PATH="$(BIN):$$PATH" $(BUF) generate

## proto-check: the contract is lint-clean, compatible with main, and gen/ is what it generates
proto-check: $(TOOLS)
	$(BUF) lint
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then \
		$(BUF) breaking --against '.git#branch=main'; fi
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	PATH="$(BIN):$$PATH" $(BUF) generate -o "$$tmp"; \
	if ! diff -r -q -x go.mod -x go.sum -x doc.go "$$tmp/gen" gen; then \
		echo "gen/ is stale: run 'make generate' and commit the result"; exit 1; fi

## tools: install the pinned code generation tools into .bin/
tools: $(TOOLS)

$(BIN)/.buf-$(BUF_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	@touch $@
$(BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION):
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@touch $@
$(BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GRPC_VERSION):
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GRPC_VERSION)
	@touch $@
$(BIN)/.grpc-gateway-$(GRPC_GATEWAY_VERSION):
	GOBIN=$(BIN) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION) \
		github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)
	@touch $@

## bench: every benchmark
bench: bench-eventstore bench-commands bench-projector bench-amqp

## bench-eventstore: append, read and subscription rates of the embedded event store beside the machine's limits
bench-eventstore:
	$(GO) run ./devstack/cmd/eventstore-bench $(BENCH_FLAGS)

## bench-commands: commands/s and latency of the write side beside the raw append rate
bench-commands:
	$(GO) run ./command-service/cmd/commands-bench $(BENCH_FLAGS)

## bench-projector: the projector's catch-up rate beside the raw SQLite writes, live lag, the MongoDB adapter on FerretDB
bench-projector:
	$(GO) run ./projector-service/cmd/projector-bench $(BENCH_FLAGS)

## bench-amqp: commands/s over RabbitMQ (with replies) beside gRPC in one run, and integration events/s published with confirms (needs the broker at AMQP_TEST_URL)
bench-amqp:
	$(GO) run ./command-service/cmd/commands-bench -amqp-url '$(AMQP_TEST_URL)' $(BENCH_FLAGS)
	$(GO) run ./publisher-service/cmd/publisher-bench -amqp-url '$(AMQP_TEST_URL)'

## bench-amqp-own-core: bench-amqp's command comparison with the local broker on a core of its own, as on its own host in production (Linux, 2+ cores, needs the right to change the broker's CPU affinity; restored at the end)
bench-amqp-own-core:
	@broker=$$(pgrep -o -f beam.smp) || { echo "bench-amqp-own-core: no local RabbitMQ (beam.smp) to pin" >&2; exit 1; }; \
	before=$$(taskset -p $$broker | sed 's/.*: //'); \
	$(GO) build -o .bin/commands-bench ./command-service/cmd/commands-bench && \
	taskset -a -p -c 1 $$broker >/dev/null && \
	trap 'taskset -a -p $$before $$broker >/dev/null' EXIT INT TERM; \
	GOMAXPROCS=2 taskset -c 0 .bin/commands-bench -amqp-url '$(AMQP_TEST_URL)' $(BENCH_FLAGS)
