"""What Django's buffering worker waits for before a thread takes a request (request_state).

Table-driven over the framings issue 27 found holding a gunicorn thread: a pipelined request
after a complete one, chunked bodies whose last bytes look like the terminating chunk, a chunk
size beyond the limit. Judged in a subprocess from the service's own directory, so the test
session imports none of the service's packages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DJANGO_DIR = Path(__file__).resolve().parents[2] / "services" / "django"

GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
CHUNKED = b"POST /api/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
SIZED = b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
LIMIT = 65536

CASES = {
    "a bare GET": (GET, "complete"),
    "a GET and a partial one behind it": (GET + b"GET /healthz HTTP/1.1\r\n", "complete"),
    "a partial head": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", "incomplete"),
    "a sized body in full": (SIZED + b"0123456789", "complete"),
    "a sized body cut short": (SIZED + b"01234", "incomplete"),
    "a sized body over the limit": (SIZED.replace(b"10", b"%d" % (LIMIT + 1)), "unread_body"),
    "a chunked body and a GET behind it": (CHUNKED + b"3\r\nabc\r\n0\r\n\r\n" + GET, "complete"),
    "a chunked body with a trailer": (CHUNKED + b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", "complete"),
    "a last chunk without its empty line": (CHUNKED + b"3\r\nabc\r\n0\r\n", "incomplete"),
    "a chunk that ends like the last chunk": (CHUNKED + b'10\r\n{"a": 0\r\n\r\n', "incomplete"),
    "a huge chunk size": (CHUNKED + b'ffffffffffffffffff\r\n{"a": 0\r\n\r\n', "incomplete"),
    "a chunk past the limit, arrived": (
        CHUNKED + b"%x\r\n" % (LIMIT + 1) + b"a" * (LIMIT + 1), "unread_body"
    ),
    "a malformed chunk size": (CHUNKED + b"zz\r\n", "unread_body"),
    "chunk framing without end": (CHUNKED + b"1;" + b"x" * (5 * LIMIT), "body_too_large"),
}  # fmt: skip

_JUDGE = """
import json, sys
from fwcap_django.buffered_worker import request_state
cases = json.load(sys.stdin)
print(json.dumps({name: request_state(raw.encode("latin-1")) for name, raw in cases.items()}))
"""


@pytest.fixture(scope="module")
def judged() -> dict[str, str]:
    cases = {name: raw.decode("latin-1") for name, (raw, _) in CASES.items()}
    out = subprocess.run(
        [sys.executable, "-c", _JUDGE], cwd=DJANGO_DIR, input=json.dumps(cases),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, str] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("name", CASES)
def test_the_buffer_waits_for_the_whole_first_request(name: str, judged: dict[str, str]) -> None:
    assert judged[name] == CASES[name][1]
