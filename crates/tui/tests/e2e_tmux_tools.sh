#!/usr/bin/env bash
# End-to-end test of tool calls and approvals in `yoi tui`, as a person would
# use them.
#
#   bash crates/tui/tests/e2e_tmux_tools.sh PATH/TO/yoi PATH/TO/yoi-mock-openai
#
# Starts the mock OpenAI server and a real `yoi serve` whose yoi.toml lets the
# Companion list workers and read transcripts after asking, runs `yoi tui` in
# a detached tmux session and drives it with send-keys (the mock makes tool
# calls for `[[tool:NAME ARGS]]` in a message):
#   - a call shows as a line inside the answer (`⚙ yoi.list_workers ... → ok
#     12 ms`) and the approval prompt at the bottom; `y` allows it once;
#   - `n` denies a call (its line says `denied`, the run goes on);
#   - `a` allows the tool for the worker: the next call of it runs unasked;
#   - Ctrl-O unfolds the calls: arguments and results;
#   - the picker marks another worker that waits for a person;
#   - F1 lists the tool keys; Ctrl-C twice quits with status 0.
# Prints `N passed, N failed`; exits non-zero on a failure. Everything it starts
# is cleaned up.

set -u

E2E_SCRIPT=e2e_tmux_tools.sh
E2E_NAME=tools-e2e
E2E_API_KEY=test-key-tools
# shellcheck source=crates/tui/tests/tmux_lib.sh
. "$(dirname "$0")/tmux_lib.sh" "$@"

require_tools
mkdir -p "$WORK/workspace"
cat >"$WORK/workspace/yoi.toml" <<'TOML'
[profiles.companion.tools]
"yoi.list_workers" = "ask"
"yoi.read_transcript" = "ask"
TOML

start_mock

serve_or_exit

tm new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS"
tm set-option -t "$SESSION" remain-on-exit on >/dev/null
tm respawn-pane -k -t "$SESSION" \
    "env -u YOI_TOKEN TERM=xterm-256color '$YOI' tui --server http://127.0.0.1:$PORT 2>'$WORK/tui.err'; s=\$?; echo \$s > '$WORK/tui.status'"

check "the console connects" "● live" 30

# y: allowed once.
type_line 'Who is here? [[tool:yoi.list_workers {"limit":5}]]'
check "the call shows as a line in the answer, waiting" '⚙ yoi.list_workers [{]"limit":5[}] → waiting for approval' 30
check "the prompt asks at the bottom with its keys" 'Allow yoi.list_workers [{]"limit":5[}]\? \[y\]es once / \[a\]lways here / \[n\]o' 5
key y
check "y allows it: the line says ok and its time" '⚙ yoi.list_workers [{]"limit":5[}] → ok [0-9.]+ (ms|s)' 30
check "the answer quotes the result" '\[call_' 30
if wait_without '\[y\]es once' 10; then pass "the prompt is gone"; else fail "the prompt is gone"; fi

# n: denied.
type_line 'Read it. [[tool:yoi.read_transcript {"worker":"companion"}]]'
check "a second call asks" 'Allow yoi.read_transcript' 30
key n
check "n denies it: the line says denied" '⚙ yoi.read_transcript .*→ denied' 30
if wait_without '\[y\]es once' 10; then pass "the prompt is gone after n"; else fail "the prompt is gone after n"; fi

# a: always for this worker.
type_line 'List. [[tool:yoi.list_workers {"limit":3}]]'
check "a third call asks" 'Allow yoi.list_workers [{]"limit":3[}]' 30
key a
check "a allows it" '⚙ yoi.list_workers [{]"limit":3[}] → ok' 30
wait_without '\[y\]es once' 10
type_line 'Again. [[tool:yoi.list_workers {"limit":2}]]'
check "after a, the same tool runs without asking" '⚙ yoi.list_workers [{]"limit":2[}] → ok' 30
if screen | grep -q '\[y\]es once'; then fail "nothing asked after a"; else pass "nothing asked after a"; fi

# Ctrl-O: arguments and results.
key C-o
check_scrolled "Ctrl-O unfolds the calls: arguments" '┊ arguments:'
check_scrolled "Ctrl-O unfolds the calls: results" '┊ result:'
key End
key C-o

# The picker marks another worker that waits.
HELPER=$(api -X POST "http://127.0.0.1:$PORT/api/runtimes/backend-internal/workers" -d '{"display_name":"helper"}' | sed -n 's/.*"worker_id":"\([^"]*\)".*/\1/p')
api -X POST "http://127.0.0.1:$PORT/api/runtimes/backend-internal/workers/$HELPER/input" \
    -d '{"text":"[[tool:yoi.list_workers {}]]"}' >/dev/null
key C-p
check "the picker marks a worker that waits" 'helper@backend-internal +⏸ waits for you' 20
key Escape

key F1
check "F1 lists the tool keys" 'y / a / n' 10
key F1

# What a tool returned is shown, but never a path of the workspace or the key.
key C-o
if screen | grep -qF -e "$WORK" -e "test-key"; then fail "the screen shows no workspace path"; else pass "the screen shows no workspace path"; fi
key C-o

key C-c
key C-c
status=""
for _ in $(seq 1 100); do
    status=$(cat "$WORK/tui.status" 2>/dev/null)
    [ -n "$status" ] && break
    sleep 0.2
done
if [ "$status" = "0" ]; then pass "Ctrl-C twice quits with status 0"; else
    fail "Ctrl-C twice quits with status 0 (status: '$status')"; cat "$WORK/tui.err" 2>/dev/null
fi
if [ -s "$WORK/tui.err" ]; then
    fail "the console wrote nothing to stderr"; sed 's/^/    /' "$WORK/tui.err"
else
    pass "the console wrote nothing to stderr"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
