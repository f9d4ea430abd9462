"""Live answers against the OpenAPI document (issue 14.9): a real `tern serve` is called on every
resource group, with the operator token and with an API key, for successes and for the errors a
client meets (401, 400, 404, 409), and each answer is checked against what the document it serves
declares for that operation and status: the status must be declared (errors explicitly, not only
as "default"), the media type must match (JSON, text/html for /v/, image/gif for /t/o, a 302 with
Location for /t/c), and JSON bodies must validate against the declared schema (Debian's
python3-jsonschema; OpenAPI 3.0 "nullable" is turned into JSON Schema's null type first).
Schemas say additionalProperties: false for answers, so a field the server sends that the document
does not declare fails here too.

The lint of the same document (Redocly's recommended rules) is tests/openapi/lint.sh.
"""
import copy
import email
import email.policy
import json
import os
import re
import time
import unittest
import urllib.error
import urllib.request

import jsonschema

import harness

TOKEN_LINK = re.compile(r'(http://127\.0\.0\.1:\d+/t/([oc])/[A-Za-z0-9_.~-]+)')


def to_json_schema(node):
    """OpenAPI 3.0 schema objects → JSON Schema: {"nullable": true, ...} accepts null too."""
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class OpenApiLiveTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.TernServer()
        try:
            s = cls.server
            cls.base = f"http://127.0.0.1:{s.port('http')}"
            with open(os.path.join(s.data, "admin.token")) as f:
                cls.admin = f.read().strip()
            cls.key = s.cli_json("apikey", "create", "acme")["key"]
            with urllib.request.urlopen(cls.base + "/api/v1/openapi.json", timeout=30) as r:
                cls.doc = json.loads(r.read())
            cls.schema_doc = to_json_schema(copy.deepcopy(cls.doc))
            cls.opener = urllib.request.build_opener(NoRedirect)
            cls.checked = 0
        except BaseException:
            cls.server.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    # --- one call, checked against the document ------------------------------------------------
    def call(self, method, template, path=None, token="admin", body=None, expect=None,
             raw_body=None):
        """Calls `path` (default: the template itself) and checks the answer against the
        operation `template`/`method` of the document. Returns (status, parsed body, headers)."""
        path = path or template
        data = raw_body if raw_body is not None else (
            None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method.upper())
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization",
                           "Bearer " + (self.admin if token == "admin" else
                                        self.key if token == "key" else token))
        try:
            with self.opener.open(req, timeout=60) as r:
                status, payload, headers = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, payload, headers = e.code, e.read(), e.headers
        if expect is not None:
            self.assertEqual(status, expect, f"{method} {path}: {payload[:300]!r}")
        op = self.doc["paths"].get(template, {}).get(method.lower())
        self.assertIsNotNone(op, f"{method} {template} is not in the document")
        declared = op["responses"].get(str(status))
        if status >= 400 and status != 503 and status != 500:
            self.assertIsNotNone(declared, f"{method} {template}: {status} is not declared")
        declared = declared or op["responses"].get("default")
        self.assertIsNotNone(declared, f"{method} {template}: nothing declared for {status}")
        content = declared.get("content")
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
        parsed = payload
        if not content:
            self.assertEqual(payload, b"", f"{method} {path}: {status} declares no body")
        else:
            self.assertIn(ctype, content, f"{method} {path}: {ctype} not declared for {status}")
            if ctype == "application/json":
                parsed = json.loads(payload)
                schema = dict(to_json_schema(content[ctype]["schema"]))
                schema["components"] = self.schema_doc["components"]
                try:
                    jsonschema.Draft4Validator(schema).validate(parsed)
                except jsonschema.ValidationError as e:
                    self.fail(f"{method} {path} {status}: {e.message} at "
                              f"{list(e.absolute_path)} (schema {list(e.absolute_schema_path)})")
        type(self).checked += 1
        return status, parsed, headers

    # --- the resources ------------------------------------------------------------------------
    def test_01_accounts(self):
        self.call("get", "/api/v1/accounts", expect=200)
        self.call("get", "/api/v1/accounts", token="key", expect=200)
        _, created, _ = self.call("post", "/api/v1/accounts", body={"name": "zeta"}, expect=201)
        zid = created["account"]["id"]
        self.call("post", "/api/v1/accounts", body={"name": "zeta"}, expect=409)
        self.call("post", "/api/v1/accounts", body={"nom": 1}, expect=400)
        self.call("post", "/api/v1/accounts", token="key", body={"name": "x"}, expect=403)
        self.call("get", "/api/v1/accounts/{accountId}", f"/api/v1/accounts/{zid}", expect=200)
        self.call("get", "/api/v1/accounts", token=None, expect=401)
        self.call("get", "/api/v1/accounts/{accountId}", "/api/v1/accounts/nosuch", expect=404)
        self.call("delete", "/api/v1/accounts/{accountId}", f"/api/v1/accounts/{zid}", expect=204)

    def test_02_credentials_and_keys(self):
        t = "/api/v1/accounts/{accountId}"
        _, c, _ = self.call("post", t + "/credentials", "/api/v1/accounts/acme/credentials",
                            body={"username": "relay"}, expect=201)
        self.call("post", t + "/credentials", "/api/v1/accounts/acme/credentials",
                  body={"username": "relay"}, expect=409)
        self.call("get", "/api/v1/credentials", token="key", expect=200)
        self.call("delete", "/api/v1/credentials/{username}",
                  "/api/v1/credentials/" + urllib.request.quote(c["username"], safe=""),
                  token="key", expect=204)
        _, k, _ = self.call("post", "/api/v1/api-keys", token="key", expect=201)
        self.call("get", t + "/api-keys", "/api/v1/accounts/acme/api-keys", expect=200)
        self.call("delete", "/api/v1/api-keys/{prefix}", "/api/v1/api-keys/" + k["prefix"],
                  token="key", expect=204)
        self.call("delete", "/api/v1/api-keys/{prefix}", "/api/v1/api-keys/tern_nosuchx",
                  token="key", expect=404)

    def test_03_domains_senders_suppressions(self):
        self.call("get", "/api/v1/domains", token="key", expect=200)
        self.call("post", "/api/v1/domains", token="key",
                  body={"domain": "live.test", "dkim": "delegated"}, expect=201)
        self.call("get", "/api/v1/domains/{domain}", "/api/v1/domains/live.test", token="key",
                  expect=200)
        self.call("get", "/api/v1/domains/{domain}", "/api/v1/domains/none.test", token="key",
                  expect=404)
        self.call("post", "/api/v1/domains", token="key", body={"domain": "bad domain"},
                  expect=400)
        self.call("post", "/api/v1/domains/{domain}/rotate", "/api/v1/domains/live.test/rotate",
                  token="key", expect=200)
        self.call("delete", "/api/v1/domains/{domain}", "/api/v1/domains/live.test", token="key",
                  expect=204)
        self.call("post", "/api/v1/accounts/{accountId}/senders",
                  "/api/v1/accounts/acme/senders",
                  body={"address": "ops@elsewhere.test", "verified": True}, expect=201)
        self.call("post", "/api/v1/senders", token="key", body={"address": "new@elsewhere.test"},
                  expect=201)
        self.call("get", "/api/v1/senders", token="key", expect=200)
        self.call("get", "/api/v1/senders/{address}", "/api/v1/senders/ops@elsewhere.test",
                  token="key", expect=200)
        self.call("delete", "/api/v1/senders/{address}", "/api/v1/senders/ops@elsewhere.test",
                  token="key", expect=204)
        self.call("post", "/api/v1/suppressions", token="key",
                  body={"address": "gone@x.test", "reason": "test"}, expect=201)
        self.call("get", "/api/v1/suppressions", token="key", expect=200)
        self.call("delete", "/api/v1/suppressions/{address}", "/api/v1/suppressions/gone@x.test",
                  token="key", expect=204)

    def test_04_settings(self):
        self.call("get", "/api/v1/settings", token="key", expect=200)
        self.call("patch", "/api/v1/settings", token="key",
                  body={"bounce_notices": False, "report_format": "xml", "cc": "cc@acme.test",
                        "relay.port": 2525, "notify_url": None}, expect=200)
        self.call("patch", "/api/v1/settings", token="key", body={"nope": 1}, expect=400)
        self.call("post", "/api/v1/settings/webhook-secret", token="key", expect=200)
        # Delivery is off in this server: the test email is unavailable (503, the Error schema).
        self.call("post", "/api/v1/settings/test-email", token="key", body={"to": "x@acme.test"})

    def test_05_messages_and_tracking(self):
        _, sent, _ = self.call("post", "/api/v1/messages", token="key", body={
            "from": "news@acme.test", "to": "reader@dest.test", "cc": ["c1@dest.test"],
            "subject": "openapi live", "text": "hello",
            "html": '<p>hello <a href="https://shop.example.com/x">shop</a></p>',
            "trackingUrl": "https://hooks.example.com/t", "callbackData": "cb"}, expect=200)
        self.call("post", "/api/v1/messages", token="key", body={"from": "news@acme.test"},
                  expect=400)
        mid = sent["messages"][0]["messageId"]
        # The message log is written in batches (~100 ms): wait for the row, then check.
        deadline = time.monotonic() + 20
        while self.call("get", "/api/v1/messages/{messageId}", "/api/v1/messages/" + mid,
                        token="key")[0] == 404 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.call("get", "/api/v1/messages", "/api/v1/messages?limit=5", token="key", expect=200)
        self.call("get", "/api/v1/messages/{messageId}", "/api/v1/messages/" + mid, token="key",
                  expect=200)
        self.call("get", "/api/v1/messages/{messageId}", "/api/v1/messages/NOPE.0", token="key",
                  expect=404)
        # The tracked copy's links: a pixel (GIF) and a click (302 to the original link).
        raw = self.server.raw(mid.rsplit(".", 1)[0])
        html = email.message_from_bytes(raw, policy=email.policy.default) \
            .get_body(("html",)).get_content()
        links = {kind: url for url, kind in TOKEN_LINK.findall(html)}
        self.assertEqual(set(links), {"o", "c"}, html)
        token_o = links["o"].rsplit("/", 1)[1]
        token_c = links["c"].rsplit("/", 1)[1]
        _, gif, _ = self.call("get", "/t/o/{token}", "/t/o/" + token_o, token=None, expect=200)
        self.assertTrue(gif.startswith(b"GIF8"))
        _, _, h = self.call("get", "/t/c/{token}", "/t/c/" + token_c, token=None, expect=302)
        self.assertEqual(h["Location"], "https://shop.example.com/x")
        self.call("get", "/t/c/{token}", "/t/c/forged", token=None, expect=404)
        self.call("get", "/t/o/{token}", "/t/o/forged", token=None, expect=404)
        self.call("get", "/v/{token}", "/v/forged", token=None, expect=404)

    def test_07_console(self):
        # The console's routes (issue 13), with both tokens where both may call them.
        self.call("get", "/api/v1/platform", token="key", expect=200)
        self.call("get", "/api/v1/platform", expect=200)
        self.call("get", "/api/v1/stats", "/api/v1/stats?step=day", token="key", expect=200)
        self.call("get", "/api/v1/stats", expect=200)
        self.call("get", "/api/v1/stats", "/api/v1/stats?step=week", token="key", expect=400)
        self.call("get", "/api/v1/accounts/{accountId}/stats",
                  "/api/v1/accounts/acme/stats?step=hour", expect=200)
        self.call("get", "/api/v1/queue", token="key", expect=403)
        for path in ("/api/v1/queue?by=destination", "/api/v1/queue?by=account"):
            self.call("get", "/api/v1/queue", path)
        self.call("get", "/api/v1/queue/messages")
        # Delivery is off in this server: the queue answers 503 (the Error schema).
        self.call("post", "/api/v1/queue/actions", body={"action": "retry", "ids": ["x"]})
        self.call("get", "/api/v1/webhooks/deliveries", token="key", expect=200)
        self.call("get", "/api/v1/webhooks/deliveries/{deliveryId}",
                  "/api/v1/webhooks/deliveries/999999", token="key", expect=404)
        self.call("post", "/api/v1/webhooks/test", token="key", body={"kind": "tracking"})
        _, bulk, _ = self.call("post", "/api/v1/suppressions/bulk", token="key",
                               body={"add": ["a@bulk.test", "b@bulk.test", "nope"]}, expect=200)
        self.assertEqual((bulk["added"], bulk["invalid"]), (2, ["nope"]))
        self.call("get", "/api/v1/suppressions", "/api/v1/suppressions?q=bulk", token="key",
                  expect=200)
        self.call("get", "/api/v1/captured", token="key", expect=200)
        self.call("get", "/api/v1/captured/{capturedId}", "/api/v1/captured/424242", token="key",
                  expect=404)
        _, created, _ = self.call("post", "/api/v1/accounts", body={"name": "paused"}, expect=201)
        pid = created["account"]["id"]
        self.call("post", "/api/v1/accounts/{accountId}/suspend",
                  f"/api/v1/accounts/{pid}/suspend", body={"reason": "unpaid"}, expect=200)
        self.call("post", "/api/v1/accounts/{accountId}/unsuspend",
                  f"/api/v1/accounts/{pid}/unsuspend", expect=200)
        _, session, headers = self.call("post", "/api/v1/session", token=None,
                                        body={"token": self.key}, expect=201)
        self.assertEqual(session["kind"], "account")
        self.assertIn("__Host-tern_session=", headers["Set-Cookie"])
        self.call("post", "/api/v1/session", token=None, body={"token": "wrong"}, expect=401)
        self.call("get", "/api/v1/session", token=None, expect=401)

    def test_08_document_itself(self):
        _, doc, _ = self.call("get", "/api/v1/openapi.json", token=None, expect=200)
        ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertGreaterEqual(self.checked, 70)


if __name__ == "__main__":
    unittest.main()
