#!/usr/bin/env bash
# Loads the Badge access example (seed 004) into a running Tessera through its API: the delegated
# workflow, the Badge Access team, the Buildings configuration list and the Badge access request type,
# which it then publishes. Needs curl and python3 (to read ids out of the answers). See README.md.
set -euo pipefail
cd "$(dirname "$0")"

TESSERA_URL="${TESSERA_URL:-http://127.0.0.1:8080}"
: "${TESSERA_CLIENT_ID:?set TESSERA_CLIENT_ID to an API client with the scopes README.md lists (the administrator has them all)}"
: "${TESSERA_CLIENT_SECRET:?set TESSERA_CLIENT_SECRET to the secret of that client}"
: "${BADGE_MEMBER_1:?set BADGE_MEMBER_1 to the identity id of the first Badge Access member (the team admin)}"
: "${BADGE_MEMBER_2:?set BADGE_MEMBER_2 to the identity id of the second Badge Access member}"

# One member of a JSON answer read on standard input.
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

TOKEN="$(curl -sS --fail-with-body -X POST "$TESSERA_URL/oauth/token" \
  -d grant_type=client_credentials -d "client_id=$TESSERA_CLIENT_ID" -d "client_secret=$TESSERA_CLIENT_SECRET" |
  field access_token)"

# A file of this folder with its ${…} placeholders filled from the variables of the same name.
fill() {
  python3 - "$1" <<'PY'
import os, re, sys
text = open(sys.argv[1]).read()
def value(match):
    name = match.group(1)
    if name not in os.environ:
        sys.exit(f"{sys.argv[1]}: ${{{name}}} is not set")
    return os.environ[name]
print(re.sub(r"\$\{(BADGE_[A-Z0-9_]+|BUILDINGS_[A-Z0-9_]+)\}", value, text), end="")
PY
}

# POSTs a filled file (or nothing) to a path; prints the answer.
post() {
  local path="$1" file="${2:-}"
  if [ -n "$file" ]; then
    fill "$file" | curl -sS --fail-with-body -X POST "$TESSERA_URL$path" \
      -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data-binary @-
  else
    curl -sS --fail-with-body -X POST "$TESSERA_URL$path" -H "Authorization: Bearer $TOKEN"
  fi
}

export BADGE_MEMBER_1 BADGE_MEMBER_2
BADGE_WORKFLOW_ID="$(post /v3/workflows manual-badge-provisioning.json | field id)"
export BADGE_WORKFLOW_ID
echo "workflow  Manual badge provisioning  $BADGE_WORKFLOW_ID"
BADGE_TEAM_ID="$(post /tessera/v1/teams team.json | field id)"
export BADGE_TEAM_ID
echo "team      Badge Access               $BADGE_TEAM_ID"
BUILDINGS_LIST_ID="$(post /tessera/v1/configuration-lists buildings.json | field id)"
export BUILDINGS_LIST_ID
echo "list      Buildings                  $BUILDINGS_LIST_ID"
REQUEST_TYPE_ID="$(post /tessera/v1/request-types request-type.json | field id)"
post "/tessera/v1/request-types/$REQUEST_TYPE_ID/publish" >/dev/null
echo "type      Badge access (published)   $REQUEST_TYPE_ID"
