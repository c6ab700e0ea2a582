# SPDX-License-Identifier: MIT
# uhmm - front door.  The real build is CMake (CMakePresets.json); this file
# only strings the presets together.
#
#   make [all]          configure + build the release preset
#   make demo           build only the library and the CLI (preset demo, in
#                       build/demo: no tests, no cmocka, no pkg-config; Ninja
#                       if installed, else make), run `uhmm demo`
#   make check          install missing build deps, then configure, build and
#                       ctest the asan, tsan and release presets (in that order)
#   make test           build + ctest the release preset   (ARGS="-R rbtree")
#   make debug|asan|tsan|release
#                       build + ctest one preset
#   make bench          release build, run every build/release/bench/bench_*
#   make stress         release build, run build/release/tests/stress/*
#   make fuzz           libFuzzer target vs a reference model (FUZZ_SECONDS=60)
#   make install PREFIX=/usr/local
#   make clean
#
# Knobs: V=1 (full command output), WERROR=1 (-Werror), CC=clang (compiler;
# a build dir configured with another compiler is wiped and reconfigured),
# CTEST_JOBS=2, ARGS=<extra ctest args>, PREFIX=<install prefix>.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all
MAKEFLAGS += --no-print-directory

V          ?= 0
WERROR     ?= 0
PREFIX     ?= /usr/local
CTEST_JOBS ?= 2
ARGS       ?=

BUILD_ROOT := build

# Build dependencies (Debian package names).  clang/libclang-rt-14-dev are for
# the clang sanitizer/fuzz builds; g++ and clang (clang++) for the tests that
# compile the public headers as C++.
DEPS := cmake ninja-build pkg-config libcmocka-dev python3 gnuplot-nox \
        gcc g++ make clang libclang-rt-14-dev
# What `make demo` needs: nothing else (it falls back to the Makefile
# generator without ninja).
DEMO_DEPS := cmake gcc make

ifeq ($(V),1)
  Q :=
  CONFIGURE_QUIET :=
  BUILD_VERBOSE := -v
else
  Q := @
  CONFIGURE_QUIET := --log-level=WARNING
  BUILD_VERBOSE := -- --quiet
endif

ifeq ($(WERROR),1)
  CMAKE_ARGS += -DUHMM_WERROR=ON
else
  CMAKE_ARGS += -DUHMM_WERROR=OFF
endif

# Only look at CC when the user chose one (environment or command line);
# make's built-in default ("cc") is left to CMake.
ifneq ($(filter environment command line,$(origin CC)),)
  export CC
  USER_CC := $(CC)
else
  USER_CC :=
endif

# $(call configure,<preset>)
# Re-runs CMake every time (cheap; keeps WERROR and new files in sync).  In
# quiet mode CMake's stdout goes to build/<preset>.configure.log, shown on
# failure; warnings and errors (stderr) are always shown.
define configure
	$(Q)echo "==> configure $(1)"
	$(Q)bash scripts/check-compiler.sh "$(BUILD_ROOT)/$(1)" "$(USER_CC)"
	$(Q)mkdir -p $(BUILD_ROOT)
	$(Q)if [ "$(V)" = 1 ]; then \
		cmake --preset $(1) $(CMAKE_ARGS); \
	else \
		cmake --preset $(1) $(CONFIGURE_QUIET) $(CMAKE_ARGS) \
			>$(BUILD_ROOT)/$(1).configure.log || \
			{ cat $(BUILD_ROOT)/$(1).configure.log; exit 1; }; \
	fi
endef

# $(call build,<preset>[,<command prefix>])
define build
	$(Q)echo "==> build $(1)"
	$(Q)$(2) cmake --build --preset $(1) $(BUILD_VERBOSE)
endef

# $(call ctest,<preset>[,<command prefix>])
define ctest
	$(Q)echo "==> test $(1)$(if $(2), (under $(2)))"
	$(Q)$(2) ctest --preset $(1) --output-on-failure -j$(CTEST_JOBS) --no-label-summary $(ARGS)
endef

.PHONY: all build release debug asan tsan test check deps demo bench stress \
        fuzz install clean help compile-commands

all: build

help:
	@sed -n '2,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

# --- single presets --------------------------------------------------------
build:
	$(call configure,release)
	$(call build,release)
	$(Q)$(MAKE) compile-commands

compile-commands:
	$(Q)if [ ! -e compile_commands.json ] || [ -L compile_commands.json ]; then \
		ln -sfn $(BUILD_ROOT)/release/compile_commands.json compile_commands.json; \
	fi

test: release

release debug asan:
	$(call configure,$@)
	$(call build,$@)
	$(call ctest,$@)

# ThreadSanitizer (gcc 12 / clang 14 runtimes) cannot start when
# vm.mmap_rnd_bits > 28.  scripts/tsan-prep.sh lowers it when root, else
# prints a `setarch <arch> -R` prefix used for the build (which runs the
# test programs' --list) and for ctest.
tsan:
	$(eval TSAN_WRAP := $(shell bash scripts/tsan-prep.sh))
	$(call configure,$@)
	$(call build,$@,$(TSAN_WRAP))
	$(call ctest,$@,$(TSAN_WRAP))

# --- CI entry point --------------------------------------------------------
# asan, then tsan, then release last, so the last ctest summary
# ("100% tests passed, 0 tests failed out of N") ends the output.
check: deps
	$(Q)$(MAKE) fuzz FUZZ_SECONDS=60
	$(Q)$(MAKE) asan
	$(Q)$(MAKE) tsan
	$(Q)$(MAKE) release

deps:
	$(Q)bash scripts/check-deps.sh $(DEPS)

# --- programs --------------------------------------------------------------
# The first command of a fresh clone: configure the demo preset (tests,
# benchmarks and examples off), build the uhmm_cli target only, run it.  The
# generator is the one build/demo was configured with, else Ninja when
# installed, else Unix Makefiles.
demo:
	$(Q)bash scripts/check-deps.sh $(DEMO_DEPS)
	$(Q)bash scripts/check-compiler.sh "$(BUILD_ROOT)/demo" "$(USER_CC)"
	$(Q)mkdir -p $(BUILD_ROOT)
	$(Q)echo "==> configure demo"
	$(Q)gen=$$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' $(BUILD_ROOT)/demo/CMakeCache.txt 2>/dev/null || true); \
	if [ -z "$$gen" ]; then \
		if command -v ninja >/dev/null 2>&1; then gen=Ninja; else gen="Unix Makefiles"; fi; \
	fi; \
	if [ "$(V)" = 1 ]; then \
		cmake --preset demo -G "$$gen" $(CMAKE_ARGS); \
	else \
		cmake --preset demo -G "$$gen" $(CONFIGURE_QUIET) $(CMAKE_ARGS) \
			>$(BUILD_ROOT)/demo.configure.log || \
			{ cat $(BUILD_ROOT)/demo.configure.log; exit 1; }; \
	fi
	$(Q)echo "==> build demo (library and CLI)"
	$(Q)cmake --build --preset demo -j $$(nproc 2>/dev/null || echo 2) $(BUILD_VERBOSE)
	$(Q)$(BUILD_ROOT)/demo/tools/uhmm/uhmm demo

bench: build
	$(Q)shopt -s nullglob; found=0; \
	for b in $(BUILD_ROOT)/release/bench/bench_*; do \
		[ -f "$$b" ] && [ -x "$$b" ] || continue; \
		found=1; echo "==> $$b"; "$$b"; \
	done; \
	[ $$found = 1 ] || echo "bench: no bench programs yet"

# STRESS_SECONDS (default 300) per program; the seed is printed, replay it
# with build/release/tests/stress/torture --seed S.
stress: build
	$(Q)shopt -s nullglob; found=0; \
	for t in $(BUILD_ROOT)/release/tests/stress/*; do \
		[ -f "$$t" ] && [ -x "$$t" ] || continue; \
		found=1; echo "==> $$t --seconds $(or $(STRESS_SECONDS),300)"; \
		"$$t" --seconds $(or $(STRESS_SECONDS),300); \
	done; \
	[ $$found = 1 ] || echo "stress: no stress programs yet"

# FUZZ_SECONDS (default 60): build fuzz/fuzz_uhmm with clang in build/fuzz and
# run it on fuzz/corpus; skips with a message without clang/libFuzzer.
fuzz:
	$(Q)bash fuzz/run.sh $(BUILD_ROOT)/fuzz $(or $(FUZZ_SECONDS),60)

install: build
	$(Q)cmake --install $(BUILD_ROOT)/release --prefix "$(PREFIX)"

clean:
	$(Q)rm -rf $(BUILD_ROOT)
	$(Q)if [ -L compile_commands.json ]; then rm -f compile_commands.json; fi
