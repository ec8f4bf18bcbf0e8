# skugen: top-level build.  `make` builds ./skugen; see README.md for the rest.
#
# Sources are found by folder: every .c under common/ connectors/ templates/
# providers/ media/ batch/ goes into build/libskugen.a, except batch/main.c,
# which is the CLI.  Each tests/unit/test_*.c becomes its own cmocka binary
# linked against that library; tests/integration/*.sh drive ./skugen itself.

PREFIX    ?= /usr/local
BUILD     ?= build
PKGS      := libpq libcurl jansson vips libcrypto libmicrohttpd \
             libavcodec libavformat libavutil libswscale libwebp libwebpmux libwebpdemux
TEST_PKGS := cmocka
VERSION   := $(shell cat VERSION)

# CUDA is optional: build gpu/ when nvcc is found, unless GPU=0 says not to.
NVCC ?= $(shell command -v nvcc 2>/dev/null)
ifeq ($(GPU),)
GPU := $(if $(NVCC),1,0)
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
ifeq ($(PKG_LIBS),)
$(error pkg-config found none of $(PKGS): run scripts/install-deps)
endif

CC       ?= cc
OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ALL_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -DSKUGEN_VERSION='"$(VERSION)"' \
	-I. $(WARN) $(CFLAGS) $(SAN) $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lm -lpthread

LIB_DIRS := common connectors templates providers media batch
LIB_SRCS := $(filter-out batch/main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
# gpu/'s CPU references and its CUDA-less device layer (device_none.c answers
# "no CUDA compiled in") go into the library, so media/ can run its steps
# through gpu/ops.h (device.c) and its tests can check that path.
LIB_SRCS += $(wildcard gpu/*_ref.c gpu/image.c gpu/device_none.c)
# With CUDA (GPU=1: nvcc found) the kernels take the place of the "no CUDA
# compiled in" answers: gpu/*.cu go into the library instead of gpu/*_none.c
# and cudart is linked statically, so `--device gpu` runs them on a device.
ifeq ($(GPU),1)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90
LIB_SRCS := $(filter-out gpu/%_none.c,$(LIB_SRCS))
GPU_CU_OBJS := $(patsubst gpu/%.cu,$(BUILD)/gpu/%.cu.o,$(wildcard gpu/*.cu))
LDLIBS += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
else
LIB_SRCS += $(filter-out $(LIB_SRCS),$(wildcard gpu/*_none.c))
endif
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS += $(GPU_CU_OBJS)
LIB      := $(BUILD)/libskugen.a

TEST_SRCS := $(wildcard tests/unit/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_SRCS := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJS := $(TEST_SUPPORT_SRCS:%.c=$(BUILD)/%.o)
TEST_CFLAGS := $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS   := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

# Fake servers for the remote APIs (libmicrohttpd), one binary each.
FAKE_SRCS := $(wildcard tests/fakes/fake_*.c)
FAKE_BINS := $(FAKE_SRCS:tests/fakes/%.c=$(BUILD)/fakes/%)
FAKE_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)

BENCH_SRCS := $(wildcard bench/*/main.c)
BENCH_BINS := $(BENCH_SRCS:bench/%/main.c=$(BUILD)/bench/%)

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)

# The spec tests live beside the repository, not in it.
SPEC_DIR ?= $(abspath ../shared/spec)
export SKUGEN_SPEC_DIR := $(SPEC_DIR)

.PHONY: all test unit-tests asan demo clean install bench fuzz gpu gpu-test FORCE
.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:

# gpu/ builds its own kernels with only nvcc and libc; it is skipped until it
# has a Makefile (the kernels arrive with the images work).
GPU_BUILD := $(if $(and $(filter 1,$(GPU)),$(wildcard gpu/Makefile)),gpu)

all: skugen $(GPU_BUILD)

skugen: $(BUILD)/skugen
	cp $< $@

$(BUILD)/skugen: $(BUILD)/batch/main.o $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(if $(filter tests/%,$<),$(TEST_CFLAGS)) -MMD -MP -c -o $@ $<

# gpu/'s CPU references are built -O3 (their loops are written to vectorise).
$(BUILD)/gpu/%.o: ALL_CFLAGS += -O3

# gpu/'s kernels (GPU=1): nvcc, Hopper code plus PTX for newer devices.
$(BUILD)/gpu/%.cu.o: gpu/%.cu
	@mkdir -p $(@D)
	$(NVCC) -std=c++17 -I. $(CUDA_ARCH) -O3 -Xcompiler -Wall,-Wextra,-Werror -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TEST_SUPPORT_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(TEST_LIBS) $(LDLIBS)

# A fake server: its object, libmicrohttpd and the library.
$(BUILD)/fakes/%: $(BUILD)/tests/fakes/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(FAKE_LIBS) $(LDLIBS)

# Bench objects live apart from the binaries: build/bench/NAME is the program,
# so build/bench/NAME/ cannot also be the folder of its main.o.
$(BUILD)/bench-obj/%.o: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# A benchmark is every .c in bench/NAME/ and bench/common/, linked with the
# library and the fake-server launcher the unit tests use (libc only).
bench_objs = $(patsubst bench/%.c,$(BUILD)/bench-obj/%.o,$(wildcard bench/$(1)/*.c bench/common/*.c)) \
	$(BUILD)/tests/support/fake_proc.o
.SECONDEXPANSION:
$(BUILD)/bench/%: $$(call bench_objs,$$*) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(FAKE_LIBS) $(LDLIBS)

# The demo's product photos and scenes, made procedurally (examples/tools/).
EXAMPLE_PHOTOS := $(BUILD)/tools/example_photos
$(EXAMPLE_PHOTOS): examples/tools/example_photos.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LDLIBS)

unit-tests: $(TEST_BINS)

# `make test`: every unit and integration test; the last line is
# "N passed, N failed".
test: $(BUILD)/skugen $(TEST_BINS) $(FAKE_BINS) $(EXAMPLE_PHOTOS)
	@tests/run $(BUILD)

# The same tests under AddressSanitizer and UBSan, in a separate build tree.
asan:
	$(MAKE) BUILD=build-asan OPT=-O1 GPU=0 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

demo: skugen $(EXAMPLE_PHOTOS)
	@EXAMPLE_PHOTOS=$(EXAMPLE_PHOTOS) scripts/demo

bench: $(BENCH_BINS) $(BUILD)/skugen $(FAKE_BINS)
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done

bench-%: $(BUILD)/bench/% $(BUILD)/skugen $(FAKE_BINS)
	@$<

# libFuzzer targets (clang): `make fuzz FUZZ_SECONDS=600`.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz $(FUZZ_SECONDS) $(FUZZ_SRCS)

gpu:
	$(MAKE) -C gpu NVCC=$(NVCC)

gpu-test:
	$(MAKE) -C gpu test NVCC=$(NVCC)

install: skugen
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/skugen/templates
	install -m 0755 skugen $(DESTDIR)$(PREFIX)/bin/skugen
	cp -R templates/prompts $(DESTDIR)$(PREFIX)/share/skugen/templates/
	cp -R examples $(DESTDIR)$(PREFIX)/share/skugen/

clean:
	rm -rf build build-asan build-fuzz skugen out
	[ ! -f gpu/Makefile ] || $(MAKE) -C gpu clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
