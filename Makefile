# latch — every check CI runs is `make test`.
GO          ?= go

# Go 1.27.3, go.mod's toolchain line: 1.26.8 has fixes pending in net/http,
# crypto/tls, crypto/x509 and html/template (govulncheck, docs/security.md).
# Machines that pin GOTOOLCHAIN=local (as this kind does) ignore that line,
# so every build and test here asks for it; the go command fetches it from
# the module proxy once (76 MB). GOTOOLCHAIN=local make … uses the machine's.
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
CONFORM     := ../shared/conform/run

.PHONY: test services chromium vet staticcheck unit conform conform-scaled build bench bench-macro run \
	crash flood soak supply reproducible vulncheck fuzz

## test: the module checksums, govulncheck, vet, staticcheck, the race-enabled
## test suite (real PostgreSQL and Redis, started if down; the fuzz seeds run
## as ordinary tests), then the contract check
test: supply vulncheck services vet staticcheck unit conform conform-scaled

# supply: every downloaded module matches go.sum (docs/security.md, "Supply
# chain"). Cheap: it hashes the module cache, no network.
supply:
	$(GO) mod verify

services:
	@scripts/services.sh

# The headless browser of the browser/ tests (installed in CI when missing).
chromium:
	@scripts/chromium.sh

# Reproducible: no file system paths in the binary, the version from git.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o bin/latch ./cmd/latch

# reproducible: two builds from two copies of the tree, each with an empty
# build cache, must be byte-identical.
reproducible:
	VERSION=$(VERSION) scripts/reproducible.sh

# vulncheck: govulncheck against the Go vulnerability database, built here
# from the golang.org/x/vulndb module, which the module proxy serves (its
# data/osv holds every report as OSV JSON; vuln.go.dev itself cannot be
# reached from CI): vulndb's own indexdb command turns that folder into the
# file:// database govulncheck reads. VULNDB_VERSION=latest is the newest the
# proxy has (printed), so a newly published report fails CI without a change
# here; pin a version to reproduce a run. GOVULNDB=DIR uses a ready database.
GOVULNCHECK    := golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VERSION ?= latest
VULNDB_CACHE   ?= $(HOME)/.cache/latch-vulndb
vulncheck:
	@db="$(GOVULNDB)"; \
	if [ -z "$$db" ]; then \
		v=$$($(GO) list -m -f '{{.Version}}' golang.org/x/vulndb@$(VULNDB_VERSION)) || exit 1; \
		db="$(VULNDB_CACHE)/$$v"; \
		echo "vulncheck: golang.org/x/vulndb@$$v"; \
		if [ ! -s "$$db/index/modules.json" ]; then \
			src=$$($(GO) mod download -json golang.org/x/vulndb@$$v | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p') && \
			rm -rf "$$db.tmp" && \
			$(GO) run golang.org/x/vulndb/cmd/indexdb@$$v -vulns "$$src/data/osv" -out "$$db.tmp" && \
			mv "$$db.tmp" "$$db" || exit 1; \
		fi; \
	fi; \
	$(GO) version && $(GO) run $(GOVULNCHECK) -db "file://$$(cd "$$db" && pwd)" ./...

# fuzz: every fuzz target for FUZZTIME, one after another (scripts/fuzz.sh;
# FUZZ_ONLY=regexp picks targets). The seeds alone run in `make test`.
FUZZTIME ?= 30s
fuzz:
	FUZZ_ONLY='$(FUZZ_ONLY)' scripts/fuzz.sh $(FUZZTIME)

run:
	$(GO) run ./cmd/latch serve

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

unit: services chromium
	$(GO) test -race -count=1 -timeout 10m ./...

# The black-box contract check from ../shared, when it is there (it is in CI).
conform:
	@if [ -x $(CONFORM) ]; then $(CONFORM); else echo "conform: $(CONFORM) not found, skipped"; fi

# The same contract on PostgreSQL + Redis, on a fresh database.
conform-scaled: services
	@if [ -x $(CONFORM) ]; then \
		db=latch_conform_$$$$; \
		psql -h 127.0.0.1 -U postgres -d test -qc "CREATE DATABASE $$db" && \
		$(CONFORM) -store-db "postgres://postgres@127.0.0.1:5432/$$db?sslmode=disable" -store-redis redis://127.0.0.1:6379/0; \
		rc=$$?; psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $$db WITH (FORCE)"; exit $$rc; \
	else echo "conform: $(CONFORM) not found, skipped"; fi

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# The macro benchmarks of bench/README.md with short defaults: whoami req/s
# and instructions per request beside the bare net/http server (needs wrk
# and valgrind). The BENCHMARKS.md protocol: MACRO_ROUNDS=12
# MACRO_DURATION=3s CALLGRIND_SECONDS=10.
MACRO_ROUNDS      ?= 4
MACRO_DURATION    ?= 2s
CALLGRIND_SECONDS ?= 5
bench-macro:
	bench/wrk.sh $(MACRO_ROUNDS) $(MACRO_DURATION)
	bench/callgrind.sh $(CALLGRIND_SECONDS)

# The long crash run of docs/security.md: KILLS kills of latch (SIGKILL at
# random moments of login, refresh and logout storms) per store, SQLite and
# PostgreSQL, each followed by a restart and the checks of scale/crash_test.go;
# prints the counts. `make test` runs 3 kills per store.
KILLS ?= 50
crash: services
	LATCH_CRASH_KILLS=$(KILLS) $(GO) test -count=1 -timeout 60m -run '^TestCrash$$' -v ./scale/

# The floods of docs/security.md at the sizes of the issue: 1,000
# simultaneous logins, 10,000 stuffing attempts over 1,000 accounts from 100
# addresses, 10,000 idle connections, 20,000 replays of spent refresh
# tokens. `make test` runs them bounded, a few seconds each, asserting
# behaviour only; here /healthz and whoami are also held to a p99 of 50 ms
# (docs/security.md, Floods; BENCHMARKS.md, "The login flood").
flood: services
	LATCH_FLOOD_FULL=1 $(GO) test -count=1 -timeout 30m -run '^TestFlood_' -v ./scale/

# The soak of BENCHMARKS.md: steady mixed load on one latch for SOAK, with
# lifetimes of a minute or two so that its state expires and is pruned
# within the run; samples RSS, heap, goroutines, open files and the live
# state, prints their slopes over the last half, writes bench/soak/soak.svg.
SOAK ?= 10m
soak:
	$(GO) run ./bench/soak -duration $(SOAK) -svg bench/soak/soak.svg
