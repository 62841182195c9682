"""Make text from a registry or an artifact safe to show on a terminal.

Annotations, tags, layer paths, metric names and registry error messages are written by whoever pushed
the artifact or runs the registry. Shown raw, an escape sequence could retitle the terminal, clear it, or
move the cursor to forge a line ("verified ..."); a newline could forge a whole line; a bidi override
could make a name read differently from what it is. Every such character is shown as a visible escape
(`\\x1b`, `\\n`, `\\u202e`), as git and kubectl do. `--json` output is exact and never goes through here.
"""

from __future__ import annotations

import logging
import re

from modelpack.advice import Wording, cli_message
from modelpack.errors import ModelpackError

# C0 and C1 controls, DEL, line and paragraph separators, every format character (Unicode's Cf: zero-width
# characters, bidi embeddings/overrides/isolates, the byte-order mark, prepended number signs) and every
# default-ignorable code point (drawn as nothing: soft hyphens, Hangul fillers, variation selectors, the tag
# characters U+E0000-E0FFF): text holding them reads as other text, or hides text. And lone surrogates,
# which JSON's `\ud800` escapes make: no UTF-8 encodes them (a report or a page could not be written), and
# a C locale's stdout writes \udc80-\udcff as the raw bytes 0x80-0xff (0x9b: an 8-bit CSI).
# ... but an emoji's own: a variation selector after an emoji (❤️, the text or emoji form of one) and a
# zero-width joiner between two (👩‍💻) are parts of a character shown, not text hidden; between letters or
# after a digit they still show as escapes.
_EMOJI = ("\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa\u231a-\u23ff\u24c2\u25aa-\u27bf\u2934\u2935"
          "\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff")
_UNSAFE = re.compile(
    f"(?!(?<=[{_EMOJI}])[\ufe0e\ufe0f])(?!(?<=[{_EMOJI}\ufe0f])\u200d(?=[{_EMOJI}]))"
    "[\x00-\x1f\x7f-\x9f\xad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ud800-\udfff\ufe00-\ufe0f"
    "\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def clean(value: object, keep: str = "") -> str:
    """`str(value)` with every control or invisible formatting character shown as an escape.

    Args:
        value: anything; non-strings are converted with `str` first.
        keep: characters left as they are (a document's "\n\t").

    Returns:
        One line of text (several with `keep="\n"`) of nothing but printable characters.
    """
    text = value if isinstance(value, str) else str(value)
    if keep:
        return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
    return _UNSAFE.sub(_escape, text)


VALUE_MAX = 200  # characters of one metadata value `inspect` and `diff` show on a line (--json: all)
CELL_MAX = 40  # characters of a value in a column of a listing (`ls`), its note of what was cut included
PATH_MAX = 4096  # characters of a layer's path `inspect` shows (PATH_MAX: no file a pull writes has a longer one)


def _cut(text: str, width: int) -> tuple[str, int]:
    """`clean(text)` cut to at most `width` characters as shown, an escape kept whole (`\\x1b`, never
    `\\x1`); with how many of `text`'s characters were left out (0: all of it shown)."""
    head = clean(text[:width])  # every character shows as one or more: no more than `width` are needed
    if len(head) <= width:
        return head, len(text) - min(len(text), width)
    shown: list[str] = []
    used = 0
    for kept, char in enumerate(text[:width]):
        piece = clean(char)
        if used + len(piece) > width:
            return "".join(shown), len(text) - kept
        shown.append(piece)
        used += len(piece)
    raise AssertionError("unreachable: the escaped head was wider than width")


def clean_cut(value: object, limit: int = VALUE_MAX) -> str:
    """`clean(value)` cut to its first `limit` characters as shown, saying how many were left out: a
    registry's annotation of 100 KB would otherwise fill the terminal (`--json` has it whole).

    Args:
        value: anything; non-strings are converted with `str` first.
        limit: the characters shown of the value (escapes counted as shown, none cut in half).

    Returns:
        One escaped line, `...… (N more characters; --json shows them)` when cut.
    """
    text = value if isinstance(value, str) else str(value)
    shown, left_out = _cut(text, limit)
    return f"{shown}… ({left_out:,} more characters; --json shows them)" if left_out else shown


def clean_cell(value: object, width: int = CELL_MAX) -> str:
    """`clean_cut` for a column of a listing: the value and its note `…(+N chars)` together at most `width`
    characters wide, so that a long value keeps the rows aligned without widening its column past it.

    Args:
        value: anything; non-strings are converted with `str` first.
        width: the most characters the cell takes (at least 20, for the note and a little of the value).

    Returns:
        One escaped cell, `...…(+N chars)` when cut.
    """
    text = value if isinstance(value, str) else str(value)
    shown, left_out = _cut(text, width)
    if not left_out:
        return shown
    # Room for the longest note this value could need (N at most its length): the cell never passes `width`.
    shown, left_out = _cut(text, width - len(f"…(+{len(text):,} chars)"))
    return f"{shown}…(+{left_out:,} chars)"


_PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")  # a word no reader could take for two (versions, names, file names)


def quote(value: object) -> str:
    """A word a registry or an artifact chose (a version, a file name), shown inside a line of ours: as it is
    when it is plain (`1.0.0`, `model.onnx`), else quoted as Python writes a string and escaped, so that
    spaces or punctuation in it (`1.0: POST http://...`) cannot read as the line's own words.

    Args:
        value: anything; non-strings are converted with `str` first.

    Returns:
        `value`, or `'...'` (`"..."` when it holds a `'`) with backslashes, quotes and invisible characters
        escaped.
    """
    text = value if isinstance(value, str) else str(value)
    return text if _PLAIN.fullmatch(text) else clean(repr(text))


WARNING_PREFIX = "warning: "


class EscapingFormatter(logging.Formatter):
    """Log lines carry text a registry, an artifact or a client chose (URLs, paths, error messages):
    shown escaped, one line each. A warning starts with `warning: ` (as an error with `error: `), once:
    a message that says it itself is not prefixed again (with -v the prefix comes before the logger's name)."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, Wording):  # a warning that names a setting: in the CLI's terms (flags)
            record = logging.makeLogRecord({**record.__dict__, "msg": record.msg.cli})
        if isinstance(record.args, tuple) and any(isinstance(arg, ModelpackError) for arg in record.args):
            # An error logged on the way (a mirror passed over): its advice as commands, not Python calls.
            args = tuple(cli_message(arg) if isinstance(arg, ModelpackError) else arg for arg in record.args)
            record = logging.makeLogRecord({**record.__dict__, "args": args})
        if record.levelno != logging.WARNING:
            return clean(super().format(record))
        message = record.getMessage()
        if message.startswith(WARNING_PREFIX):
            record = logging.makeLogRecord({**record.__dict__, "msg": message[len(WARNING_PREFIX):], "args": None})
        return WARNING_PREFIX + clean(super().format(record))
