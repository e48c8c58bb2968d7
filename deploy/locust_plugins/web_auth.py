"""A Locust plugin, shipped to the in-cluster master next to the locustfile (`-f
locustfile.py,web_auth.py`): HTTP Basic auth in front of the master's web UI and REST API.

Locust's web API starts load against any host it is told; in a shared cluster nobody but the
kit's driver (through `kubectl port-forward`) may reach it. Locust 2.x dropped `--web-auth`, and
`--web-login` needs a login page of our own, so this plugin checks a Basic header on every request
instead. The one open path is /export/prometheus (read-only gauges the locustfile serves), which
the NetworkPolicy lets only Prometheus reach. Credentials come from the environment
(FWCAP_LOCUST_WEB_USER / FWCAP_LOCUST_WEB_PASSWORD, from a generated Secret); a master started
without them refuses to start rather than serve an open API.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from locust import events

USER_ENV = "FWCAP_LOCUST_WEB_USER"
PASSWORD_ENV = "FWCAP_LOCUST_WEB_PASSWORD"
OPEN_PATHS = frozenset({"/export/prometheus"})


def credentials_match(
    given_user: str | None, given_password: str | None, user: str, password: str
) -> bool:
    # Constant-time comparisons, both evaluated, so timing tells nothing about which was wrong.
    user_ok = hmac.compare_digest((given_user or "").encode(), user.encode())
    password_ok = hmac.compare_digest((given_password or "").encode(), password.encode())
    return user_ok and password_ok


@events.init.add_listener  # type: ignore[untyped-decorator]
def require_basic_auth(environment: Any, **_kwargs: Any) -> None:
    web_ui = environment.web_ui
    if web_ui is None:  # workers, and headless masters, serve no web API
        return
    user, password = os.environ.get(USER_ENV, ""), os.environ.get(PASSWORD_ENV, "")
    if not user or not password:
        raise SystemExit(
            f"web_auth.py: {USER_ENV} and {PASSWORD_ENV} must both be set (the Locust master's "
            "web API would otherwise be open to anyone who can reach it)"
        )
    from flask import Response, request  # Locust's own web framework; imported where it exists

    @web_ui.app.before_request  # type: ignore[untyped-decorator]
    def check_basic_auth() -> Response | None:
        if request.path in OPEN_PATHS:
            return None
        auth = request.authorization
        if auth is not None and credentials_match(auth.username, auth.password, user, password):
            return None
        return Response(
            "authentication required\n",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="fwcap locust"'},
        )
