# `make test` and `make demo` bootstrap .venv themselves: on a fresh machine they are all you need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
GEN_DIR := agentmesh/v1
TOOLS  := $(CURDIR)/.tools/bin
GRPCURL := $(TOOLS)/grpcurl

.PHONY: install protos check-protos lint typecheck test demo bench ci clean lock

install: $(STAMP) $(NODE_STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

# buf (protobuf lint) ships as a binary inside its npm package.
$(NODE_STAMP): package.json package-lock.json
	npm install --silent --no-audit --no-fund
	touch $@

# grpcurl, for the tests that run the README's grpcurl examples as written.
$(GRPCURL):
	GOBIN=$(TOOLS) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3

# Regenerate the checked-in stubs from protos/ (protoc from grpcio-tools, typed stubs from mypy-protobuf).
# google/api/field_behavior.proto is vendored in third_party/protos for protoc and buf; its Python
# module comes from googleapis-common-protos. gRPC stubs only for the files that define services.
PROTOC := $(BIN)/python -m grpc_tools.protoc -Iprotos -Ithird_party/protos
SERVICE_PROTOS := protos/agentmesh/v1/agent_service.proto protos/agentmesh/v1/orchestrator_service.proto
protos: $(STAMP)
	rm -f $(GEN_DIR)/*_pb2*.py $(GEN_DIR)/*_pb2*.pyi
	$(PROTOC) --plugin=protoc-gen-mypy=$(BIN)/protoc-gen-mypy \
		--python_out=. --mypy_out=. protos/agentmesh/v1/*.proto
	$(PROTOC) --plugin=protoc-gen-mypy_grpc=$(BIN)/protoc-gen-mypy_grpc \
		--grpc_python_out=. --mypy_grpc_out=. $(SERVICE_PROTOS)

# Fails when the checked-in stubs differ from what protos/ generates.
check-protos: protos
	@test -z "$$(git status --porcelain -- $(GEN_DIR))" || \
		{ git status --porcelain -- $(GEN_DIR); echo "generated stubs drift from protos/: run 'make protos' and commit"; exit 1; }

lint: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	node_modules/.bin/buf lint

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(GRPCURL)
	PATH="$(TOOLS):$$PATH" $(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/agentmesh demo

# Benchmarks against the raw gRPC floor; QUICK=1 keeps a run under 5 minutes on 2 cores.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

ci: check-protos lint typecheck test

# Re-pin every transitive dependency after changing pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check '.[dev]'
	.lock-venv/bin/pip freeze --exclude agentmesh > requirements.lock
	rm -rf .lock-venv build *.egg-info

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache build *.egg-info
