GO ?= go
BIN := bin/spillway

# go-nvml's cgo wrappers call NVML functions its newer header marks
# deprecated; without this a first build prints a page of gcc warnings.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: build test bench lint fuzz soak demo

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
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Long runs, by hand: the server SIGKILLed 300 times while it launches and
# terminates against the emulator with injected faults; the leader of two and
# of three servers on PostgreSQL SIGKILLed, SIGSTOPped and cut off 150 times
# each; the simulator's steady skip against runs without it on 1,000 random
# pools and traces, and its invariants on 300 pools, clouds and baseline knobs
# at the ends of their ranges; and, as root on a machine with loop devices,
# the SQLite state on a real ext4 that remounts itself read-only or fills up
# mid-run, and a Terraform work dir remounted read-only (build tag rootfs:
# make test runs as any user, without mounts).
soak:
	SPILLWAY_SIM_STEADY_CASES=1000 SPILLWAY_SIM_STEADY_FIRST=5000000 $(GO) test -count=1 -timeout 60m -run TestSteadySkipIsExact -v ./sim/
	SPILLWAY_SIM_EXTREME_N=300 SPILLWAY_SIM_FUZZ_DEADLINE=10m $(GO) test -count=1 -timeout 90m -run TestSimInvariantsExtreme -v ./sim/
	SPILLWAY_CRASH_KILLS=300 $(GO) test -count=1 -timeout 60m -run TestCrashSafetyNoDuplicateNoLeak -v ./scheduler/
	SPILLWAY_HA_FAULTS=150 $(GO) test -count=1 -timeout 60m -run 'TestHA(Two|Three)ServersFailover' -v ./cmd/spillway/
	$(GO) test -tags rootfs -count=1 -timeout 10m -run 'RemountedReadOnly|FullFilesystem' -v ./state/sqlite/ ./scheduler/ ./terraform/

# The whole product on loopback: emulated clouds, a simulated cluster
# replaying a real trace, the server and its page (Ctrl-C stops it).
demo: build
	$(BIN) demo

# Every fuzz target for FUZZTIME each (go test -fuzz runs one target at a
# time; .ci/fuzz retries once a run that only hit Go's fuzztime deadline
# race). Their seeds and kept crashers (testdata/fuzz/) also run as plain
# tests in make test; `make fuzz FUZZTIME=2s` is a quick smoke run.
FUZZTIME ?= 5m
FUZZ_TARGETS := emulator:FuzzEC2Request emulator:FuzzECSRequest emulator:FuzzPageToken \
	terraform:FuzzHCLString terraform:FuzzPreventedResources terraform:FuzzDecodeOutputs \
	sim/trace:FuzzITP sim/trace:FuzzPhilly sim/trace:FuzzHelios sim/trace:FuzzHeliosBySize sim/trace:FuzzGeneric sim/trace:FuzzGenericTabs sim/trace:FuzzSacct sim/trace:FuzzPodList sim/trace:FuzzPhillyLog sim/trace:FuzzPAITask sim/trace:FuzzPAIJobTable sim/trace:FuzzCompressed sim/trace:FuzzJobLog sim/trace:FuzzJobLogWorkers \
	sim/trace:FuzzGenericSemicolons sim/trace:FuzzUnusableRows sim/trace:FuzzDates sim/trace:FuzzDateOrderLookAhead sim/trace:FuzzZoneOf sim/trace:FuzzLeadingSpace sim/trace:FuzzUTF16 sim/trace:FuzzSacctEligible sim/trace:FuzzSacctWhere \
	config:FuzzParse policy:FuzzDecide api:FuzzDecodeCreateBurst api/tokens:FuzzParse \
	signals/queue/slurm:FuzzParseGPUs signals/queue/slurm:FuzzParseSqueue signals/queue/http:FuzzParsePath signals/queue/http:FuzzRead \
	signals/queue/command:FuzzParse signals/baseline:FuzzParseTargets signals/baseline:FuzzAgentURL

fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) .ci/fuzz $(FUZZ_TARGETS)
