# latch — every check CI runs is `make test`.
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
CONFORM     := ../shared/conform/run

.PHONY: test services vet staticcheck unit conform build bench run

## test: vet, staticcheck, the race-enabled test suite (real PostgreSQL and
## Redis, started if down), then the contract check
test: services vet staticcheck unit conform

services:
	@scripts/services.sh

build:
	$(GO) build -o bin/latch ./cmd/latch

run:
	$(GO) run ./cmd/latch serve

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || { echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

unit: services
	$(GO) test -race -count=1 -timeout 10m ./...

# The black-box contract check from ../shared, when it is there (it is in CI).
conform:
	@if [ -x $(CONFORM) ]; then $(CONFORM); else echo "conform: $(CONFORM) not found, skipped"; fi

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
