"""Property: whatever a modelpack.yaml or --set holds, loading it either validates or fails with one
MetadataError line naming the problem; nothing else escapes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from modelpack.errors import MetadataError
from modelpack.metadata.load import apply_override, load_metadata, validate
from modelpack.metadata.schema import ModelMetadata

FIELDS = sorted({*ModelMetadata.model_fields, "paramSize", "docURL", "sourceURL", "unknown", "metric"})
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


@settings(max_examples=300, deadline=None, database=None)
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=8))
def test_any_mapping_validates_or_names_the_problem(raw: dict) -> None:
    try:
        validate(raw)
    except MetadataError as exc:
        assert str(exc).startswith("invalid metadata: ") and "\n" not in str(exc)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=40))
def test_any_set_argument_is_applied_or_refused(item: str) -> None:
    raw: dict = {"name": "m"}
    try:
        apply_override(raw, item)
        validate(raw)
    except MetadataError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=150, deadline=None, database=None)
@given(st.text(max_size=200))
def test_any_yaml_text_loads_or_is_refused(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "modelpack.yaml").write_text(text, encoding="utf-8")
        try:
            load_metadata(Path(folder), default_name="m", use_git=False)
        except MetadataError as exc:
            assert "\n" not in str(exc)
