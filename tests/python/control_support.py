"""What scripts that drive kmock's control API share: one JSON call."""

import json
import urllib.request


def control(url: str, method: str, path: str, body=None):
    """`method path` on the control API at `url` (`http://host:port`), with `body` as JSON; the
    answer's JSON. An HTTP error raises urllib.error.HTTPError."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def applied_fault(url: str, spec: str) -> dict:
    """The installed rule with this canonical spec, with its `matched` and `applied` counts."""
    rules = [rule for rule in control(url, "GET", "/faults")["faults"] if rule["spec"] == spec]
    if len(rules) != 1:
        raise AssertionError(f"fault {spec!r} is installed {len(rules)} times")
    return rules[0]
