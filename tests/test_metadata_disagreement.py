"""A manifest whose annotations and config say different things (written by hand or by another tool):
`ls` reads the annotations alone, `inspect` and `report` prefer the config for some fields, so the same digest
showed version 9.9 in a listing and 1.0 in its technical documentation, with no word of the other value.
Now `inspect` warns, `inspect --json` lists them, and the report and the UI's version page note them.
Against the real registry, the manifest edited and pushed under another tag."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack, push_edited_manifest
from modelpack.store.options import ClientOptions
from registry_process import Registry
from ui_support import Pages, push_version

PLAIN = ClientOptions(plain_http=True)


@pytest.fixture
def model(registry: Registry, tmp_path: Path) -> tuple[Registry, str]:
    repo = registry.repo("disagree")
    push_version(tmp_path / "m", f"{repo}:1.0", {"version": "1.0", "description": "the real one"})
    return registry, repo


def test_inspect_warns_when_annotations_and_config_disagree(model: tuple[Registry, str]) -> None:
    registry, repo = model
    edited = push_edited_manifest(registry, f"{repo}:1.0", {"org.opencontainers.image.version": "9.9"}, "edited")
    listed = modelpack("ls", "--plain-http", repo)
    assert listed.code == 0, listed.err
    assert "9.9" in listed.out  # what a listing (and a registry UI) shows: the annotation
    shown = modelpack("inspect", "--remote", "--plain-http", edited)
    assert shown.code == 0, shown.err
    assert "version:         1.0" in shown.out  # the config's value, shown as before
    assert ('warning: the manifest\'s annotations and its config disagree on version: the annotations say "9.9", '
            'the config "1.0" (shown here: "1.0"') in shown.err
    as_json = modelpack("inspect", "--remote", "--plain-http", "--json", edited)
    assert json.loads(as_json.out)["metadataDisagreements"] == [
        {"field": "version", "annotations": "9.9", "config": "1.0"}]


def test_agreeing_fields_and_one_time_written_two_ways_are_not_disagreements(model: tuple[Registry, str]) -> None:
    registry, repo = model
    plain = modelpack("inspect", "--remote", "--plain-http", f"{repo}:1.0")
    assert plain.code == 0 and "disagree" not in plain.err, plain.err
    created = mp.inspect(f"{repo}:1.0", remote_only=True, options=PLAIN).created
    assert created is not None and created.endswith("Z")
    same_moment = push_edited_manifest(registry, f"{repo}:1.0",
                                       {"org.opencontainers.image.created": created[:-1] + ".000+00:00"}, "t")
    shown = modelpack("inspect", "--remote", "--plain-http", same_moment)
    assert shown.code == 0 and "disagree" not in shown.err, shown.err


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_the_report_notes_the_disagreement(model: tuple[Registry, str], fmt: str) -> None:
    registry, repo = model
    edited = push_edited_manifest(registry, f"{repo}:1.0", {"org.opencontainers.image.version": "9.9",
                                                            "org.opencontainers.image.description": "<b>edited</b>"},
                                  "edited")
    made = modelpack("report", "--plain-http", "--format", fmt, edited)
    assert made.code == 0, made.err
    start, end = ("## Identity", "## Description") if fmt == "md" else ('id="identity"', 'id="description"')
    identity = made.out.split(start, 1)[1].split(end, 1)[0]
    assert "disagree on version" in identity and "9.9" in identity
    assert "disagree on description" in identity and "<b>" not in made.out  # escaped as everything else
    facts = mp.build_report(edited, options=PLAIN)
    assert [n.split(":")[0] for n in facts.notes["identity"]] == [
        "the manifest's annotations and its config disagree on description",
        "the manifest's annotations and its config disagree on version"]


def test_the_ui_version_page_notes_the_disagreement(model: tuple[Registry, str], ui: Callable[..., str]) -> None:
    registry, repo = model
    edited = push_edited_manifest(registry, f"{repo}:1.0", {"org.opencontainers.image.version": "9.9"}, "edited")
    pages = Pages(ui([registry.host]))
    page = pages.get(f"/v/{edited}")  # redirected to the digest
    assert "disagree on version: the annotations say &#34;9.9&#34;, the config &#34;1.0&#34;" in page
    assert "disagree on" not in pages.get(f"/v/{repo}:1.0")
