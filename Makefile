# Everything a fresh clone needs: `make demo` and `make test` create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench soak schemas clean tools fuzz image manifests mutation

# setup.py compiles the hot modules (Cython, from their .py) when a C compiler is present;
# an edited source compiles again here (until then the loader runs the .py, warning once).
$(STAMP): pyproject.toml setup.py $(wildcard streams/*.py schemas/*.py streams/*.pxd schemas/*.pxd)
	-@./deploy/install-compiler.sh $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edc-latency demo

# Prometheus, promtool and amtool come from Debian's packages; installed when missing (root).
tools:
	@./deploy/install-tools.sh

# The suite mostly waits on brokers and workers, so it runs on more processes than cores;
# each process starts its own embedded broker (tests isolate by topic and group names). On 2
# cores a second run took 4 min 10 s on 4 processes and 3 min 32 s on 6 (CPU ~50% busy on 4);
# after the waits were shortened, 4 min 55 s / 4 min 00 s on 6 and 3 min 56 s / 3 min 34 s on
# 8, run in pairs on a machine shared with others (load 5 to 10).
TEST_PROCESSES ?= 8

test: $(STAMP) tools
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist worksteal

# The worker image (deploy/container/Containerfile) with podman or docker, whichever answers.
# Another base: make image IMAGE_ARGS='--build-arg BASE_IMAGE=...'
image:
	./deploy/container/build.sh $(IMAGE_ARGS)

# The PrometheusRule and dashboard ConfigMaps, regenerated from their sources.
manifests: $(STAMP)
	$(BIN)/python deploy/kubernetes/generate.py

# The fuzz properties with many more examples than `make test` runs: parsing any value
# (tests/schemas/test_hostile_parse.py), the router and the shard wire
# (tests/agents/live/test_routing.py), the replay reader (tests/agents/audit/test_replay_audit.py,
# test_replay_lines.py), CSV cells and rows, malformed manifests for verify, and the dedupe cap's twin.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/schemas/test_hostile_parse.py
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/agents/live/test_routing.py -k hostile
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/agents/audit/test_replay_audit.py -k reader
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/agents/live/test_checkpoint_payloads.py -k any_leaf
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/agents/audit/test_replay_lines.py \
		tests/agents/audit/test_cells.py tests/agents/audit/test_verify.py tests/streams/test_dedupe_cap.py \
		tests/agents/audit/test_query_rows.py tests/agents/audit/test_entry_rows.py

lint: $(STAMP)
	$(BIN)/ruff check .

schemas: $(STAMP)
	$(BIN)/python -m schemas.export

# The bench also needs the SQL peer (duckdb: the `bench` extra), installed on first use.
bench: $(STAMP)
	$(BIN)/python -c "import duckdb" 2>/dev/null || $(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

# Mutation testing of streams/ and schemas/ with the fast tests (mutation/, TESTING.md); not part
# of `make test`. mutmut (the `mutation` extra) is installed on first use. Everything it writes
# goes to out/mutation/. `make mutation BASE=main` mutates only functions changed since main.
# MUTATION_EXAMPLES caps every property test's examples under mutation (mutation/pytest_plugin.py).
# The report counts CPU seconds, so MUTATION_NICE (19: yield to everyone) does not change it.
MUTATION_EXAMPLES ?= 25
MUTATION_NICE ?= 19
mutation: $(STAMP)
	$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/pip install --quiet -e '.[test,mutation]'
	MUTATION_EXAMPLES=$(MUTATION_EXAMPLES) nice -n $(MUTATION_NICE) $(BIN)/python -m mutation \
		$(if $(BASE),--base $(BASE)) $(MUTATION_ARGS)

# 10 minutes at 1,000 events/s on the embedded broker: worker RSS at minutes 2 and 10, and
# final figures against the engine (bench/soak.py). Not part of `make test`.
soak: $(STAMP)
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
