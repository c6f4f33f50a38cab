# Convenience front end over CMake.  `make` builds build/logferry;
# `make check` installs deps and runs every test, plain and under ASan+UBSan.
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 30

.PHONY: all deps build check test test-asan fuzz fuzz-run bench demo clean

all: build

deps:
	@scripts/install-deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

check: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOGFERRY_WERROR=ON >/dev/null
	@cmake --build build -j $(JOBS)
	cd build && ctest --output-on-failure -j $(JOBS)
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLOGFERRY_WERROR=ON -DLOGFERRY_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory fuzz-run
	@echo "make check: all tests passed"

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

fuzz:
	@CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOGFERRY_FUZZ=ON -DLOGFERRY_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

fuzz-run: fuzz
	@scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS) $(JOBS)

bench:
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DLOGFERRY_BENCH=ON -DLOGFERRY_TESTS=OFF >/dev/null
	@cmake --build build-bench -j $(JOBS)
	build-bench/bench/logferry_bench

demo: deps build
	@mkdir -p var/run var/log
	@echo "logferry demo: listening on 127.0.0.1:5514 (tcp, udp), 127.0.0.1:5601 (syslog, tcp) and var/run/logferry.sock"
	@echo "send it a line from another shell:"
	@echo "  logger -n 127.0.0.1 -P 5514 -T -t myapp 'hello from logger'"
	@echo "  logger -u var/run/logferry.sock -T -t myapp 'hello over the unix socket'"
	@echo "then look at var/log/\$$(hostname)/myapp.log, or at the rows in var/logs.db:"
	@echo "  sqlite3 -header -column var/logs.db \"SELECT datetime, host, program, pid, message FROM messages_\$$(date +%Y%m) ORDER BY rowid DESC LIMIT 10\""
	@echo "Ctrl-C stops logferry."
	@$(BUILD)/logferry run -f conf/demo.conf

clean:
	rm -rf build build-asan build-fuzz build-bench
