# The two commands of the README: `make demo` and `make test`. Both install what is missing
# (Debian 12, as root), build, and run.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
GLPDEPTH := $(BUILD_DIR)/glpdepth

.PHONY: all deps configure build test demo bench clean format test-torch2 test-debian13 gpu-check-dry-run

all: build

# Debian's packages, then the OpenVINO wheel of the CPU backend in .venv-openvino (about 280 MB;
# GLPDEPTH_OPENVINO=0 skips it and glpdepth runs on LibTorch alone).
deps:
	@scripts/install-deps.sh
	@scripts/make-openvino-env.sh

# Configured again when the OpenVINO environment is newer than the build's cache (it came later).
configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ] || [ .venv-openvino/.glpdepth-packages -nt $(BUILD_DIR)/CMakeCache.txt ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS); fi

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

demo: build
	@scripts/demo.sh $(GLPDEPTH)

# The same suite against pip's LibTorch 2.x (CUDA build, run on the CPU) in .venv/.
TORCH2_BUILD ?= build-torch2
test-torch2: deps
	@scripts/make-venv.sh
	@if [ ! -f $(TORCH2_BUILD)/build.ninja ]; then scripts/configure-torch2.sh $(TORCH2_BUILD); fi
	cmake --build $(TORCH2_BUILD) -j $(JOBS)
	cd $(TORCH2_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The same suite in a Debian 13 root (LibTorch 2.6 from Debian), made once with debootstrap.
test-debian13:
	@scripts/debian13.sh make-test

# MiT-b4 inference 352x1216 on this machine's CPU (docs/PERFORMANCE.md has the figures and more).
bench: build
	$(GLPDEPTH) bench --random_weights --encoder b4 --iters 3 --warmup 1

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD_DIR)
