#!/usr/bin/env bash
# `make run`: ensures a demo account with a verified demo domain exists in ./tern-data, prints
# its credentials and a ready swaks command, then runs Tern in the foreground (Ctrl-C stops).
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
fi
KEYFILE="$DATA/demo-apikey"
if [ ! -s "$KEYFILE" ]; then
  umask 077
  "$TERN" apikey create demo --data "$DATA" > "$KEYFILE.tmp"
  mv "$KEYFILE.tmp" "$KEYFILE"
fi
KEY=$(awk 'NR==1{print $1}' "$KEYFILE")
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

  Tern delivers it to the recipient's MX hosts (or, after
    $TERN account set $USER route=custom relay.host=smtp.example.com relay.security=tls \\
          relay.username=you@example.com --password-stdin --data $DATA
  through your own SMTP server). Follow it:
                        $TERN queue events <ID> --data $DATA
                        $TERN queue list --data $DATA

  Or send over HTTP with the demo API key (kept in $KEYFILE):
    curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8025/api/v1/messages \\
         -d '{"from":"hello@$DOMAIN","to":["you@example.com"],"subject":"Hi","text":"Hello"}'

  REST API: http://127.0.0.1:8025/api/v1 (docs/api.md; OpenAPI at /api/v1/openapi.json).
  The operator token is in $DATA/admin.token (made 0600 on first start):
    curl -H "Authorization: Bearer \$(cat $DATA/admin.token)" http://127.0.0.1:8025/api/v1/accounts

MSG
exec "$TERN" serve --data "$DATA"
