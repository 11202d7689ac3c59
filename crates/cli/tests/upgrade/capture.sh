#!/usr/bin/env bash
# Captures an upgrade fixture: a database written by one Tessera binary, dumped as SQL, so that a later
# test can load the dump, migrate it with a newer binary and check that the data survived.
#
#   TESSERA=/path/to/tessera capture.sh sqlite              [OUT_DIR]
#   TESSERA=/path/to/tessera capture.sh postgres <ADMIN_URL> [OUT_DIR]
#
# OUT_DIR defaults to schema-0014/ beside this script. For `postgres`, ADMIN_URL is a database URL
# with the right to create databases (what `scripts/postgres start` prints); the script drops and
# recreates the database `tessera_upgrade_capture` ($CAPTURE_DB) on that server and captures into it.
#
# It starts `tessera serve --demo` on a fresh data directory with a fixed administrator client and a
# fixed secret key, drives the API (curl + jq) until every table of the schema holds rows, lets the
# executions settle, stops the server with SIGTERM and writes into OUT_DIR:
#   sqlite.sql | postgres.sql  the dump (`sqlite3 .dump`, or `pg_dump --no-owner --no-privileges --no-comments`)
#   secret.key                 the key the connector secrets are sealed under (base64 of 32 bytes)
#   expected.json              ids of the notable objects and row counts, one object per dialect
#   README.md                  the same, for people
# and then checks that the dump loads back into an empty database.
#
# Needs: curl, jq, python3 (free ports, the HR edit, README.md), sqlite3 (sqlite) or
# psql + pg_dump (postgres). Other settings: TESSERA_COMMIT (the commit the binary was built from,
# default: this checkout's HEAD), CAPTURE_WORK (scratch directory, default
# /tmp/tessera-upgrade-capture/<dialect>; its path ends up in the HR source's document).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd -P)"
repo="$(cd "$here/../../../.." && pwd -P)"

usage() {
  sed -n '5,6p' "$0" | sed 's/^# *//' >&2
  exit 2
}

: "${TESSERA:?set TESSERA to the tessera binary to capture with}"
[ -x "$TESSERA" ] || {
  echo "capture: $TESSERA is not executable" >&2
  exit 2
}
TESSERA="$(cd "$(dirname "$TESSERA")" && pwd -P)/$(basename "$TESSERA")"
dialect="${1:-}"
case "$dialect" in
sqlite)
  out="${2:-$here/schema-0014}"
  ;;
postgres)
  admin_url="${2:-}"
  [ -n "$admin_url" ] || usage
  out="${3:-$here/schema-0014}"
  ;;
*) usage ;;
esac
for tool in curl jq python3; do
  command -v "$tool" >/dev/null || {
    echo "capture: needs $tool" >&2
    exit 2
  }
done
mkdir -p "$out"
out="$(cd "$out" && pwd -P)"

# --- Fixed inputs: the fixture must be reproducible ------------------------------------------------
readonly ADMIN_ID=upgrade-admin
readonly ADMIN_SECRET=upgrade-admin-secret-0014-do-not-use
# base64 of the 32 ASCII bytes "tessera-upgrade-fixture-key-0014": a test key, never a real one.
readonly SECRET_KEY="$(printf '%s' 'tessera-upgrade-fixture-key-0014' | base64)"
# The sealed connector secret of the never-aggregated SCIM source, and the credentials pasted into the
# traced workflow: a later test can look for them (they must never appear in history, audit or events).
readonly SCIM_TOKEN=upgrade-scim-token-0123456789
readonly PASTED_BEARER=upgrade-pasted-bearer-token-0123456789
readonly PASTED_PASSWORD=upgrade-pasted-basic-password-0123456789
readonly CAPTURE_DB="${CAPTURE_DB:-tessera_upgrade_capture}"
commit="${TESSERA_COMMIT:-$(git -C "$repo" rev-parse --short HEAD)}"

work="${CAPTURE_WORK:-/tmp/tessera-upgrade-capture/$dialect}"
rm -rf "$work"
mkdir -p "$work/data"
errors="$work/http-errors.log" # every 5xx answer, and every refusal, for the report
: >"$errors"

log() { printf 'capture[%s]: %s\n' "$dialect" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- The database ------------------------------------------------------------------------------------
if [ "$dialect" = postgres ]; then
  command -v psql >/dev/null && command -v pg_dump >/dev/null || die "needs psql and pg_dump"
  psql -X -q -v ON_ERROR_STOP=1 -d "$admin_url" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $CAPTURE_DB" \
    -c "CREATE DATABASE $CAPTURE_DB" || die "cannot create $CAPTURE_DB on $admin_url"
  # The same server, the capture database: replace the URL's path, keep any query string.
  db_url="$(printf '%s' "$admin_url" | sed -E "s#^(postgres(ql)?://[^/]+)/[^?]*#\1/$CAPTURE_DB#")"
  database_args=(--database "$db_url")
else
  command -v sqlite3 >/dev/null || die "needs sqlite3 (apt-get install sqlite3)"
  database_args=()
fi

# --- The server ----------------------------------------------------------------------------------------
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Mail goes to a port where nothing listens: notifications stay PENDING (retried) or FAILED, and the demo
# workflows' sp:send-email steps fail. That is history too.
smtp_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$port"
log "starting $TESSERA serve --demo on $BASE (work: $work)"
TESSERA_ADMIN_CLIENT_ID="$ADMIN_ID" TESSERA_ADMIN_CLIENT_SECRET="$ADMIN_SECRET" TESSERA_SECRET_KEY="$SECRET_KEY" \
  TESSERA_SMTP_HOST=127.0.0.1 TESSERA_SMTP_PORT="$smtp_port" TESSERA_LOG=info \
  "$TESSERA" serve --demo --listen "127.0.0.1:$port" --data-dir "$work/data" "${database_args[@]}" \
  >"$work/server.log" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
}
trap stop_server EXIT

for _ in $(seq 1 600); do
  curl -sf "$BASE/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || die "the server stopped: $(tail -n 20 "$work/server.log")"
  sleep 0.2
done
curl -sf "$BASE/health" >/dev/null || die "the server did not answer in 120 s"
grep -q "Seeded the demo organisation" "$work/server.log" || die "the demo was not seeded: $(cat "$work/server.log")"

# --- HTTP helpers ----------------------------------------------------------------------------------
# call TOKEN METHOD PATH [BODY]: prints the answer's body; fails on a status outside 2xx. $CT sets the
# body's content type (JSON by default). Every 5xx is written to $errors as well.
call() {
  local token=$1 method=$2 path=$3 body=${4-} answer status
  answer="$(mktemp)"
  local -a args=(-sS -o "$answer" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $token")
  if [ -n "$body" ]; then args+=(-H "Content-Type: ${CT:-application/json}" --data-binary "$body"); fi
  status="$(curl "${args[@]}" "$BASE$path")"
  if [ "$status" -ge 500 ] || [ "$status" -lt 200 ] || [ "$status" -ge 300 ]; then
    printf '%s %s -> %s: %s\n' "$method" "$path" "$status" "$(head -c 2000 "$answer")" >>"$errors"
    log "$method $path answered $status: $(head -c 2000 "$answer")"
    rm -f "$answer"
    return 1
  fi
  cat "$answer"
  rm -f "$answer"
}
token() {
  curl -sS --fail-with-body -d grant_type=client_credentials -d "client_id=$1" -d "client_secret=$2" \
    "$BASE/oauth/token" | jq -er .access_token
}
# wait_until WHAT SECONDS COMMAND...: retries COMMAND every half second.
wait_until() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.5
  done
}

ADMIN="$(token "$ADMIN_ID" "$ADMIN_SECRET")"
get() { call "$ADMIN" GET "$1"; }
post() { call "$ADMIN" POST "$1" "${2-}"; }
put() { call "$ADMIN" PUT "$1" "$2"; }
patch() { call "$ADMIN" PATCH "$1" "$2"; }

# A client bound to an identity (`POST /v3/oauth-clients` with `identityId`); prints its answer (with the
# secret, shown once) and remembers it for expected.json.
clients_file="$work/clients.jsonl"
: >"$clients_file"
bound_client() { # IDENTITY ROLE SCOPE...
  local identity=$1 role=$2
  shift 2
  local scopes created
  scopes="$(printf '%s\n' "$@" | jq -R . | jq -sc .)"
  created="$(post /v3/oauth-clients "$(jq -nc --arg n "$role ($identity)" --arg i "$identity" --argjson s "$scopes" \
    '{name: $n, identityId: $i, scope: $s}')")"
  jq -c --arg role "$role" '{role: $role, id, secret, identityId, scope}' <<<"$created" >>"$clients_file"
  printf '%s' "$created"
}
bound_token() { # IDENTITY ROLE SCOPE...: a token of a new bound client
  local created
  created="$(bound_client "$@")"
  token "$(jq -r .id <<<"$created")" "$(jq -r .secret <<<"$created")"
}
readonly INBOX_SCOPES=(tessera:inbox:read tessera:inbox:manage)
readonly APPROVER_SCOPES=(idn:access-request-approvals:read idn:access-request-approvals:manage
  tessera:inbox:read tessera:inbox:manage)
readonly REQUESTER_SCOPES=(idn:access-request-self:manage tessera:requests:read tessera:requests:manage
  tessera:request-types:read)

# --- Who is who --------------------------------------------------------------------------------------
# The demo's HR file comes from a seeded generator, so the same people are picked on every capture.
people="$work/identities.json"
{ get '/v3/identities?sorters=alias&limit=250&offset=0' && get '/v3/identities?sorters=alias&limit=250&offset=250'; } |
  jq -s 'add' >"$people"
log "the demo holds $(jq length "$people") identities"
# pick VAR JQ_CONDITION: sets VAR to the first active identity (in alias order) with a manager and an
# email that matches the condition and is not among the ids already taken, and takes it.
taken=()
pick() {
  local -n var=$1
  var="$(jq -r --argjson taken "$(printf '%s\n' "${taken[@]:-}" | jq -R . | jq -sc .)" "
    [.[] | select(.identityStatus == \"ACTIVE\" and .managerRef.id != null and .emailAddress != null)
         | select(.id as \$i | \$taken | index(\$i) | not) | select($2)][0].id // empty" "$people")"
  [ -n "$var" ] || die "no identity matches $2"
  taken+=("$var")
}
manager_of() { jq -r --arg id "$1" '.[] | select(.id == $id) | .managerRef.id' "$people"; }
alias_of() { jq -r --arg id "$1" '.[] | select(.id == $id) | .alias' "$people"; }

pick SAM '.attributes.department == "Sales"'            # asks for access, twice
BOSS="$(manager_of "$SAM")"                                  # Sam's manager, approves once
taken+=("$BOSS")
pick FORWARD_TO '.attributes.department == "Finance"'   # the pending approval is forwarded to them
pick HELD '.attributes.department == "Sales"'           # their request waits for a pre-approval workflow
pick OLGA '.attributes.department == "Engineering"'     # workflow approvers
pick DAN '.attributes.department == "Engineering"'
pick ADA 'true'                                         # raises the badge request
ADA_MANAGER="$(manager_of "$ADA")"
taken+=("$ADA_MANAGER")
pick BADGE_1 'true'                                     # the Badge Access team
pick BADGE_2 'true'
pick GRANTEE '.attributes.department != "Finance"'    # temporary access from sp:access:manage
pick ON_LEAVE 'true'                                    # lifecycle state set by hand
pick AWAY 'true'                                        # delegates to STAND_IN
pick STAND_IN 'true'
for id in "$SAM" "$HELD" "$OLGA" "$DAN" "$GRANTEE" "$ON_LEAVE" "$AWAY" "$STAND_IN" "$BADGE_1" "$BADGE_2"; do
  taken+=("$(manager_of "$id")")
done
log "people: sam=$(alias_of "$SAM") boss=$(alias_of "$BOSS") forward-to=$(alias_of "$FORWARD_TO") held=$(alias_of "$HELD")" \
  "olga=$(alias_of "$OLGA") dan=$(alias_of "$DAN") ada=$(alias_of "$ADA") badge=$(alias_of "$BADGE_1"),$(alias_of "$BADGE_2")" \
  "grantee=$(alias_of "$GRANTEE") on-leave=$(alias_of "$ON_LEAVE") away=$(alias_of "$AWAY") stand-in=$(alias_of "$STAND_IN")"

# --- Workflows ----------------------------------------------------------------------------------------
log "workflows"
# Several versions: examples/hello-world.json (EXTERNAL trigger) created, replaced, patched, rolled back.
hello="$(jq -c '. + {enabled: true}' "$repo/examples/hello-world.json")"
VERSIONED="$(post /v3/workflows "$hello" | jq -r .id)"
put "/v3/workflows/$VERSIONED" "$(jq -c '.description = "Version two: the same steps, described anew."' <<<"$hello")" >/dev/null
patch "/v3/workflows/$VERSIONED" '[{"op": "replace", "path": "/name", "value": "Hello world (renamed)"}]' >/dev/null
post "/tessera/v1/workflows/$VERSIONED/versions/1/rollback" '{}' >/dev/null
VERSIONS="$(get "/tessera/v1/workflows/$VERSIONED/versions" | jq length)"
# Its external trigger client, and an execution started with that client's token.
external="$(post "/v3/workflows/$VERSIONED/external/oauth-clients" '{}')"
EXTERNAL_CLIENT="$(jq -r .id <<<"$external")"
EXTERNAL_SECRET="$(jq -r .secret <<<"$external")"
trigger_token="$(token "$EXTERNAL_CLIENT" "$EXTERNAL_SECRET")"
EXTERNAL_EXECUTION="$(call "$trigger_token" POST "/beta/workflows/execute/external/$VERSIONED" \
  '{"input": {"name": "Grace"}}' | jq -r .workflowExecutionId)"
HELLO_TEST_EXECUTION="$(post "/v3/workflows/$VERSIONED/test" '{"input": {"name": "Ada"}}' | jq -r .workflowExecutionId)"

# Traced, with credentials pasted into its sp:http step; the call goes to a closed port (discard, 9) and
# fails, and the failed step is traced history (inputs with the secrets masked).
traced="$(jq -nc --arg bearer "$PASTED_BEARER" --arg password "$PASTED_PASSWORD" --arg url "http://127.0.0.1:9/hook" '
  {name: "Traced call with pasted credentials", trace: true,
   description: "sp:http with a bearer token and a basic password pasted into its attributes",
   definition: {start: "Prepare", steps: {
     Prepare: {type: "Mutation", attributes: {id: "sp:define-variable",
               variables: [{name: "who", "variableA.$": "$.trigger.who", transforms: []}]}, nextStep: "Call"},
     Call: {type: "action", actionId: "sp:http", nextStep: "Done", attributes: {
            url: $url, method: "post", requestContentType: "json", jsonRequestBody: {"who.$": "$.prepare.who"},
            authenticationType: "bearer", bearerToken: $bearer,
            basicAuthUserName: "svc-user", basicAuthPassword: $password}},
     Done: {type: "success"}}}}')"
TRACED="$(post /v3/workflows "$traced" | jq -r .id)"
TRACED_EXECUTION="$(post "/v3/workflows/$TRACED/test" '{"input": {"who": "ada"}}' | jq -r .workflowExecutionId)"

# A workflow approval left waiting in two inboxes, with a comment.
approval="$(jq -nc --arg a "$OLGA" --arg b "$DAN" '
  {name: "Laptop approval", definition: {start: "Approve", steps: {
     Approve: {type: "action", actionId: "sp:generic-approval", nextStep: "Done",
               attributes: {approvers: [$a, $b], subject: "Laptop for {{$.trigger.who}}",
                            description: "A 14-inch one", deadline: "30d", reminder: "7d"}},
     Done: {type: "success"}}}}')"
APPROVAL_WORKFLOW="$(post /v3/workflows "$approval" | jq -r .id)"
WAITING_EXECUTION="$(post "/v3/workflows/$APPROVAL_WORKFLOW/test" '{"input": {"who": "Ada"}}' | jq -r .workflowExecutionId)"
OLGA_T="$(bound_token "$OLGA" workflow-approver "${INBOX_SCOPES[@]}")"
DAN_T="$(bound_token "$DAN" workflow-approver "${INBOX_SCOPES[@]}")"
inbox_item_of() { # TOKEN SUBJECT_ID
  call "$1" GET /tessera/v1/inbox | jq -er --arg s "$2" '[.[] | select(.subject.id == $s)][0].id'
}
wait_until "the approval's inbox item" 60 inbox_item_of "$OLGA_T" "$WAITING_EXECUTION" >/dev/null
WAITING_ITEM="$(inbox_item_of "$OLGA_T" "$WAITING_EXECUTION")"
call "$DAN_T" POST "/tessera/v1/inbox/$WAITING_ITEM/comment" '{"comment": "Which model?"}' >/dev/null

# A long sleep (a parked execution: a timer task due in 30 days) and another one cancelled.
sleepy='{"name": "Sleeps a month", "definition": {"start": "Wait", "steps": {
  "Wait": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "30d"}, "nextStep": "Done"},
  "Done": {"type": "success"}}}}'
SLEEPY="$(post /v3/workflows "$sleepy" | jq -r .id)"
SLEEPING_EXECUTION="$(post "/v3/workflows/$SLEEPY/test" '{"input": {}}' | jq -r .workflowExecutionId)"
CANCELLED_EXECUTION="$(post "/v3/workflows/$SLEEPY/test" '{"input": {"cancel": true}}' | jq -r .workflowExecutionId)"
status_of() { get "/v3/workflow-executions/$1" | jq -r .status; }
is_running() { [ "$(status_of "$1")" = Running ]; }
wait_until "the execution to start" 30 is_running "$CANCELLED_EXECUTION"
post "/v3/workflow-executions/$CANCELLED_EXECUTION/cancel" '{}' >/dev/null

# A child workflow called by a parent (executions with parent_id).
child='{"name": "Child", "definition": {"start": "Define", "steps": {
  "Define": {"type": "Mutation", "attributes": {"id": "sp:define-variable",
             "variables": [{"name": "answer", "variableA.$": "$.trigger.question", "transforms": []}]}, "nextStep": "Done"},
  "Done": {"type": "success"}}}}'
CHILD="$(post /v3/workflows "$child" | jq -r .id)"
parent="$(jq -nc --arg child "$CHILD" '{name: "Parent", definition: {start: "Call", steps: {
  Call: {type: "action", actionId: "tessera:call-workflow", nextStep: "Done",
         attributes: {workflowId: $child, input: {question: "forty-two"}, waitForCompletion: true}},
  Done: {type: "success"}}}}')"
PARENT="$(post /v3/workflows "$parent" | jq -r .id)"
PARENT_EXECUTION="$(post "/v3/workflows/$PARENT/test" '{"input": {}}' | jq -r .workflowExecutionId)"

# A scheduled workflow (a schedules row; it fires on 1 January, not during the capture).
scheduled='{"name": "New year", "enabled": true,
  "trigger": {"type": "SCHEDULED", "attributes": {"cronString": "0 3 1 1 *", "timeZone": "UTC"}},
  "definition": {"start": "Done", "steps": {"Done": {"type": "success"}}}}'
SCHEDULED="$(post /v3/workflows "$scheduled" | jq -r .id)"

# Temporary access from a workflow: sp:access:manage with removeDuration (a performed action, a scheduled
# revocation, and plans).
manage="$(jq -nc '{name: "Temporary finance access", definition: {start: "Grant", steps: {
  Grant: {type: "action", actionId: "sp:access:manage", nextStep: "Done",
          attributes: {requestType: "GRANT_ACCESS", "addIdentities.$": "$.trigger.identityId", removeDuration: "30d",
                       comments: "quarter close", requestedItems: [{type: "ACCESS_PROFILE", id: "demo-ap-finance"}]}},
  Done: {type: "success"}}}}')"
MANAGE="$(post /v3/workflows "$manage" | jq -r .id)"
MANAGE_EXECUTION="$(post "/v3/workflows/$MANAGE/test" "$(jq -nc --arg i "$GRANTEE" '{input: {identityId: $i}}')" |
  jq -r .workflowExecutionId)"

# An event published by hand.
post /tessera/v1/events '{"type": "tessera:upgrade-fixture", "payload": {"note": "published by capture.sh"}}' >/dev/null

# --- Governance groups, lifecycle --------------------------------------------------------------------
log "governance groups, lifecycle"
WORKGROUP="$(post /beta/workgroups "$(jq -nc --arg o "$BOSS" '{name: "Upgrade reviewers", description: "fixture", owner: {id: $o}}')" |
  jq -r .id)"
post "/beta/workgroups/$WORKGROUP/members/bulk-add" "$(jq -nc --arg a "$BOSS" --arg b "$FORWARD_TO" '[{id: $a}, {id: $b}]')" >/dev/null
post "/v3/identities/$ON_LEAVE/set-lifecycle-state" '{"lifecycleStateId": "leave"}' >/dev/null

# --- Access requests -----------------------------------------------------------------------------------
log "access requests"
put /v3/access-request-config "$(jq -nc --arg f "$FORWARD_TO" '{
  approvalReminderAndEscalationConfig: {daysUntilEscalation: 5, daysBetweenReminders: 2, maxReminders: 2,
                                        fallbackApproverRef: {type: "IDENTITY", id: $f}},
  entitlementRequestConfig: {allowEntitlementRequest: true, requestCommentsRequired: false},
  requestOnBehalfOfConfig: {allowRequestOnBehalfOfEmployeeByManager: true}}')" >/dev/null
# A warning SoD policy: Sales against Finance. Sam (Sales by birthright) asking for AD Finance violates it.
SOD_POLICY="$(post /v3/sod-policies '{"name": "Sales vs Finance", "state": "ENFORCED", "type": "CONFLICTING_ACCESS_BASED",
  "forbid": false, "description": "nobody sells and books", "violationOwnerAssignmentConfig": {"assignmentRule": "MANAGER"},
  "conflictingAccessCriteria": {
    "leftCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "demo-ent-sales"}]},
    "rightCriteria": {"criteriaList": [{"type": "ENTITLEMENT", "id": "demo-ent-finance"}]}}}' | jq -r .id)"
# A pre-approval workflow that selects only requests for AD Engineering and sleeps: such a request waits.
preapproval='{"name": "Engineering pre-approval", "enabled": true,
  "trigger": {"type": "REQUEST_RESPONSE", "attributes": {"id": "idn:access-request-pre-approval",
              "filter.$": "$.requestedItems[?(@.id == \"demo-ap-engineering\")]"}},
  "definition": {"start": "Think", "steps": {
    "Think": {"type": "action", "actionId": "sp:sleep", "attributes": {"type": "waitFor", "duration": "30d"}, "nextStep": "Answer"},
    "Answer": {"type": "Mutation", "attributes": {"id": "sp:define-variable",
               "variables": [{"name": "approved", "variableA": true, "transforms": []}]}, "nextStep": "Done"},
    "Done": {"type": "success"}}}}'
PRE_APPROVAL="$(post /v3/workflows "$preapproval" | jq -r .id)"

SAM_T="$(bound_token "$SAM" requester "${REQUESTER_SCOPES[@]}")"
BOSS_T="$(bound_token "$BOSS" approver "${APPROVER_SCOPES[@]}")"
FORWARD_T="$(bound_token "$FORWARD_TO" approver "${APPROVER_SCOPES[@]}")"
HELD_T="$(bound_token "$HELD" requester "${REQUESTER_SCOPES[@]}")"
request_for() { # TOKEN IDENTITY TYPE ID COMMENT [REMOVE_DATE]
  jq -nc --arg for "$2" --arg type "$3" --arg id "$4" --arg comment "$5" --arg remove "${6:-}" '
    {requestedFor: [$for], requestType: "GRANT_ACCESS",
     requestedItems: [{type: $type, id: $id, comment: $comment} + (if $remove == "" then {} else {removeDate: $remove} end)]}' \
    >"$work/request.json"
  call "$1" POST /v3/access-requests "$(cat "$work/request.json")" | jq -er '.newRequests[0].accessRequestIds[0]'
}
pending_approval() { # TOKEN REQUEST_ID
  call "$1" GET /v3/access-request-approvals/pending | jq -er --arg r "$2" '[.[] | select(.accessRequestId == $r or .requestId == $r)][0].id'
}
# Approved: GitHub Platform until the end of 2030 (a scheduled revocation), approved by the manager.
APPROVED_REQUEST="$(request_for "$SAM_T" "$SAM" ACCESS_PROFILE demo-ap-github "on-call rota" 2030-12-31T00:00:00Z)"
approve_one() { pending_approval "$BOSS_T" "$APPROVED_REQUEST" >/dev/null; }
wait_until "the manager's approval of $APPROVED_REQUEST" 30 approve_one
APPROVED_APPROVAL="$(pending_approval "$BOSS_T" "$APPROVED_REQUEST")"
call "$BOSS_T" POST "/v3/access-request-approvals/$APPROVED_APPROVAL/approve" '{"comment": "ok for the rota"}' >/dev/null
# Pending: AD Finance, which violates the SoD policy; the manager forwards it, and it waits.
PENDING_REQUEST="$(request_for "$SAM_T" "$SAM" ACCESS_PROFILE demo-ap-finance "month-end close")"
PENDING_APPROVAL="$(pending_approval "$BOSS_T" "$PENDING_REQUEST")"
call "$BOSS_T" POST "/v3/access-request-approvals/$PENDING_APPROVAL/forward" \
  "$(jq -nc --arg to "$FORWARD_TO" '{newOwnerId: $to, comment: "Finance decides this one"}')" >/dev/null
# Held: AD Engineering, waiting for the pre-approval workflow.
HELD_REQUEST="$(request_for "$HELD_T" "$HELD" ACCESS_PROFILE demo-ap-engineering "pairing with the platform team")"
wait_until "the pre-approval execution" 30 bash -c "[ \"\$(curl -sS -H 'Authorization: Bearer $ADMIN' '$BASE/v3/workflows/$PRE_APPROVAL/executions' | jq length)\" -ge 1 ]"
PRE_APPROVAL_EXECUTION="$(get "/v3/workflows/$PRE_APPROVAL/executions" | jq -r '.[0].id')"

# --- Request types: examples/badge-access, one request raised --------------------------------------------
log "request types (examples/badge-access)"
# As examples/badge-access/load.sh does it (same files, same order), through `call` so that a refusal
# shows its answer: the delegated workflow, the team, the list, the request type, published.
badge="$repo/examples/badge-access"
fill() { # FILE: the file with load.sh's ${BADGE_…} and ${BUILDINGS_…} placeholders filled
  sed -e "s/\${BADGE_MEMBER_1}/$BADGE_1/g" -e "s/\${BADGE_MEMBER_2}/$BADGE_2/g" -e "s/\${BADGE_WORKFLOW_ID}/${BADGE_WORKFLOW:-}/g" \
    -e "s/\${BADGE_TEAM_ID}/${BADGE_TEAM:-}/g" -e "s/\${BUILDINGS_LIST_ID}/${BUILDINGS_LIST:-}/g" "$1"
}
BADGE_WORKFLOW="$(post /v3/workflows "$(fill "$badge/manual-badge-provisioning.json")" | jq -r .id)"
BADGE_TEAM="$(post /tessera/v1/teams "$(fill "$badge/team.json")" | jq -r .id)"
BUILDINGS_LIST="$(post /tessera/v1/configuration-lists "$(fill "$badge/buildings.json")" | jq -r .id)"
REQUEST_TYPE="$(post /tessera/v1/request-types "$(fill "$badge/request-type.json")" | jq -r .id)"
post "/tessera/v1/request-types/$REQUEST_TYPE/publish" >/dev/null
ADA_T="$(bound_token "$ADA" requester "${REQUESTER_SCOPES[@]}")"
TYPE_REQUEST="$(call "$ADA_T" POST /tessera/v1/requests "$(jq -nc --arg t "$REQUEST_TYPE" '{requestTypeId: $t,
  subject: "Badge for the London office", answers: {businessJustification: "I start on the London trading floor",
  building: "LON-1CS", endDate: "2031-03-31"}}')" | jq -r .id)"
call "$ADA_T" POST "/tessera/v1/requests/$TYPE_REQUEST/comments" '{"comment": "Needed from Monday"}' >/dev/null
TYPE_REQUEST_ITEM="$(get "/tessera/v1/requests/$TYPE_REQUEST" | jq -r '.steps[0].inboxItemId')"

# --- Sources: inbound SCIM with a pushed user, and a SCIM source whose token is sealed -----------------
log "sources"
INBOUND_SOURCE="$(post /v3/sources '{"name": "Workday", "connector": "scim-inbound", "authoritative": true,
  "description": "pushes people in over /scim/v2"}' | jq -r .id)"
t() { jq -nc --arg a "$1" '{type: "accountAttribute", attributes: {sourceName: "Workday", attributeName: $a}}'; }
INBOUND_PROFILE="$(post /v3/identity-profiles "$(jq -nc --arg s "$INBOUND_SOURCE" --argjson user "$(t userName)" \
  --argjson given "$(t givenName)" --argjson family "$(t familyName)" --argjson email "$(t email)" \
  --argjson dept "$(t department)" --argjson active "$(t active)" '
  {name: "Workday workers", authoritativeSource: {id: $s}, identityAttributeConfig: {enabled: true, attributeTransforms: [
    {identityAttributeName: "uid", transformDefinition: $user},
    {identityAttributeName: "displayName", transformDefinition: {type: "concat", attributes: {values: [$given, " ", $family]}}},
    {identityAttributeName: "email", transformDefinition: {type: "lower", attributes: {input: $email}}},
    {identityAttributeName: "department", transformDefinition: $dept},
    {identityAttributeName: "cloudLifecycleState", transformDefinition: {type: "lookup",
      attributes: {input: $active, table: {"true": "active", "false": "inactive", default: "active"}}}}]}}')" | jq -r .id)"
post "/v3/identity-profiles/$INBOUND_PROFILE/lifecycle-states" \
  '{"name": "Active", "technicalName": "active", "enabled": true, "identityState": "ACTIVE"}' >/dev/null
post "/v3/identity-profiles/$INBOUND_PROFILE/lifecycle-states" \
  '{"name": "Inactive", "technicalName": "inactive", "enabled": true, "identityState": "INACTIVE_LONG_TERM"}' >/dev/null
scim_user='{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "userName": "grace.hopper@example.com", "externalId": "WD-1906", "active": true, "password": "never-stored-0",
  "name": {"givenName": "Grace", "familyName": "Hopper"},
  "emails": [{"value": "Grace.Hopper@example.com", "type": "work", "primary": true}],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering", "employeeNumber": "WD-1906"}}'
INBOUND_USER="$(CT=application/scim+json post /scim/v2/Users "$scim_user" | jq -r .id)"
INBOUND_GROUP="$(CT=application/scim+json post /scim/v2/Groups "$(jq -nc --arg u "$INBOUND_USER" '
  {schemas: ["urn:ietf:params:scim:schemas:core:2.0:Group"], displayName: "Compilers", members: [{value: $u}]}')" | jq -r .id)"
inbound_identity() {
  get "/v3/accounts?filters=sourceId%20eq%20%22$INBOUND_SOURCE%22%20and%20nativeIdentity%20eq%20%22$INBOUND_USER%22" |
    jq -er '.[0].identityId'
}
wait_until "the pushed user's identity" 30 inbound_identity >/dev/null
INBOUND_IDENTITY="$(inbound_identity)"
SEALED_SOURCE="$(post /v3/sources "$(jq -nc --arg token "$SCIM_TOKEN" '{name: "Partner SCIM", connector: "scim",
  description: "never aggregated: its token stays sealed at rest", features: ["PROVISIONING"],
  connectorAttributes: {baseUrl: "http://127.0.0.1:9/scim/v2", authType: "bearer", token: $token, pageSize: 50}}')" | jq -r .id)"
[ "$(get "/v3/sources/$SEALED_SOURCE" | jq -r .connectorAttributes.token)" = "********" ] || die "the SCIM token is not masked"

# --- HR: a joiner, a mover and a leaver, aggregated once over the API ---------------------------------------
log "HR edit and aggregation"
excluded="$(for id in "${taken[@]}"; do alias_of "$id"; done | sort -u | paste -sd, -)"
hr_changes="$(python3 - "$work/data/demo/hr.csv" "$excluded" <<'PY'
import csv, json, sys
path, excluded = sys.argv[1], set(sys.argv[2].split(","))
with open(path, newline="") as f:
    reader = csv.reader(f)
    header = next(reader)
    rows = list(reader)
col = {name: i for i, name in enumerate(header)}
managers = {r[col["managerId"]] for r in rows}
candidates = [r for r in rows if r[col["status"]] == "A" and r[col["managerId"]] and r[col["department"]] != "Engineering"
              and r[0] not in excluded and r[0] not in managers]
mover, leaver = candidates[-1], candidates[-2]
mover[col["department"]] = "Engineering"
leaver[col["status"]] = "T"
joiner = dict(zip(header, [""] * len(header)))
joiner.update({"employeeNumber": "E000301", "firstName": "Zora", "lastName": "Neale", "displayName": "Zora Neale",
               "email": "zora.neale@example.com", "department": "Sales", "jobTitle": "Account Executive",
               "location": "London", "managerId": "E000001", "status": "A", "startDate": "2026-12-01"})
missing = set(joiner) - set(header)
if missing:
    sys.exit(f"the HR file lacks columns {missing}: {header}")
rows.append([joiner[h] for h in header])
with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
print(json.dumps({"joiner": "E000301", "mover": mover[0], "leaver": leaver[0]}))
PY
)"
AGGREGATION="$(post /v3/sources/demo-source-hr/load-accounts | jq -r .task.id)"
aggregated() { [[ "$(get "/tessera/v1/aggregations/$AGGREGATION" | jq -r .status)" =~ ^(SUCCESS|ERROR|FAILED|TERMINATED)$ ]]; }
wait_until "aggregation $AGGREGATION" 120 aggregated
aggregation="$(get "/tessera/v1/aggregations/$AGGREGATION")"
[ "$(jq -r .status <<<"$aggregation")" = SUCCESS ] || die "aggregation: $aggregation"
log "aggregation: $(jq -c .stats <<<"$aggregation")"
identity_by_alias() { get "/v3/identities?filters=alias%20eq%20%22$1%22" | jq -r '.[0].id'; }
JOINER="$(identity_by_alias "$(jq -r .joiner <<<"$hr_changes")")"
MOVER="$(identity_by_alias "$(jq -r .mover <<<"$hr_changes")")"
LEAVER="$(identity_by_alias "$(jq -r .leaver <<<"$hr_changes")")"

# A standing delegation (from now until 2030), written last so it routes nothing captured above.
DELEGATION="$(post /tessera/v1/delegations "$(jq -nc --arg from "$AWAY" --arg to "$STAND_IN" '
  {delegatorId: $from, delegateId: $to, end: "2030-12-31T00:00:00Z", comment: "sabbatical"}')" | jq -r .id)"

# --- Settle ------------------------------------------------------------------------------------------------
# Every execution ends but the four meant to wait: the workflow approval, the month-long sleep, the
# pre-approval hook, and none other. The demo's joiner, mover and leaver workflows fail on the mail.
log "letting executions settle"
all_executions() {
  local wf
  for wf in $(get '/v3/workflows?limit=250' | jq -r '.[].id'); do get "/v3/workflows/$wf/executions"; done | jq -s 'add // []'
}
settled() {
  all_executions >"$work/executions.json"
  jq -e --argjson waiting "$(jq -nc --arg a "$WAITING_EXECUTION" --arg b "$SLEEPING_EXECUTION" --arg c "$PRE_APPROVAL_EXECUTION" '[$a, $b, $c]')" \
    '[.[] | select(.status.as_str() == "Running" and (.id as $i | $waiting | index($i) | not))] | length == 0' "$work/executions.json" >/dev/null
}
wait_until "the executions to settle" 180 settled
# The demo's workflows run once each for the joiner, the mover and the leaver.
demo_ran() { [ "$(for wf in demo-joiner-welcome demo-mover-notify demo-leaver-notify; do get "/v3/workflows/$wf/executions"; done | jq -s 'map(length) | add')" -ge 3 ]; }
wait_until "the demo workflows" 60 demo_ran
wait_until "the executions to settle" 180 settled
# Complete one of the demo's work items (the rest stay open), then let provisioning catch up.
WORK_ITEM="$(get '/v3/work-items?limit=1' | jq -r '.[0].id')"
post "/v3/work-items/$WORK_ITEM" '{"comment": "done by hand"}' >/dev/null
sleep 3
for id in "$WAITING_EXECUTION" "$SLEEPING_EXECUTION" "$PRE_APPROVAL_EXECUTION"; do
  [ "$(status_of "$id")" = Running ] || die "execution $id should still be running: $(status_of "$id")"
done
jq -r 'group_by(.status) | map("\(.[0].status)=\(length)") | join(" ")' "$work/executions.json" | sed 's/^/capture: executions: /' >&2
TRACED_STATUS="$(status_of "$TRACED_EXECUTION")"
TRACED_HISTORY="$(get "/v3/workflow-executions/$TRACED_EXECUTION/history")"
if grep -qF -e "$PASTED_BEARER" -e "$PASTED_PASSWORD" <<<"$TRACED_HISTORY"; then die "a pasted credential reached history"; fi

# --- Stop and dump ---------------------------------------------------------------------------------------------
log "stopping the server (SIGTERM)"
stop_server
trap - EXIT
grep -q "Tessera stopped." "$work/server.log" || log "warning: the server did not say it stopped"

if [ "$dialect" = sqlite ]; then
  db="$work/data/tessera.db"
  sqlite3 "$db" .dump >"$out/sqlite.sql"
  tables="$(sqlite3 "$db" "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")"
  count() { sqlite3 "$db" "SELECT COUNT(*) FROM \"$1\""; }
  scalar() { sqlite3 "$db" "$1"; }
else
  pg_dump --no-owner --no-privileges --no-comments "$db_url" >"$out/postgres.sql"
  tables="$(psql -X -At -d "$db_url" -c "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name")"
  count() { psql -X -At -d "$db_url" -c "SELECT COUNT(*) FROM \"$1\""; }
  scalar() { psql -X -At -d "$db_url" -c "$1"; }
fi
SCHEMA_VERSION="$(scalar 'SELECT MAX(version) FROM _sqlx_migrations')"
[ "$SCHEMA_VERSION" = 14 ] || die "the database is at schema version $SCHEMA_VERSION, not 14"
counts="$(for t in $tables; do printf '%s\t%s\n' "$t" "$(count "$t")"; done | jq -Rn '[inputs | split("\t") | {(.[0]): (.[1] | tonumber)}] | add')"
empty="$(jq -c '[to_entries[] | select(.value == 0) | .key]' <<<"$counts")"
[ "$empty" = "[]" ] || log "warning: empty tables: $empty"
printf '%s\n' "$SECRET_KEY" >"$out/secret.key"

# --- expected.json (this dialect's object replaced, the other kept) and README.md ------------------------------------
clients="$(jq -sc . "$clients_file")"
# Who played which part, by identity id and alias (aliases are the HR file's employee numbers: the same in
# every capture).
people_json="$(for role in SAM BOSS FORWARD_TO HELD OLGA DAN ADA ADA_MANAGER BADGE_1 BADGE_2 GRANTEE ON_LEAVE AWAY STAND_IN; do
  jq -nc --arg role "$role" --arg id "${!role}" --arg alias "$(alias_of "${!role}")" '{($role): {id: $id, alias: $alias}}'
done | jq -sc add)"
statuses="$(scalar "SELECT status || '=' || COUNT(*) FROM executions GROUP BY status ORDER BY status" |
  jq -Rn '[inputs | split("=") | {(.[0]): (.[1] | tonumber)}] | add')"
captured="$(jq -n \
  --arg commit "$commit" --argjson schema "$SCHEMA_VERSION" --arg dump "$dialect.sql" \
  --argjson counts "$counts" --argjson clients "$clients" --argjson hr "$hr_changes" \
  --argjson people "$people_json" --argjson statuses "$statuses" \
  --arg pendingRequest "$PENDING_REQUEST" --arg pendingApproval "$PENDING_APPROVAL" --arg approvedRequest "$APPROVED_REQUEST" \
  --arg approvedApproval "$APPROVED_APPROVAL" --arg heldRequest "$HELD_REQUEST" --arg sam "$SAM" --arg boss "$BOSS" \
  --arg forwardTo "$FORWARD_TO" --arg held "$HELD" --arg sod "$SOD_POLICY" \
  --arg waiting "$WAITING_EXECUTION" --arg waitingItem "$WAITING_ITEM" --arg approvalWf "$APPROVAL_WORKFLOW" \
  --arg olga "$OLGA" --arg dan "$DAN" --arg sleeping "$SLEEPING_EXECUTION" --arg sleepy "$SLEEPY" \
  --arg cancelled "$CANCELLED_EXECUTION" --arg preWf "$PRE_APPROVAL" --arg preExec "$PRE_APPROVAL_EXECUTION" \
  --arg traced "$TRACED" --arg tracedExec "$TRACED_EXECUTION" --arg tracedStatus "$TRACED_STATUS" \
  --arg bearer "$PASTED_BEARER" --arg password "$PASTED_PASSWORD" \
  --arg versioned "$VERSIONED" --argjson versions "$VERSIONS" --arg extClient "$EXTERNAL_CLIENT" --arg extSecret "$EXTERNAL_SECRET" \
  --arg extExec "$EXTERNAL_EXECUTION" --arg helloTest "$HELLO_TEST_EXECUTION" --arg parent "$PARENT" --arg parentExec "$PARENT_EXECUTION" \
  --arg child "$CHILD" --arg scheduled "$SCHEDULED" --arg manage "$MANAGE" --arg manageExec "$MANAGE_EXECUTION" --arg grantee "$GRANTEE" \
  --arg typeRequest "$TYPE_REQUEST" --arg typeItem "$TYPE_REQUEST_ITEM" --arg requestType "$REQUEST_TYPE" --arg team "$BADGE_TEAM" \
  --arg list "$BUILDINGS_LIST" --arg badgeWf "$BADGE_WORKFLOW" --arg ada "$ADA" --arg adaManager "$ADA_MANAGER" \
  --arg badge1 "$BADGE_1" --arg badge2 "$BADGE_2" \
  --arg inSource "$INBOUND_SOURCE" --arg inProfile "$INBOUND_PROFILE" --arg inUser "$INBOUND_USER" --arg inGroup "$INBOUND_GROUP" \
  --arg inIdentity "$INBOUND_IDENTITY" --arg sealed "$SEALED_SOURCE" --arg scimToken "$SCIM_TOKEN" \
  --arg workgroup "$WORKGROUP" --arg onLeave "$ON_LEAVE" --arg delegation "$DELEGATION" --arg away "$AWAY" --arg standIn "$STAND_IN" \
  --arg aggregation "$AGGREGATION" --argjson aggStats "$(jq -c .stats <<<"$aggregation")" \
  --arg joiner "$JOINER" --arg mover "$MOVER" --arg leaver "$LEAVER" --arg workItem "$WORK_ITEM" '
{
  commit: $commit, schemaVersion: $schema, dump: $dump, people: $people,
  accessRequests: {
    approved: {id: $approvedRequest, approvalId: $approvedApproval, requestedFor: $sam, approver: $boss,
               item: {type: "ACCESS_PROFILE", id: "demo-ap-github"}, removeDate: "2030-12-31T00:00:00Z"},
    pending: {id: $pendingRequest, approvalId: $pendingApproval, requestedFor: $sam, forwardedFrom: $boss, forwardedTo: $forwardTo,
              item: {type: "ACCESS_PROFILE", id: "demo-ap-finance"}, sodPolicyId: $sod},
    heldByPreApproval: {id: $heldRequest, requestedFor: $held, item: {type: "ACCESS_PROFILE", id: "demo-ap-engineering"},
                        workflowId: $preWf, executionId: $preExec}
  },
  sodPolicyId: $sod,
  workflowApproval: {workflowId: $approvalWf, waitingExecutionId: $waiting, inboxItemId: $waitingItem, assignees: [$olga, $dan]},
  tracedWorkflow: {id: $traced, executionId: $tracedExec, executionStatus: $tracedStatus,
                   pastedBearerToken: $bearer, pastedBasicAuthPassword: $password},
  versionedWorkflow: {id: $versioned, versions: $versions, externalClientId: $extClient, externalClientSecret: $extSecret,
                      externalExecutionId: $extExec, testExecutionId: $helloTest},
  sleepingExecution: {workflowId: $sleepy, id: $sleeping}, cancelledExecution: {workflowId: $sleepy, id: $cancelled},
  subWorkflow: {parentId: $parent, childId: $child, parentExecutionId: $parentExec},
  scheduledWorkflowId: $scheduled,
  temporaryAccess: {workflowId: $manage, executionId: $manageExec, identityId: $grantee, item: {type: "ACCESS_PROFILE", id: "demo-ap-finance"}},
  boundClients: $clients,
  requestType: {requestId: $typeRequest, approvalInboxItemId: $typeItem, requestTypeId: $requestType, teamId: $team,
                configurationListId: $list, delegatedWorkflowId: $badgeWf, requester: $ada, approver: $adaManager,
                teamMembers: [$badge1, $badge2]},
  inboundScim: {sourceId: $inSource, identityProfileId: $inProfile, userId: $inUser, userName: "grace.hopper@example.com",
                groupId: $inGroup, identityId: $inIdentity},
  sealedTokenSource: {id: $sealed, name: "Partner SCIM", token: $scimToken},
  workgroupId: $workgroup, lifecycleSetByHand: {identityId: $onLeave, state: "leave"},
  delegation: {id: $delegation, delegatorId: $away, delegateId: $standIn},
  hr: {aggregationId: $aggregation, stats: $aggStats, joiner: {alias: $hr.joiner, id: $joiner},
       mover: {alias: $hr.mover, id: $mover}, leaver: {alias: $hr.leaver, id: $leaver}},
  completedWorkItemId: $workItem,
  counts: {identities: $counts.identities, executions: $counts.executions, provisioningPlans: $counts.provisioning_plans,
           inboxItems: $counts.inbox_items, workItems: $counts.work_items, accessRequests: $counts.access_requests,
           executionsByStatus: $statuses},
  tables: $counts
}')"
expected="$out/expected.json"
[ -s "$expected" ] || echo '{}' >"$expected"
jq --arg d "$dialect" --argjson c "$captured" --arg id "$ADMIN_ID" --arg secret "$ADMIN_SECRET" '
  . + {fixture: "schema-0014", adminClient: {id: $id, secret: $secret}, secretKeyFile: "secret.key"} | .[$d] = $c' \
  "$expected" >"$expected.new"
mv "$expected.new" "$expected"

python3 - "$expected" "$out/README.md" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
dialects = [d for d in ("sqlite", "postgres") if d in e]
lines = [
    "# Upgrade fixture: schema 0014",
    "",
    "SQL dumps of a database written by Tessera at schema version **0014** (migrations 0001-0014 of",
    "`crates/store/migrations`), for a test that loads a dump, migrates it with a newer binary and checks",
    "that the data survived. Made by `../capture.sh` (see its header) with the debug binary of commit",
    ", ".join(f"`{e[d]['commit']}` ({d})" for d in dialects) + ".",
    "Regenerating them with a later binary defeats their purpose: they must stay as that commit wrote them.",
    "",
    "| file | what |",
    "|---|---|",
    "| `sqlite.sql` | `sqlite3 tessera.db .dump`: load with `sqlite3 new.db < sqlite.sql` |",
    "| `postgres.sql` | `pg_dump --no-owner --no-privileges --no-comments`: load with `psql -v ON_ERROR_STOP=1 -d <empty db> -f postgres.sql` |",
    "| `secret.key` | the secret key (`TESSERA_SECRET_KEY`, base64 of 32 bytes) the connector secrets are sealed under |",
    "| `expected.json` | the ids and counts below, machine-readable, one object per dialect |",
    "",
    f"Administrator API client: id `{e['adminClient']['id']}`, secret `{e['adminClient']['secret']}`",
    "(argon2 hash in `api_clients`). The data: `tessera serve --demo` (300 people from a seeded HR file,",
    "aggregated at first start) and then, through the API, everything below. Ids the server generated differ",
    "between the two dumps; the demo's own ids (`demo-…`) and the identities' aliases do not.",
    "",
]
def row(label, key):
    vals = []
    for d in dialects:
        v = e[d]
        for k in key.split("."):
            v = v[k] if isinstance(v, dict) else v[int(k)]
        vals.append(f"`{v}`")
    return f"| {label} | " + " | ".join(vals) + " |"
lines += ["## Notable objects", "", "| object | " + " | ".join(dialects) + " |", "|---|" + "---|" * len(dialects)]
for label, key in [
    ("pending access request (AD Finance; SoD warning; forwarded)", "accessRequests.pending.id"),
    ("its pending approval", "accessRequests.pending.approvalId"),
    ("approved access request (GitHub Platform, removeDate 2030-12-31)", "accessRequests.approved.id"),
    ("request held by the pre-approval workflow", "accessRequests.heldByPreApproval.id"),
    ("pre-approval execution (sleeping 30 d; an execution waiter)", "accessRequests.heldByPreApproval.executionId"),
    ("requester of both (Sam, Sales)", "accessRequests.pending.requestedFor"),
    ("SoD policy `Sales vs Finance`", "sodPolicyId"),
    ("waiting execution (sp:generic-approval)", "workflowApproval.waitingExecutionId"),
    ("its inbox item (2 assignees, a comment)", "workflowApproval.inboxItemId"),
    ("traced workflow (sp:http with pasted bearerToken / basicAuthPassword)", "tracedWorkflow.id"),
    ("its execution (the call fails: traced, masked history)", "tracedWorkflow.executionId"),
    ("its execution's status", "tracedWorkflow.executionStatus"),
    ("workflow with several versions (EXTERNAL trigger)", "versionedWorkflow.id"),
    ("its number of versions", "versionedWorkflow.versions"),
    ("its external trigger client", "versionedWorkflow.externalClientId"),
    ("sleeping execution (30 d timer)", "sleepingExecution.id"),
    ("cancelled execution", "cancelledExecution.id"),
    ("parent execution (tessera:call-workflow)", "subWorkflow.parentExecutionId"),
    ("scheduled workflow", "scheduledWorkflowId"),
    ("sp:access:manage execution (temporary access, 30 d)", "temporaryAccess.executionId"),
    ("request-type request (Badge access, pending the manager)", "requestType.requestId"),
    ("its approval inbox item", "requestType.approvalInboxItemId"),
    ("request type `Badge access`", "requestType.requestTypeId"),
    ("inbound SCIM source (`Workday`, scim-inbound)", "inboundScim.sourceId"),
    ("inbound SCIM user `grace.hopper@example.com` (SCIM id)", "inboundScim.userId"),
    ("its identity", "inboundScim.identityId"),
    ("sealed-token SCIM source (`Partner SCIM`, never aggregated)", "sealedTokenSource.id"),
    ("governance group", "workgroupId"),
    ("delegation", "delegation.id"),
    ("HR aggregation run (joiner, mover, leaver)", "hr.aggregationId"),
    ("joiner E000301", "hr.joiner.id"),
    ("completed work item", "completedWorkItemId"),
]:
    lines.append(row(label, key))
c = lambda d, k: e[d]["counts"][k]
lines += ["", "Counts: " + "; ".join(f"{d}: {c(d,'identities')} identities, {c(d,'executions')} executions "
          f"({', '.join(f'{k} {v}' for k, v in c(d,'executionsByStatus').items())}), {c(d,'provisioningPlans')} provisioning plans, "
          f"{c(d,'workItems')} work items, {c(d,'inboxItems')} inbox items, {c(d,'accessRequests')} access requests" for d in dialects) + "."]
lines += ["", "People (aliases are the HR file's employee numbers, the same in both dumps): "
          + ", ".join(f"{role.lower()} `{p['alias']}`" for role, p in e[dialects[0]]["people"].items()) + "; joiner `"
          + e[dialects[0]]["hr"]["joiner"]["alias"] + "`, mover `" + e[dialects[0]]["hr"]["mover"]["alias"] + "`, leaver `"
          + e[dialects[0]]["hr"]["leaver"]["alias"] + "`."]
lines += ["", "Bound API clients (`POST /v3/oauth-clients` with `identityId`; secrets in `expected.json`):", ""]
for d in dialects:
    lines.append(f"- {d}: " + ", ".join(f"`{c['id']}` ({c['role']}, identity `{c['identityId']}`)" for c in e[d]["boundClients"]))
lines += ["", "The sealed SCIM token is `" + e[dialects[0]]["sealedTokenSource"]["token"] + "`; the pasted credentials are `"
          + e[dialects[0]]["tracedWorkflow"]["pastedBearerToken"] + "` and `" + e[dialects[0]]["tracedWorkflow"]["pastedBasicAuthPassword"]
          + "` (plain in the workflow's definition, as pasted; masked in its history).", ""]
lines += ["## Row counts", "", "| table | " + " | ".join(dialects) + " |", "|---|" + "---:|" * len(dialects)]
tables = sorted(set().union(*(e[d]["tables"].keys() for d in dialects)))
for t in tables:
    lines.append(f"| `{t}` | " + " | ".join(str(e[d]["tables"].get(t, "-")) for d in dialects) + " |")
lines += ["", "Counts that depend on timing (notifications' attempts, `audit_log`, `outbox`, scheduled aggregations of",
          "the demo's HR source every 5 minutes) may differ between the dialects; the ids and the row counts of",
          "each dump are exact for that dump.", ""]
open(sys.argv[2], "w").write("\n".join(lines))
PY

# --- The dump loads back -----------------------------------------------------------------------------------------------
if [ "$dialect" = sqlite ]; then
  rm -f "$work/reload.db"
  sqlite3 -bail "$work/reload.db" <"$out/sqlite.sql"
  [ "$(sqlite3 "$work/reload.db" 'SELECT COUNT(*) FROM identities')" = "$(jq -r .sqlite.counts.identities "$expected")" ] ||
    die "the reloaded dump lost identities"
else
  verify_db="${CAPTURE_DB}_reload"
  psql -X -q -v ON_ERROR_STOP=1 -d "$admin_url" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $verify_db" -c "CREATE DATABASE $verify_db"
  verify_url="$(printf '%s' "$admin_url" | sed -E "s#^(postgres(ql)?://[^/]+)/[^?]*#\1/$verify_db#")"
  psql -X -q -v ON_ERROR_STOP=1 -d "$verify_url" -f "$out/postgres.sql" >/dev/null
  [ "$(psql -X -At -d "$verify_url" -c 'SELECT COUNT(*) FROM identities')" = "$(jq -r .postgres.counts.identities "$expected")" ] ||
    die "the reloaded dump lost identities"
  psql -X -q -d "$admin_url" -c "DROP DATABASE $verify_db"
fi
log "the dump loads back"
log "wrote $(ls "$out" | paste -sd' ' -) in $out ($(du -h "$out/$dialect.sql" | cut -f1) dump)"
if [ -s "$errors" ]; then log "refused or failed calls (see $errors): $(wc -l <"$errors")"; fi
