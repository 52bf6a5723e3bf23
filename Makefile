# The two commands of the README:
#   go run ./cmd/resolverd      run a node on the example config (127.0.0.1:1053)
#   make test                   the whole test suite (what CI runs)
GO          ?= go
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: all build test lint vet unit lab bench bench-go fuzz clean

all: build

build:
	$(GO) build -o resolverd ./cmd/resolverd
	$(GO) build -o dnsctl ./cmd/dnsctl

# Everything CI checks: formatting, vet, staticcheck, every test (unit,
# end-to-end on loopback, and the network-namespace lab when run as root).
test: lint
	$(GO) test -count=1 -timeout 20m ./...

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-clean:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -short ./...

lab:
	$(GO) test -count=1 -v -timeout 10m ./test/lab/...

# Go benchmarks of every hot path (figures for notes, never asserted).
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# A short fuzzing pass over every fuzz target (FUZZTIME each).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -f resolverd dnsctl

# The whole server against its peers (../shared/bench; ~30 min, both cores,
# root), then the table of ratios to the best peer of each workload:
# `make bench ARGS='-w W1 -p nsd -r 1 -d 5'` for a quick subset.
bench:
	bash bench/run.sh $(ARGS)
