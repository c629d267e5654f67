"""Latin-letter readings of a KG's names, for the literal (character n-gram) channel.

Chinese and Japanese names share no letters with English ones, yet many are spelled the same
once read aloud: 张艺谋 -> zhangyimou (Zhang Yimou), 宮崎駿 -> miyazakihayao (Hayao
Miyazaki), ガーディアン -> gaadian (The Guardian). A KG's script is decided once from its
names, without labels: Japanese when at least JAPANESE_SHARE of them contain kana (kanji are
then read as Japanese, by pykakasi), Chinese when Han characters remain (pinyin, by
pypinyin), otherwise Latin (accents stripped). Syllables of one word are joined, so that the
reading's n-grams meet those of the English spelling.

A Chinese KG names many Japanese things in their kanji (高槻市, 少年隊, 深海 as an album),
which English spells in their Japanese reading (Takatsuki, Shonentai, Shinkai), not in
pinyin: `read_as_japanese` reads a Chinese KG's names with pykakasi too, long vowels folded
as English titles write them (koukoku -> kokoku).
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import unicodedata

JAPANESE_SHARE = 0.05  # of a KG's names with kana: the KG is read as Japanese
SCRIPTS = ("japanese", "chinese", "latin")
WORD_DOTS = ("·", "・")  # the middle dots between the words of a transliterated name


def _has(name: str, ranges: tuple[tuple[int, int], ...]) -> bool:
  return any(lo <= ord(c) <= hi for c in name for lo, hi in ranges)


_KANA = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F))
_HAN = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))


def script_of(names: Sequence[str]) -> str:
  """The script a KG's names are read in: one of SCRIPTS."""
  if not names:
    return "latin"
  if sum(_has(n, _KANA) for n in names) >= JAPANESE_SHARE * len(names):
    return "japanese"
  return "chinese" if any(_has(n, _HAN) for n in names) else "latin"


def strip_accents(name: str) -> str:
  """'Zürich' -> 'Zurich': the combining marks of the NFKD form dropped."""
  return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


@functools.cache
def _kakasi():
  import pykakasi  # lazy: only a Japanese KG needs its dictionaries

  return pykakasi.kakasi()


def _japanese(name: str) -> str:
  return "".join(part["hepburn"] for part in _kakasi().convert(name))


def _chinese(name: str) -> str:
  from pypinyin import lazy_pinyin  # lazy: only a Chinese KG needs it (0.3 s to import)

  return "".join(lazy_pinyin(name))


def romanised(names: Sequence[str], script: str | None = None) -> list[str]:
  """Names [n] -> their Latin readings [n], lower-case-insensitive input for the literal view;
  script: one of SCRIPTS, decided from the names when None. Separators (middle dots) become
  spaces."""
  script = script or script_of(names)
  read = {"japanese": _japanese, "chinese": _chinese, "latin": lambda n: n}[script]
  return [strip_accents(read(_spaced(n))) for n in names]


def _folded_long_vowels(reading: str) -> str:
  """'oushuu' -> 'oshu': Hepburn's ou / uu as English titles without macrons write them."""
  return reading.replace("ou", "o").replace("uu", "u")


def read_as_japanese(names: Sequence[str], script: str | None = None) -> list[str]:
  """Names [n] -> their Japanese readings [n] (Hepburn, long vowels folded) when the KG is
  read as Chinese (script: one of SCRIPTS, decided from the names when None); otherwise the
  names unchanged. Characters Japanese does not use (most simplified ones) read as nothing."""
  script = script or script_of(names)
  if script != "chinese":
    return list(names)
  return [_folded_long_vowels(strip_accents(_japanese(_spaced(n)))) for n in names]


def _spaced(name: str) -> str:
  """The name with each WORD_DOTS middle dot read as a space."""
  for dot in WORD_DOTS:
    name = name.replace(dot, " ")
  return name
