"""modelpack.yaml loading, --set overrides, validation messages, git facts and creation time."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from modelpack.errors import MetadataError, UsageError
from modelpack.metadata.load import (
    apply_override,
    creation_time,
    git_facts,
    load_metadata,
    source_date_epoch,
    strip_credentials,
    validate,
)
from modelpack.metadata.schema import ModelMetadata


def write_yaml(directory: Path, text: str) -> Path:
    (directory / "modelpack.yaml").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture(autouse=True)
def _no_git_above_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Make sure a git repository around the temp dir cannot leak into git_facts.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


# --- load_metadata --------------------------------------------------------------------------------------

FULL = """\
name: iris
version: "1.0"
title: Iris classifier
description: A small model.
authors: [Ada, Bob]
licenses: [MIT]
vendor: Example
family: sklearn-linear
framework: scikit-learn
format: joblib
architecture: LogisticRegression
paramSize: 15
precision: float64
capabilities:
  inputTypes: [text]
  outputTypes: [text]
  knowledgeCutoff: 2024-06-01T00:00:00Z
  reasoning: false
  languages: [en, de]
metrics:
  accuracy: 0.97
  f1: 1
hyperparameters:
  C: 1.0
  solver: lbfgs
datasets: [iris]
labels:
  stage: 1
  prod: yes
docURL: https://example.com/docs
sourceURL: https://example.com/src
revision: abc123
files:
  exclude: ["*.tmp"]
  kinds: {"*.bin": weight}
  archives: [data]
"""


def test_load_full_file(tmp_path: Path) -> None:
    meta = load_metadata(write_yaml(tmp_path, FULL.replace("paramSize: 15", 'paramSize: "15"')), use_git=False)
    assert meta.name == "iris"
    assert meta.version == "1.0"
    assert meta.authors == ["Ada", "Bob"]
    assert meta.param_size == "15"
    assert meta.metrics == {"accuracy": 0.97, "f1": 1.0}
    assert isinstance(meta.metrics["f1"], float)
    assert meta.hyperparameters == {"C": 1.0, "solver": "lbfgs"}
    # YAML numbers and booleans in labels become text
    assert meta.labels == {"stage": "1", "prod": "true"}
    assert meta.capabilities is not None
    assert meta.capabilities.languages == ["en", "de"]
    assert meta.capabilities.knowledge_cutoff == datetime(2024, 6, 1, tzinfo=timezone.utc)
    assert meta.doc_url == "https://example.com/docs"
    assert meta.files.kinds == {"*.bin": "weight"}
    assert meta.files.archives == ["data"]


def test_unquoted_number_for_text_field_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r'paramSize: .*quote it: "15"'):
        load_metadata(write_yaml(tmp_path, FULL), use_git=False)


def test_missing_file_uses_default_name(tmp_path: Path) -> None:
    meta = load_metadata(tmp_path, default_name="fallback", use_git=False)
    assert meta.name == "fallback"
    assert load_metadata(None, ["name=x"]).name == "x"


def test_name_in_file_wins_over_default_name(tmp_path: Path) -> None:
    meta = load_metadata(write_yaml(tmp_path, "name: from-file\n"), default_name="fallback", use_git=False)
    assert meta.name == "from-file"


def test_name_is_required(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="name: required"):
        load_metadata(tmp_path, use_git=False)
    with pytest.raises(MetadataError, match="name: required"):
        load_metadata(write_yaml(tmp_path, ""), use_git=False)


def test_empty_name_refused() -> None:
    with pytest.raises(MetadataError, match="name"):
        validate({"name": ""})


def test_overrides_apply_over_the_file(tmp_path: Path) -> None:
    write_yaml(tmp_path, "name: m\nversion: '1'\nmetrics: {accuracy: 0.5, loss: 0.2}\n")
    meta = load_metadata(tmp_path, ["version=2", "metrics.accuracy=0.9"], use_git=False)
    assert meta.version == "2"
    assert meta.metrics == {"accuracy": 0.9, "loss": 0.2}


def test_overrides_as_a_mapping_merge_nested_keys_and_keep_values_as_given(tmp_path: Path) -> None:
    write_yaml(tmp_path, "name: m\nversion: '1'\nmetrics: {accuracy: 0.5, loss: 0.2}\nlabels: {a: x}\n")
    meta = load_metadata(tmp_path, {"version": "2.0", "metrics": {"accuracy": 0.9}, "licenses": ["MIT"],
                                    "labels": {"team": "ml"}}, use_git=False)
    assert meta.version == "2.0"  # not parsed as the number 2.0
    assert meta.metrics == {"accuracy": 0.9, "loss": 0.2}
    assert meta.licenses == ["MIT"]
    assert meta.labels == {"a": "x", "team": "ml"}  # merged, as --set labels.team=ml does
    same = load_metadata(tmp_path, {"metrics.accuracy": 0.9}, use_git=False)
    assert same.metrics == meta.metrics


def test_overrides_as_a_mapping_name_an_unknown_field(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"'versoin'.*did you mean 'version'"):
        load_metadata(write_yaml(tmp_path, "name: m\n"), {"versoin": "2"}, use_git=False)
    with pytest.raises(MetadataError, match=r"'name' is not a mapping"):
        load_metadata(write_yaml(tmp_path, "name: m\n"), {"name.x": 1}, use_git=False)


def test_a_lone_override_string_is_one_override(tmp_path: Path) -> None:
    meta = load_metadata(write_yaml(tmp_path, "name: m\n"), "version=3", use_git=False)  # type: ignore[arg-type]
    assert meta.version == "3"


def test_validation_error_names_nested_field(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"metrics\.accuracy"):
        load_metadata(write_yaml(tmp_path, "name: m\nmetrics:\n  accuracy: high\n"), use_git=False)


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="metric: unknown field"):
        load_metadata(write_yaml(tmp_path, "name: m\nmetric:\n  accuracy: 0.9\n"), use_git=False)


def test_unknown_nested_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"files\.kind: unknown field"):
        load_metadata(write_yaml(tmp_path, "name: m\nfiles:\n  kind: {}\n"), use_git=False)


def test_every_bad_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(MetadataError) as info:
        load_metadata(write_yaml(tmp_path, "name: m\nbogus: 1\nmetrics: {a: x}\n"), use_git=False)
    assert "bogus" in str(info.value)
    assert "metrics.a" in str(info.value)


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    write_yaml(tmp_path, 'name: m\nversion: "1"\n  bad: indent\n')
    with pytest.raises(MetadataError, match=r"not valid YAML \(line 3\)"):
        load_metadata(tmp_path, use_git=False)


def test_non_utf8_yaml_is_a_metadata_error(tmp_path: Path) -> None:
    (tmp_path / "modelpack.yaml").write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(MetadataError, match="not UTF-8 text"):
        load_metadata(tmp_path, use_git=False)


def test_utf16_yaml_is_named_as_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "modelpack.yaml").write_bytes("name: m\n".encode("utf-16"))
    with pytest.raises(MetadataError, match=r"not UTF-8 text .*save it as UTF-8"):
        load_metadata(tmp_path, use_git=False)


@pytest.mark.parametrize("text", ["created: 2020-13-45", "created: 2020-02-30T00:00:00Z"])
def test_impossible_created_date_is_invalid_metadata(tmp_path: Path, text: str) -> None:
    with pytest.raises(MetadataError, match="invalid metadata: created: "):
        load_metadata(write_yaml(tmp_path, f"name: m\n{text}\n"), use_git=False)


def test_yaml_dates_are_parsed_by_the_fields_that_are_times(tmp_path: Path) -> None:
    meta = load_metadata(write_yaml(tmp_path, "name: m\ncreated: 2020-01-02\nhyperparameters: {d: 2020-01-02}\n"),
                         use_git=False)
    assert meta.created == datetime(2020, 1, 2)
    assert meta.hyperparameters == {"d": "2020-01-02"}  # text, as JSON can hold it


@pytest.mark.parametrize("value", ["!!binary aGVsbG8=", "!!set {x, y}", "!!omap [a: 1]", "!!pairs [a: 1]"])
def test_yaml_types_json_cannot_hold_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(MetadataError, match=r"line 2\): !!\w+ is not allowed"):
        load_metadata(write_yaml(tmp_path, f"name: m\nhyperparameters: {{a: {value}}}\n"), use_git=False)


@pytest.mark.parametrize("value", [".nan", "[1, .inf]", "{deep: [-.inf]}"])
def test_non_finite_hyperparameter_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(MetadataError, match=r"hyperparameters: .*a(\.\S+)? is not a finite number"):
        load_metadata(write_yaml(tmp_path, f"name: m\nhyperparameters: {{a: {value}}}\n"), use_git=False)
    with pytest.raises(MetadataError, match="not a finite number"):
        load_metadata(None, ["name=m", "hyperparameters.lr=nan"])


@pytest.mark.parametrize("value", ["true", "false"])
def test_boolean_metric_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(MetadataError, match=f"metric 'a' is {value}, not a number"):
        load_metadata(write_yaml(tmp_path, f"name: m\nmetrics: {{a: {value}}}\n"), use_git=False)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="mapping"):
        load_metadata(write_yaml(tmp_path, "- a\n- b\n"), use_git=False)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_metric_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(MetadataError, match="accuracy"):
        load_metadata(write_yaml(tmp_path, f"name: m\nmetrics:\n  accuracy: {value}\n"), use_git=False)


def test_nan_metric_via_override_is_refused() -> None:
    with pytest.raises(MetadataError, match="not a finite number"):
        load_metadata(None, ["name=m", "metrics.accuracy=nan"])


@pytest.mark.parametrize("lang", ["EN", "eng", "e", "e1", "é" + "n"])
def test_languages_must_be_iso_639_1(lang: str) -> None:
    with pytest.raises(MetadataError, match=r"capabilities\.languages"):
        validate({"name": "m", "capabilities": {"languages": [lang]}})


def test_modalities_are_checked() -> None:
    assert validate({"name": "m", "capabilities": {"inputTypes": ["image", "text"]}}).capabilities is not None
    with pytest.raises(MetadataError, match=r"capabilities\.inputTypes"):
        validate({"name": "m", "capabilities": {"inputTypes": ["smell"]}})


def test_metadata_error_is_a_usage_error() -> None:
    assert issubclass(MetadataError, UsageError)


# --- apply_override -------------------------------------------------------------------------------------


def override(*items: str) -> dict:
    raw: dict = {}
    for item in items:
        apply_override(raw, item)
    return raw


def test_metric_override_is_a_float() -> None:
    raw = override("metrics.accuracy=0.97")
    assert raw == {"metrics": {"accuracy": 0.97}}
    assert isinstance(raw["metrics"]["accuracy"], float)


def test_text_field_override_stays_text() -> None:
    assert override("version=1.0") == {"version": "1.0"}
    assert override("name=007") == {"name": "007"}
    assert override("paramSize=8") == {"paramSize": "8"}
    assert override("title=") == {"title": ""}
    assert validate({"name": "m", **override("version=1.0")}).version == "1.0"


def test_text_override_keeps_everything_after_the_first_equals() -> None:
    assert override("description=a=b, c: d") == {"description": "a=b, c: d"}


def test_list_override_splits_on_commas() -> None:
    assert override("licenses=MIT,Apache-2.0") == {"licenses": ["MIT", "Apache-2.0"]}
    assert override("authors=Ada, Bob") == {"authors": ["Ada", "Bob"]}
    assert override("licenses=MIT") == {"licenses": ["MIT"]}
    assert override("datasets=") == {"datasets": []}
    assert override("datasets=[a, b]") == {"datasets": ["a", "b"]}


def test_nested_list_override_splits_on_commas_as_a_top_level_one() -> None:
    assert override("capabilities.languages=en,fr") == {"capabilities": {"languages": ["en", "fr"]}}
    assert override("capabilities.inputTypes=text, image") == {"capabilities": {"inputTypes": ["text", "image"]}}
    assert override("files.exclude=*.tmp") == {"files": {"exclude": ["*.tmp"]}}
    assert override("capabilities.languages=[en]") == {"capabilities": {"languages": ["en"]}}
    meta = validate({"name": "m", **override("capabilities.languages=en,fr")})
    assert meta.capabilities is not None and meta.capabilities.languages == ["en", "fr"]
    # Free-form mappings keep the scalar: a label or hyperparameter may well contain a comma.
    assert override("hyperparameters.layers=1,2") == {"hyperparameters": {"layers": "1,2"}}
    assert override("capabilities.reasoning=true") == {"capabilities": {"reasoning": True}}


def test_label_override_is_text() -> None:
    assert override("labels.stage=1") == {"labels": {"stage": "1"}}
    assert override("labels.prod=yes") == {"labels": {"prod": "yes"}}


def test_nested_overrides_merge() -> None:
    raw = override("metrics.accuracy=0.9", "metrics.loss=0.1", "capabilities.reasoning=true")
    assert raw == {"metrics": {"accuracy": 0.9, "loss": 0.1}, "capabilities": {"reasoning": True}}


def test_override_accepts_aliases_and_field_names() -> None:
    assert override("docURL=https://x") == {"docURL": "https://x"}
    assert validate({"name": "m", **override("param_size=7b")}).param_size == "7b"


def test_unknown_field_override_names_the_field() -> None:
    with pytest.raises(MetadataError, match="unknown field 'metric'"):
        override("metric.accuracy=1")


@pytest.mark.parametrize("item", ["nokey", "=value", "a..b=1", ".a=1", "a.=1", " =1"])
def test_malformed_override_is_refused(item: str) -> None:
    with pytest.raises(MetadataError, match="expected key=value"):
        override(item)


def test_override_into_a_non_mapping_is_refused() -> None:
    raw = {"metrics": 5}
    with pytest.raises(MetadataError, match="'metrics' is not a mapping"):
        apply_override(raw, "metrics.accuracy=1")


# --- strip_credentials ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:secret@example.com/org/repo.git", "https://example.com/org/repo.git"),
        ("https://token@example.com/org/repo.git", "https://example.com/org/repo.git"),
        ("https://user:p@ss@example.com:8443/r.git", "https://example.com:8443/r.git"),
        ("https://example.com/org/repo.git", "https://example.com/org/repo.git"),
        ("ssh://git@example.com/org/repo.git", "ssh://example.com/org/repo.git"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("/srv/git/repo.git", "/srv/git/repo.git"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


# --- creation_time --------------------------------------------------------------------------------------


def test_creation_time_honours_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert source_date_epoch() == 1700000000
    assert creation_time(ModelMetadata(name="m")) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


def test_created_in_metadata_wins_over_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    meta = validate({"name": "m", "created": "2020-05-06T07:08:09+02:00"})
    assert creation_time(meta) == datetime(2020, 5, 6, 5, 8, 9, tzinfo=timezone.utc)


def test_naive_created_is_taken_as_utc() -> None:
    meta = validate({"name": "m", "created": "2020-05-06T07:08:09"})
    created = creation_time(meta)
    assert created.utcoffset() == timedelta(0)
    assert (created.year, created.hour) == (2020, 7)


@pytest.mark.parametrize("value", ["yesterday", "-1", "253402300800", "99999999999999"])
def test_invalid_source_date_epoch(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(MetadataError, match=r"SOURCE_DATE_EPOCH=.*from 0 to 253402300799"):
        creation_time(ModelMetadata(name="m"))


@pytest.mark.parametrize("value", ["0", "253402300799"])
def test_source_date_epoch_bounds_are_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    assert creation_time(ModelMetadata(name="m")).timestamp() == int(value)


def test_without_source_date_epoch_now_is_whole_seconds_utc() -> None:
    assert source_date_epoch() is None
    created = creation_time(ModelMetadata(name="m"))
    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)
    assert created.microsecond == 0


# --- git facts ------------------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    out = subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=n", "-c", "commit.gpgsign=false", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "model").mkdir(parents=True)
    (repo / "model" / "modelpack.yaml").write_text("name: m\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "remote", "add", "origin", "https://user:secret@example.com/org/repo.git")
    return repo


def test_git_facts_in_a_real_repository(git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    facts = git_facts(git_repo)
    assert facts == {"revision": head, "sourceURL": "https://example.com/org/repo.git"}
    assert "secret" not in str(facts)


def test_git_facts_from_a_subdirectory_and_in_load_metadata(git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD")
    assert git_facts(git_repo / "model")["revision"] == head
    meta = load_metadata(git_repo / "model")
    assert meta.revision == head
    assert meta.source_url == "https://example.com/org/repo.git"
    assert load_metadata(git_repo / "model", use_git=False).revision is None


def test_declared_source_and_revision_win_over_git(git_repo: Path) -> None:
    write_yaml(git_repo / "model", "name: m\nsourceURL: https://other/x\nrevision: v1\n")
    meta = load_metadata(git_repo / "model")
    assert (meta.source_url, meta.revision) == ("https://other/x", "v1")


def test_git_facts_without_origin_or_commit(tmp_path: Path) -> None:
    repo = tmp_path / "empty-repo"
    repo.mkdir()
    git(repo, "init", "-q")
    assert git_facts(repo) == {}


def test_git_facts_outside_a_repository(tmp_path: Path) -> None:
    assert git_facts(tmp_path) == {}


@pytest.mark.parametrize(("folder", "why"), [("../", "leaves the model directory"), (".", "model directory itself"),
                                             ("", "model directory itself"), ("/tmp/m", "absolute path"),
                                             ("a/../../b", "leaves the model directory")])
def test_archive_folders_must_lie_inside_the_model(tmp_path: Path, folder: str, why: str) -> None:
    with pytest.raises(MetadataError, match=f"files.archives.*{why}"):
        load_metadata(write_yaml(tmp_path, f"name: m\nfiles: {{archives: [{folder!r}]}}\n"), use_git=False)


def test_archive_folders_are_normalised(tmp_path: Path) -> None:
    meta = load_metadata(write_yaml(tmp_path, "name: m\nfiles: {archives: [./data/, x//y]}\n"), use_git=False)
    assert meta.files.archives == ["data", "x/y"]
