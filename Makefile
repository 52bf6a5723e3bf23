# The two commands of the README:
#   go run ./cmd/resolverd      run a node on the example config (127.0.0.1:1053)
#   make test                   the whole test suite (what CI runs)
GO          ?= go
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
PROMTOOL    ?= promtool

# The product version is internal/version/VERSION; builds stamp the commit
# (and whether the tree was modified) next to it. `go build` in a plain clone
# stamps it too (build info); these flags also work in worktrees and with
# -buildvcs=false.
REVISION := $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED := $(shell git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)
LDFLAGS  := -X github.com/gitops-dns/resolverd/internal/version.revision=$(REVISION) -X github.com/gitops-dns/resolverd/internal/version.modified=$(MODIFIED)

# install: the binaries, the systemd unit and (only when none is there) the
# production Corefile. DESTDIR for packaging.
PREFIX     ?= /usr/local
UNITDIR    ?= /etc/systemd/system
CONFDIR    ?= /etc/resolverd

.PHONY: all build test lint vet unit lab bench bench-check bench-go fuzz clean install deploy-check

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o resolverd ./cmd/resolverd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dnsctl ./cmd/dnsctl

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 resolverd dnsctl $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/bin/resolverd|$(PREFIX)/bin/resolverd|; s|/etc/resolverd/Corefile|$(CONFDIR)/Corefile|' deploy/systemd/resolverd.service > $(DESTDIR)$(UNITDIR)/resolverd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/resolverd.service
	test -e $(DESTDIR)$(CONFDIR)/Corefile || install -m 0644 deploy/Corefile $(DESTDIR)$(CONFDIR)/Corefile
	@echo "installed; edit $(CONFDIR)/Corefile (cluster, node, repo), then: systemctl daemon-reload && systemctl enable --now resolverd"

# Everything CI checks: formatting, vet, staticcheck, the alert rules'
# unit tests, every test (unit, end-to-end on loopback, the deploy/
# artefacts, and the network-namespace lab when run as root).
test: lint deploy-check bench-check
	$(GO) test -count=1 -timeout 20m ./...

# The bench's ratio table: which peer each goal is measured against; the
# scripts' wait for a node's first answer.
bench-check:
	python3 bench/ratios_test.py
	python3 bench/lib_test.py

# The Prometheus rules (Debian: prometheus ships promtool; .ci/run installs it).
deploy-check:
	$(PROMTOOL) check rules deploy/prometheus/resolverd.rules.yml
	$(PROMTOOL) test rules deploy/prometheus/resolverd.rules_test.yml
	$(PROMTOOL) check config deploy/prometheus/scrape.yml

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
# root; W2/W3 on a signed internet, validation on: bench/run.sh), then the
# table of ratios to the best peer of each workload:
# `make bench ARGS='-w W2,W3 -p unbound-validating -r 1 -d 5'` for a quick subset.
bench:
	bash bench/run.sh $(ARGS)
