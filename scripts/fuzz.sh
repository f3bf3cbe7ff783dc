#!/usr/bin/env bash
# Fuzz the signature header parsers and the verifier for a bounded time.
#   scripts/fuzz.sh [SECONDS]   (default 60)
# Uses cargo-fuzz (libFuzzer). The toolchain is stable, so RUSTC_BOOTSTRAP=1 lets it accept
# the nightly-only flags cargo-fuzz passes; no sanitizer keeps the build small (the Rust
# code is memory-safe; the fuzzer hunts panics, overflows and broken invariants).
# Without cargo-fuzz it falls back to the proptest-based fuzz test (case count from time).
set -euo pipefail
SECONDS_BUDGET="${1:-60}"
cd "$(dirname "$0")/.."

if cargo fuzz --version >/dev/null 2>&1; then
    mkdir -p fuzz/corpus/headers
    # HOOKRELAY_FUZZ_DEV=1 (CI) builds the target in the dev profile: a quicker build, fewer runs.
    profile=()
    [ "${HOOKRELAY_FUZZ_DEV:-}" = 1 ] && profile=(--dev)
    RUSTC_BOOTSTRAP=1 cargo fuzz run "${profile[@]}" --sanitizer none headers fuzz/corpus/headers -- \
        -max_total_time="$SECONDS_BUDGET" -max_len=4096 -timeout=10
else
    echo "cargo-fuzz not found (cargo install cargo-fuzz); running the proptest fuzz test" >&2
    HOOKRELAY_FUZZ_CASES="$((SECONDS_BUDGET * 2000))" \
        cargo test --test verify_fuzz -- --ignored --nocapture
fi
