GO ?= go
BIN := bin/spillway

.PHONY: build test bench lint fuzz

build:
	CGO_ENABLED=1 $(GO) build -o $(BIN) ./cmd/spillway

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 12m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 20m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
