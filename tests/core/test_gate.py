import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, AudioChunk, bytes_to_seconds
from roomscribe.core.gate import AudioGate, GateStats, Write

CHUNK_S = CHUNK_MS / 1000
T0 = 1_700_000_000.0


def chunk(index: int) -> AudioChunk:
    """A chunk whose bytes say which chunk it is, captured at T0 + index * CHUNK_MS."""
    marker = index.to_bytes(4, "little")
    return AudioChunk(marker * (CHUNK_BYTES // 4), T0 + index * CHUNK_S)


def test_a_new_gate_is_closed_and_drops_audio():
    gate = AudioGate(tail_ms=500)
    assert not gate.is_open
    assert gate.process(chunk(0)) == []
    assert gate.stats == GateStats(dropped_bytes=CHUNK_BYTES)  # dropped before any close: not a pause


def test_open_takes_effect_on_the_next_chunk():
    gate = AudioGate(tail_ms=500)
    assert gate.process(chunk(0)) == []
    gate.open()
    assert gate.is_open
    assert gate.process(chunk(1)) == [Write(chunk(1).pcm, chunk(1).captured_at, live=True)]
    assert gate.process(chunk(2)) == [Write(chunk(2).pcm, chunk(2).captured_at, live=True)]


def drain_tail(gate: AudioGate, first: int = 1000) -> list[Write]:
    """The paced tail: one silent chunk in place of each chunk the closed gate drops."""
    writes, index = [], first
    while gate.tail_pending:
        out = gate.process(chunk(index))
        assert len(out) == 1 and not out[0].live
        writes += out
        index += 1
    return writes


def test_close_returns_a_tail_of_silence_that_continues_the_live_time():
    gate = AudioGate(tail_ms=800)
    gate.open()
    for i in range(5):
        gate.process(chunk(i))
    tail = gate.close(tail=True, at_once=True)
    assert len(tail) == 800 // CHUNK_MS
    assert all(w.pcm == bytes(CHUNK_BYTES) and not w.live for w in tail)
    live_end = chunk(4).captured_at + CHUNK_S
    assert [w.wall_clock for w in tail] == pytest.approx([live_end + i * CHUNK_S for i in range(len(tail))])
    assert gate.stats.silence_bytes_written == 800 // CHUNK_MS * CHUNK_BYTES


@pytest.mark.parametrize(
    "tail_ms, chunks",
    [(0, 0), (1, 1), (CHUNK_MS, 1), (CHUNK_MS + 1, 2), (40 * CHUNK_MS, 40), (40 * CHUNK_MS + 10, 41)],
)
def test_tail_length_is_rounded_up_to_whole_chunks(tail_ms, chunks):
    gate = AudioGate(tail_ms=tail_ms)
    gate.open()
    gate.process(chunk(0))
    tail = gate.close(tail=True, at_once=True)
    assert len(tail) == chunks
    assert sum(len(w.pcm) for w in tail) == chunks * CHUNK_BYTES


def test_no_tail_when_asked_for_none_or_when_nothing_went_out():
    gate = AudioGate(tail_ms=500)
    gate.open()
    gate.process(chunk(0))
    assert gate.close(tail=False, at_once=True) == []  # the session is gone: nothing to finish
    assert gate.close(tail=True, at_once=True) == []  # already closed: nothing written since that close
    gate.open()
    assert gate.close(tail=True, at_once=True) == []  # opened but no chunk came: nothing to finish
    assert not gate.tail_pending
    assert gate.stats.silence_bytes_written == 0


def test_nothing_captured_after_close_is_ever_returned():
    gate = AudioGate(tail_ms=300)
    gate.open()
    gate.process(chunk(0))
    gate.close(tail=True)
    withheld = [chunk(i) for i in range(1, 51)]
    outputs = [gate.process(c) for c in withheld]
    gate.open()
    after = gate.process(chunk(51))
    assert [w.pcm for out in outputs for w in out] == [bytes(CHUNK_BYTES)] * (300 // CHUNK_MS)  # the tail, then nothing
    assert all(len(out) <= 1 and not any(w.live for w in out) for out in outputs)
    assert after == [Write(chunk(51).pcm, chunk(51).captured_at, live=True)]  # no backlog on reopening
    stats = gate.stats
    assert stats.dropped_after_close == stats.dropped_bytes == 50 * CHUNK_BYTES


def test_counters():
    gate = AudioGate(tail_ms=5 * CHUNK_MS)
    gate.process(chunk(0))  # before the first open
    gate.open()
    gate.process(chunk(1))
    gate.process(chunk(2))
    gate.close(tail=True, at_once=True)
    gate.process(chunk(3))
    gate.open()
    gate.open()  # already open: not counted again
    gate.process(chunk(4))
    gate.close(tail=False)
    gate.close(tail=False)  # already closed: not counted again
    assert gate.stats == GateStats(
        live_bytes_written=3 * CHUNK_BYTES,
        silence_bytes_written=5 * CHUNK_BYTES,
        dropped_bytes=2 * CHUNK_BYTES,
        dropped_after_close=CHUNK_BYTES,
        closes=2,
        opens=2,
    )


def test_negative_tail_is_rejected():
    with pytest.raises(ValueError):
        AudioGate(tail_ms=-1)


operations = st.lists(
    st.one_of(st.just("open"), st.just("chunk"), st.sampled_from(["close_tail", "close_plain"])), max_size=120
)


@given(ops=operations, tail_ms=st.integers(0, 1000))
def test_the_gate_passes_exactly_what_was_captured_while_open(ops, tail_ms):
    """Model check: every chunk captured while open goes out once, in order; no other audio ever does."""
    gate = AudioGate(tail_ms=tail_ms)
    is_open, captured_while_open, live_out, silence_out, dropped = False, [], [], 0, 0
    index = 0
    for op in ops:
        if op == "open":
            gate.open()
            is_open = True
        elif op == "chunk":
            c = chunk(index)
            index += 1
            writes = gate.process(c)
            if is_open:
                captured_while_open.append(c.pcm)
            else:
                assert writes == []
                dropped += len(c.pcm)
            live_out += [w.pcm for w in writes if w.live]
            assert not [w for w in writes if not w.live]
        else:
            tail = gate.close(tail=op == "close_tail", at_once=True)
            is_open = False
            assert all(not w.live and w.pcm == bytes(len(w.pcm)) for w in tail)
            silence_out += sum(len(w.pcm) for w in tail)
        assert gate.is_open == is_open
    assert live_out == captured_while_open
    stats = gate.stats
    assert stats.live_bytes_written == sum(map(len, captured_while_open))
    assert stats.silence_bytes_written == silence_out
    assert stats.dropped_bytes == dropped
    assert bytes_to_seconds(silence_out) <= stats.closes * -(-tail_ms // CHUNK_MS) * CHUNK_S + 1e-9


def test_tail_ends_one_chunk_short_of_a_whole_sdk_frame():
    from roomscribe.core.gate import SDK_FRAME_BYTES, TAIL_FRAME_FILL

    assert TAIL_FRAME_FILL == SDK_FRAME_BYTES - CHUNK_BYTES  # the next live chunk completes the frame
    chunks_per_frame = SDK_FRAME_BYTES // CHUNK_BYTES

    for already in range(0, 5 * SDK_FRAME_BYTES, CHUNK_BYTES):
        gate = AudioGate(tail_ms=800)
        gate.open()
        gate.process(AudioChunk(bytes(CHUNK_BYTES), 100.0))
        writes = gate.close(tail=True, stream_bytes=already + CHUNK_BYTES, at_once=True)
        total = already + CHUNK_BYTES + sum(len(w.pcm) for w in writes)
        assert total % SDK_FRAME_BYTES == TAIL_FRAME_FILL
        # at least the 800 ms asked for, at most one frame less one chunk more
        assert 800 // CHUNK_MS <= len(writes) <= 800 // CHUNK_MS + chunks_per_frame - 1


def test_order_decides_and_capture_times_are_only_labels():
    """A chunk that reaches the gate after the close is dropped whatever its stamp says; one that reaches it
    after the open goes out whatever its stamp says (a capture clock can be wrong; the order cannot)."""
    gate = AudioGate(tail_ms=0)
    gate.open()
    assert gate.process(chunk(5))[0].live
    gate.close(tail=False)
    stamped_early = AudioChunk(b"\x01" * CHUNK_BYTES, T0)  # claims to be from before the close
    assert gate.process(stamped_early) == []
    gate.open()
    stamped_late = AudioChunk(b"\x02" * CHUNK_BYTES, T0 - 60)  # claims to be from long before the open
    assert [w.pcm for w in gate.process(stamped_late)] == [stamped_late.pcm]
    assert gate.stats.dropped_after_close == CHUNK_BYTES


def test_a_paced_tail_never_runs_the_stream_ahead_of_the_chunks_that_arrive():
    gate = AudioGate(tail_ms=800)
    gate.open()
    gate.process(chunk(0))
    assert gate.close(tail=True) == []  # nothing at once: the tail replaces dropped chunks
    assert gate.tail_pending
    tail = drain_tail(gate)
    assert len(tail) == 80 and sum(len(w.pcm) for w in tail) == 80 * CHUNK_BYTES
    assert [w.wall_clock for w in tail] == pytest.approx([T0 + CHUNK_S * (1 + i) for i in range(80)])
    assert gate.process(chunk(2000)) == []  # the tail has played: nothing more while closed


def test_a_resume_cancels_the_rest_of_a_paced_tail_and_a_stop_writes_it_at_once():
    gate = AudioGate(tail_ms=800)
    gate.open()
    gate.process(chunk(0))
    gate.close(tail=True)
    gate.process(chunk(1))  # one tail chunk played
    gate.open()
    assert not gate.tail_pending
    assert gate.process(chunk(2))[0].live
    gate.close(tail=True)
    gate.process(chunk(3))
    rest = gate.close(tail=True, at_once=True)  # a stop during the pause: the rest goes out now
    assert len(rest) == 79 and not gate.tail_pending


@given(ops=st.lists(st.sampled_from(["open", "close", "chunk"]), max_size=400))
def test_no_command_pattern_runs_the_stream_ahead_of_real_time(ops):
    """A storm of pauses and resumes: what is written never exceeds the chunks that arrived."""
    gate = AudioGate(tail_ms=800)
    arrived = written = 0
    for index, op in enumerate(ops):
        if op == "open":
            gate.open()
        elif op == "close":
            written += sum(len(w.pcm) for w in gate.close(tail=True))
        else:
            arrived += CHUNK_BYTES
            written += sum(len(w.pcm) for w in gate.process(chunk(index)))
        assert written <= arrived
