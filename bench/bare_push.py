"""The least a program can do to transcribe a WAV file with diarization: the footprint benchmark's baseline.

    python bench/bare_push.py --host ws://127.0.0.1:PORT --wav meeting.wav [--chunk-ms 10] [--partials] [--key K]

One ConversationTranscriber reading a PushAudioInputStream; the file is written in chunks of --chunk-ms
at real-time pace (each chunk when its last sample would have been captured, as roomscribe's file source
does); final results are counted, and with --partials the partial results too (roomscribe asks for both:
it publishes partials). At the end it closes the stream and waits for the session to stop. Prints one
line: the number of final phrases (and partials) and the seconds of audio pushed.
"""

from __future__ import annotations

import argparse
import threading
import time
import wave

import azure.cognitiveservices.speech as speechsdk

BYTES_PER_SECOND = 32000  # 16 kHz 16-bit mono


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--wav", required=True)
    parser.add_argument("--key", default="bench")
    parser.add_argument("--chunk-ms", type=int, default=10, help="chunk length (roomscribe's CHUNK_MS)")
    parser.add_argument("--partials", action="store_true", help="also take the partial results")
    args = parser.parse_args()
    chunk_bytes = BYTES_PER_SECOND * args.chunk_ms // 1000
    with wave.open(args.wav, "rb") as wav:
        pcm = wav.readframes(wav.getnframes())

    config = speechsdk.SpeechConfig(host=args.host, subscription=args.key)
    config.speech_recognition_language = "en-US"
    stream = speechsdk.audio.PushAudioInputStream(
        speechsdk.audio.AudioStreamFormat(samples_per_second=16000, bits_per_sample=16, channels=1)
    )
    transcriber = speechsdk.transcription.ConversationTranscriber(
        speech_config=config, audio_config=speechsdk.audio.AudioConfig(stream=stream)
    )
    phrases = partials = 0
    done = threading.Event()

    def transcribed(evt) -> None:
        nonlocal phrases
        if evt.result.reason == speechsdk.ResultReason.RecognizedSpeech and evt.result.text:
            phrases += 1

    def transcribing(evt) -> None:
        nonlocal partials
        if evt.result.text:
            partials += 1

    transcriber.transcribed.connect(transcribed)
    if args.partials:
        transcriber.transcribing.connect(transcribing)
    transcriber.session_stopped.connect(lambda evt: done.set())
    transcriber.canceled.connect(lambda evt: done.set())
    transcriber.start_transcribing_async().get()

    start = time.monotonic()
    for begin in range(0, len(pcm), chunk_bytes):
        chunk = pcm[begin : begin + chunk_bytes]
        release = start + (begin + len(chunk)) / BYTES_PER_SECOND
        time.sleep(max(0.0, release - time.monotonic()))
        stream.write(chunk)
    stream.close()  # end of audio: the service answers the rest, then the session stops
    done.wait(10)
    transcriber.stop_transcribing_async().get()
    also = f", {partials} partials" if args.partials else ""
    print(f"bare_push: {phrases} phrases{also}, {len(pcm) / BYTES_PER_SECOND:.1f} s of audio", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
