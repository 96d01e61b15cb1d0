# SPDX-License-Identifier: GPL-2.0
# vmtrack: the two commands are "make demo" and "make test"; see README.md.

SHELL := /bin/bash
CACHE ?= $(or $(VMTRACK_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/vmtrack)
export VMTRACK_CACHE := $(CACHE)
# DEBUG=1 runs every guest test on the debug kernel (KASAN, lockdep, DEBUG_VM).
DEBUG ?= 0
export DEBUG

.PHONY: all demo test deps kernel kernel-base kernel-debug vm tools \
	kernel-dev patches check-sync check-kernel check-configs bench clean help

all: help

help:
	@echo "make demo          build, boot the patched kernel, show vmtrack at work"
	@echo "make test          everything: unit tests, series checks, kernel, VM tests"
	@echo "make test DEBUG=1  the same with the guest tests on the debug kernel"
	@echo "make vm            a shell in the test VM (patched kernel)"
	@echo "make kernel-dev    create the kernel development tree (branch vmtrack)"
	@echo "make patches       regenerate kernel-patches/ and the mirror from it"
	@echo "make check-sync    check kernel-patches/ against the top-level files"
	@echo "make check-kernel  checkpatch --strict and a build of every patch"
	@echo "make check-configs the series' tip built in three other configs"

deps:
	@scripts/deps.sh

demo: deps
	@scripts/demo.sh

test: deps
	@tests/run.sh

kernel: deps
	@scripts/kernel-image.sh series

kernel-base: deps
	@scripts/kernel-image.sh base

kernel-debug: deps
	@scripts/kernel-image.sh debug

tools: deps
	@$(MAKE) -s -C tools/vmtrack

vm: deps
	@vm/run -k "$$(scripts/kernel-image.sh $(if $(filter 1,$(DEBUG)),debug,series))"

kernel-dev: deps
	@scripts/kernel-series.sh dev

patches:
	@scripts/kernel-series.sh export

check-sync: deps
	@scripts/kernel-series.sh sync

check-kernel: deps
	@scripts/kernel-series.sh check

check-configs: deps
	@scripts/kernel-series.sh configs

bench: deps
	@bench/run.sh

clean:
	@$(MAKE) -s -C tools/vmtrack clean
