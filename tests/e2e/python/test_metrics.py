"""Prometheus metrics of a real echo_shim (--metrics-listen), scraped over HTTP."""
import re
import time
import urllib.error
import urllib.request

import grpc
import pytest

METRICS_AT = re.compile(r"Prometheus metrics on http://(\S+)/metrics")


def metrics_address(shim):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = METRICS_AT.search(shim.log())
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError(f"shim never logged its metrics address:\n{shim.log()}")


def scrape(address, path="/metrics"):
    with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def sample(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_calls_are_counted_by_method_and_code(new_shim, stubs):
    pb2, pb2_grpc = stubs
    shim = new_shim("--metrics-listen", "127.0.0.1:0", "--no-access-log")
    address = metrics_address(shim)
    say = "/shimkit.examples.v1.Echo/Say"
    before = scrape(address)
    assert sample(before, "shimkit_calls_started_total", method=say) is None

    with grpc.insecure_channel(shim.target) as ch:
        stub = pb2_grpc.EchoStub(ch)
        for _ in range(3):
            stub.Say(pb2.EchoRequest(message="m"), timeout=10)
        with pytest.raises(grpc.RpcError) as err:
            stub.Say(pb2.EchoRequest(fail_code=5, fail_message="nope"), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        replies = list(stub.Expand(pb2.ExpandRequest(message="x", count=2), timeout=10))
        assert len(replies) == 2

    text = scrape(address)
    assert sample(text, "shimkit_calls_started_total", method=say) == 4
    assert sample(text, "shimkit_calls_handled_total", method=say, code="OK") == 3
    assert sample(text, "shimkit_calls_handled_total", method=say, code="NOT_FOUND") == 1
    assert sample(text, "shimkit_calls_in_flight", method=say) == 0
    assert sample(text, "shimkit_call_duration_seconds_count", method=say) == 4
    assert sample(text, "shimkit_call_duration_seconds_bucket", method=say, le="+Inf") == 4
    expand = "/shimkit.examples.v1.Echo/Expand"
    assert sample(text, "shimkit_calls_handled_total", method=expand, code="OK") == 1
    # Made-up paths never become series.
    assert "no.such" not in text


def test_other_paths_and_verbs_are_refused(new_shim):
    shim = new_shim("--metrics-listen", "127.0.0.1:0", "--no-access-log")
    address = metrics_address(shim)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://{address}/", timeout=10)
    assert err.value.code == 404
    req = urllib.request.Request(f"http://{address}/metrics", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 405
    # Still serving after the refusals.
    assert "shimkit_calls_started_total" in scrape(address)


def test_bad_metrics_address_is_refused_before_serving(tmp_path):
    import subprocess
    from shimproc import shim_command
    r = subprocess.run(shim_command() + ["--listen", "127.0.0.1:0", "--metrics-listen", "nowhere"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot serve metrics on nowhere" in r.stderr
