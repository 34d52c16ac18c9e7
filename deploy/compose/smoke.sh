#!/usr/bin/env bash
# Drives one loan application's lifecycle through the stack of deploy/compose/compose.yaml:
# request, submit (the review is issued by a process manager), approve, sign (the contract is issued by a
# process manager), then reads the history from the query service with the last command's consistency
# token. Exits non-zero on the first failure. Needs curl and jq.
#
#   docker compose -f deploy/compose/compose.yaml up -d --build && deploy/compose/smoke.sh
#
# COMMAND_URL, QUERY_URL, ISSUER_URL and the *_ADMIN_URL point it elsewhere (defaults: the ports compose publishes).
set -euo pipefail

COMMAND_URL=${COMMAND_URL:-http://127.0.0.1:8080}
QUERY_URL=${QUERY_URL:-http://127.0.0.1:8082}
ISSUER_URL=${ISSUER_URL:-http://127.0.0.1:8090}
COMMAND_ADMIN_URL=${COMMAND_ADMIN_URL:-http://127.0.0.1:9081}
QUERY_ADMIN_URL=${QUERY_ADMIN_URL:-http://127.0.0.1:9083}
PROJECTOR_ADMIN_URL=${PROJECTOR_ADMIN_URL:-http://127.0.0.1:9082}
WAIT_SECONDS=${WAIT_SECONDS:-180}

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
for tool in curl jq; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done

# wait_ready URL: until GET URL answers 2xx, or WAIT_SECONDS.
wait_ready() {
  local deadline=$((SECONDS + WAIT_SECONDS))
  until curl -fsS -o /dev/null "$1"; do
    ((SECONDS < deadline)) || fail "$1 not ready after ${WAIT_SECONDS}s"
    sleep 2
  done
  echo "smoke: ready: $1"
}

token() {
  local t
  t=$(curl -fsS -X POST "$ISSUER_URL/token" -d grant_type=password -d client_id=loans-cli \
        -d username="$1" -d password="$1" | jq -er .access_token) || fail "no token for $1"
  printf '%s' "$t"
}

# call NAME TOKEN PATH BODY: POSTs a command, retrying while the process manager has not issued what the
# command needs yet (404), and prints the reply. Any other non-2xx answer fails.
call() {
  local name=$1 tok=$2 path=$3 body=$4 deadline=$((SECONDS + 60)) out code
  out=$(mktemp)
  while :; do
    code=$(curl -sS -o "$out" -w '%{http_code}' -X POST "$COMMAND_URL$path" \
             -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d "$body") || code=000
    case $code in
      2??) cat "$out"; rm -f "$out"; echo "smoke: $name: $code" >&2; return 0 ;;
      404) ((SECONDS < deadline)) || fail "$name: still 404 after 60s: $(cat "$out")"; sleep 1 ;;
      *) fail "$name: HTTP $code: $(cat "$out")" ;;
    esac
  done
}

wait_ready "$COMMAND_ADMIN_URL/readyz"
wait_ready "$PROJECTOR_ADMIN_URL/readyz"
wait_ready "$QUERY_ADMIN_URL/readyz"

ADA=$(token ada)
LENA=$(token lena)
ID=$(cat /proc/sys/kernel/random/uuid 2>/dev/null || uuidgen | tr 'A-Z' 'a-z')
echo "smoke: loan application $ID"

call request "$ADA" /v1/loan-applications "{\"loanApplicationUuid\":\"$ID\",\"amount\":1200,\"duration\":24}" >/dev/null
call submit "$ADA" "/v1/loan-applications/$ID:submit" '{}' >/dev/null
call approve "$LENA" "/v1/loan-applications/$ID:approve" '{}' >/dev/null
POSITION=$(call sign "$ADA" "/v1/loan-applications/$ID:sign-contract" '{}' | jq -er .result.commitPosition) \
  || fail "sign: no commitPosition in the reply"

HISTORY=$(curl -fsS "$QUERY_URL/v1/loan-applications/$ID/history?consistencyToken=$POSITION" \
            -H "Authorization: Bearer $ADA") || fail "history: request failed"
TYPES=$(jq -r '[.entries[].eventType] | join(" ")' <<<"$HISTORY")
WANT="LoanRequested LoanRequestSubmitted LoanReviewIssued LoanApproved LoanContractIssued ContractSigned"
[[ $TYPES == "$WANT" ]] || fail "history: got [$TYPES], want [$WANT]"
jq -r '.entries[] | [.eventType, .actor, .statusAfter] | @tsv' <<<"$HISTORY"
echo "smoke: OK"
