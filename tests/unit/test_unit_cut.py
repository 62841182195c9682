"""The one cut every listing and `inspect`/`diff` use: an escape kept whole, the width as shown bounded,
the count of characters left out exact."""

from __future__ import annotations

from modelpack.cli.escape import clean_cell, clean_cut


def test_a_short_value_is_shown_whole_and_escaped() -> None:
    assert clean_cut("a\x1bb", 10) == "a\\x1bb"
    assert clean_cell("1.0", 40) == "1.0"


def test_an_escape_is_never_cut_in_half_and_the_shown_width_is_bounded() -> None:
    value = "ab" + "\x1b" * 50  # shown: ab\x1b\x1b...: 202 characters
    assert clean_cut(value, 7) == "ab\\x1b… (49 more characters; --json shows them)"
    for width in range(20, 60):
        cell = clean_cell(value, width)
        assert len(cell) <= width and "\\x1…" not in cell and cell.endswith(" chars)")
        shown, _, note = cell.partition("…")
        assert len(shown) == 2 + 4 * (len(value) - 2 - int(note[2:-7]))  # the count is what is not shown


def test_a_cell_fits_its_note_for_any_length() -> None:
    for length in (41, 99, 100, 9_999, 10_000, 1_000_000):
        cell = clean_cell("x" * length, 40)
        assert len(cell) <= 40
        kept, _, note = cell.partition("…")
        assert len(kept) + int(note[2:-7].replace(",", "")) == length
