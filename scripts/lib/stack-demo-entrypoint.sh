#!/bin/sh
# The demo switch of compose.yaml, installed in the app image as /usr/local/bin/amber-home-demo:
#
#   amber-home-demo COMMAND [ARGS…]    runs `amber-home COMMAND [ARGS…]`
#
# When neither AMBER_API_KEY nor AMBER_API_KEY_FILE is set and AMBER_DEMO_API_BASE_URL is (compose.yaml
# sets it to the simulator service), the command runs against the simulator with its demo key instead of
# stopping for want of a key: AMBER_API_KEY=sim-key and AMBER_API_BASE_URL=AMBER_DEMO_API_BASE_URL
# (unless AMBER_API_BASE_URL is set). With a key, nothing changes: the real Amber API is used.
# scripts/stack applies the same rule to the native stack.
set -eu
if [ -z "${AMBER_API_KEY:-}" ] && [ -z "${AMBER_API_KEY_FILE:-}" ] && [ -n "${AMBER_DEMO_API_BASE_URL:-}" ]; then
    AMBER_API_KEY=sim-key
    AMBER_API_BASE_URL=${AMBER_API_BASE_URL:-$AMBER_DEMO_API_BASE_URL}
    export AMBER_API_KEY AMBER_API_BASE_URL
    echo "demo mode: AMBER_API_KEY is not set, so 'amber-home ${1:-}' uses the simulator at" \
         "$AMBER_API_BASE_URL (simulated data). For your own data: 'docker compose down -v' (drops the" \
         "demo's data), put your key in .env, 'docker compose up -d'." >&2
fi
exec amber-home "$@"
