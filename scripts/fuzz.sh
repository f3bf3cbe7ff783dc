#!/usr/bin/env bash
# Fuzz the signature header parsers, the verifier, re-signing (fuzz/fuzz_targets/headers.rs) with
# libFuzzer for a bounded time:
#   scripts/fuzz.sh [SECONDS]   (default 60)
#
# The target is built with plain cargo and the coverage flags cargo-fuzz would pass for
# `--sanitizer none`, so CI need not compile cargo-fuzz from source first (about two minutes
# saved on a fresh machine). All these flags are stable rustc options. `--target` keeps them off
# build scripts and proc macros, as cargo-fuzz does. No sanitizer: the Rust code is memory-safe;
# the fuzzer hunts panics, overflows (overflow checks are on) and broken invariants.
# HOOKRELAY_FUZZ_RELEASE=1 builds optimised: a slower build, many more runs a second.
set -euo pipefail
SECONDS_BUDGET="${1:-60}"
cd "$(dirname "$0")/.."
root=$(pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
profile=dev
[ "${HOOKRELAY_FUZZ_RELEASE:-}" = 1 ] && profile=release
export CARGO_TARGET_DIR="$root/fuzz/target"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
(cd fuzz && cargo build --quiet --profile "$profile" --target "$host" --bin headers)
dir=$profile
[ "$profile" = dev ] && dir=debug
mkdir -p fuzz/corpus/headers
"$CARGO_TARGET_DIR/$host/$dir/headers" fuzz/corpus/headers \
    -max_total_time="$SECONDS_BUDGET" -max_len=4096 -timeout=10
