#!/usr/bin/env bash
# Builds initdiag's libFuzzer targets (Fuzz/, AddressSanitizer) and runs them.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default: 600 s, every target)
#   scripts/fuzz.sh --seeds                              regenerate Fixtures/fuzz/seeds/ (binary + text)
#
# For each target: replays Fixtures/fuzz/regressions/<target>/ (every file must pass), then fuzzes
# for the given time with a working corpus outside git (.build-fuzz/corpus/<target>, seeded from
# Fixtures/fuzz/seeds/<target>/), writing crashers to .build-fuzz/crashes/<target>/. Prints one
# summary line per target: executions, exec/s, coverage gained, crashes.
#
# Environment: FUZZ_JOBS (targets run at once, default 2), FUZZ_RSS_MB (default 2048).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRATCH="$ROOT/.build-fuzz"
ALL_TARGETS=(fuzz-prototxt fuzz-solver fuzz-caffemodel fuzz-blobproto-datum fuzz-scheme fuzz-statistics fuzz-onnx)
JOBS="${FUZZ_JOBS:-2}"
RSS_MB="${FUZZ_RSS_MB:-2048}"
export SWIFT_BACKTRACE=enable=no

# The Fuzz package reaches the root package through this link: a path dependency's identity is the
# last component of its path, and a checkout directory named like the Fuzz package ("fuzz") would
# otherwise collide with it. .build-fuzz/ is ignored by the root .gitignore (.build-*/).
mkdir -p "$SCRATCH"
ln -sfn .. "$SCRATCH/initdiag"

max_len() {
    case "$1" in
        fuzz-prototxt|fuzz-solver) echo 16384 ;;
        fuzz-caffemodel|fuzz-onnx) echo 65536 ;;
        fuzz-blobproto-datum) echo 4096 ;;
        fuzz-scheme) echo 256 ;;
        fuzz-statistics) echo 2048 ;;
    esac
}

# Field names, enum names and layer types from the schema tables, plus the text format's tokens.
write_dict() {
    local dict="$SCRATCH/prototxt.dict"
    {
        grep -ohE '\.[a-zA-Z]+\("[a-z_0-9]+"' "$ROOT/Sources/InitDiag/Prototxt/CaffeSchema.swift" \
            | sed -E 's/.*\("//; s/"$//'
        grep -ohE 'enum [A-Za-z]+: String[^{]*\{ *case [^}]*\}' "$ROOT/Sources/InitDiag/Prototxt/CaffeMessages.swift" \
            | sed -E 's/.*case //; s/ *\}//' | tr ',' '\n' | sed -E 's/ //g'
        grep -ohE '"[A-Z][A-Za-z0-9]+":' "$ROOT/Sources/InitDiag/Net/LayerFactory.swift" | tr -d '":'
        grep -ohE '"[A-Z][A-Za-z0-9]+"' "$ROOT/Sources/InitDiag/Net/LayerFactory.swift" | tr -d '"'
        printf '%s\n' xavier msra gaussian uniform constant positive_unitball bilinear
    } | grep -E '^[A-Za-z_0-9]+$' | sort -u | awk '{ printf "\"%s\"\n", $0 }' > "$dict"
    printf '%s\n' '"{"' '"}"' '":"' '": {"' '"\""' '"#"' '"["' '"]"' '","' '"-"' '"1e39"' '"nan"' '"inf"' \
        '"-inf"' '"2147483648"' '"4294967296"' '"9223372036854775808"' '"\\x00"' '"0x"' '"\\n"' >> "$dict"
    echo "$dict"
}

build() {
    cd "$ROOT/Fuzz"
    # -O after the root package's -Ounchecked: keep Swift's overflow and bounds checks, which turn a
    # bad input into a trap the fuzzer reports instead of silent wrap-around.
    for t in "$@"; do
        swift build -c release --sanitize fuzzer -Xswiftc -sanitize=fuzzer,address \
            -Xswiftc -parse-as-library -Xswiftc -O --scratch-path "$SCRATCH" --product "$t" >&2
    done
    cd "$ROOT"
}

if [[ "${1:-}" == "--seeds" ]]; then
    # Binary seeds come from the library's own encoders (a plain debug build, no sanitizer).
    (cd "$ROOT/Fuzz" && swift build --scratch-path "$SCRATCH/seedgen" --product fuzz-seedgen >&2)
    "$SCRATCH/seedgen/debug/fuzz-seedgen" "$ROOT" "$ROOT/Fixtures/fuzz/seeds"
    for t in fuzz-prototxt fuzz-solver; do mkdir -p "$ROOT/Fixtures/fuzz/seeds/$t"; done
    for f in "$ROOT"/Fixtures/seed/train_val.prototxt "$ROOT"/Fixtures/prototxt/*.prototxt \
             "$ROOT"/Fixtures/prototxt/malformed/net_*.prototxt "$ROOT"/Fixtures/nets/*[!r].prototxt \
             "$ROOT"/Fixtures/reference/*/net.prototxt; do
        case "$(basename "$f")" in *solver*) continue ;; esac
        cp "$f" "$ROOT/Fixtures/fuzz/seeds/fuzz-prototxt/$(echo "${f#"$ROOT"/Fixtures/}" | tr / _)"
    done
    for f in "$ROOT"/Fixtures/seed/solver.prototxt "$ROOT"/Fixtures/prototxt/every_field_solver.prototxt \
             "$ROOT"/Fixtures/prototxt/malformed/solver_*.prototxt "$ROOT"/Fixtures/nets/*.solver.prototxt \
             "$ROOT"/Fixtures/reference/solver/solver.prototxt; do
        cp "$f" "$ROOT/Fixtures/fuzz/seeds/fuzz-solver/$(echo "${f#"$ROOT"/Fixtures/}" | tr / _)"
    done
    mkdir -p "$ROOT/Fixtures/fuzz/seeds/fuzz-scheme"
    i=0
    while IFS= read -r line; do
        i=$((i + 1)); printf '%s' "$line" > "$ROOT/Fixtures/fuzz/seeds/fuzz-scheme/scheme_$i.txt"
    done <<'SCHEMES'
w=as-declared,b=as-declared
w=as-declared,b=zero
w=caffe-msra,b=zero
w=caffe-msra,b=zero,lr=0.1
w=torch-default,b=torch-default
w=as-declared,b=as-declared,bn=on
w=torch-default,b=torch-default,bn=on
 w = caffe-xavier-avg , bn=off , b=caffe-xavier , lr=1e-05
w=caffe-gaussian-0.01;w=torch-kaiming-normal,b=zero
w=torch-xavier-uniform,lr=2.5
SCHEMES
    exit 0
fi

SECONDS_PER_TARGET="${1:-600}"
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL_TARGETS[@]}")

build "${TARGETS[@]}"
BIN="$SCRATCH/release"
DICT="$(write_dict)"

# Regressions first: each saved crasher must now run cleanly.
for t in "${TARGETS[@]}"; do
    reg="$ROOT/Fixtures/fuzz/regressions/$t"
    if [[ -d "$reg" ]] && compgen -G "$reg/*" > /dev/null; then
        echo "== $t: replaying $(ls "$reg" | wc -l) regression input(s)" >&2
        "$BIN/$t" -rss_limit_mb="$RSS_MB" "$reg"/* 2> "$SCRATCH/$t.regressions.log" \
            || { echo "regression replay failed for $t (see $SCRATCH/$t.regressions.log)" >&2; exit 1; }
    fi
done

run_target() {
    local t="$1" corpus="$SCRATCH/corpus/$1" crashes="$SCRATCH/crashes/$1" log="$SCRATCH/$1.log"
    mkdir -p "$corpus" "$crashes"
    local seeds="$ROOT/Fixtures/fuzz/seeds/$t"
    [[ -d "$seeds" ]] && cp -n "$seeds"/* "$corpus"/ 2> /dev/null || true
    local dict_flag=()
    [[ "$t" == fuzz-prototxt || "$t" == fuzz-solver ]] && dict_flag=(-dict="$DICT")
    # -fork keeps fuzzing after a crash (each crash saved to $crashes); -ignore_crashes lets it.
    "$BIN/$t" "$corpus" -max_len="$(max_len "$t")" -max_total_time="$SECONDS_PER_TARGET" \
        -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$crashes/" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        "${dict_flag[@]}" > "$log" 2>&1 || true
}

summarize() {
    local t="$1" log="$SCRATCH/$1.log"
    local execs cov_start cov_end ncrash secs
    # Fork mode prints "#<execs>: cov: <n> ft: <n> corp: ... exec/s: <n> oom/timeout/crash: a/b/c time: <s>s".
    local last first
    last="$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)"
    first="$(grep -E '^#[0-9]+: cov:' "$log" | head -1 || true)"
    execs="$(sed -E 's/^#([0-9]+):.*/\1/' <<< "$last")"
    cov_start="$(sed -E 's/.* cov: ([0-9]+) .*/\1/' <<< "$first")"
    cov_end="$(sed -E 's/.* cov: ([0-9]+) .*/\1/' <<< "$last")"
    secs="$(sed -E 's/.* time: ([0-9]+)s.*/\1/' <<< "$last")"
    ncrash="$(ls "$SCRATCH/crashes/$t" 2> /dev/null | grep -c '^crash-' || true)"
    local ooms timeouts
    ooms="$(ls "$SCRATCH/crashes/$t" 2> /dev/null | grep -c '^oom-' || true)"
    timeouts="$(ls "$SCRATCH/crashes/$t" 2> /dev/null | grep -c '^timeout-' || true)"
    local rate=0
    [[ -n "$secs" && "$secs" -gt 0 ]] && rate=$(( execs / secs ))
    printf '%-22s %6ss %10s execs %7s exec/s  cov %s -> %s (+%s)  crashes %s  ooms %s  timeouts %s\n' \
        "$t" "${secs:-?}" "${execs:-?}" "$rate" "${cov_start:-?}" "${cov_end:-?}" \
        "$(( ${cov_end:-0} - ${cov_start:-0} ))" "$ncrash" "$ooms" "$timeouts"
}

pids=()
for t in "${TARGETS[@]}"; do
    while [[ ${#pids[@]} -ge $JOBS ]]; do
        wait -n || true
        alive=(); for p in "${pids[@]}"; do kill -0 "$p" 2> /dev/null && alive+=("$p"); done; pids=("${alive[@]}")
    done
    echo "== $t: fuzzing for ${SECONDS_PER_TARGET}s (log $SCRATCH/$t.log)" >&2
    run_target "$t" &
    pids+=($!)
done
wait
echo "target                   time      executions    exec/s  coverage (edges)               findings"
for t in "${TARGETS[@]}"; do summarize "$t"; done
