"""The emulator through the real Speech SDK: a ConversationTranscriber reading a push stream, fed faster than
real time. Transcripts, partials, speakers, offsets, turns, stop, end of stream and what the record keeps."""

from __future__ import annotations

import json

from roomscribe.emulator import EmulatorThread
from tests.support.emulator_sdk import (  # noqa: F401  (emulator is a fixture)
    SdkTranscriber,
    assert_transcribed_as_planned,
    chunk_boundary,
    emulator,
    script_pcm,
)

KEY = "test-key"

MEETING = """\
Alice: Good morning everyone, let us begin.
Bob: Thanks. The numbers for March look fine.
Alice: Good, next item please.
[silence 2]
Bob: Item two is the budget for 2025.
"""


def transcribe_to_end(emu, pcm: bytes, **options) -> SdkTranscriber:
    """Push everything, close the stream, wait for the session to stop."""
    sdk = SdkTranscriber(emu.host_url, KEY, **options)
    sdk.start()
    sdk.push(pcm)
    sdk.close_stream()
    sdk.wait_for(lambda s: s.events("session_stopped"), 30, "session_stopped")
    return sdk


def test_two_speaker_meeting_is_transcribed_with_text_order_speakers_and_offsets(emulator):
    pcm, planned = script_pcm(MEETING)
    with transcribe_to_end(emulator, pcm) as sdk:
        assert_transcribed_as_planned(sdk.transcribed(), planned)
        canceled = sdk.canceled()
        # Everything was acknowledged, so closing the stream ends the session as end of stream.
        assert [(c.reason, c.code) for c in canceled] == [("EndOfStream", "NoError")]
        assert sdk.events("speech_start") and len(sdk.events("speech_start")) == len(planned)
    assert [p.text for p in emulator.record.phrases()] == [p.text for p in planned]


def test_partials_grow_and_carry_unknown_speaker_without_intermediate_diarization(emulator):
    pcm, planned = script_pcm(MEETING)
    with transcribe_to_end(emulator, pcm) as sdk:
        partials = sdk.transcribing()
        assert len(partials) >= 2 * len(planned)
        assert {p.speaker for p in partials} == {"Unknown"}
        first_utterance = [p.text for p in partials if p.offset == sdk.transcribed()[0].offset]
        assert all(later.startswith(earlier) for earlier, later in zip(first_utterance, first_utterance[1:]))
        assert first_utterance[-1] == planned[0].text


def test_intermediate_diarization_labels_partials(emulator):
    pcm, planned = script_pcm(MEETING)
    with transcribe_to_end(emulator, pcm, diarize_intermediates=True) as sdk:
        finals = {e.offset: e.speaker for e in sdk.transcribed()}
        partials = sdk.transcribing()
        assert partials and all(p.speaker == finals[p.offset] for p in partials)
    context = emulator.record.received("speech.context")[0].body
    assert context["phraseDetection"]["speakerDiarization"]["diarizeIntermediates"] == "True"


def test_segmentation_silence_comes_from_the_speech_context(emulator):
    pcm, _ = script_pcm("Alice: first part\n[silence 1.0]\nAlice: second part\n")
    with transcribe_to_end(emulator, pcm) as sdk:
        assert [e.text for e in sdk.transcribed()] == ["first part", "second part"]
    with transcribe_to_end(emulator, pcm, segmentation_silence_ms=1500) as sdk:
        assert [e.text for e in sdk.transcribed()] == ["first part second part"]
    contexts = [m.body for m in emulator.record.received("speech.context")]
    assert contexts[-1]["phraseDetection"]["CONVERSATION"]["segmentation"]["segmentationSilenceTimeoutMs"] == 1500


def test_stop_is_answered_with_the_utterance_in_flight_and_ends_cleanly(emulator):
    pcm, planned = script_pcm("Alice: Hello there\nBob: This sentence is cut by the stop\n", tail=0.3)
    # Within 0.1 s of the last tone: too little silence to close the phrase.
    cut = chunk_boundary(planned[1].end)
    with SdkTranscriber(emulator.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm[:cut])
        sdk.wait_for(lambda s: len(s.transcribing()) >= 3, 30, "partials")
        emulator.wait_for(lambda r: sum(f.size for f in r.audio_frames() if f.kind == "pcm") == cut, 30, "all audio")
        took = sdk.stop()
        assert [e.text for e in sdk.transcribed()] == [p.text for p in planned]
        assert sdk.canceled() == []  # no ServiceTimeout: the emulator answered the stop
        assert took < 8.0  # the SDK gives up after 10 s without turn.end; the answer comes long before
        assert sdk.events("speech_end") and sdk.events("session_stopped")
    turns = emulator.record.turns
    assert [t.ended_by for t in turns] == ["client"]
    sent = [m.path for m in emulator.record.sent()]
    assert sent[-2:] == ["speech.endDetected", "turn.end"]


def test_record_of_received_audio_equals_what_was_written(emulator):
    pcm, _ = script_pcm(MEETING)
    with transcribe_to_end(emulator, pcm) as sdk:
        written = bytes(sdk.written)
    assert written == pcm
    assert emulator.record.audio_bytes() == written
    assert emulator.record.raw_audio_bytes() == written
    frames = emulator.record.audio_frames()
    assert [f.kind for f in frames][:1] == ["wav-header"] and frames[-1].kind == "end"


def test_record_keeps_upgrade_config_context_and_messages_with_the_key_redacted(emulator, tmp_path):
    pcm, _ = script_pcm("Alice: Hello\n")
    with transcribe_to_end(emulator, pcm, language="de-DE") as sdk:
        session_id = sdk.session_id
    (connection,) = emulator.record.connections
    headers = dict(connection.headers)
    assert headers["Ocp-Apim-Subscription-Key"] == "***"
    assert headers["X-ConnectionId"] == session_id
    assert "language=de-DE" in connection.path
    assert connection.config["context"]["audio"]["source"]["samplerate"] == "16000"
    (turn,) = emulator.record.turns
    assert turn.audio_session_id == session_id and turn.language.lower() == "de-de"
    assert turn.wav_format == {"format_tag": 1, "channels": 1, "sample_rate": 16000, "bits_per_sample": 16}
    assert turn.stream_id == "1" and turn.base_offset == 0
    paths = [m.path for m in emulator.record.sent()]
    assert paths[0] == "turn.start" and "speech.phrase" in paths and paths[-1] == "turn.end"
    assert all(dict(m.headers)["X-RequestId"] == turn.request_id for m in emulator.record.sent())
    emulator.wait_for(lambda r: r.received("telemetry"), 10, "telemetry")
    dumped = tmp_path / "record.json"
    emulator.record.dump(dumped)
    data = json.loads(dumped.read_text())
    assert data["phrases"][0]["text"] == "Hello" and KEY not in dumped.read_text()


def test_stop_then_start_continues_the_session_offsets_and_speakers(emulator):
    pcm, planned = script_pcm(MEETING)
    half = chunk_boundary(planned[1].end + 0.6)
    with SdkTranscriber(emulator.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm[:half])
        sdk.wait_for(lambda s: len(s.transcribed()) == 2, 30, "two phrases")
        emulator.wait_for(lambda r: len(r.raw_audio_bytes()) == half, 30, "all audio sent")  # stop drops unsent audio
        sdk.stop()
        sdk.start()
        sdk.push(pcm[half:])
        sdk.close_stream()
        sdk.wait_for(lambda s: s.events("session_stopped") and len(s.events("session_stopped")) == 2, 30, "end")
        assert_transcribed_as_planned(sdk.transcribed(), planned)
    turns = emulator.record.turns
    assert len(turns) == 2 and turns[0].connection == turns[1].connection  # the socket outlives the stop
    assert turns[1].base_offset == half and turns[0].audio_session_id == turns[1].audio_session_id
    assert turns[1].stream_id == "2"
    assert emulator.record.audio_bytes() == pcm


def test_a_new_transcriber_starts_again_at_guest_1(emulator):
    first, _ = script_pcm("Alice: One\nBob: Two\n")
    second, planned = script_pcm("Carol: Three\nAlice: Four\n")
    with transcribe_to_end(emulator, first) as sdk:
        assert [e.speaker for e in sdk.transcribed()] == ["Guest-1", "Guest-2"]
    with transcribe_to_end(emulator, second) as sdk:
        assert_transcribed_as_planned(sdk.transcribed(), planned)
    assert len(emulator.record.audio_session_ids()) == 2


def test_long_silence_is_acknowledged_without_user_visible_events(emulator):
    # 90 s of silence between two phrases: more than the SDK's 66 s buffer. Pushed at 40x real time.
    pcm, planned = script_pcm("Alice: Before\n[silence 90]\nBob: After\n")
    with SdkTranscriber(emulator.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm, speed=40)
        sdk.close_stream()
        sdk.wait_for(lambda s: s.events("session_stopped"), 30, "session_stopped")
        assert_transcribed_as_planned(sdk.transcribed(), planned)
        assert [(c.reason, c.code) for c in sdk.canceled()] == [("EndOfStream", "NoError")]
        assert [e.reason for e in sdk.events("transcribed")] == ["RecognizedSpeech"] * 2  # no NoMatch noise
    acks = [m for m in emulator.record.sent("speech.phrase") if m.body["RecognitionStatus"] == "EndOfDictation"]
    assert len(acks) >= 30  # every 2 s of silence
    assert all(dict(m.headers)["X-Continuation-Audio-Streams-1-Offset"] for m in acks)


def test_service_ended_turn_is_followed_by_a_new_turn_not_taken_for_a_stop(emulator):
    pcm, planned = script_pcm(MEETING)
    split = chunk_boundary(planned[2].start + 0.3)  # in the middle of the third utterance
    with SdkTranscriber(emulator.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm[:split])
        sdk.wait_for(lambda s: len(s.transcribed()) == 2, 30, "two phrases")
        emulator.wait_for(lambda r: sum(f.size for f in r.audio_frames() if f.kind == "pcm") == split, 30, "audio")
        emulator.end_turns()
        # The SDK answers the turn.end with a 0-byte frame; its next turn starts once there is audio.
        emulator.wait_for(lambda r: [f for f in r.audio_frames() if f.kind == "end"], 30, "the SDK's end of turn")
        sdk.push(pcm[split:])
        sdk.close_stream()
        sdk.wait_for(lambda s: s.events("session_stopped"), 30, "session_stopped")
        assert_transcribed_as_planned(sdk.transcribed(), planned)
    first, second = emulator.record.turns
    assert first.ended_by == "service" and second.ended_by == "client"
    assert first.connection == second.connection and second.base_offset > 0
    end_frames = [f for f in emulator.record.audio_frames() if f.kind == "end"]
    assert [f.request_id for f in end_frames] == [first.request_id, second.request_id]
    assert emulator.record.audio_bytes() == pcm and emulator.record.replay_mismatches() == 0


def test_emulator_thread_without_a_key_accepts_any_key():
    pcm, planned = script_pcm("Alice: Open door\n")
    with EmulatorThread() as emu, transcribe_to_end(emu, pcm) as sdk:
        assert [e.text for e in sdk.transcribed()] == ["Open door"]
