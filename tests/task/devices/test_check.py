"""``pavlov devices check``: each device exercised and reported in plain words."""

from __future__ import annotations

from pavlov.task.devices.check import run_checks
from pavlov.task.devices.spec import build_devices


def _run(devices, clock, confirm=True, listen=5.0, tr=None):
    said = []

    def wait(seconds):
        clock.t += seconds

    results = run_checks(
        devices,
        clock=clock,
        listen=listen,
        confirm=lambda q: confirm,
        say=said.append,
        wait=wait,
        tr=tr,
    )
    return results, said


def test_all_simulated_pass(fake_clock):
    """Simulated devices: marker sent, pulses counted at the TR, one test pulse written."""
    devices = build_devices(clock=fake_clock, tr=1.0)
    results, said = _run(devices, fake_clock, tr=1.0)
    assert [r.ok for r in results] == [True, True, True]
    assert "mean interval 1.000 s" in results[1].message
    assert results[2].message.startswith("1 test pulse of 10.0 ms")
    assert devices.markers.sent[0].code == 60
    assert any(line.startswith("ok    shock") for line in said)


def test_shock_not_tested_without_confirmation(fake_clock):
    """Without confirmation that the output is disabled, the shock line is not touched."""
    devices = build_devices(clock=fake_clock)
    results, _ = _run(devices, fake_clock, confirm=False)
    assert not results[2].ok and "not tested" in results[2].message
    assert devices.shock.trains == []


def test_no_pulses_reported(fake_clock):
    """A silent scanner is a failure telling what to check."""
    from pavlov.task.devices.simulated import SimulatedScanner

    devices = build_devices(clock=fake_clock)
    devices = type(devices)(
        trigger=SimulatedScanner(fake_clock, 1.0, stop_after=0),
        shock=devices.shock,
        markers=devices.markers,
    )
    results, _ = _run(devices, fake_clock)
    assert not results[1].ok and "no pulses in 5 s; check that the scanner" in results[1].message


def test_wrong_tr_reported(fake_clock):
    """Pulses at another interval than the protocol's TR fail the check."""
    devices = build_devices(clock=fake_clock, tr=2.0)
    results, _ = _run(devices, fake_clock, tr=1.0, listen=9.0)
    assert not results[1].ok and "protocol's TR is 1 s" in results[1].message


def test_check_against_pty(pty_peer, real_clock):
    """A real TTL box: the check writes one pulse and leaves the line low."""
    import time

    devices = build_devices(shock=f"serial:{pty_peer.path}", clock=real_clock)
    results = run_checks(
        devices,
        clock=real_clock,
        listen=0.0,
        confirm=lambda q: True,
        say=lambda s: None,
        wait=time.sleep,
    )
    assert results[2].ok
    values = pty_peer.values()
    assert values.count(1) == 1 and values[-1] == 0
