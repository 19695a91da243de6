"""roomscribe: a meeting-room transcription daemon with a privacy-preserving pause."""

__version__ = "0.1.0"
