# Thin wrapper over meson: `make run` starts hvd for a try-out, `make check` runs every test.
BUILD ?= build
MESON_SETUP_OPTS ?= -Dwerror=true

.PHONY: all build run check bench format format-check clean deps-build deps-run deps-check deps-bench

all: build

deps-build deps-run deps-check deps-bench: deps-%:
	@scripts/install-deps.sh $*

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_SETUP_OPTS)

build: deps-build $(BUILD)/build.ninja
	meson compile -C $(BUILD)

run: deps-run build
	scripts/run-dev.sh $(BUILD)

check: deps-check build
	scripts/check.sh $(BUILD)

bench: deps-bench build
	scripts/bench.sh $(BUILD)

format: $(BUILD)/build.ninja
	ninja -C $(BUILD) format

format-check: $(BUILD)/build.ninja
	ninja -C $(BUILD) format-check

clean:
	rm -rf $(BUILD)
