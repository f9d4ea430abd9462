# Tern: the two commands are `make run` and `make test`. Everything else is a helper.
BUILD ?= build
JOBS ?= $(shell nproc)
export CCACHE_DIR ?= $(HOME)/.cache/ccache

.PHONY: deps deps-build configure build console console-test run test unit integration openapi-lint fuzz bench \
	clean format format-check sanitize tsan bench-smoke

deps:
	@bash scripts/install-deps.sh

deps-build:
	@bash scripts/install-deps.sh --build-only

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: $(BUILD)/build.ninja

build: deps-build configure console
	cmake --build $(BUILD) -j $(JOBS)

# The web console (console/): npm ci with the committed lock file, then the Vite build into
# console/dist, which the C++ build embeds in tern (without Node: a placeholder page).
console:
	@bash scripts/build-console.sh

run: deps build
	@bash scripts/run-demo.sh $(BUILD)/tern

# make test runs the browser suite: the console must really be built (no placeholder).
test: export TERN_CONSOLE_REQUIRED := 1
test: deps format-check build
	@df -Ph . | awk 'NR == 2 { print "make test: " $$4 " free on " $$6 " (the build dirs, ccache and test data need ~12G)" }'
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@bash tests/openapi/lint.sh $(BUILD)/tern
	@bash tests/integration/run.sh $(BUILD)/tern
	@bash console/test/run.sh $(BUILD)/tern
	@bash scripts/bench-smoke.sh $(BUILD)
	@bash tests/fuzz/run.sh
	@bash tests/sanitize/run.sh asan
	@bash tests/sanitize/run.sh tsan

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

integration: build
	@bash tests/integration/run.sh $(BUILD)/tern

console-test: build
	@bash console/test/run.sh $(BUILD)/tern

openapi-lint: build
	@bash tests/openapi/lint.sh $(BUILD)/tern

fuzz: deps-build
	@bash tests/fuzz/run.sh

bench: deps build
	@bash bench/accept/run.sh $(BUILD)/tern

# Each benchmark's smoke mode: tiny counts, both peers, the full run's code path.
bench-smoke: deps build
	@bash scripts/bench-smoke.sh $(BUILD)

# ASan + UBSan (build-fuzz/, shared with the fuzz targets) and ThreadSanitizer (build-tsan/):
# every unit test and an integration subset under a sanitized tern (tests/sanitize/run.sh).
sanitize: deps
	@bash tests/sanitize/run.sh asan

tsan: deps
	@bash tests/sanitize/run.sh tsan

format-check: deps-build
	@bash scripts/check-format.sh

format:
	@bash scripts/check-format.sh --fix

clean:
	rm -rf $(BUILD) build-fuzz build-tsan console/dist
