"""Names as screening compares them: upper-case Latin letters A-Z in tokens,
transliterated as ICAO Doc 9303 part 3 (section 6) writes them in the MRZ.

Two spellings are kept: the ICAO one (Ä -> AE, Ø -> OE, ß -> SS, Cyrillic
Ж -> ZH ...) and the plain one that drops diacritics (Ä -> A), because lists
compiled elsewhere use either.
"""

from __future__ import annotations

import re
import unicodedata

# Doc 9303 part 3, transliteration of multinational Latin characters
# (recommended forms; other diacritics are dropped).
_LATIN = {
    "Ä": "AE",
    "Å": "AA",
    "Æ": "AE",
    "Ö": "OE",
    "Ø": "OE",
    "Ü": "UE",
    "ß": "SS",
    "ẞ": "SS",
    "Þ": "TH",
    "Ð": "D",
    "Đ": "D",
    "Ħ": "H",
    "Ĳ": "IJ",
    "Ł": "L",
    "Ŀ": "L",
    "Ŋ": "N",
    "Œ": "OE",
    "ı": "I",
}
# Doc 9303 part 3, Cyrillic (Russian, Ukrainian, Belarusian, Serbian, Macedonian).
_CYRILLIC = {
    **dict(zip("АБВГДЕЁЖЗИЙКЛМНОПРСТУФЫЭ", "ABVGDEEZZIIKLMNOPRSTUFYE", strict=True)),
    **{"Ж": "ZH", "Х": "KH", "Ц": "TS", "Ч": "CH", "Ш": "SH", "Щ": "SHCH", "Ъ": "IE", "Ь": ""},
    **{"Ю": "IU", "Я": "IA", "Є": "IE", "І": "I", "Ї": "I", "Ў": "U", "Ґ": "G", "Ђ": "D"},
    **{"Ѓ": "G", "Ѕ": "DZ", "Ј": "J", "Љ": "LJ", "Њ": "NJ", "Ќ": "K", "Ћ": "C", "Џ": "DZ"},
}
_ICAO = {**_LATIN, **_CYRILLIC}
_NOT_LETTER = re.compile(r"[^A-Z]+")


def _spell(text: str, table: dict[str, str]) -> str:
    text = unicodedata.normalize("NFC", text).upper()
    text = "".join(table.get(c, c) for c in text)
    # Apostrophes are omitted in the MRZ (O'BRIEN -> OBRIEN); other punctuation separates.
    text = text.replace("'", "").replace("’", "")
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_LETTER.sub(" ", letters).split())


def transliterate(text: str) -> str:
    """ICAO spelling: `"Müller-Lüdenscheidt"` -> `"MUELLER LUEDENSCHEIDT"`,
    `"Жуков"` -> `"ZHUKOV"`."""
    return _spell(text, _ICAO)


def spellings(text: str) -> tuple[str, ...]:
    """The ICAO spelling, then the plain one (diacritics dropped) when it differs."""
    icao = transliterate(text)
    plain_table = {k: v for k, v in _ICAO.items() if k not in "ÄÖÜÅ"}
    plain = _spell(text, plain_table)
    return (icao,) if plain == icao else (icao, plain)
