"""What `clean` escapes: every character a terminal draws as nothing or that changes how the text around it
reads, so two names that look the same are the same and no text hides in a value. Checked against
Python's Unicode database and the default-ignorable code points of Unicode's DerivedCoreProperties."""

from __future__ import annotations

import sys
import unicodedata

from modelpack.cli.escape import clean

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15): drawn as nothing when not supported.
DEFAULT_IGNORABLE = [(0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
                     (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
                     (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
                     (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF)]


def _escaped(char: str) -> bool:
    shown = clean(f"a{char}b")
    return shown != f"a{char}b" and shown.isprintable() and shown.isascii()


def test_every_control_format_and_separator_character_is_escaped() -> None:
    missed = [f"U+{code:04X}" for code in range(sys.maxunicode + 1)
              if unicodedata.category(chr(code)) in ("Cc", "Cf", "Cs", "Zl", "Zp") and not _escaped(chr(code))]
    assert not missed, missed


def test_every_default_ignorable_code_point_is_escaped() -> None:
    missed = [f"U+{code:04X}" for first, last in DEFAULT_IGNORABLE for code in range(first, last + 1)
              if not _escaped(chr(code))]
    assert not missed, missed


def test_hidden_text_is_shown_and_astral_escapes_name_their_whole_code_point() -> None:
    tagged = "v1" + "".join(chr(0xE0000 + ord(c)) for c in "evil")  # reads as "v1" on a terminal
    assert clean(tagged) == "v1\\U000e0065\\U000e0076\\U000e0069\\U000e006c"
    assert clean("a\u3164b\u00adc") == "a\\u3164b\\xadc"
    assert clean("naïve café 模型 🚀") == "naïve café 模型 🚀"  # letters, marks and symbols stay as they are
