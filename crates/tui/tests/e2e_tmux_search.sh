#!/usr/bin/env bash
# End-to-end test of search in `yoi tui`, as a person would use it.
#
#   bash crates/tui/tests/e2e_tmux_search.sh PATH/TO/yoi PATH/TO/yoi-mock-openai
#
# Starts the mock OpenAI server and a real `yoi serve`, says a word in a worker
# other than the Companion (through the API, with messages before and after
# it), runs `yoi tui` in a detached tmux session and drives it with send-keys:
#   - Ctrl-P opens the picker, `/` the search prompt; words typed, Enter
#     searches: the hits list the worker and the snippet;
#   - Enter on a hit shows it in its conversation, marked, with the message
#     before it;
#   - Enter again opens that conversation (the status bar names the worker);
#   - Ctrl-C twice quits with status 0.
# Prints `N passed, N failed`; exits non-zero on a failure. Everything it starts
# is cleaned up.

set -u

YOI=${1:?usage: e2e_tmux_search.sh PATH/TO/yoi PATH/TO/yoi-mock-openai}
MOCK=${2:?usage: e2e_tmux_search.sh PATH/TO/yoi PATH/TO/yoi-mock-openai}
YOI=$(cd "$(dirname "$YOI")" && pwd)/$(basename "$YOI")
MOCK=$(cd "$(dirname "$MOCK")" && pwd)/$(basename "$MOCK")

WORK=$(mktemp -d "${TMPDIR:-/tmp}/yoi-tui-search-e2e.XXXXXX")
TMUX_SOCKET="yoi-tui-search-e2e-$$"
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
    OPENAI_BASE_URL="$MOCK_URL" OPENAI_API_KEY=test-key-search YOI_BIND="127.0.0.1:$PORT" \
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

for tool in tmux curl; do
    command -v "$tool" >/dev/null || { echo "e2e_tmux_search.sh: $tool is required"; echo "0 passed, 1 failed"; exit 1; }
done
mkdir -p "$WORK/workspace"

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

PORT=$(free_port) || { echo "no free port"; echo "0 passed, 1 failed"; exit 1; }
if start_server; then pass "yoi serve answers /api/health"; else
    fail "yoi serve answers /api/health"; cat "$WORK/server.log"
    echo "$PASSED passed, $FAILED failed"; exit 1
fi

BASE="http://127.0.0.1:$PORT"
WID=$(api -X POST "$BASE/api/runtimes/backend-internal/workers" -d '{"display_name":"archivist"}' \
    | sed -n 's/.*"worker_id":"\([0-9A-Z]*\)".*/\1/p')
if [ -n "$WID" ]; then pass "a worker to search in"; else fail "a worker to search in"; fi
W="$BASE/api/runtimes/backend-internal/workers/$WID"
for text in 'first we talked about lunch' 'the pelican budget is approved' 'then about the weather'; do
    api -X POST "$W/input?wait=true" -d "{\"text\":\"$text\"}" >/dev/null || fail "a message: $text"
done

tm new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS"
tm set-option -t "$SESSION" remain-on-exit on >/dev/null
tm respawn-pane -k -t "$SESSION" \
    "env -u YOI_TOKEN TERM=xterm-256color '$YOI' tui --server http://127.0.0.1:$PORT 2>'$WORK/tui.err'; s=\$?; echo \$s > '$WORK/tui.status'"

check "the console connects" "● live" 30

key C-p
check "the picker opens" "workers · live" 10
key s
check "s opens the search prompt" "search" 5
type_line 'PELICAN'
check "the hits name the worker and the snippet" 'archivist@backend-internal you: the pelican budget is approved' 15
check "the answer is a hit too" 'archivist@backend-internal answer: You said: the pelican budget' 5
check "the count of hits" '2 messages' 5
key Enter
check "Enter shows the hit in its conversation, marked" '▶ You: the pelican budget is approved' 15
check "with the message before it" 'Answer: You said: first we talked about lunch' 5
key Enter
check "Enter again opens the conversation" 'archivist@backend-internal' 15
check "the conversation shows the message" 'the pelican budget is approved' 15
wait_without '· the message in its conversation' 5 && pass "the overlay closed" || fail "the overlay closed"

key C-c
key C-c
tries=50
while ((tries-- > 0)) && [ ! -s "$WORK/tui.status" ]; do sleep 0.1; done
if [ "$(cat "$WORK/tui.status" 2>/dev/null)" = "0" ]; then pass "Ctrl-C twice quits with status 0"; else fail "Ctrl-C twice quits with status 0"; fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
