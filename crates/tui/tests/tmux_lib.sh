# What the tmux end-to-end tests of `yoi tui` share: their arguments, a temp
# workspace, a tmux server on its own socket, the mock OpenAI server, a real
# `yoi serve`, reading the screen and counting checks. Sourced, never run:
#
#   E2E_SCRIPT=name.sh E2E_NAME=short-name E2E_API_KEY=key
#   . "$(dirname "$0")/tmux_lib.sh" "$@"
#
# Everything it starts is cleaned up when the sourcing script exits.

YOI=${1:?usage: $E2E_SCRIPT PATH/TO/yoi PATH/TO/yoi-mock-openai}
MOCK=${2:?usage: $E2E_SCRIPT PATH/TO/yoi PATH/TO/yoi-mock-openai}
YOI=$(cd "$(dirname "$YOI")" && pwd)/$(basename "$YOI")
MOCK=$(cd "$(dirname "$MOCK")" && pwd)/$(basename "$MOCK")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/yoi-tui-$E2E_NAME.XXXXXX")
TMUX_SOCKET="yoi-tui-$E2E_NAME-$$"
SESSION="tui"
COLS=120
ROWS=40
MOCK_PID=""
SERVER_PID=""
PASSED=0
FAILED=0

tm() { tmux -L "$TMUX_SOCKET" -f /dev/null "$@"; }

cleanup() {
    tm kill-server >/dev/null 2>&1
    for pid in $SERVER_PID $MOCK_PID; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in $SERVER_PID $MOCK_PID; do
        wait_gone "$pid" 50 || kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_gone PID TENTHS: true once PID has exited (within TENTHS * 0.1 s).
wait_gone() {
    local pid=$1 tries=$2
    while ((tries-- > 0)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    return 1
}

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    echo "--- screen ---"
    screen | sed 's/^/    /'
    echo "--- server log (tail) ---"
    tail -n 20 "$WORK/server.log" 2>/dev/null | sed 's/^/    /'
}

screen() { tm capture-pane -p -t "$SESSION" 2>/dev/null; }
status_bar() { screen | awk 'NF { last = $0 } END { print last }'; }

# wait_for REGEX SECONDS: polls the screen (tmux has no change events) until
# the extended regex matches, or fails after SECONDS.
wait_for() {
    local pattern=$1 tries=$(($2 * 5))
    while ((tries-- > 0)); do
        screen | grep -Eq -- "$pattern" && return 0
        sleep 0.2
    done
    return 1
}

# check NAME REGEX SECONDS
check() {
    if wait_for "$2" "$3"; then pass "$1"; else fail "$1 (waited ${3}s for /$2/)"; fi
}

# A port nothing listens on (nothing connects to it, so it is very likely free).
free_port() {
    local port tries=100
    while ((tries-- > 0)); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

healthy() {
    curl -fsS --max-time 2 "http://127.0.0.1:$PORT/api/health" 2>/dev/null | grep -q '"status":"ok"'
}

start_server() {
    OPENAI_BASE_URL="$MOCK_URL" OPENAI_API_KEY="$E2E_API_KEY" YOI_BIND="127.0.0.1:$PORT" \
        "$YOI" serve --workspace "$WORK/workspace" >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local tries=150
    while ((tries-- > 0)); do
        healthy && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

# A free port and `yoi serve` on it, checked; a scenario without its server
# ends here, counted as one failure.
serve_or_exit() {
    PORT=$(free_port) || { echo "no free port"; echo "0 passed, 1 failed"; exit 1; }
    if start_server; then pass "yoi serve answers /api/health"; else
        fail "yoi serve answers /api/health"; cat "$WORK/server.log"
        echo "$PASSED passed, $FAILED failed"; exit 1
    fi
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait_gone "$SERVER_PID" 50 || { kill -KILL "$SERVER_PID" 2>/dev/null; wait_gone "$SERVER_PID" 50; }
    SERVER_PID=""
}

# type_line TEXT: types TEXT literally, then Enter.
type_line() {
    tm send-keys -t "$SESSION" -l -- "$1"
    tm send-keys -t "$SESSION" Enter
}


# wait_without REGEX SECONDS: polls until the screen no longer matches.
wait_without() {
    local pattern=$1 tries=$(($2 * 5))
    while ((tries-- > 0)); do
        screen | grep -Eq -- "$pattern" || return 0
        sleep 0.2
    done
    return 1
}

key() { tm send-keys -t "$SESSION" "$@"; }

# check_scrolled NAME REGEX: like check, paging back through the transcript
# when the text lies above what the screen shows (a long answer below it).
check_scrolled() {
    local pages=8
    while ((pages-- > 0)); do
        if wait_for "$2" 2; then pass "$1"; return; fi
        key PageUp
    done
    fail "$1 (paged back for /$2/)"
}

api() { curl -fsS --max-time 5 -H 'Content-Type: application/json' "$@"; }

# require_tools: tmux and curl, or the script ends with one failure.
require_tools() {
    for tool in tmux curl; do
        command -v "$tool" >/dev/null || { echo "$E2E_SCRIPT: $tool is required"; echo "0 passed, 1 failed"; exit 1; }
    done
}

# start_mock: the mock OpenAI server on a port of its own; sets MOCK_URL.
start_mock() {
    "$MOCK" --port 0 >"$WORK/mock.out" 2>"$WORK/mock.err" &
    MOCK_PID=$!
    MOCK_URL=""
    for _ in $(seq 1 100); do
        MOCK_URL=$(sed -n 's/^listening //p' "$WORK/mock.out" 2>/dev/null | head -n 1)
        [ -n "$MOCK_URL" ] && break
        sleep 0.1
    done
    if [ -z "$MOCK_URL" ]; then
        echo "not ok - the mock OpenAI server did not start"; cat "$WORK/mock.err"
        echo "0 passed, 1 failed"; exit 1
    fi
}
