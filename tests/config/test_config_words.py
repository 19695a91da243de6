"""speech.languages, language_id_mode, profanity and phrases: check-config and run refuse what Azure would, with
exit 78 and a message naming the key (docs/words.md has the limits)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from roomscribe.config import parse_config
from roomscribe.system import exitcodes
from tests.config.test_checkconfig import check, write

BAD = {
    "unknown locale shape": ("speech:\n  languages: [en_US, de-DE]\n",
                             "speech.languages (line 2): not a BCP-47 locale: 'en_US' (e.g. en-US, de-DE)"),
    "too many at start": ("speech:\n  languages: [en-US, de-DE, fr-FR, es-ES, it-IT]\n  language_id_mode: at_start\n",
                          "speech.languages (line 2): 5 candidate languages; Azure accepts at most 4 with at_start "
                          "language identification (10 with continuous)"),
    "too many continuous": ("speech:\n  languages: [en-US, de-DE, fr-FR, es-ES, it-IT, ja-JP, zh-CN, pt-BR, nl-NL, "
                            "sv-SE, da-DK]\n", "speech.languages (line 2): 11 candidate languages; Azure accepts at "
                            "most 10 with continuous language identification"),
    "not a LID locale": ("speech:\n  languages: [en-US, de-CH]\n",
                         "speech.languages (line 2): not in Azure's list of language identification locales: de-CH"),
    "two of one base language": ("speech:\n  languages: [en-US, en-GB]\n",
                                 "speech.languages (line 2): en-US and en-GB are one base language"),
    "language beside languages": ("speech:\n  language: fr-FR\n  languages: [en-US, de-DE]\n",
                                  "speech.languages (line 3): given with language fr-FR, which is not one of them"),
    "a 2,000-character phrase": ("speech:\n  phrases: [Contoso, " + "x" * 2000 + "]\n",
                                 "speech.phrases (line 2): a phrase has 2000 characters, at most 100"),
    "a blank phrase": ("speech:\n  phrases: [Contoso, '  ']\n", "speech.phrases (line 2): a phrase is empty"),
    "501 phrases": ("speech:\n  phrases: [" + ", ".join(f"w{i}" for i in range(501)) + "]\n",
                    "speech.phrases (line 2): 501 phrases, at most 500 (Azure's phrase list limit)"),
    "profanity": ("speech:\n  profanity: off\n", "speech.profanity (line 2): Input should be 'masked', 'removed' or 'raw'"),
    "mode": ("speech:\n  language_id_mode: always\n",
             "speech.language_id_mode (line 2): Input should be 'continuous' or 'at_start'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_check_config_names_the_key_and_exits_78(case, tmp_path, capsys):
    text, expected = BAD[case]
    path = write(tmp_path, text)
    code, out, err = check(path, capsys)
    assert (code, out) == (exitcodes.CONFIG, "")
    assert err.splitlines()[1].startswith(f"{path}: {expected}"), err
    assert len(err) < 1000  # a 2,000-character value is not repeated whole


def test_run_refuses_the_same_with_78(tmp_path):
    for case in ("unknown locale shape", "too many at start", "a 2,000-character phrase"):
        text, expected = BAD[case]
        path = write(tmp_path, text)
        done = subprocess.run([sys.executable, "-m", "roomscribe", "run", "-c", str(path)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == exitcodes.CONFIG, done.stderr
        assert expected.split(" (line")[0] in done.stderr and expected.split(": ", 1)[1] in done.stderr


def test_good_settings():
    speech = parse_config("speech:\n  languages: [en-US, de-DE, fr-FR]\n  phrases: [' Contoso ', contoso, "
                          "Jessie Irwin]\n  profanity: raw\n").speech
    assert speech.locales == ("en-US", "de-DE", "fr-FR") and speech.language_id_mode == "continuous"
    assert speech.phrases == [" Contoso ", "contoso", "Jessie Irwin"]  # stripped and merged when used
    assert parse_config("speech:\n  languages: de-DE\n").speech.locales == ("de-DE",)  # one locale: no identification
    assert parse_config("speech:\n  language: de-DE\n").speech.locales == ("de-DE",)
    assert parse_config("speech:\n  languages: [de-CH]\n").speech.locales == ("de-CH",)  # any locale alone
