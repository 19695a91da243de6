"""The demo's meeting: a two-speaker script in tone speech, with one secret sentence said while paused."""

MEETING = """\
Guest-1: Good morning everyone, welcome to the weekly review.
Guest-2: Thanks. Sales in March were up four percent.
Guest-1: Great news. What about the new office?
[silence 2.0]
Guest-2: SECRET: we sign the lease on Friday, keep it quiet.
[silence 1.5]
Guest-1: Back on the record. Any other business?
Guest-2: None from me. Thank you all.
"""
SECRET_LINE = 3  # index of the secret utterance in the script
