# grpcwire: the two commands a fresh Debian 12 machine needs are `make demo` and `make test`.
# Everything else is a building block of those.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 30

.PHONY: all deps build demo test test-unit test-asan fuzz bench clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Until `grpcwire demo` exists: the seed's walk-through on a capture our scripts made from the
# real grpc-go greeter (examples/greeter.pcap): the frame list, the tree of the call, the call log.
demo: build
	@echo "== grpcwire read --frames examples/greeter.pcap"
	@$(BUILD)/grpcwire read --frames examples/greeter.pcap
	@echo; echo "== grpcwire read -V --stream 1 examples/greeter.pcap"
	@$(BUILD)/grpcwire read -V --stream 1 examples/greeter.pcap
	@echo "== grpcwire read examples/greeter.pcap"
	@$(BUILD)/grpcwire read examples/greeter.pcap

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-asan

test-asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DGW_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j$(JOBS)

fuzz:
	@scripts/deps.sh fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGW_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench:
	@scripts/deps.sh bench
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-release -j$(JOBS)
	@bench/run.sh build-release

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-release
