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

E2E_SCRIPT=e2e_tmux_search.sh
E2E_NAME=search-e2e
E2E_API_KEY=test-key-search
# shellcheck source=crates/tui/tests/tmux_lib.sh
. "$(dirname "$0")/tmux_lib.sh" "$@"

require_tools
mkdir -p "$WORK/workspace"

start_mock

serve_or_exit

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
