#!/usr/bin/env bash
# End-to-end test of `yoi tui`, as a person would use it.
#
#   bash crates/tui/tests/e2e_tmux.sh PATH/TO/yoi PATH/TO/yoi-mock-openai
#
# Starts the mock OpenAI server and a real `yoi serve` in a temporary workspace,
# runs `yoi tui` in a detached tmux session of a fixed size, types with
# send-keys and reads the screen with capture-pane:
#   - the console connects and shows the Companion live in the status bar;
#   - a message is sent and the echoed answer streams in;
#   - messages typed during a slow answer are queued and shown dimmed under
#     it; Ctrl-X takes back the last one;
#   - Escape cancels a slow answer, which stays marked "cancelled", and the
#     queued message runs next;
#   - the server is killed (the console shows it is reconnecting) and started
#     again on the same port (the console is live again and can send);
#   - assistant Markdown is drawn (heading, list, emphasis, framed code), not
#     shown as raw marks;
#   - after a failed run, Ctrl-T sends the same question again;
#   - a worker in the workspace's `local` runtime `side` (which `yoi serve`
#     starts as a child `yoi runtime serve --unix`, as yoi.toml says) is listed
#     in the picker with its runtime's kind and status, chosen, and answers; the
#     screen shows no socket or workspace path;
#   - in the picker, `n` starts a new worker (runtime, then the `terse` profile
#     of yoi.toml, then a name) and opens it; `r` renames it; `d` asks before it
#     stops it (`n` keeps it, `y` stops it);
#   - a worker with more history than a snapshot holds (260 runs, 520 messages)
#     opened with --runtime/--worker: Home at the top loads the earlier
#     messages until the conversation's start shows;
#   - Ctrl-C twice quits with status 0.
# Prints `N passed, N failed`; exits non-zero on a failure. Everything it starts
# (processes, the tmux server on its own socket, the temp dir) is cleaned up.

set -u

E2E_SCRIPT=e2e_tmux.sh
E2E_NAME=e2e
E2E_API_KEY=test
# shellcheck source=crates/tui/tests/tmux_lib.sh
. "$(dirname "$0")/tmux_lib.sh" "$@"

require_tools
mkdir -p "$WORK/workspace"
# A `local` runtime: yoi serve starts and supervises it (see "Runtimes on other
# machines" in the README).
cat >"$WORK/workspace/yoi.toml" <<'TOML'
[profiles.terse]
model = "terse-model"
description = "Short answers"

[[runtimes]]
id = "side"
kind = "local"
TOML

# --- the mock provider and the backend -------------------------------------------

start_mock

serve_or_exit

# --- the console -----------------------------------------------------------------

tm new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS"
tm set-option -t "$SESSION" remain-on-exit on >/dev/null
tm respawn-pane -k -t "$SESSION" \
    "env -u YOI_TOKEN TERM=xterm-256color '$YOI' tui --server http://127.0.0.1:$PORT 2>'$WORK/tui.err'; s=\$?; stty -a > '$WORK/tty.after'; echo \$s > '$WORK/tui.status'"

check "the console connects and the status bar shows it live" "● live" 30
if status_bar | grep -q "companion@backend-internal"; then
    pass "the status bar names the Companion"
else
    fail "the status bar names the Companion"
fi

type_line "hello from tmux"
check "the echoed answer streams into the transcript" "You said: hello from tmux" 30
check "the user's message is shown as theirs" "› you" 5
check "the status bar shows the last run's tokens and time" "tok [0-9][0-9.m]*s" 15

# wait_without REGEX SECONDS: polls until the screen no longer matches.
wait_without() {
    local pattern=$1 tries=$(($2 * 5))
    while ((tries-- > 0)); do
        screen | grep -Eq -- "$pattern" || return 0
        sleep 0.2
    done
    return 1
}

# A slow answer: messages typed meanwhile queue, Ctrl-X takes back the last,
# Escape cancels the answer and the queued message runs next.
type_line "[[slow]] count slowly"
check "a slow answer starts streaming" "tok1 tok2" 30
check "the composer says Enter queues while it answers" "Enter queues" 5
type_line "queued one"
check "a message during an answer is queued and shown under it" "┊ queued one" 15
type_line "queued two"
check "a second one queues behind it" "queued 2" 15
tm send-keys -t "$SESSION" C-x
check "Ctrl-X takes back the last queued message" "Removed from the queue" 15
if wait_without "┊ queued two" 15; then pass "the removed message leaves the screen"; else
    fail "the removed message leaves the screen"
fi
tm send-keys -t "$SESSION" Escape
check "Escape cancels the answer, which stays marked cancelled" "⊘ cancelled" 15
check "the queued message runs next" "You said: queued one" 30
check "the worker is idle again" "· idle" 15
if screen | grep -q "You said: queued two"; then fail "the removed message never runs"; else
    pass "the removed message never runs"
fi
tm send-keys -t "$SESSION" C-u

# The server goes away and comes back on the same port.
stop_server
check "a server that went away shows as reconnecting" "reconnecting" 20
if start_server; then pass "yoi serve restarts on the same port"; else fail "yoi serve restarts on the same port"; fi
check "the console is live again after the restart" "● live" 30
type_line "after the restart"
check "the console can send after the restart" "You said: after the restart" 30

# Markdown goes through a CommonMark parser: no raw marks on screen.
type_line "[[markdown]] show me markdown"
check "a Markdown heading is drawn without its hashes" "^ *│ +Mock answer" 30
check "list items are bulleted and bold text loses its stars" "• first item with bold text" 10
check "a fenced code block is framed with its language" "╭─ rust" 10
if screen | grep -Fq -e "**bold**" -e "# Mock answer"; then
    fail "no raw Markdown marks on screen"
else
    pass "no raw Markdown marks on screen"
fi

# A failed run, retried with Ctrl-T: the same question is sent again.
companion_transcript() {
    local c rid wid
    c=$(curl -fsS --max-time 5 "http://127.0.0.1:$PORT/api/companion")
    rid=$(echo "$c" | sed -n 's/.*"runtime_id":"\([^"]*\)".*/\1/p')
    wid=$(echo "$c" | sed -n 's/.*"worker_id":"\([^"]*\)".*/\1/p')
    curl -fsS --max-time 5 "http://127.0.0.1:$PORT/api/runtimes/$rid/workers/$wid/transcript?limit=1000"
}
type_line "[[error:400]] please retry me"
check "the run fails and says why" "✗ failed: .*400" 30
check "a failed run says Ctrl-T retries" "Ctrl-T retries" 10
tm send-keys -t "$SESSION" C-t
asked_twice() { [ "$(companion_transcript | grep -o '"text":"\[\[error:400\]\] please retry me"' | wc -l)" -ge 2 ]; }
tries=100
until asked_twice || ((tries-- <= 0)); do sleep 0.2; done
if asked_twice; then pass "Ctrl-T sends the failed question again"; else fail "Ctrl-T sends the failed question again"; fi
check "the retried run is idle again" "companion@backend-internal · idle" 30

# A worker in the local runtime, chosen in the picker, works like the Companion.
side_available() {
    curl -fsS --max-time 2 "http://127.0.0.1:$PORT/api/runtimes/side" 2>/dev/null |
        grep -q '"kind":"local".*"status":"available"'
}
tries=100
until side_available || ((tries-- <= 0)); do sleep 0.1; done
if side_available; then pass "the local runtime 'side' is available"; else
    fail "the local runtime 'side' is available"
    curl -sS --max-time 2 "http://127.0.0.1:$PORT/api/runtimes" | sed 's/^/    /'
fi
if curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' \
    -d '{"display_name":"scribe"}' "http://127.0.0.1:$PORT/api/runtimes/side/workers" \
    2>/dev/null | grep -q '"display_ref":"scribe@side"'; then
    pass "a worker 'scribe' is created in the local runtime"
else
    fail "a worker 'scribe' is created in the local runtime"
fi
tm send-keys -t "$SESSION" C-p
check "the picker lists the local runtime with its kind and status" "▾ side local · available" 15
check "the picker lists scribe@side" "scribe@side" 15
# scribe@side is the last worker listed (runtimes come in the server's order, the
# backend's own first); Down stops at the last one.
for _ in 1 2 3 4 5; do tm send-keys -t "$SESSION" Down; done
tm send-keys -t "$SESSION" Enter
if wait_for "● live +scribe@side" 15; then pass "Enter switches to scribe@side, live"; else
    fail "Enter switches to scribe@side, live (waited 15s for it in the status bar)"
fi
type_line "hello from the side runtime"
check "scribe@side answers in the transcript" "You said: hello from the side runtime" 30
check "scribe@side is idle again" "scribe@side · idle" 15
# The runtime's socket, from the command line yoi serve gave its child.
sock=$(ps -o args= --ppid "$SERVER_PID" 2>/dev/null | sed -n 's/.* --unix \([^ ]*\).*/\1/p' | head -n 1)
if [ -z "$sock" ]; then
    fail "yoi serve started the local runtime on a Unix socket"
elif screen | grep -Fq -e "$WORK" -e "$(dirname "$sock")" -e ".sock"; then
    fail "the screen shows no socket or workspace path"
else
    pass "the screen shows no socket or workspace path"
fi

# The picker starts, renames and stops workers.
tm send-keys -t "$SESSION" C-p
check "the picker says n, r and d manage workers" "n new · r rename · d stop" 10
tm send-keys -t "$SESSION" n
check "n asks for the runtime, the backend's own first" "new worker · runtime" 10
tm send-keys -t "$SESSION" Enter
check "then for one of its profiles" "terse +terse-model · Short answers" 10
tm send-keys -t "$SESSION" Down Enter
check "then for a name" "new worker · name" 10
type_line "tmux chat"
if wait_for "● live +tmux chat@backend-internal" 15; then pass "the new worker opens at once, live"; else
    fail "the new worker opens at once, live"
fi
check "it runs with the profile's model" "terse-model" 10
type_line "hello new worker"
check "the new worker answers" "You said: hello new worker" 30
tm send-keys -t "$SESSION" C-p
check "the picker lists the new worker" "tmux chat@backend-internal" 10
tm send-keys -t "$SESSION" r
check "r asks for a new name" "╭ rename ─.*│" 10
tm send-keys -t "$SESSION" C-u
type_line "renamed chat"
check "the worker is renamed" "Renamed to renamed chat@backend-internal" 15
if curl -fsS --max-time 5 "http://127.0.0.1:$PORT/api/runtimes/backend-internal/workers" | grep -q '"display_ref":"renamed chat@backend-internal"'; then
    pass "the server has the new name"
else
    fail "the server has the new name"
fi
tm send-keys -t "$SESSION" d
check "d asks before stopping" "Stop renamed chat@backend-internal\?" 10
tm send-keys -t "$SESSION" n
renamed_id=$(curl -fsS --max-time 5 "http://127.0.0.1:$PORT/api/runtimes/backend-internal/workers" |
    sed 's/},{/}\n{/g' | grep '"display_name":"renamed chat"' | sed -n 's/.*"worker_id":"\([^"]*\)".*/\1/p')
if [ -n "$renamed_id" ] && ! screen | grep -q "Stop renamed chat"; then pass "n keeps the worker"; else fail "n keeps the worker"; fi
tm send-keys -t "$SESSION" d
check "d asks again" "Stop renamed chat@backend-internal\?" 10
tm send-keys -t "$SESSION" y
gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/api/runtimes/backend-internal/workers/$renamed_id")" = "404" ]; }
tries=100
until gone || ((tries-- <= 0)); do sleep 0.2; done
if gone; then pass "y stops the worker"; else fail "y stops the worker"; fi
check "the console says the worker was stopped" "(Stopped renamed chat|This worker was stopped)" 10
tm send-keys -t "$SESSION" Escape

# A long conversation in a second console: Home loads the earlier messages.
long_id=$(curl -fsS --max-time 5 -X POST -H 'Content-Type: application/json' \
    -d '{"display_name":"long history"}' "http://127.0.0.1:$PORT/api/runtimes/backend-internal/workers" |
    sed -n 's/.*"worker_id":"\([^"]*\)".*/\1/p')
long_ok=0
if [ -n "$long_id" ]; then
    long_ok=1
    for i in $(seq 1 260); do
        curl -fsS --max-time 30 -o /dev/null -X POST -H 'Content-Type: application/json' \
            -d "{\"text\":\"history $i\"}" \
            "http://127.0.0.1:$PORT/api/runtimes/backend-internal/workers/$long_id/input?wait=true" || { long_ok=0; break; }
    done
fi
if [ "$long_ok" = 1 ]; then pass "a worker with 260 runs of history"; else fail "a worker with 260 runs of history"; fi
MAIN_SESSION=$SESSION
SESSION="long"
tm new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS"
tm respawn-pane -k -t "$SESSION" \
    "env -u YOI_TOKEN TERM=xterm-256color '$YOI' tui --server http://127.0.0.1:$PORT --runtime backend-internal --worker '$long_id' 2>>'$WORK/tui.err'"
check "the long conversation opens at its newest message" "You said: history 260 " 30
if screen | grep -q "beginning of the conversation"; then
    fail "its start is not shown before scrolling up"
else
    pass "its start is not shown before scrolling up"
fi
# Home goes to the top, which asks for the earlier page; Home again shows it.
tries=75
until screen | grep -q "beginning of the conversation" || ((tries-- <= 0)); do
    tm send-keys -t "$SESSION" Home
    sleep 0.2
done
check "Home at the top loads earlier messages up to the start" "beginning of the conversation" 5
check "the first message is there" "You said: history 1 " 5
tm kill-session -t "$SESSION"
SESSION=$MAIN_SESSION

# Ctrl-C twice quits and gives the terminal back.
tm send-keys -t "$SESSION" C-c
check "a first Ctrl-C asks for a second" "Ctrl-C again to quit" 10
tm send-keys -t "$SESSION" C-c
# The exit status comes from the pane's shell: tmux 3.3 sometimes marks a pane
# dead before it has collected the status itself.
status=""
for _ in $(seq 1 100); do
    status=$(cat "$WORK/tui.status" 2>/dev/null)
    [ -n "$status" ] && break
    sleep 0.2
done
if [ "$status" = "0" ]; then pass "Ctrl-C twice quits with status 0"; else
    fail "Ctrl-C twice quits with status 0 (status: '$status')"; cat "$WORK/tui.err" 2>/dev/null
fi
# Raw mode is off again: the terminal reads lines and echoes.
if grep -Eq '(^| )icanon( |$)' "$WORK/tty.after" 2>/dev/null && grep -Eq '(^| )echo( |$)' "$WORK/tty.after"; then
    pass "the terminal is restored (canonical mode, echo)"
else
    fail "the terminal is restored (canonical mode, echo)"; cat "$WORK/tty.after" 2>/dev/null
fi
if [ -s "$WORK/tui.err" ]; then
    fail "the console wrote nothing to stderr"; sed 's/^/    /' "$WORK/tui.err"
else
    pass "the console wrote nothing to stderr"
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
