#!/usr/bin/env bash
# End-to-end test of the picker's pages in `yoi tui`, as a person would use it.
#
#   bash crates/tui/tests/e2e_tmux_pages.sh PATH/TO/yoi PATH/TO/yoi-mock-openai
#
# Starts the mock OpenAI server and a real `yoi serve`, creates 260 workers
# (w001 to w260) through the API, more than the workspace snapshot holds (the
# 200 most recently active), runs `yoi tui` in a detached tmux session and
# drives it with send-keys:
#   - Ctrl-P opens the picker: the newest worker is there, the oldest is not;
#   - Down to the bottom: the picker asks for the next page, and the oldest
#     worker (w001, on no first page) shows and is selected: Enter opens it;
#   - `/` and a name that is on no first page: the server finds it;
#   - Ctrl-C twice quits with status 0.
# Prints `N passed, N failed`; exits non-zero on a failure. Everything it starts
# is cleaned up.

set -u

E2E_SCRIPT=e2e_tmux_pages.sh
E2E_NAME=pages-e2e
E2E_API_KEY=test-key-pages
# shellcheck source=crates/tui/tests/tmux_lib.sh
. "$(dirname "$0")/tmux_lib.sh" "$@"

# check_status NAME REGEX SECONDS: like check, on the status bar alone (the
# worker the console is attached to).
check_status() {
    local tries=$(($3 * 5))
    while ((tries-- > 0)); do
        status_bar | grep -Eq -- "$2" && { pass "$1"; return; }
        sleep 0.2
    done
    fail "$1 (waited ${3}s for /$2/ on the status bar)"
}

# More than the snapshot's 200 (api.md, "Many workers") and more than a page
# of the picker (100) past it.
WORKERS=260

require_tools
mkdir -p "$WORK/workspace"

start_mock

serve_or_exit

BASE="http://127.0.0.1:$PORT"
RT="$BASE/api/runtimes/backend-internal"
created=0
for i in $(seq 1 "$WORKERS"); do
    name=$(printf 'w%03d' "$i")
    answer=$(api -X POST "$RT/workers" -d "{\"display_name\":\"$name\"}") && created=$((created + 1))
    [ "$i" -eq 1 ] && FIRST=$(echo "$answer" | sed -n 's/.*"worker_id":"\([0-9A-Z]*\)".*/\1/p')
done
if [ "$created" -eq "$WORKERS" ]; then pass "$WORKERS workers created"; else fail "$WORKERS workers created (only $created)"; fi
# The consoles' order puts workers that said nothing first, the newest
# first: w001 talks, so it is the last row of all (the Companion, silent and
# older than every wN, is just above it).
api -X POST "$RT/workers/$FIRST/input?wait=true" -d '{"text":"hello"}' >/dev/null \
    || fail "w001 answers"
LAST=$(api "$RT/workers?order=activity&limit=1000" | grep -o '"display_name":"[^"]*"' | tail -n 1)
if [ "$LAST" = '"display_name":"w001"' ]; then pass "w001 is the last in the activity order"; else
    fail "w001 is the last in the activity order (the last is $LAST)"; fi

tm new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS"
tm set-option -t "$SESSION" remain-on-exit on >/dev/null
tm respawn-pane -k -t "$SESSION" \
    "env -u YOI_TOKEN TERM=xterm-256color '$YOI' tui --server http://127.0.0.1:$PORT 2>'$WORK/tui.err'; s=\$?; echo \$s > '$WORK/tui.status'"

check "the console connects" "● live" 30

key C-p
check "the picker opens" "workers · live" 10
check "the newest worker is listed" "w260@backend-internal" 5
if screen | grep -q "w001@backend-internal"; then fail "w001 is not on the first page"; else
    pass "w001 is not on the first page"; fi

# Down in bursts until the last row (w001) shows: each burst that reaches the
# rows held makes the picker ask for the next page, and the rows it brings
# let the next burst go further. With no page, the selection stops at the
# snapshot's last row (w061) and w001 never shows.
bursts=40
while ((bursts-- > 0)); do
    key -N 20 Down
    wait_for "w001@backend-internal" 1 && break
done
check "Down to the bottom loads the next pages: w001 shows" "w001@backend-internal" 10
key -N 20 Down
key Enter
wait_without "workers · live" 5 && pass "the picker closed" || fail "the picker closed"
check_status "Enter on the last row opens w001" "w001@backend-internal" 10

key C-p
check "the picker opens again" "workers · live" 10
key /
type_line 'w007'
check "the filter asks the server" "named like “w007”" 10
check "/ finds a worker on no first page" "w007@backend-internal" 10
if screen | grep -q "w260@backend-internal"; then fail "only workers named like w007 show"; else
    pass "only workers named like w007 show"; fi
key Enter
wait_without "workers · live" 5 && pass "the picker closed" || fail "the picker closed"
check_status "Enter opens it" "w007@backend-internal" 10

key C-c
key C-c
tries=50
while ((tries-- > 0)) && [ ! -s "$WORK/tui.status" ]; do sleep 0.1; done
if [ "$(cat "$WORK/tui.status" 2>/dev/null)" = "0" ]; then pass "Ctrl-C twice quits with status 0"; else fail "Ctrl-C twice quits with status 0"; fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
