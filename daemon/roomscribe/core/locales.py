"""Recognition locales and language identification: the shape of a locale, the candidates Azure accepts.

One locale is recognized as that language. Two or more are candidates for language identification
(LID): the service decides which one each utterance is in. Azure's limits (language-identification):
"up to four languages for at-start LID or up to 10 languages for continuous LID", every candidate a
full locale ("en-US", not "en") from the LID list below, and "only one locale per base language".
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LOCALE_PATTERN = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"  # BCP-47 in the shape Azure uses (en-US, zh-Hans-CN)
MAX_CANDIDATES = {"at_start": 4, "continuous": 10}
UNDETERMINED = "und"  # BCP-47 for "undetermined": the service could not say which candidate it heard

# The locales Azure documents for language identification (speech-service language-support, "Language
# identification" tab, from MicrosoftDocs/azure-docs includes/language-support/language-identification.md).
LID_LOCALES = frozenset("""
ar-AE ar-BH ar-DZ ar-EG ar-IQ ar-JO ar-KW ar-LY ar-MA ar-OM ar-QA ar-SA ar-SY ar-YE bn-IN bg-BG ca-ES
zh-CN zh-HK zh-TW hr-HR cs-CZ da-DK nl-NL en-AU en-CA en-GH en-HK en-IN en-IE en-KE en-NZ en-NG en-PH
en-SG en-ZA en-TZ en-GB en-US et-EE fi-FI fr-CA fr-FR de-DE el-GR gu-IN he-IL hi-IN hu-HU id-ID ga-IE
it-IT ja-JP kn-IN ml-IN ko-KR lv-LV lt-LT mt-MT mr-IN nb-NO pl-PL pt-BR pt-PT ro-RO ru-RU sk-SK sl-SI
es-AR es-BO es-CL es-CO es-CR es-CU es-DO es-EC es-SV es-GQ es-GT es-HN es-MX es-NI es-PA es-PY es-PE
es-PR es-ES es-UY es-US es-VE sv-SE ta-IN te-IN th-TH tr-TR uk-UA vi-VN
""".split())
_BY_FOLDED = {locale.casefold(): locale for locale in LID_LOCALES}


def is_locale(text: str) -> bool:
    return re.fullmatch(LOCALE_PATTERN, text) is not None


def locale_problems(locales: Sequence[str], mode: str) -> list[str]:
    """Why these locales cannot be recognized: a bad shape, or (two or more) candidates Azure would refuse."""
    if not locales:
        return ["no locale given: one locale, or 2 or more candidates for language identification"]
    malformed = [repr(locale) for locale in locales if not isinstance(locale, str) or not is_locale(locale)]
    if malformed:
        return [f"not a BCP-47 locale: {', '.join(malformed)} (e.g. en-US, de-DE)"]
    return candidate_problems(locales, mode)


def candidate_problems(candidates: Sequence[str], mode: str) -> list[str]:
    """Why these locales cannot be LID candidates in `mode` (empty when they can); one locale needs none."""
    if len(candidates) < 2:
        return []
    problems = []
    limit = MAX_CANDIDATES[mode]
    if len(candidates) > limit:
        other = "continuous" if mode == "at_start" else None
        problems.append(f"{len(candidates)} candidate languages; Azure accepts at most {limit} with "
                        f"{mode} language identification" + (f" ({MAX_CANDIDATES[other]} with {other})" if other else ""))
    unknown = [c for c in candidates if c.casefold() not in _BY_FOLDED]
    if unknown:
        problems.append(f"not in Azure's list of language identification locales: {', '.join(unknown)} "
                        "(a full locale such as de-DE; see docs/words.md)")
    bases: dict[str, str] = {}
    for candidate in candidates:
        base = candidate.split("-")[0].casefold()
        if base in bases:
            problems.append(f"{bases[base]} and {candidate} are one base language; Azure identifies only one "
                            "locale per base language: keep one")
        bases.setdefault(base, candidate)
    return problems


def match_candidate(detected: str | None, candidates: Sequence[str]) -> str:
    """The candidate the service named (in the configuration's spelling), or UNDETERMINED.

    The service answers with one of the candidates; the SDK passes its text through unchanged, so case
    may differ (seen: "de-de"). Anything else, "Unknown" included, is undetermined.
    """
    if detected:
        folded = detected.casefold()
        for candidate in candidates:
            if candidate.casefold() == folded:
                return candidate
    return UNDETERMINED
