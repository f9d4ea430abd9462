#!/usr/bin/env bash
# `make run`: ensures a demo account with a verified demo domain exists in ./tern-data, on the
# sandbox route (SPEC §9: its mail is captured, never sent, so a first email shows up at once on
# a machine without outbound port 25), prints its credentials, a ready swaks command and a
# one-time console login link, then runs Tern in the foreground (Ctrl-C stops).
set -euo pipefail
TERN=${1:-build/tern}
DATA=${TERN_DATA:-./tern-data}
DOMAIN=demo.tern.test
mkdir -p "$DATA"
CREDS="$DATA/demo-credentials.json"
if [ ! -s "$CREDS" ]; then
  umask 077
  "$TERN" account create demo --data "$DATA" --json > "$CREDS.tmp"
  mv "$CREDS.tmp" "$CREDS"
  "$TERN" domain add demo "$DOMAIN" --verified --data "$DATA" >/dev/null
  "$TERN" account set demo route=sandbox --data "$DATA" >/dev/null
fi
KEYFILE="$DATA/demo-apikey"
if [ ! -s "$KEYFILE" ]; then
  umask 077
  "$TERN" apikey create demo --data "$DATA" > "$KEYFILE.tmp"
  mv "$KEYFILE.tmp" "$KEYFILE"
fi
KEY=$(awk 'NR==1{print $1}' "$KEYFILE")
# A one-time operator login for the console (10 minutes, works once; `tern console link` makes
# another).
LINK=$("$TERN" console link --data "$DATA")
USER=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["username"])' "$CREDS")
PASS=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["password"])' "$CREDS")
cat <<MSG

  Tern is starting with a demo account (credentials kept in $CREDS):
    username  $USER
    password  $PASS
    domain    $DOMAIN (verified: send From any address @$DOMAIN)

  Send a first email (STARTTLS on 2587, or implicit TLS on 2465 with --tls-on-connect):
    swaks --server 127.0.0.1:2587 -tls -a PLAIN -au $USER -ap '$PASS' \\
          --from hello@$DOMAIN --to you@example.com

  The demo account is on the sandbox route: Tern signs and logs the mail, then keeps it
  instead of sending it. See it in the console (Captured), or:
    curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8025/api/v1/captured
  To send for real, switch the route in the console (Sending), or:
    $TERN account set $USER route=platform --data $DATA        (direct to MX hosts)
    $TERN account set $USER route=custom relay.host=smtp.example.com relay.security=tls \\
          relay.username=you@example.com --password-stdin --data $DATA
  Follow a message:     $TERN queue events <ID> --data $DATA

  Or send over HTTP with the demo API key (kept in $KEYFILE):
    curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8025/api/v1/messages \\
         -d '{"from":"hello@$DOMAIN","to":["you@example.com"],"subject":"Hi","text":"Hello"}'

  Console: $LINK
    (logs the operator in once, valid 10 minutes; \`$TERN console link --data $DATA\` makes another)

  REST API: http://127.0.0.1:8025/api/v1 (docs/api.md; OpenAPI at /api/v1/openapi.json).
  The operator token is in $DATA/admin.token (made 0600 on first start):
    curl -H "Authorization: Bearer \$(cat $DATA/admin.token)" http://127.0.0.1:8025/api/v1/accounts

MSG
exec "$TERN" serve --data "$DATA"
