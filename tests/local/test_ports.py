"""Ports chosen before their servers start never collide with each other or with the kernel's
ephemeral source ports."""

from __future__ import annotations

from pathlib import Path

from capacity.target.local import PortPicker


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range(tmp_path: Path) -> None:
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("32768\t60999\n")
    picker = PortPicker(range_file)
    ports = [picker.take() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(10_000 <= p < 32768 for p in ports)


def test_a_pinned_port_is_used_as_given_and_never_handed_out_again(tmp_path: Path) -> None:
    range_file = tmp_path / "range"
    range_file.write_text("10005 60999\n")  # leaves only 10000..10004 below the ephemeral range
    picker = PortPicker(range_file)
    assert picker.take(9090) == 9090
    assert 9090 not in {picker.take() for _ in range(20)}
