# The two commands of the README: `make demo` and `make test`. Both install what is missing
# (Debian 12, as root), build, and run.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
GLPDEPTH := $(BUILD_DIR)/glpdepth

.PHONY: all deps configure build test demo bench clean format test-torch2 test-debian13 gpu-check-dry-run test-asan test-tsan fuzz check-slow

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

# The suite under AddressSanitizer + UndefinedBehaviorSanitizer, and the threaded parts under
# ThreadSanitizer (clang-14, Debian 12's LibTorch; docs/RELIABILITY.md). Suppressions, each narrow
# and justified: tests/sanitizer/*.supp.
# TBB_ENABLE_SANITIZERS: OpenVINO's oneTBB otherwise loads libtbbbind with RTLD_DEEPBIND, which
# the sanitizer runtimes refuse (they stop the process at that dlopen).
SANITIZER_ENV = TBB_ENABLE_SANITIZERS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizer/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/tests/sanitizer/ubsan.supp \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/sanitizer/tsan.supp
TSAN_TESTS ?= Loader|Pipeline|DepthStream|Progress|Launch|Dist|Sanitizer
# The suites that hold those tests (the rest is not built under TSan).
TSAN_TARGETS ?= test_util test_dist test_data test_infer test_cli sanitizer_canary
sanitizer-build-%: deps
	@GLPDEPTH_SANITIZER_DEPS=1 scripts/install-deps.sh
	@if [ ! -f build-$*/build.ninja ]; then CC=clang-14 CXX=clang++-14 cmake -S . -B build-$* -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGLPDEPTH_SANITIZE=$(if $(filter asan,$*),address,thread) \
	  $(if $(filter asan,$*),-DGLPDEPTH_FUZZ=ON,-DGLPDEPTH_BUILD_BENCH=OFF) $(CMAKE_ARGS); fi
	cmake --build build-$* -j $(JOBS) $(if $(filter tsan,$*),--target $(TSAN_TARGETS),$(if $(ASAN_TARGETS),--target $(ASAN_TARGETS)))
# ASAN_TARGETS and ASAN_TESTS narrow test-asan to some suites (CI: the readers' and the canaries').
ASAN_TARGETS ?=
ASAN_TESTS ?=
test-asan: sanitizer-build-asan
	cd build-asan && $(SANITIZER_ENV) OMP_NUM_THREADS=1 ctest --output-on-failure -j $(JOBS) --timeout 1800 \
	  $(if $(ASAN_TESTS),-R '$(ASAN_TESTS)')
test-tsan: sanitizer-build-tsan
	cd build-tsan && $(SANITIZER_ENV) OMP_NUM_THREADS=1 ctest --output-on-failure -j $(JOBS) --timeout 1800 \
	  -R '$(TSAN_TESTS)'

# What does not fit in CI's time: the whole suite under ASan + UBSan and the threaded parts under
# TSan (docs/RELIABILITY.md).
check-slow: test-asan test-tsan

# libFuzzer targets of every reader (fuzz/, clang-14, ASan + UBSan); FUZZ_SECONDS per target over
# seeds made by our own writers (scripts/fuzz.sh).
FUZZ_SECONDS ?= 10
fuzz: deps
	@GLPDEPTH_SANITIZER_DEPS=1 scripts/install-deps.sh
	@scripts/fuzz.sh $(FUZZ_SECONDS)

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
