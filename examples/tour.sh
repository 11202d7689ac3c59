#!/usr/bin/env bash
# The README's tour as one script: run it from the checkout, beside `tessera serve --demo`, with the
# administrator client the server printed at its first start:
#
#   CLIENT_ID=… CLIENT_SECRET=… examples/tour.sh
#
# Each step is also in the README, word for word (a test keeps them the same, and runs this script
# against a fresh demo in CI). Step 6 changes the demo's HR file: on a second run its changes are
# already made, so no workflow runs again.
set -euo pipefail
cd "$(dirname "$0")/.."

# tour:0
TESSERA=${TESSERA:-$(command -v tessera || echo target/release/tessera)}   # the binary
API=${API:-http://127.0.0.1:8080}                                          # the server
DATA=${DATA:-tessera-data}                                                 # its data directory
wait_until() {  # wait_until WHAT COMMAND…: runs the command every second until it succeeds (a minute at most)
  local what=$1; shift
  for _ in $(seq 60); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "gave up waiting: $what" >&2; return 1
}
# tour:end
: "${CLIENT_ID:?set CLIENT_ID and CLIENT_SECRET to the administrator client that tessera serve printed at its first start}"
: "${CLIENT_SECRET:?set CLIENT_SECRET too}"
for tool in curl jq "$TESSERA"; do
  command -v "$tool" >/dev/null || { echo "the tour needs $tool (curl and jq: apt-get install curl jq)" >&2; exit 1; }
done
curl -sf "$API/health" >/dev/null || { echo "nothing answers at $API: start the server first (tessera serve --demo)" >&2; exit 1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$1"; }

step "1. Test a real SailPoint workflow locally"
# tour:1
$TESSERA workflow test ../shared/corpus/isc-colab/temporary-admin-access/TemporaryAdminAccess20240305.json \
  --input crates/cli/tests/corpus/temporary-admin-access/TemporaryAdminAccess20240305/input.json \
  --mocks crates/cli/tests/corpus/temporary-admin-access/TemporaryAdminAccess20240305/mocks.json \
  --now 2024-01-01T00:00:00Z
# tour:end

step "2. Validate"
# tour:2
$TESSERA workflow validate examples/broken.json || echo "exit code $? (1: invalid)"
# tour:end

step "3. Run it on the server"
# tour:3
TOKEN=$(curl -s -d grant_type=client_credentials -d client_id="$CLIENT_ID" -d client_secret="$CLIENT_SECRET" \
  "$API/oauth/token" | jq -r .access_token)
H="Authorization: Bearer $TOKEN"; J='Content-Type: application/json'
WF=$(curl -s -H "$H" -H "$J" -d @examples/hello-world.json "$API/v3/workflows" | jq -r .id)
EXEC=$(curl -s -H "$H" -H "$J" -d '{"input": {"name": "Ada"}}' "$API/v3/workflows/$WF/test" | jq -r .workflowExecutionId)
ended() { [ "$(curl -s -H "$H" "$API/v3/workflow-executions/$1" | jq -r .status)" != Running ]; }
wait_until "the execution to end" ended "$EXEC"         # about five seconds: the workflow waits 5s
curl -s -H "$H" "$API/v3/workflow-executions/$EXEC" | jq -c '{status, startTime, closeTime}'
curl -s -H "$H" "$API/v3/workflow-executions/$EXEC/history" | jq -c '.[] | {step, action, outcome: .outcome.type}'
# tour:end

step "4. Start it from another system"
# tour:4
curl -s -X PATCH -H "$H" -H 'Content-Type: application/json-patch+json' "$API/v3/workflows/$WF" \
  -d '[{"op": "replace", "path": "/enabled", "value": true}]' | jq -c '{name, enabled, trigger: .trigger.type}'
TRIGGER=$(curl -s -X POST -H "$H" "$API/v3/workflows/$WF/external/oauth-clients")
TRIGGER_TOKEN=$(curl -s -d grant_type=client_credentials -d client_id="$(echo "$TRIGGER" | jq -r .id)" \
  -d client_secret="$(echo "$TRIGGER" | jq -r .secret)" "$API/oauth/token" | jq -r .access_token)
curl -s -H "Authorization: Bearer $TRIGGER_TOKEN" -H "$J" -d '{"input": {"name": "Grace"}}' \
  "$API/beta/workflows/execute/external/$WF" | jq -c .
curl -s -o /dev/null -w 'the trigger token reading workflows: %{http_code}\n' -H "Authorization: Bearer $TRIGGER_TOKEN" "$API/v3/workflows"
# tour:end

step "5. Trigger a workflow with an event"
# tour:5
person() { curl -s -G -H "$H" --data-urlencode "filters=name eq \"$1\"" "$API/v3/identities" | jq -r '.[0].id'; }
LENA=$(person "Lena Silva")       # Sales, Austin; her manager is Priya Nguyen
EVENT=$(curl -s -H "$H" -H "$J" "$API/tessera/v1/events" -d '{"type": "idn:identity-attributes-changed",
  "payload": {"identity": {"id": "'"$LENA"'", "name": "Lena Silva"},
              "changes": [{"attribute": "jobTitle", "oldValue": "Account Executive", "newValue": "Sales Lead"}]}}' | jq -r .id)
started() { [ "$(curl -s -H "$H" "$API/tessera/v1/events/$1" | jq -r '.executions[0].status')" = Completed ]; }
wait_until "the mover workflow the event started to complete" started "$EVENT"
curl -s -H "$H" "$API/tessera/v1/events/$EVENT" | jq -c '{type, executions, reason}'
# tour:end

step "6. Joiners, movers and leavers"
# tour:6
HR=$DATA/imports/hr.csv
grep -q '^E000301,' "$HR" ||         # the joiner: Ada Lovelace, an engineer reporting to Priya Nguyen
  echo "E000301,Ada,Lovelace,Ada Lovelace,ada.lovelace@example.com,Engineering,Software Engineer,Amsterdam,E000003,A,2026-12-01" >> "$HR"
sed -i 's/^\(E000062,\([^,]*,\)\{4\}\)Sales,/\1Marketing,/' "$HR"                  # the mover: Carla Tanaka, Sales to Marketing
sed -i 's/^\(E000084,\([^,]*,\)\{8\}\)A,/\1T,/' "$HR"                               # the leaver: Grace Nakamura
TASK=$(curl -s -X POST -H "$H" "$API/v3/sources/demo-source-hr/load-accounts" | jq -r .task.id)
aggregated() { [ "$(curl -s -H "$H" "$API/v3/task-status/$1" | jq -r .completionStatus)" != null ]; }
wait_until "the aggregation to finish" aggregated "$TASK"
curl -s -H "$H" "$API/v3/task-status/$TASK" | jq -c '{completionStatus, stats: .attributes.stats}'
for who in "Ada Lovelace" "Carla Tanaka" "Grace Nakamura"; do
  curl -s -G -H "$H" --data-urlencode "filters=name eq \"$who\"" "$API/v3/identities" |
    jq -c '.[0] | {name, department: .attributes.department, lifecycleState: .lifecycleState.stateName}'
done
# Each change started the demo's workflow for it once: mail to the joiner's manager, the mover, the leaver's manager.
for flow in demo-joiner-welcome demo-mover-notify demo-leaver-notify; do
  ran() { [ "$(curl -s -H "$H" "$API/v3/workflows/$1/executions" | jq -r '.[0].status')" = Completed ]; }
  wait_until "$flow to complete" ran "$flow"
  curl -s -H "$H" "$API/v3/workflows/$flow/executions" | jq -c --arg flow "$flow" '{workflow: $flow, latest: .[0].status}'
done
ADA=$(person "Ada Lovelace")
curl -s -H "$H" "$API/tessera/v1/identities/$ADA/access" | jq -c '[.[] | {type, name}]'
curl -s -H "$H" "$API/tessera/v1/provisioning-plans?identityId=$ADA" | jq -c '.[] | {source: .source.name, operation, status}'
# tour:end

step "7. Ask for access and approve it"
# tour:7
as() {  # a token for a client acting as the identity $1
  local client
  client=$(curl -s -H "$H" -H "$J" "$API/v3/oauth-clients" -d '{"name": "tour: '"$1"'", "identityId": "'"$1"'", "scope":
    ["idn:access-request-self:manage", "idn:access-request-status:read", "idn:access-request-approvals:manage",
     "tessera:inbox:read", "tessera:inbox:manage"]}')
  curl -s -d grant_type=client_credentials -d client_id="$(echo "$client" | jq -r .id)" \
    -d client_secret="$(echo "$client" | jq -r .secret)" "$API/oauth/token" | jq -r .access_token
}
PRIYA=$(person "Priya Nguyen")    # Lena's manager
LENA_T=$(as "$LENA"); PRIYA_T=$(as "$PRIYA")
curl -s -H "Authorization: Bearer $LENA_T" -H "$J" "$API/v3/access-requests" -d '{"requestedFor": ["'"$LENA"'"],
  "requestType": "GRANT_ACCESS", "requestedItems": [{"type": "ACCESS_PROFILE", "id": "demo-ap-github", "comment": "on-call"}]}' | jq -c .
APPROVAL=$(curl -s -H "Authorization: Bearer $PRIYA_T" "$API/tessera/v1/inbox" | jq -r '.[] | select(.type == "ACCESS_REQUEST_APPROVAL") | .id' | head -1)
curl -s -X POST -H "Authorization: Bearer $PRIYA_T" -H "$J" "$API/v3/access-request-approvals/$APPROVAL/approve" \
  -d '{"comment": "ok"}' | jq -c .
curl -s -H "Authorization: Bearer $LENA_T" "$API/v3/access-request-status?requested-for=$LENA" | jq -c '.[0] | {name, state}'
curl -s -H "$H" "$API/tessera/v1/provisioning-plans?identityId=$LENA" | jq -c '.[] | {source: .source.name, operation, status}'
# Grace Nakamura left in step 6: she is inactive, so access cannot be requested for her (as in ISC).
GRACE=$(person "Grace Nakamura")
curl -s -H "$H" -H "$J" "$API/v3/access-requests" -d '{"requestedFor": ["'"$GRACE"'"], "requestedBy": "'"$PRIYA"'",
  "requestedItems": [{"type": "ACCESS_PROFILE", "id": "demo-ap-github"}]}' | jq -c '{errorCode, message: .messages[0].text}'
# tour:end

printf '\nThe tour is done.\n'
