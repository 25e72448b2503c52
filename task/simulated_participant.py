"""A simulated participant: a seeded Rescorla–Wagner learner that gives noisy ratings.

Used by ``--simulate`` (and the tests) as the run loop's :class:`~pavlov.task.responder.Responder`,
so simulated logs show acquisition, extinction and return of fear.

The model, kept deliberately simple:

- Each CS identity (what the participant sees) has an associative value ``V`` in [0, 1],
  starting at 0. After each trial ``V += alpha * (u - V)`` where ``u`` is 1 if a US
  followed, else 0 (``alpha_acquire`` when ``u`` is 1, ``alpha_extinguish`` when 0: extinction
  is slower than acquisition). The highest value a CS ever reached is its ``peak``.
- Generalisation: in a protocol with a stimulus continuum (GS roles), each trial knows its
  stimulus's distance from the CS+ (0) to the CS− (1). The learner's expectation of the US
  for a stimulus is then its own ``V`` plus the ``V`` of every other stimulus on the
  continuum weighted by their similarity, ``exp(-distance / generalisation)`` (Shepard's
  exponential law of generalisation), clipped to [0, 1]; learning moves the stimulus's own
  ``V`` by ``alpha * (u - expectation)``. So after acquisition the expectation falls off with
  distance from the CS+ (the generalisation gradient), and unreinforced GS trials learn to
  inhibit what spread to them. Without a continuum the expectation is ``V`` itself.
- Return of fear: when a phase starts, each CS recovers part of what extinction removed,
  ``V += r * (peak - V)``, with ``r`` the largest that applies: ``spontaneous`` when the
  phase is in a new session (a later day), ``renewal`` when the phase's context differs
  from the context of the last extinction, ``reinstatement`` after unsignalled USs.
- Questionnaire items: a choice between CS pictures is answered by an aware participant —
  one whose highest ``peak`` among the pictures exceeds the next by at least ``aware_gap``
  (from acquisition on: the CS+ over the CS−; extinction does not unlearn which CS was
  followed by the US) — with the picture of that peak, by an unaware one at random; a scale
  about a CS like a rating of that CS, from the end the item says a feared CS is rated
  towards (``feared_end``: ``low`` on a valence scale whose low end is unpleasant, so the
  CS+ comes out less pleasant than the CS−); any other item (a scale, a choice between texts)
  about ``item_level`` of the way up its scale or list, with the rating noise. RTs are
  log-normal with median ``item_rt`` s; an item is missed only when the RT exceeds its
  window.
- A rating is ``low + V * (high - low)`` plus Gaussian noise (``noise`` × scale width),
  clipped to the scale and, for key input, rounded to a key. The RT is log-normal
  (median ``rt_median`` s); with probability ``miss_rate``, or when the RT exceeds the
  window, the rating is missed (logged ``n/a``).

Everything random comes from one ``numpy.random.Generator`` seeded from ``seed``, so a
seed and a schedule give the same answers every time. Answer times are in clock seconds,
with RTs divided by ``speed`` (the same rule as every other duration under ``--speed``).
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from pavlov.task.responder import Answer, RatingState

if typing.TYPE_CHECKING:
    from pavlov.protocols.events import Event
    from pavlov.protocols.model import RatingSpec

__all__ = ["LearnerParameters", "SimulatedParticipant"]


@dataclass(frozen=True)
class LearnerParameters:
    """Parameters of the simulated learner (see the module docstring)."""

    alpha_acquire: float = 0.3
    alpha_extinguish: float = 0.15
    spontaneous: float = 0.3
    renewal: float = 0.45
    reinstatement: float = 0.5
    noise: float = 0.06
    rt_median: float = 1.2
    rt_sigma: float = 0.35
    miss_rate: float = 0.02
    continue_rt: float = 0.8
    generalisation: float = 0.35
    aware_gap: float = 0.2
    item_level: float = 0.7
    item_rt: float = 3.0


class SimulatedParticipant:
    """The simulated participant (a :class:`~pavlov.task.responder.Responder`).

    Parameters
    ----------
    seed : int
        Seed of all its randomness.
    speed : float
        Clock seconds are protocol seconds divided by ``speed``.
    parameters : LearnerParameters
        Model parameters.

    Attributes
    ----------
    values : dict of str to float
        Current associative value per CS identity.
    distances : dict of str to float
        Each CS identity's distance from the CS+ on the stimulus continuum (generalisation
        designs only), as the trials gave it.
    """

    def __init__(
        self, seed: int, speed: float = 1.0, parameters: LearnerParameters | None = None
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        self.parameters = parameters or LearnerParameters()
        self.speed = float(speed)
        self.rng = np.random.default_rng(seed)
        self.values: dict[str, float] = {}
        self.peaks: dict[str, float] = {}
        self.distances: dict[str, float] = {}
        self._phase: tuple[str, str] | None = None
        self._session: str | None = None
        self._extinction_context: str | None = None
        self._unsignalled = 0
        self._pending: tuple[float, Answer | None] | None = None

    # -- learning ---------------------------------------------------------------------

    def value(self, stimulus: str | None) -> float:
        """The expectation of the US for a CS identity (0 for one never seen): its value,
        plus what generalises to it from the rest of a stimulus continuum."""
        own = self.values.get(stimulus or "", 0.0)
        here = self.distances.get(stimulus or "")
        if here is None:
            return own
        length = self.parameters.generalisation
        total = own
        for other, weight in self.values.items():
            there = self.distances.get(other)
            if other != stimulus and there is not None:
                total += math.exp(-abs(here - there) / length) * weight
        return min(max(total, 0.0), 1.0)

    def enter(self, event: Event) -> None:
        """Note the event's phase; apply return of fear when a new phase starts."""
        distance = getattr(event, "distance", None)
        if distance is not None and event.stimulus is not None:
            self.distances[event.stimulus] = distance
        key = (event.session, event.phase)
        if key == self._phase:
            return
        p = self.parameters
        recovery = 0.0
        if self._session is not None and event.session != self._session:
            recovery = max(recovery, p.spontaneous)
        if (
            event.phase_type in ("recall", "renewal", "extinction")
            and self._extinction_context is not None
            and event.context is not None
            and event.context != self._extinction_context
        ):
            recovery = max(recovery, p.renewal)
        if self._unsignalled and event.kind != "us":
            recovery = max(recovery, p.reinstatement)
            self._unsignalled = 0
        if recovery:
            for stimulus, value in self.values.items():
                peak = self.peaks.get(stimulus, value)
                self.values[stimulus] = value + recovery * (peak - value)
        if event.phase_type == "extinction":
            self._extinction_context = event.context
        self._phase = key
        self._session = event.session

    def observe(self, event: Event, us_delivered: bool) -> None:
        """Learn from a finished trial (or count an unsignalled US)."""
        self.enter(event)
        if event.kind == "us":
            self._unsignalled += 1
            return
        if event.kind != "trial" or event.stimulus is None:
            return
        p = self.parameters
        target = 1.0 if us_delivered else 0.0
        alpha = p.alpha_acquire if us_delivered else p.alpha_extinguish
        expected = self.value(event.stimulus)
        value = self.values.get(event.stimulus, 0.0)
        value += alpha * (target - expected)
        self.values[event.stimulus] = value
        self.peaks[event.stimulus] = max(self.peaks.get(event.stimulus, 0.0), value)

    def replay(self, events: Iterable[Event]) -> None:
        """Learn from events of earlier sessions (or of the completed part of a resumed one).

        The learner's state depends only on what it experienced, so replaying the planned
        events of earlier sessions rebuilds it in a new process.
        """
        for event in events:
            if event.kind in ("trial", "us"):
                self.observe(event, event.reinforced)
            else:
                self.enter(event)

    # -- answering --------------------------------------------------------------------

    def continue_after(self) -> float:
        """Seconds (protocol time) the participant takes to leave an instruction screen."""
        return self.parameters.continue_rt

    def rate(self, event: Event, spec: RatingSpec) -> tuple[float | None, float]:
        """Draw a rating and its RT (protocol seconds) for ``event``; the value is None if missed."""
        self.enter(event)
        if event.kind == "questionnaire":
            return self._answer_item(event, spec)
        p = self.parameters
        width = spec.high - spec.low
        value = (
            spec.low + self.value(event.stimulus) * width + self.rng.normal(0.0, p.noise * width)
        )
        value = min(max(value, spec.low), spec.high)
        if spec.input == "keys" and len(spec.keys) >= 2:
            step = width / (len(spec.keys) - 1)
            value = spec.low + round((value - spec.low) / step) * step
        rt = p.rt_median * math.exp(self.rng.normal(0.0, p.rt_sigma))
        missed = self.rng.random() < p.miss_rate or rt >= spec.window
        return (None if missed else float(value)), rt

    def _answer_item(self, event: Event, spec: RatingSpec) -> tuple[float | None, float]:
        p = self.parameters
        rt = p.item_rt * math.exp(self.rng.normal(0.0, p.rt_sigma))
        pictures = getattr(event, "pictures", ())
        if pictures:
            values = [self.peaks.get(picture, 0.0) for picture in pictures]
            ranked = sorted(values, reverse=True)
            aware = ranked[0] - ranked[1] >= p.aware_gap
            pool = [values.index(ranked[0])] if aware else list(range(len(pictures)))
            value = float(spec.low + pool[int(self.rng.integers(len(pool)))])
        else:
            width = spec.high - spec.low
            # A scale about a CS is answered like a rating of it (its expectation), counted
            # from the end the item says fear lies at (a valence scale's low end).
            level = self.value(event.stimulus) if event.stimulus else p.item_level
            if event.stimulus and spec.feared_end == "low":
                level = 1.0 - level
            value = spec.low + level * width + self.rng.normal(0.0, p.noise * width)
            value = min(max(value, spec.low), spec.high)
            if spec.input == "keys" and len(spec.keys) >= 2:
                step = width / (len(spec.keys) - 1)
                value = spec.low + round((value - spec.low) / step) * step
        return (None if rt >= spec.window else float(value)), rt

    def start_rating(self, event: Event, spec: RatingSpec, onset: float) -> None:
        """Decide the answer now; it is given ``rt / speed`` clock seconds after ``onset``."""
        value, rt = self.rate(event, spec)
        answer = None if value is None else Answer(value, onset + rt / self.speed)
        self._pending = (onset, answer)

    def poll_rating(self, now: float, keys: Sequence[tuple[str, float]]) -> RatingState:
        """The answer once its time has come (keys are ignored)."""
        if self._pending is None or self._pending[1] is None:
            return RatingState()
        answer = self._pending[1]
        if now >= answer.time:
            return RatingState(answer.value, answer)
        return RatingState()

    def ready(self, now: float, keys: Sequence[tuple[str, float]], shown: float) -> bool:
        """Leave a screen ``continue_rt`` protocol seconds after it became leavable."""
        return now >= shown + self.parameters.continue_rt / self.speed
