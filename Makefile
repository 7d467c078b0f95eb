# meshlab.wireguard — the two commands a person needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BIN := .venv/bin
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
LAB ?= lab
N ?= 3

.PHONY: help setup test lint sanity unit lab-test matrix release-check podman-test kernel-test demo health \
        lab-up lab-down bench build install clean

help:
	@echo "make demo    - a 3-site WireGuard mesh in network namespaces, then its health matrix"
	@echo "make test    - everything CI runs (sets this machine up first)"
	@echo "make lab-up N=3 / make lab-down   - tier-1 namespace hosts by hand"
	@echo "make health  - health matrix of the demo lab"
	@echo "make bench   - converge time against the Ansible floor (writes bench/results.md)"

setup:
	@bash scripts/setup.sh

# Every stage runs even when an earlier one fails; the last line counts what passed.
test: setup
	@bash scripts/test.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint

sanity: setup
	bash scripts/sanity.sh

unit: setup
	$(BIN)/pytest tests/unit tests/functional -q

lab-test: setup
	$(BIN)/pytest tests/lab -m lab -q

# ansible-core 2.16, 2.17, 2.18 (own venvs, sanity + a 3-host converge each); MATRIX_VERSIONS=2.16 for one
matrix: setup
	MATRIX_VERSIONS="$${MATRIX_VERSIONS:-2.16 2.17 2.18}" $(BIN)/pytest tests/matrix -m matrix -q

# ansible-builder introspect/create, the release, galaxy-importer on the built tarball
release-check: setup
	$(BIN)/pytest tests/release -m release -q

podman-test: setup
	bash lab/podman/molecule.sh

kernel-test: setup
	export VMLAB_SHARED=kernel-make-$$$$; trap '$(BIN)/python lab/vm/vmlab.py down --name $$VMLAB_SHARED' EXIT; \
	  $(BIN)/python lab/vm/vmlab.py up 3 --name $$VMLAB_SHARED && bash lab/vm/molecule.sh && \
	  WG_IFACE_TARGETS=vm $(BIN)/pytest tests/lab -m kernel -q

demo: setup
	@bash scripts/demo.sh

health: setup
	XDG_STATE_HOME=$(CURDIR)/.lab/demo/state $(BIN)/ansible-playbook -i .lab/demo/inventory.yml -i examples/site-to-site/inventory.yml \
	  -i tests/lab/inventory/lab-vars.yml \
	  playbooks/health.yml

lab-up: setup
	$(BIN)/python lab/nslab.py up $(N) --name $(LAB) --sites

lab-down:
	$(BIN)/python lab/nslab.py down --name $(LAB)

bench: setup
	bash bench/run.sh

build: setup
	$(BIN)/ansible-galaxy collection build --force

install: build
	$(BIN)/ansible-galaxy collection install --force meshlab-wireguard-*.tar.gz

clean:
	rm -rf .build .cache tests/output meshlab-wireguard-*.tar.gz
