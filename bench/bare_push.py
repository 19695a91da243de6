"""The least a program can do to transcribe a WAV file with diarization: the footprint benchmark's baseline.

    python bench/bare_push.py --host ws://127.0.0.1:PORT --wav meeting.wav [--key K]

One ConversationTranscriber reading a PushAudioInputStream; the file is written in 20 ms chunks at
real-time pace (each chunk when its last sample would have been captured, as roomscribe's file source
does); final results are counted. At the end it closes the stream and waits for the session to stop.
Prints one line: the number of final phrases and the seconds of audio pushed.
"""

from __future__ import annotations

import argparse
import threading
import time
import wave

import azure.cognitiveservices.speech as speechsdk

CHUNK_BYTES = 640  # 20 ms of 16 kHz 16-bit mono
BYTES_PER_SECOND = 32000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--wav", required=True)
    parser.add_argument("--key", default="bench")
    args = parser.parse_args()
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
    phrases = 0
    done = threading.Event()

    def transcribed(evt) -> None:
        nonlocal phrases
        if evt.result.reason == speechsdk.ResultReason.RecognizedSpeech and evt.result.text:
            phrases += 1

    transcriber.transcribed.connect(transcribed)
    transcriber.session_stopped.connect(lambda evt: done.set())
    transcriber.canceled.connect(lambda evt: done.set())
    transcriber.start_transcribing_async().get()

    start = time.monotonic()
    for begin in range(0, len(pcm), CHUNK_BYTES):
        chunk = pcm[begin : begin + CHUNK_BYTES]
        release = start + (begin + len(chunk)) / BYTES_PER_SECOND
        time.sleep(max(0.0, release - time.monotonic()))
        stream.write(chunk)
    stream.close()  # end of audio: the service answers the rest, then the session stops
    done.wait(10)
    transcriber.stop_transcribing_async().get()
    print(f"bare_push: {phrases} phrases, {len(pcm) / BYTES_PER_SECOND:.1f} s of audio", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
