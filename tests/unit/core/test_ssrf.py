"""The webhook SSRF guard: only global addresses, and the connection goes to the address checked."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import httpcore
import pytest
from httpcore._backends.sync import SyncBackend

from core import ssrf, webhooks
from core.config import Settings
from core.errors import Unprocessable
from core.models import WebhookDelivery, utcnow
from tests.fixtures.receiver import Receiver

PUBLIC = "203.0.114.7"  # is_global; never reached: connections to it are refused in-process below


@pytest.mark.parametrize("address", [
    "100.100.100.200",            # CGNAT: Alibaba's metadata service
    "100.64.0.1",
    "2002:a9fe:a9fe::1",          # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",         # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",           # local-use NAT64
    "::ffff:127.0.0.1",           # IPv4-mapped
    "::ffff:8.8.8.8",
    "169.254.169.254", "10.0.0.5", "192.168.1.1", "fd00::1", "fe80::1", "0.0.0.0", "224.0.0.1",
    "198.18.0.1", "192.0.2.1", "127.0.0.1", "::1",
])
def test_non_global_addresses_are_refused(address: str, tmp_path: Path) -> None:
    assert ssrf.refusal(ipaddress.ip_address(address), Settings(var_dir=tmp_path)) is not None
    with pytest.raises(Unprocessable, match="resolves to"):
        webhooks.check_target_url(f"http://{'[' + address + ']' if ':' in address else address}/x",
                                  Settings(var_dir=tmp_path))


def test_a_name_with_any_internal_answer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Unprocessable, match=r"127\.0\.0\.1"):
        ssrf.resolve_target("http://mixed.example/x", Settings(var_dir=tmp_path),
                            lambda host, port: [PUBLIC, "127.0.0.1"])


def test_global_addresses_pass(tmp_path: Path) -> None:
    target = ssrf.resolve_target("https://hooks.example/x", Settings(var_dir=tmp_path), lambda h, p: [PUBLIC])
    assert (target.host, target.address) == ("hooks.example", PUBLIC)


def test_a_rebinding_dns_answer_cannot_reach_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver answers a public address first and 127.0.0.1 after: the attempt connects to the
    public one it checked (refused here in-process: no traffic leaves the machine), never to loopback."""
    receiver = Receiver()
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    answers = iter([PUBLIC] + ["127.0.0.1"] * 10)

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        address = next(answers)
        return [(2, 1, 6, "", (address, port))]

    dialled: list[str] = []
    real_connect = SyncBackend.connect_tcp

    def connect_tcp(self: Any, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        dialled.append(host)
        if host != "127.0.0.1" and host != "rebind.example":
            raise httpcore.ConnectError(f"test: no connection to {host} leaves this machine")
        return real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr("socket.getaddrinfo", rebinding)
    monkeypatch.setattr(SyncBackend, "connect_tcp", connect_tcp)
    delivery = WebhookDelivery(id="whd_test", event_type="job.running", payload={}, created_at=utcnow())
    try:
        result = webhooks._send(f"http://rebind.example:{port}/hook", "whsec_" + "A" * 32, delivery,
                                Settings(var_dir=tmp_path))
    finally:
        receiver.close()
    assert receiver.received == [] and receiver.arrivals == [], "the receiver on 127.0.0.1 was reached"
    assert dialled == [PUBLIC], f"the connection should go to the checked address only, went to {dialled}"
    assert result.status_code is None and result.error


def test_the_pinned_connection_keeps_the_original_host_header(tmp_path: Path) -> None:
    receiver = Receiver()
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    settings = Settings(var_dir=tmp_path, webhook_allow_loopback=True)
    try:
        response = ssrf.post_checked(f"http://hooks.example:{port}/hook", content=b"{}", headers={},
                                     timeout=2, settings=settings, resolver=lambda h, p: ["127.0.0.1"])
    finally:
        receiver.close()
    assert response.status_code == 200
    assert receiver.received[0][0]["host"] == f"hooks.example:{port}"
