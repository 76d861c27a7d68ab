"""Schemathesis hooks for Ygor (used by scripts/schemathesis.sh).

Two roles:

* ``python3 schemathesis_hooks.py setup BASE_URL ADMIN_TOKEN FIXTURE`` sets a territory up on a
  fresh server (rules, supply, an association with its own ed25519 key and an envelope, a venue
  with its own key, a citizen with tokens) and writes what the hooks need to FIXTURE (mode 0600).
* Loaded by schemathesis (``SCHEMATHESIS_HOOKS``), ``before_call`` gives every request the token of
  the role its endpoint expects, often puts the territory's real ids (and a fresh voucher) into
  generated bodies, so that requests get past the first checks, and signs certification and
  redemption bodies with the partner's key exactly as docs/api.md specifies:
  ``"ygor/<kind>/v1\\n" + JCS(object minus "signature")``, ed25519, base64url without padding.

Generated bodies that are not JSON objects, or that JCS cannot encode, are sent as generated.
"""

import base64
import json
import os
import random
import sys
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

FIXTURE_VARIABLE = "YGOR_SCHEMATHESIS_FIXTURE"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def request(base_url, method, path, token=None, body=None, content_type="application/json"):
    """One HTTP request; returns (status, parsed JSON or text)."""
    data = None
    headers = {}
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


# ------------------------------------------------------------------------------------------------
# Set-up


def setup(base_url: str, admin: str, fixture_path: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization

    def expect(answer, statuses, what):
        status, body = answer
        if status not in statuses:
            raise SystemExit(f"schemathesis set-up: {what} answered {status}: {body}")
        return body

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "rules.example.toml"), encoding="utf-8") as rules:
        expect(request(base_url, "PUT", "/v1/rules", admin, rules.read(), "application/toml"), (200,), "rules")
    expect(request(base_url, "POST", "/v1/supply", admin, {"amount": 10_000_000}), (200,), "supply")

    def partner(kind):
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        body = {"kind": kind, "name": f"{kind} schemathesis", "public_key": b64url(public)}
        answer = expect(request(base_url, "POST", "/v1/partners", admin, body), (201,), kind)
        return {"id": answer["partner_id"], "token": answer["token"], "secret_key": b64url(seed)}

    association = partner("association")
    venue = partner("venue")
    envelope = {"amount": 1_000_000}
    expect(request(base_url, "POST", f"/v1/partners/{association['id']}/envelope", admin, envelope), (200,), "envelope")
    body = {"neighbourhood": "centre", "birth_year": 1990, "interests": ["ecologie"]}
    answer = expect(request(base_url, "POST", "/v1/citizens", admin, body), (201,), "citizen")
    citizen = {"id": answer["citizen_id"], "token": answer["token"]}
    fixture = {
        "base_url": base_url,
        "admin_token": admin,
        "association": association,
        "venue": venue,
        "citizen": citizen,
    }
    # The citizen gets tokens, through signed certifications like any other.
    certification = {
        "action_id": str(uuid.uuid4()),
        "association_id": association["id"],
        "citizen_id": citizen["id"],
        "category": "ecologie",
        "quantity": 1,
        "occurred_at": recent_time(),
    }
    for _ in range(20):
        signed = sign("certification", dict(certification, action_id=str(uuid.uuid4())), association["secret_key"])
        expect(request(base_url, "POST", "/v1/certifications", association["token"], signed), (201,), "certification")
    descriptor = os.open(fixture_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(fixture, out)


# ------------------------------------------------------------------------------------------------
# Signing


def sign(kind: str, body: dict, secret_key: str) -> dict:
    """The body with its `signature`, as `ygor sign` would write it."""
    import rfc8785
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    unsigned = {name: value for name, value in body.items() if name != "signature"}
    message = f"ygor/{kind}/v1\n".encode() + rfc8785.dumps(unsigned)
    key = Ed25519PrivateKey.from_private_bytes(b64url_decode(secret_key))
    return dict(unsigned, signature=b64url(key.sign(message)))


# ------------------------------------------------------------------------------------------------
# Hooks

FIXTURE = None
RANDOM = random.Random(22)


def fixture():
    global FIXTURE
    if FIXTURE is None:
        with open(os.environ[FIXTURE_VARIABLE], encoding="utf-8") as source:
            FIXTURE = json.load(source)
    return FIXTURE


def token_for(method: str, path: str) -> str:
    """The token of the role the endpoint expects."""
    f = fixture()
    if path in ("/v1/me/envelope", "/v1/me/certifications"):
        return f["association"]["token"]
    if path.startswith("/v1/me/"):
        return f["citizen"]["token"]
    if path.startswith("/v1/offers") and method != "GET":
        return f["venue"]["token"]
    if path == "/v1/citizens/lookup":
        return f["venue"]["token"] if RANDOM.random() < 0.5 else f["association"]["token"]
    if path.startswith("/v1/certifications") or (path.startswith("/v1/missions") and method != "GET"):
        return f["association"]["token"]
    if path == "/v1/redemptions":
        return f["venue"]["token"]
    if path.startswith("/v1/venues/"):
        # Read by the venue itself or by the collectivity.
        return f["venue"]["token"] if RANDOM.random() < 0.7 else f["admin_token"]
    return f["admin_token"]


def recent_time() -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def fresh_voucher(amount: int):
    """A fresh voucher's answer (voucher, countermark…), or None."""
    f = fixture()
    status, body = request(f["base_url"], "POST", "/v1/me/vouchers", f["citizen"]["token"], {"amount": amount})
    return body if status == 201 else None


def before_call(context, case, kwargs):
    try:
        _before_call(case)
    except Exception as error:  # The request goes out as generated; the hook never hides a case.
        print(f"schemathesis_hooks: {error!r}", file=sys.stderr)


def _before_call(case):
    f = fixture()
    method, path = case.method.upper(), case.path
    if case.headers is None:
        case.headers = {}
    case.headers["Authorization"] = f"Bearer {token_for(method, path)}"
    parameters = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    # Real ids in paths half of the time (never for suspension: the partners must keep writing).
    if "id" in parameters and RANDOM.random() < 0.5 and not path.endswith("/suspend"):
        if path.startswith("/v1/venues/"):
            parameters["id"] = f["venue"]["id"]
        elif path.startswith("/v1/partners/"):
            parameters["id"] = f["association"]["id"]
        elif path.startswith("/v1/citizens/"):
            parameters["id"] = f["citizen"]["id"]
    body = case.body
    if not isinstance(body, dict) or method != "POST":
        return
    if path == "/v1/certifications":
        # Mostly valid bodies, so that the signature and the decision are exercised, not only
        # the shape checks.
        if RANDOM.random() < 0.7:
            body["action_id"] = str(uuid.uuid4())
        if RANDOM.random() < 0.7:
            body["occurred_at"] = recent_time()
        if RANDOM.random() < 0.7:
            body["quantity"] = RANDOM.randint(0, 5)
        if RANDOM.random() < 0.7:
            body["association_id"] = f["association"]["id"]
        if RANDOM.random() < 0.7:
            body["citizen_id"] = f["citizen"]["id"]
        if RANDOM.random() < 0.5:
            body["category"] = RANDOM.choice(["ecologie", "solidarite", "culture", "sport", "velo"])
        case.body = signed_or_as_is("certification", body, f["association"]["secret_key"])
    elif path == "/v1/redemptions":
        if RANDOM.random() < 0.7:
            body["redemption_id"] = str(uuid.uuid4())
        if RANDOM.random() < 0.9:
            body["venue_id"] = f["venue"]["id"]
        if RANDOM.random() < 0.5:
            voucher = fresh_voucher(5)
            if voucher and RANDOM.random() < 0.3:
                body.pop("voucher", None)
                body["countermark"] = voucher["countermark"]
            elif voucher:
                body.pop("countermark", None)
                body["voucher"] = voucher["voucher"]
                if RANDOM.random() < 0.5:
                    body["amount"] = RANDOM.randint(1, 5)
        case.body = signed_or_as_is("redemption", body, f["venue"]["secret_key"])


# Answers to the signed endpoints, printed at exit: proof that signed bodies get through.
ANSWERS = {}


def after_call(context, case, response):
    if case.method.upper() == "POST" and case.path in ("/v1/certifications", "/v1/redemptions"):
        key = (case.path, response.status_code)
        ANSWERS[key] = ANSWERS.get(key, 0) + 1


def print_answers():
    if ANSWERS:
        summary = ", ".join(f"{path} {status}: {count}" for (path, status), count in sorted(ANSWERS.items()))
        print(f"schemathesis_hooks: answers to signed writes: {summary}", file=sys.stderr)


def signed_or_as_is(kind, body, secret_key):
    try:
        return sign(kind, body, secret_key)
    except Exception:
        # JCS refuses some values (integers beyond 2^53, non-finite floats): send the body as is.
        return body


try:
    import schemathesis

    import atexit

    before_call = schemathesis.hook(before_call)
    after_call = schemathesis.hook(after_call)
    atexit.register(print_answers)
    # Rules are TOML (`PUT /v1/rules`): generated strings are sent as text.
    schemathesis.serializer.alias("application/toml", "text/plain")
except ImportError:  # Run as a script for the set-up, outside schemathesis.
    pass


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "setup":
        raise SystemExit("usage: schemathesis_hooks.py setup BASE_URL ADMIN_TOKEN FIXTURE")
    setup(sys.argv[2], sys.argv[3], sys.argv[4])
