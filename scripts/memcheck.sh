#!/usr/bin/env bash
# Runs the runtime's behaviour tests under valgrind memcheck, so a
# use-after-free, an invalid read or write, or a read of uninitialised
# memory fails CI even where the test itself would pass natively (a freed
# task cell still reachable from an intrusive waiter list, a pinned future
# moved before its drop, a waker outliving its task).
#
#   ./scripts/memcheck.sh            # every suite listed below
#   ./scripts/memcheck.sh join wake  # only these suites (by test name)
#
# Each suite is one test binary (debug build, so the std and Tokio debug
# assertions are on too), run with `--test-threads=1` under
#   valgrind --tool=memcheck --error-exitcode=99 --leak-check=no
# A suite fails if valgrind reports any error (exit 99), the binary dies of
# a signal, a test fails, or it runs past MEMCHECK_TIMEOUT seconds
# (default 900). The script runs them all, prints a summary with each
# one's time, and exits 1 if any failed. All of them take about 6 minutes
# of valgrind on a shared 2-core machine (fs, spawn, time and net_tcp are
# the longest, 30 to 100 s each), plus the build.
#
# Leak checking is off: the class of bug hunted here is access to freed or
# uninitialised memory. Leak reports would mostly flag what is meant to
# outlive `main` (std's and the runtime's thread-locals, `with_timeout`
# threads left behind by design, detached workers of `shutdown_timeout`)
# and need a suppressions file that tracks std internals.
#
# Valgrind runs one thread at a time and about 20 to 50 times slower, so
# tests that assert on elapsed time are skipped (`--skip`, listed with each
# suite); every other test of the suite runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# package[:features]  test-target (`lib`: the crate's unit tests)  [FILTER | --skip FILTER]...
SUITES=(
    # Pin's drop guarantee on every way a task ends, and real intrusive
    # waiters (Tokio's Notify, Semaphore, Mutex, mpsc, watch) whose task is
    # aborted or shut down: the checks this script exists for.
    "weft pin_probe"
    "weft intrusive_waiters"
    # Panics from destructors, wakers and hooks the runtime runs for a task
    # or a thread: contained, nothing leaked or freed twice.
    "weft task_unwind"
    "weft hooks"
    # The runtime's own unit tests (task state word, queues, wheel).
    "weft lib"
    # Stall reports' stack sampling: a signal handler walking the stack of
    # a sleeping, a spinning and a signal-blocking thread into a buffer the
    # monitor reads (valgrind delivers the signals; it keeps SIGRTMAX for
    # itself, and ours is below).
    "weft:stall-backtrace lib stall"
    # The stall monitor reading what workers publish about the poll in
    # progress, and rescuing a stuck worker's queue (the elapsed-time and
    # million-poll tests are left to the normal run, and so is the
    # panicking hook: under valgrind its panic message's backtrace takes
    # the monitor seconds, longer than the next stall).
    "weft stall --skip a_blocking_task_is_reported --skip a_million_short_polls --skip block_in_place_is_not_a_stall --skip an_idle_runtime --skip a_block_on_after_an_idle_while --skip a_panicking_hook"
    # JoinHandle, abort, JoinSet, wakers, spawn: a task's whole life.
    "weft join"
    "weft joinset"
    # LocalSet: !Send tasks polled and dropped on the set's thread while
    # their wakers, aborts and handles come from other threads.
    "weft local_set"
    "weft wake"
    "weft spawn"
    "weft scheduler"
    "weft metrics"
    "weft bad_input"
    # #[weft::main] / #[weft::test]: block_on of both flavors.
    "weft macros"
    # Both flavors' shutdown, and the current-thread scheduler.
    "weft shutdown"
    "weft current_thread"
    # Timers. interval_missed_tick_behaviors sleeps the thread and expects
    # the ticks on a 20 ms grid.
    "weft time --skip interval_missed_tick_behaviors"
    # I/O driver: TCP, UDP and Unix sockets, a busy driver, fd cleanup.
    "weft io_driver"
    "weft net_tcp"
    "weft net_udp_unix"
    "weft net_smoke"
    "weft net_busy_driver"
    "weft net_fd_leak"
    "weft signal"
    # spawn_blocking and block_in_place.
    "weft blocking"
    "weft blocked_worker"
    # spawn_cpu / try_spawn_cpu: the CPU pool's jobs, refusals, aborts and
    # shutdown, and the priority calls on its threads.
    "weft cpu_pool"
    # weft::fs: files through the blocking pool, mandatory jobs; directory
    # listings in batches.
    "weft fs"
    "weft fs_dir"
    # weft::fs on the workers' io_uring rings (the one suite run on the ring
    # path, see RING_SUITES): futures dropped mid-operation hundreds of
    # times, completions across workers, shutdown with writes in flight.
    "weft fs_uring"
    # TcpSocket (raw-fd round trips) and enter guards (the context swap).
    "weft net_socket"
    "weft enter"
    # AsyncFd on pipes, eventfds and timerfds; child processes (pipes, the
    # orphan reaper; valgrind has no pidfd_open, so the timer fallback).
    # missing_program is left to the normal run: under valgrind std's spawn
    # does not see the child's failed exec and returns a Child.
    "weft async_fd"
    "weft process --skip missing_program"
    # Tokio's I/O traits on weft's streams (feature tokio-io): socket reads
    # go into a ReadBuf's uninitialised part through read(2).
    "weft:tokio-io tokio_io"
    # hyper on weft (features hyper, hyper-client; one build for both):
    # WeftIo's reads of weft's own streams go into the uninitialised part
    # of hyper's read buffer through read(2); serve's graceful shutdown.
    "weft:hyper-client hyper"
    "weft:hyper-client hyper_serve"
    # The blocking pool on its own.
    "weft-blocking lib"
    "weft-blocking pool"
)
# Not run: time_blocked (its one test asserts timer lateness in ms),
# macros_ui (trybuild compile errors, nothing runs), tracing (it needs a
# build with that feature; its runtime paths are the above).

TIMEOUT="${MEMCHECK_TIMEOUT:-900}"

# io_uring under valgrind: valgrind passes the io_uring syscalls through
# but cannot see the kernel write into a buffer through the ring, so every
# byte read that way would be reported as uninitialised. So every suite
# runs on the blocking-pool fallback (WEFT_IO_URING=0: the pool's
# std::fs calls are fully checked), except RING_SUITES: those run on the
# ring path with definedness checks off (--undef-value-errors=no), which
# keeps what they are there for: a read, write or free of memory already
# freed, or freed twice, by weft's side of the ring (slots, buffers, the
# reaper). Whether the kernel itself writes into freed memory no user-space
# tool sees: the slot's ownership rules, their loom model
# (loom-tests/tests/uring_slot.rs) and these suites' drop-mid-operation
# tests are the checks there.
RING_SUITES=" fs_uring "

if ! command -v valgrind >/dev/null 2>&1; then
    echo "== installing valgrind"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q valgrind
fi
valgrind --version

# Keep only the suites named on the command line, if any.
if [ "$#" -gt 0 ]; then
    chosen=()
    for suite in "${SUITES[@]}"; do
        read -r _ target _ <<<"$suite"
        for want in "$@"; do
            [ "$want" = "$target" ] && chosen+=("$suite")
        done
    done
    [ "${#chosen[@]}" -gt 0 ] || { echo "memcheck.sh: no suite named $*" >&2; exit 2; }
    SUITES=("${chosen[@]}")
fi

# Build every chosen binary in one cargo call per package, and read the
# executables' paths from cargo's JSON messages.
declare -A EXE
for package in $(printf '%s\n' "${SUITES[@]}" | awk '{print $1}' | sort -u); do
    args=()
    for suite in "${SUITES[@]}"; do
        read -r pkg target _ <<<"$suite"
        if [ "$pkg" = "$package" ]; then
            if [ "$target" = lib ]; then args+=(--lib); else args+=(--test "$target"); fi
        fi
    done
    # `package:features` builds that package with those features.
    if [[ "$package" == *:* ]]; then args+=(--features "${package#*:}"); fi
    echo "== building $package: ${args[*]}"
    while read -r kind name exe; do
        if [ "$kind" = lib ]; then name=lib; fi
        EXE["$package/$name"]="$exe"
    done < <(cargo test -p "${package%%:*}" "${args[@]}" --no-run --message-format=json \
        | grep '"reason":"compiler-artifact"' \
        | sed -n 's/.*"target":{"kind":\["\([a-z-]*\)"[^}]*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2 \3/p')
done

failed=()
summary=()
for suite in "${SUITES[@]}"; do
    read -r package target filters <<<"$suite"
    exe="${EXE[$package/$target]:-}"
    if [ -z "$exe" ]; then
        echo "memcheck.sh: cargo built no test binary for $package --test $target" >&2
        exit 2
    fi
    echo "== memcheck $package --test $target ${filters}"
    start=$(date +%s)
    rc=0
    uring=0
    extra=()
    if [[ "$RING_SUITES" == *" $target "* ]]; then
        uring=1
        extra=(--undef-value-errors=no)
    fi
    # shellcheck disable=SC2086 # the filters are words on purpose
    WEFT_IO_URING=$uring timeout "$TIMEOUT" valgrind --tool=memcheck --error-exitcode=99 \
        --leak-check=no -q "${extra[@]}" "$exe" --test-threads=1 $filters || rc=$?
    took=$(($(date +%s) - start))
    case "$rc" in
        0) verdict="ok" ;;
        99) verdict="MEMCHECK ERRORS" ;;
        101) verdict="TEST FAILED" ;;
        124) verdict="TIMEOUT after ${TIMEOUT}s" ;;
        *) verdict="FAILED (exit $rc)" ;;
    esac
    summary+=("$(printf '%-26s %5ss  %s' "$package/$target" "$took" "$verdict")")
    [ "$rc" -eq 0 ] || failed+=("$package/$target")
done

echo "== memcheck summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "memcheck.sh: failed: ${failed[*]}" >&2
    exit 1
fi
