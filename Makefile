# `make test` and `make demo` bootstrap .venv themselves: on a fresh machine they are all you need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
GEN_DIR := agentmesh/v1
TOOLS  := $(CURDIR)/.tools/bin
GRPCURL := $(TOOLS)/grpcurl

.PHONY: install protos check-protos lint typecheck test test-fast test-busy test-min demo bench ci clean lock images postgres a2a-tck chromium dist

# The Go agents, static binaries in bin/ where the mesh file's `run` commands expect them.
# Stripped and without cgo: the size of a Go binary is most of its resident memory.
GO_AGENTS := bin/trend-scanner
GO_SOURCES := $(shell find kits/go services/go -name '*.go' -o -name go.mod -o -name go.sum) go.work
# Each Go module's path is the repository's on GitHub and its directory there: what `go get` resolves.
GO_REPO := github.com/agentmesh/agentmesh
GO_PACKAGES := $(GO_REPO)/kits/go/... $(GO_REPO)/services/go/... $(GO_REPO)/examples/go/...

# The TypeScript kit, agents and example client, compiled by tsc into each package's dist/.
TS_STAMP := node_modules/.built
TS_SOURCES := $(shell find kits/typescript/src services/typescript/src examples/node/src -name '*.ts') tsconfig.base.json tsconfig.json $(wildcard */typescript/tsconfig.json) examples/node/tsconfig.json

# The web console (console/): type-checked, then bundled by esbuild into the gateway's package
# data, where the gateway serves it and a wheel carries it (index.html is written last).
CONSOLE_BUILT := gateway/agentmesh_gateway/console/static/index.html
CONSOLE_SOURCES := $(shell find console/src -type f) console/build.mjs console/tsconfig.json console/package.json

install: $(STAMP) $(NODE_STAMP) $(GO_AGENTS) $(TS_STAMP) $(CONSOLE_BUILT) postgres chromium

$(CONSOLE_BUILT): $(NODE_STAMP) $(CONSOLE_SOURCES)
	node_modules/.bin/tsc -p console/tsconfig.json
	node console/build.mjs

$(TS_STAMP): $(NODE_STAMP) $(TS_SOURCES)
	node_modules/.bin/tsc -b
	touch $@

bin/trend-scanner: $(GO_SOURCES)
	CGO_ENABLED=0 go build -C services/go/trend_scanner -trimpath -tags grpcnotrace -ldflags='-s -w' -o $(CURDIR)/$@ .

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

# buf (protobuf lint, generate, build) from the Go module proxy at a fixed version: its npm package
# pulls a binary per platform as optional dependencies, which a registry mirror that lacks some of
# them turns into a lock file `npm ci` refuses.
BUF := $(TOOLS)/buf
$(BUF):
	GOBIN=$(TOOLS) go install github.com/bufbuild/buf/cmd/buf@v1.75.0

# kustomize, to render deploy/k8s in the tests (Kubernetes' own tool, pinned).
KUSTOMIZE := $(TOOLS)/kustomize
$(KUSTOMIZE):
	GOBIN=$(TOOLS) go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.2

# helm, to lint and render deploy/helm/agentmesh in the tests beside the kustomize overlays (pinned).
HELM := $(TOOLS)/helm
$(HELM):
	GOBIN=$(TOOLS) go install helm.sh/helm/v4/cmd/helm@v4.3.2

# grpcurl, for the tests that run the README's grpcurl examples as written.
$(GRPCURL):
	GOBIN=$(TOOLS) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3

# Regenerate the checked-in code of the contract from protos/, in every language: Python (protoc
# from grpcio-tools, typed stubs from mypy-protobuf), TypeScript and Go (`buf generate`, plugins in
# buf.gen.yaml), and the descriptor set with source info (comments) that every server's reflection
# serves, so that `grpcurl describe` shows the documentation.
# google/api/field_behavior.proto is vendored in third_party/protos for protoc and buf; its Python
# module comes from googleapis-common-protos. gRPC stubs only for the files that define services.
PROTOC := $(BIN)/python -m grpc_tools.protoc -Iprotos -Ithird_party/protos
SERVICE_PROTOS := protos/agentmesh/v1/agent_service.proto protos/agentmesh/v1/orchestrator_service.proto
GENERATED := $(GEN_DIR) kits/typescript/src/gen kits/typescript/descriptors.binpb kits/go/gen kits/go/descriptors/agentmesh.binpb
PROTOC_GEN_GO := $(TOOLS)/protoc-gen-go
PROTOC_GEN_GO_GRPC := $(TOOLS)/protoc-gen-go-grpc

$(PROTOC_GEN_GO):
	GOBIN=$(TOOLS) go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12

$(PROTOC_GEN_GO_GRPC):
	GOBIN=$(TOOLS) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

protos: $(STAMP) $(NODE_STAMP) $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC)
	rm -f $(GEN_DIR)/*_pb2*.py $(GEN_DIR)/*_pb2*.pyi
	$(PROTOC) --plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
		--python_out=. --mypy_out=. protos/agentmesh/v1/*.proto
	$(PROTOC) --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--grpc_python_out=. --mypy_grpc_out=. $(SERVICE_PROTOS)
	rm -rf kits/typescript/src/gen kits/go/gen
	$(BUF) generate
	$(BUF) build -o $(GEN_DIR)/agentmesh.binpb
	cp $(GEN_DIR)/agentmesh.binpb kits/typescript/descriptors.binpb
	cp $(GEN_DIR)/agentmesh.binpb kits/go/descriptors/agentmesh.binpb

# Fails when the checked-in code differs from what protos/ generates, in any language.
check-protos: protos
	@test -z "$$(git status --porcelain -- $(GENERATED))" || \
		{ git status --porcelain -- $(GENERATED); echo "generated code drifts from protos/: run 'make protos' and commit"; exit 1; }

lint: $(STAMP) $(BUF) $(TS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BUF) lint
	@test -z "$$(gofmt -l kits/go services/go examples/go)" || { gofmt -l kits/go services/go examples/go; echo "gofmt wants to reformat these"; exit 1; }
	go vet $(GO_PACKAGES)
	node_modules/.bin/eslint --max-warnings 0 kits/typescript/src services/typescript/src examples/node/src console/src

typecheck: $(STAMP)
	$(BIN)/mypy

# PostgreSQL's server binaries (Debian's postgresql package), for the tests that start a real
# server of their own in a temporary directory (the PostgreSQL run store). Installed if missing.
POSTGRES_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
postgres:
	@if [ -z "$(POSTGRES_INITDB)" ] && ! command -v initdb >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi

# Debian's Chromium, for the console's tests in a real browser (Playwright drives it; its own
# browser download is not used). Installed if missing.
chromium:
	@if ! command -v chromium >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

test: install $(GRPCURL) $(KUSTOMIZE) $(HELM)
	go test $(GO_PACKAGES)
	node --test kits/typescript/dist/test/*.test.js services/typescript/dist/test/*.test.js
	PATH="$(TOOLS):$$PATH" $(BIN)/pytest -q

# The suite without the tests marked slow (property tests, replicas, images, clusters): a minute or two.
test-fast: install $(GRPCURL) $(KUSTOMIZE) $(HELM)
	PATH="$(TOOLS):$$PATH" $(BIN)/pytest -q -m "not slow"

# The whole suite while two other processes keep both cores busy: no test may assume an order
# or a speed the engine does not promise, so it passes here as it does on an idle machine.
test-busy: install $(GRPCURL) $(KUSTOMIZE) $(HELM)
	@for n in 1 2; do python3 -c 'while True: pass' & done; \
	trap 'kill $$(jobs -p) 2>/dev/null' EXIT; \
	PATH="$(TOOLS):$$PATH" $(BIN)/pytest -q

# The oldest versions pyproject.toml allows: every direct dependency (the extras' too) pinned to
# its lower bound (scripts/min_constraints.py) in a venv of its own, then the part of the suite
# that touches each of them, without the slow tests (a few minutes). `make test` is the lock's job;
# this one keeps the lower bounds true.
MIN_VENV := build/venv-min
TEST_TOOLS := pytest pytest-asyncio pytest-timeout hypothesis trustme
MIN_TESTS := tests/sdk tests/client tests/agents tests/observability tests/security tests/remote \
	tests/rest tests/mcp tests/a2a tests/cli/test_cli.py tests/cli/test_cli_errors.py tests/cli/test_extras.py \
	tests/cli/test_cli_rough_edges.py \
	tests/gateway/test_validation.py tests/gateway/test_store_contract.py tests/gateway/test_cron.py \
	tests/gateway/test_schedules.py
test-min: install $(GRPCURL)
	rm -rf $(MIN_VENV) && $(PYTHON) -m venv $(MIN_VENV)
	$(BIN)/python scripts/min_constraints.py $(TEST_TOOLS) > $(MIN_VENV)/constraints.txt
	$(MIN_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-c $(MIN_VENV)/constraints.txt -e '.[all]' $(TEST_TOOLS)
	PATH="$(TOOLS):$$PATH" $(MIN_VENV)/bin/pytest -q -m "not slow" -p no:cacheprovider \
		--ignore tests/rest/test_openapi.py $(MIN_TESTS)

demo: install
	$(BIN)/agentmesh demo

# The wheel and sdist in dist/, the wheel built from the sdist (so the sdist is known complete),
# with this environment's setuptools: no build isolation, nothing downloaded. Then checked as an
# index would check them (metadata, the README as the project page).
DIST ?= dist
dist: $(STAMP) $(CONSOLE_BUILT)
	rm -rf $(DIST)
	$(BIN)/python -m build --no-isolation --outdir $(DIST) .
	$(BIN)/twine check --strict $(DIST)/*

# The three images, from their real Containerfiles, on this machine kind: no Docker engine and no
# public registry, so each base is a local Debian image (mmdebstrap, buildah; see the script).
# Tagged with the manifests' names; the deploy tests run them when they exist.
images:
	deploy/images/build-local.sh

# Benchmarks against the raw gRPC floor; QUICK=1 keeps a run under 5 minutes on 2 cores.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

# The A2A TCK (a checkout of a2aproject/a2a-tck, branch 1.0-dev, with its own venv in TCK/.venv)
# against the gateway on each binding, the agent it tests being tests/support/tck_agent.py;
# reports and a summary in build/a2a-tck. A developer's tool, not part of `make test`.
a2a-tck: $(STAMP)
	@test -n "$(TCK)" || { echo "usage: make a2a-tck TCK=/path/to/a2a-tck"; exit 2; }
	$(BIN)/python scripts/a2a_tck.py --tck "$(TCK)"

ci: check-protos lint typecheck test

# Re-pin every transitive dependency after changing pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check '.[dev]'
	.lock-venv/bin/pip freeze --exclude agentmesh > requirements.lock
	rm -rf .lock-venv build *.egg-info

clean:
	rm -rf $(VENV) node_modules bin .mypy_cache .ruff_cache .pytest_cache build *.egg-info
