"""Whether the speech service still answers: the stall watch.

A stalled service (a Wi-Fi black hole, a NAT that dropped the flow, a frozen server) keeps its socket
open and says nothing; the Speech SDK notices only when 66 s of audio wait unacknowledged. The service
answers speech within a second or so (a partial result every few hundred milliseconds, a final one after
the phrase), so the watch times what was sent as speech against what came back:

    stalled  ⇔  speech went unanswered for `bound_s`, and at least `min_speech_s` of it

* An answer is any result (partial or final, a "no match" included) or a new connection the service
  took; a connection only restarts the clock, since the speech sent before it is still owed an answer.
* Silence is not timed: the service acknowledges silence without any event the SDK raises (docs:
  usp-protocol.md §6), so no answer to silence is no evidence. While only silence is sent, the SDK's own
  limit stands (66 s of unacknowledged audio, then it cancels); while nothing is sent, nothing is at stake.
* A little unanswered speech (under `min_speech_s`: a cough the voice stage let through) followed by
  `forget_after_s` of no speech is forgotten: the service may rightly say nothing about a noise.

Pure: the caller passes monotonic times.
"""

from __future__ import annotations

SPEECH_BOUND_S = 10.0
MIN_SPEECH_S = 2.0
FORGET_AFTER_S = 5.0


class ServiceWatch:
    def __init__(self, *, bound_s: float = SPEECH_BOUND_S, min_speech_s: float = MIN_SPEECH_S,
                 forget_after_s: float = FORGET_AFTER_S):
        self.bound_s = bound_s
        self._min_speech_s = min_speech_s
        self._forget_after_s = forget_after_s
        self._since: float | None = None  # when the oldest unanswered speech was sent (or a connection restarted the clock)
        self._speech_s = 0.0  # unanswered speech sent since then, seconds of audio
        self._last_speech = 0.0

    def sent(self, now: float, seconds: float, speech: bool) -> None:
        if not speech or seconds <= 0:
            return
        if self._since is not None and self._speech_s < self._min_speech_s and now - self._last_speech > self._forget_after_s:
            self._since = None  # a noise the service had every chance to answer and did not: not evidence
        if self._since is None:
            self._since, self._speech_s = now, 0.0
        self._speech_s += seconds
        self._last_speech = now

    def answered(self, now: float) -> None:
        self._since, self._speech_s = None, 0.0

    def connected(self, now: float) -> None:
        """The service took a (new) connection: what was sent before is owed an answer from now on."""
        if self._since is not None:
            self._since = now

    def reset(self) -> None:
        self._since, self._speech_s = None, 0.0

    def unanswered_s(self, now: float) -> float:
        """How long the oldest unanswered speech has waited (0 when none waits)."""
        return now - self._since if self._since is not None else 0.0

    def stalled(self, now: float) -> bool:
        return self._since is not None and self._speech_s >= self._min_speech_s and now - self._since >= self.bound_s
