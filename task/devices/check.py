"""``pavlov devices check``: exercise the configured devices and say what happened.

Three checks, each reported in plain words:

1. markers: one test code (the ``session_start`` code) is sent;
2. scanner trigger: pulses are counted for ``listen`` seconds, with their mean interval;
3. shock line: only after the experimenter confirms that the stimulator's output is
   disabled, one single-pulse train is written and the line is driven low again.

The logic takes injected ``confirm``/``say``/``wait`` callables so tests drive it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from pavlov.common.errors import PavlovError
from pavlov.task.devices.base import Clock
from pavlov.task.devices.codes import marker_code
from pavlov.task.devices.spec import DeviceSet

__all__ = ["CheckResult", "run_checks"]

#: The shock line test: one pulse of this width, seconds.
TEST_PULSE_WIDTH = 0.01


@dataclass(frozen=True)
class CheckResult:
    """One check: what was checked, whether it passed, and a plain-words report."""

    device: str
    ok: bool
    message: str


def run_checks(
    devices: DeviceSet,
    *,
    clock: Clock,
    listen: float,
    confirm: Callable[[str], bool],
    say: Callable[[str], None],
    wait: Callable[[float], None],
    tr: float | None = None,
    broken: dict[str, tuple[str, str]] | None = None,
) -> list[CheckResult]:
    """Check markers, trigger and shock line in turn; return one result per device.

    Every device is checked and reported, also after one has failed, so one visit to the
    room finds every fault.

    Parameters
    ----------
    devices : DeviceSet
        Built (not yet opened) devices.
    clock : Clock
        Session clock.
    listen : float
        Seconds to listen for scanner pulses.
    confirm : callable
        ``question -> bool`` (the experimenter's answer).
    say : callable
        Shows one line.
    wait : callable
        ``seconds -> None``.
    tr : float, optional
        Expected TR, to compare with the measured pulse interval.
    broken : dict, optional
        Role (``markers``, ``trigger``, ``shock``) → ``(name, why)`` of devices that could
        not even be opened; they are reported as failed and not exercised.
    """
    broken = broken or {}
    checks = {
        "markers": lambda: _check_markers(devices, say),
        "trigger": lambda: _check_trigger(devices, clock, listen, say, wait, tr),
        "shock": lambda: _check_shock(devices, confirm, say, wait),
    }
    results = [
        CheckResult(broken[role][0], False, broken[role][1]) if role in broken else check()
        for role, check in checks.items()
    ]
    for result in results:
        say(("ok    " if result.ok else "FAIL  ") + f"{result.device}: {result.message}")
    return results


def _check_markers(devices: DeviceSet, say: Callable[[str], None]) -> CheckResult:
    markers = devices.markers
    name = f"markers {devices.specs.get('markers', markers.name)}"
    code = marker_code(devices.marker_codes, "session_start") or 1
    say(f"Sending marker code {code} to {markers.name}; the recorder should show it.")
    try:
        markers.open()
        markers.send(code, "devices check")
    except PavlovError as error:
        return CheckResult(name, False, str(error))
    finally:
        with contextlib.suppress(Exception):
            markers.close()
    return CheckResult(name, True, f"test code {code} sent; check that the recorder logged it")


def _check_trigger(
    devices: DeviceSet,
    clock: Clock,
    listen: float,
    say: Callable[[str], None],
    wait: Callable[[float], None],
    tr: float | None,
) -> CheckResult:
    trigger = devices.trigger
    if trigger is None:
        return CheckResult("trigger", True, "no scanner trigger configured (not a scanner session)")
    name = f"trigger {devices.specs.get('trigger', trigger.name)}"
    say(f"Listening for scanner pulses on {trigger.name} for {listen:g} s; start the scanner now.")
    pulses: list[float] = []
    try:
        trigger.start()
        end = clock.now() + listen
        while clock.now() < end:
            wait(0.01)
            pulses.extend(trigger.poll())
        pulses.extend(trigger.poll())
    except PavlovError as error:
        return CheckResult(name, False, f"{error} ({len(pulses)} pulses before the failure)")
    finally:
        with contextlib.suppress(Exception):
            trigger.close()
    if not pulses:
        return CheckResult(
            name,
            False,
            f"no pulses in {listen:g} s; check that the scanner is running and sending triggers, "
            "the cable, and the trigger character or key",
        )
    if len(pulses) == 1:
        return CheckResult(name, True, f"1 pulse in {listen:g} s (listen longer to measure the TR)")
    interval = (pulses[-1] - pulses[0]) / (len(pulses) - 1)
    text = f"{len(pulses)} pulses in {listen:g} s, mean interval {interval:.3f} s"
    if tr is not None and abs(interval - tr) > 0.05 * tr:
        return CheckResult(name, False, f"{text}, but the protocol's TR is {tr:g} s")
    return CheckResult(name, True, text)


def _check_shock(
    devices: DeviceSet,
    confirm: Callable[[str], bool],
    say: Callable[[str], None],
    wait: Callable[[float], None],
) -> CheckResult:
    shock = devices.shock
    name = f"shock {devices.specs.get('shock', shock.name)}"
    if not confirm(
        f"Shock line test on {shock.name}: is the stimulator's OUTPUT DISABLED "
        "(or the electrodes disconnected)? [y/N] "
    ):
        return CheckResult(
            name, False, "not tested: the stimulator output was not confirmed disabled"
        )
    label = "devices check"
    arm = getattr(shock, "arm", None)
    try:
        shock.open()
        if arm is not None:
            arm(label, float("-inf"), float("inf"))
        shock.deliver(TEST_PULSE_WIDTH, 2 * TEST_PULSE_WIDTH, 1, label)
        wait(TEST_PULSE_WIDTH)
        while shock.busy():
            wait(0.005)
        records = shock.delivered()
    except PavlovError as error:
        return CheckResult(name, False, str(error))
    finally:
        with contextlib.suppress(Exception):
            shock.close()
    pulses = sum(len(record.pulses) for record in records)
    if pulses != 1:
        return CheckResult(name, False, f"expected 1 test pulse, {pulses} written")
    ((rise, fall),) = records[0].pulses
    say("The stimulator's trigger-in light (if any) should have flashed once.")
    return CheckResult(
        name,
        True,
        f"1 test pulse of {(fall - rise) * 1000:.1f} ms written and the line is low again",
    )
