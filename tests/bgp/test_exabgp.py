"""The ExaBGP configuration and API lines lbctl writes (exact text), and ExaBGP's own parser
accepting the configuration.  The adapter against a real router: tests/net/test_exabgp.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lbctl.bgp.exabgp import command, render
from lbctl.nodeports import BGPRoute, BGPSession, BGPStatus

RELAY = ["/usr/bin/python3", "-m", "lbctl.bgp.child", "relay", "/tmp/x/api.sock"]


def test_a_plain_session_is_active_from_the_nodes_address() -> None:
    text = render([BGPSession("edge", "192.0.2.1", 64501, 64500, "192.0.2.11", "192.0.2.11")],
                  RELAY)
    assert text == """\
process lbctl {
  run /usr/bin/python3 -m lbctl.bgp.child relay /tmp/x/api.sock;
  encoder json;
}
neighbor 192.0.2.1 {
  description "lbctl 0 edge";
  router-id 192.0.2.11;
  local-address 192.0.2.11;
  local-as 64500;
  peer-as 64501;
  hold-time 90;
  passive false;
  family { ipv4 unicast; }
  api { processes [ lbctl ]; neighbor-changes; }
}
"""


def test_port_multihop_and_a_password_that_needs_no_quoting() -> None:
    text = render([BGPSession("edge", "2001:db8::1", 64501, 64500, "2001:db8::11", "192.0.2.11",
                              port=1790, hold_time=3, password='a "b"; c', ebgp_multihop=True)],
                  RELAY)
    assert """\
  hold-time 3;
  passive false;
  connect 1790;
  outgoing-ttl 255;
  md5-base64 true;
  md5-password YSAiYiI7IGM=;
  family { ipv6 unicast; }
""" in text
    assert "a \"b\"" not in text


def test_exabgp_accepts_the_configuration(tmp_path: Path) -> None:
    sessions = [
        BGPSession("edge", "192.0.2.1", 64501, 64500, "192.0.2.11", "192.0.2.11",
                   port=1790, hold_time=3, password="s3cr;t {x} # y", ebgp_multihop=True),
        BGPSession("v6", "2001:db8::1", 64500, 64500, "2001:db8::11", "192.0.2.11"),
    ]
    config = tmp_path / "exabgp.conf"
    config.write_text(render(sessions, [sys.executable, "-m", "lbctl.bgp.child", "relay",
                                        str(tmp_path / "api.sock")]))
    done = subprocess.run([sys.executable, "-m", "exabgp", "validate", str(config)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(("verb", "route", "line"), [
    ("announce", BGPRoute("edge", "192.0.2.10/32"),
     "neighbor 192.0.2.1 announce route 192.0.2.10/32 next-hop self\n"),
    ("announce", BGPRoute("edge", "192.0.2.0/28", local_pref=150,
                          communities=("64500:1", "no-export", "large:64500:1:2")),
     "neighbor 192.0.2.1 announce route 192.0.2.0/28 next-hop self local-preference 150"
     " community [ 64500:1 no-export ] large-community [ 64500:1:2 ]\n"),
    ("withdraw", BGPRoute("edge", "192.0.2.0/28", local_pref=150, communities=("64500:1",)),
     "neighbor 192.0.2.1 withdraw route 192.0.2.0/28 next-hop self\n"),
])
def test_api_lines(verb: str, route: BGPRoute, line: str) -> None:
    assert command(verb, route, "192.0.2.1") == line


def test_status_counts_established_sessions() -> None:
    status = BGPStatus({"a": "established", "b": "connecting", "c": "established"}, 7)
    assert status.established == 2
