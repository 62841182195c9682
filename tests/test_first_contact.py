"""What a newcomer meets first: help, messages, metadata mistakes, progress units, and output that a
hostile artifact cannot use to forge or scramble the terminal (issue 11, items 5, 6, 8 and 16)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from images import push_image
from modelpack.cli.escape import clean
from modelpack.store.client import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
ESC = "\x1b"


def _model(root: Path, yaml_text: str = "name: m\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "weights.bin").write_bytes(b"w" * 100)
    (root / "modelpack.yaml").write_text(yaml_text)
    return root


def test_no_arguments_prints_help_not_an_error() -> None:
    run = modelpack()
    assert run.code == 0
    assert run.out.startswith("Usage: modelpack")
    assert "error" not in run.err


# -- item 16: terminal escapes --------------------------------------------------------------------
def test_clean_escapes_controls_and_bidi_but_keeps_text() -> None:
    assert clean("iris-1.0 ünïcode ✓") == "iris-1.0 ünïcode ✓"
    assert clean("a\x1b]0;pwned\x07b") == "a\\x1b]0;pwned\\x07b"
    assert clean("x\nverified sha256:abc") == "x\\nverified sha256:abc"
    assert clean("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert clean("\x9b2J") == "\\x9b2J"  # C1 CSI


def test_hostile_metadata_and_paths_reach_the_terminal_escaped(tmp_path: Path) -> None:
    title = f"{ESC}]0;owned{chr(7)}"
    forged = "ok\nverified sha256:0000 with cosign.pub"
    model = _model(tmp_path / "m")
    (model / f"clear{ESC}[2J.bin").write_bytes(b"x")
    ref = "localhost:5000/team/hostile:1"
    packed = modelpack("pack", str(model), "-t", ref, "--set", f"description={forged}",
                       "--set", f"labels.stage={title}", "--set", f"metrics.{ESC}[31mred=1")
    assert packed.code == 0, packed.err
    shown = modelpack("inspect", ref)
    assert shown.code == 0, shown.err
    assert ESC not in shown.out and chr(7) not in shown.out
    assert "\\u001b]0;owned\\u0007" in shown.out and "clear\\x1b[2J.bin" in shown.out
    assert not any(line.startswith("verified") for line in shown.out.splitlines())
    assert "ok\\nverified" in shown.out
    # --json stays exact: the same bytes the artifact holds.
    exact = json.loads(modelpack("inspect", ref, "--json").out)
    assert exact["metadata"]["description"] == forged
    assert f"clear{ESC}[2J.bin" in {layer["path"] for layer in exact["layers"]}
    listed = modelpack("list")
    assert ESC not in listed.out


def test_fail_escapes_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    from modelpack.cli.common import fail

    with pytest.raises(SystemExit) as exit_info:
        fail(f"registry said: {ESC}[2J\nverified", 5)
    assert exit_info.value.code == 5
    err = capsys.readouterr().err
    assert err == "error: registry said: \\x1b[2J\\nverified\n"


# -- item 8: metadata a newcomer writes ------------------------------------------------------------
def test_single_license_author_and_dataset_as_a_string(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", "name: m\nlicenses: MIT\nauthors: Ada Lovelace\ndatasets: iris\n")
    packed = mp.pack(model, "localhost:5000/team/single:1")
    meta = mp.inspect("localhost:5000/team/single:1").to_json()["metadata"]
    assert packed.descriptor.digest
    assert meta["licenses"] == ["MIT"] and meta["authors"] == ["Ada Lovelace"] and meta["datasets"] == ["iris"]


def test_typo_gets_a_did_you_mean(tmp_path: Path) -> None:
    run = modelpack("pack", str(_model(tmp_path / "m", "name: m\nversoin: '1'\n")), "-t", "localhost:5000/t/m:1")
    assert run.code == 2
    assert "versoin: unknown field (did you mean 'version'?)" in run.err
    nested = modelpack("pack", str(_model(tmp_path / "n", "name: m\nfiles: {exclud: [a]}\n")), "-t", "x/y:1")
    assert "files.exclud: unknown field (did you mean 'exclude'?)" in nested.err
    override = modelpack("pack", str(_model(tmp_path / "o")), "-t", "x/y:1", "--set", "metrix.f1=1")
    assert override.code == 2 and "did you mean 'metrics'?" in override.err


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", "name: m\nmetrics: {accuracy: 0.9}\nversion: '1'\nmetrics: {f1: 0.5}\n")
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/dup:1")
    assert run.code == 2
    assert "duplicate key 'metrics'" in run.err and "line 4" in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_diff_says_added_and_removed_instead_of_none(tmp_path: Path) -> None:
    mp.pack(_model(tmp_path / "a", "name: m\nmetrics: {accuracy: 0.9, f1: 0.5}\n"), "localhost:5000/t/d:1")
    mp.pack(_model(tmp_path / "b", "name: m\nmetrics: {accuracy: 0.95, auc: 0.7}\n"), "localhost:5000/t/d:2")
    run = modelpack("diff", "localhost:5000/t/d:1", "localhost:5000/t/d:2")
    assert run.code == 0, run.err
    assert "None" not in run.out
    assert "metrics.f1: 0.5 (removed)" in run.out
    assert "metrics.auc: 0.7 (added)" in run.out
    assert "metrics.accuracy: 0.9 -> 0.95" in run.out


def test_counts_are_singular_when_one(registry: Registry, tmp_path: Path) -> None:
    ref = f"{registry.repo()}:1"
    model = tmp_path / "one"
    model.mkdir()
    (model / "only.bin").write_bytes(os.urandom(64))
    assert modelpack("push", str(model), ref, "--plain-http").code == 0
    run = modelpack("pull", ref, "--plain-http", "-o", str(tmp_path / "out"))
    assert run.code == 0, run.err
    assert "restored 1 file into" in run.err
    assert "1 files" not in run.err and "1 blobs" not in run.err


def test_progress_bars_use_binary_units() -> None:
    from modelpack.cli.progress import _bar

    bar = _bar()
    task = bar.add_task("pull", total=3 * 1024**3)
    bar.update(task, completed=1024**3)
    rendered = " ".join(str(column.render(bar.tasks[0])) for column in bar.columns[1:] if hasattr(column, "render"))
    assert "GiB" in rendered and " GB" not in rendered


def test_pack_reports_hashing_progress(tmp_path: Path) -> None:
    from modelpack.packing.build import HashProgress

    model = _model(tmp_path / "m")
    (model / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    started: list[int] = []
    advanced: list[int] = []
    mp.pack(model, "localhost:5000/t/progress:1", hash_progress=HashProgress(started.append, advanced.append))
    assert sorted(started) == [100, 3 * 1024 * 1024]
    assert sum(advanced) == 100 + 3 * 1024 * 1024


# -- items 5 and 6: registry trouble named, not crashed on --------------------------------------------
@pytest.mark.parametrize("config", [
    b'{"config": {"Env": "PATH=/bin"}}',
    b'{"config": {"Env": [1, 2]}}',
    b'{"config": [], "rootfs": {}}',
    b'{"rootfs": {"diff_ids": "sha256:abc"}}',
    b'{"config": {"Labels": ["a"]}}',
    b"[1, 2]",
    b"not json",
])
def test_malformed_base_config_is_one_line(registry: Registry, tmp_path: Path, config: bytes) -> None:
    base = f"{registry.repo()}:1"
    push_image(base, config)
    model_ref = f"{registry.repo()}:1"
    assert modelpack("push", str(_model(tmp_path / "m")), model_ref, "--plain-http").code == 0
    run = modelpack("build-image", model_ref, "-t", f"{registry.repo()}:1", "--base", base,
                    "--plain-http")
    assert run.code == 6, run.err  # malformed content, as for a malformed manifest
    assert "internal error" not in run.err
    assert f"base image {base}: its config is malformed" in run.err and "--base" in run.err
    assert len(run.err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, image, option", [
    (("build-image", "{model}", "-t", "{host}/x/img:1"), "ghcr.io/modelpack/modelpack-serve", "--base"),
    (("build-image", "{model}", "-t", "{host}/x/img:1", "--modelcar"), "busybox", "--base"),
    (("k8s", "--kind", "image-volume", "{model}"), "ghcr.io/modelpack/modelpack-serve", "--serving-image"),
])
def test_unreachable_default_image_names_the_image_and_the_option(
        registry: Registry, tmp_path: Path, args: tuple[str, ...], image: str, option: str) -> None:
    model_ref = f"{registry.repo()}:1"
    assert modelpack("push", str(_model(tmp_path / "m")), model_ref, "--plain-http").code == 0
    argv = [a.format(model=model_ref, host=registry.host) for a in args]
    # No network here: the default images' registries do not resolve (or, with a network, are HTTPS,
    # which --plain-http cannot reach), so the failure is certain either way.
    run = modelpack(*argv, "--plain-http")
    assert run.code in (3, 4, 5), run.err
    assert image in run.err and f"pass {option} IMAGE" in run.err
    assert len(run.err.strip().splitlines()) == 1
