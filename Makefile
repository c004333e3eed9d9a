GO ?= go
BIN := bin/spillway

.PHONY: build test bench lint fuzz soak

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

# Long runs, by hand: the server SIGKILLed 300 times while it launches and
# terminates against the emulator with injected faults.
soak:
	SPILLWAY_CRASH_KILLS=300 $(GO) test -count=1 -timeout 60m -run TestCrashSafetyNoDuplicateNoLeak -v ./scheduler/
