"""What a newcomer meets first: help, messages, metadata mistakes, progress units, and output that a
hostile artifact cannot use to forge or scramble the terminal (issue 11, items 5, 6, 8 and 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from images import push_image
from modelpack.cli.escape import clean
from modelpack.store.options import ClientOptions
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


@pytest.mark.parametrize(("word", "ours"), [("versions", "`modelpack ls REPO` lists a repository's versions"),
                                              ("delete", "`modelpack rm REF` removes a reference"),
                                              ("show", "`modelpack inspect REF` shows a model")])
def test_another_tools_word_for_a_command_names_ours(word: str, ours: str) -> None:
    # It said only "No such command 'versions'." (the README's "Versions as a registry" is `ls`).
    run = modelpack(word, "localhost:5000/team/iris")
    assert (run.code, run.out) == (2, "")
    assert run.err == f"error: No such command {word!r}: {ours} (see `modelpack --help`)\n"
    assert modelpack("nonsense").err == "error: No such command 'nonsense'. (see `modelpack --help`)\n"


@pytest.mark.parametrize(("typed", "meant"), [("pul", "pull"), ("pussh", "push"), ("inspcet", "inspect")])
def test_a_mistyped_command_is_answered_with_the_nearest_one(typed: str, meant: str) -> None:
    # click suggests for a mistyped option but said only "No such command 'pul'." for a command.
    run = modelpack(typed, "localhost:5000/team/iris")
    assert (run.code, run.out) == (2, "")
    assert run.err == f"error: No such command {typed!r}; did you mean {meant!r}? (see `modelpack --help`)\n"


def test_every_option_says_what_it_does_in_help() -> None:
    # `login -u`, `generate-key-pair -d`, `k8s --kind/--cpu/--memory`, `ui --port` showed only a default
    import click

    from modelpack.cli.main import cli

    def silent(group: click.Group, path: str) -> list[str]:
        found = []
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                found += silent(command, f"{path} {name}")
                continue
            found += [f"{path} {name} {option.opts[-1]}" for option in command.params
                      if isinstance(option, click.Option) and not option.hidden and not option.help]
        return found

    assert silent(cli, "modelpack") == []


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


def test_the_transfer_bar_appears_once_there_is_something_to_count(monkeypatch: pytest.MonkeyPatch) -> None:
    # While the manifest and config were read, the terminal showed "pull ━━━━ 0/0 bytes ?"
    from modelpack.cli import progress

    made = []
    original = progress._bar

    def recorded() -> object:
        bar = original()
        made.append(bar)
        return bar

    monkeypatch.setattr(progress, "_bar", recorded)
    with progress._growing_bar("pull") as (start, advance):
        bar = made[0]
        assert not bar.tasks[0].visible  # rich draws no line for it
        start(2048)
        advance(1024)
        assert bar.tasks[0].visible and bar.tasks[0].total == 2048


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
    (("build-image", "{model}", "-t", "{host}/x/img:1"), "docker.io/library/python:3.", "--base"),
    (("build-image", "{model}", "-t", "{host}/x/img:1", "--modelcar"), "busybox", "--base"),
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


# -- more first-contact mistakes (probe findings) ------------------------------------------------------
def test_push_of_a_directory_without_a_reference_says_so(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    run = modelpack("push", str(model))
    assert run.code == 2 and "needs a reference to push to (push DIR REF)" in run.err
    two_refs = modelpack("push", "localhost:5000/a/b:1", "localhost:5000/a/c:1")
    assert two_refs.code == 2 and "modelpack copy SRC DST" in two_refs.err


def test_push_to_a_digest_the_model_does_not_have_is_refused(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    wrong = "sha256:" + "0" * 64
    run = modelpack("push", str(_model(tmp_path / "m")), f"{repo}@{wrong}", "--plain-http")
    assert run.code == 2, run.err
    assert "differs from the one in" in run.err
    tags = mp.remote(mp.Reference.parse(f"{repo}:x"), PLAIN).find(wrong)
    assert tags is None  # no manifest was stored under the promised digest


@pytest.mark.parametrize("output, message", [
    ("fifo", "exists and is not a directory"),
    ("afile/sub", "afile is not a directory"),
    ("", "empty name"),
])
def test_unusable_output_paths_are_named(tmp_path: Path, output: str, message: str) -> None:
    mp.pack(_model(tmp_path / "m"), "localhost:5000/t/out:1")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "afile").write_text("x")
    run = modelpack("unpack", "localhost:5000/t/out:1", "-o", str(tmp_path / output) if output else "")
    assert run.code == 2, run.err
    assert message in run.err and ".partial-" not in run.err


def test_errors_name_the_output_not_the_staging_folder(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / ("x" * 250)).write_bytes(b"1")
    mp.pack(model, "localhost:5000/t/long:1")
    output = tmp_path / ("y" * 250)
    run = modelpack("unpack", "localhost:5000/t/long:1", "-o", str(output))
    assert run.code == 1
    assert str(output) in run.err and ".partial-" not in run.err


def _key(path: Path, key: object, encrypt: bool = False) -> Path:
    from cryptography.hazmat.primitives import serialization

    algorithm = (serialization.BestAvailableEncryption(b"pw") if encrypt else serialization.NoEncryption())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                                       serialization.PrivateFormat.PKCS8, algorithm))
    return path


def test_unencrypted_key_signs_without_a_password_even_if_one_is_set(registry: Registry, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ref = f"{registry.repo()}:1"
    assert modelpack("push", str(_model(tmp_path / "m")), ref, "--plain-http").code == 0
    key = _key(tmp_path / "plain.key", ec.generate_private_key(ec.SECP256R1()))
    for env in ({"COSIGN_PASSWORD": "for-another-key"}, {}):
        proc_env = {k: v for k, v in os.environ.items() if k != "COSIGN_PASSWORD"} | env
        run = subprocess.run([sys.executable, "-m", "modelpack", "sign", "--key", str(key), ref, "--plain-http"],
                             capture_output=True, text=True, env=proc_env, stdin=subprocess.DEVNULL, timeout=120)
        assert run.returncode == 0, run.stderr


def test_weak_rsa_keys_are_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from modelpack.signatures import keys
    from modelpack.signatures.keys import KeyFileError

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyFileError, match="1024-bit RSA key is too weak"):
        keys.load_private_key(_key(tmp_path / "weak.key", weak), None)
    public = tmp_path / "weak.pub"
    public.write_bytes(weak.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyFileError, match="too weak"):
        keys.load_public_key(public)
    strong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert keys.load_private_key(_key(tmp_path / "ok.key", strong), None)


@pytest.mark.parametrize("args, message", [
    (("--where", "metrics.accuracy>=abc"), "metrics compare as numbers"),
    (("--where", "metrics.accuracy>=nan"), "metrics compare as numbers"),
    (("--where", "created>notadate"), "created compares as a time"),
    (("--where", "metrcs.accuracy>=0.1"), "no version has this field (did you mean 'metrics.accuracy'?)"),
    (("--where", "metrics.acuracy>=0.1"), "(did you mean 'metrics.accuracy'?)"),
    (("--sort", "nonsense"), "--sort 'nonsense': no version has this field"),
    (("--sort", ""), "--sort needs a field"),
])
def test_ls_refuses_filters_that_cannot_match(registry: Registry, tmp_path: Path, args: tuple[str, ...],
                                              message: str) -> None:
    repo = registry.repo()
    assert modelpack("push", str(_model(tmp_path / "m", "name: m\nmetrics: {accuracy: 0.9}\n")), f"{repo}:1",
                     "--plain-http").code == 0
    run = modelpack("ls", repo, *args, "--plain-http")
    assert run.code == 2, run.err
    assert message in run.err
    fine = modelpack("ls", repo, "--where", "metrics.accuracy>=0.5", "--where", "labels.stage!=prod",
                     "--sort", "-metrics.accuracy", "--plain-http")
    assert fine.code == 0, fine.err
    assert [line.split()[0] for line in fine.out.splitlines()[1:]] == ["1"]


def test_a_tag_or_repository_not_there_names_the_command_that_lists_what_is(registry: Registry,
                                                                             tmp_path: Path) -> None:
    repo = registry.repo()
    assert modelpack("push", str(_model(tmp_path / "m")), f"{repo}:1.0.0", "--plain-http").code == 0
    # No tag given: `latest` was assumed and is not there; a typo in the tag; inspect and resolve alike
    for args in (("pull", repo), ("pull", f"{repo}:1.0"), ("inspect", "--remote", f"{repo}:2"),
                 ("resolve", f"{repo}:2")):
        run = modelpack(*args, "--plain-http")
        assert run.code == 3, run.err
        near = "did you mean 1.0.0? " if args[1].endswith(":1.0") else ""  # (test_nearest_tag.py)
        assert run.err.count("\n") == 1
        assert run.err.rstrip().endswith(f"; {near}`modelpack ls {repo}` lists its versions")
    host = repo.split("/", 1)[0]
    missing = modelpack("ls", f"{repo}-typo", "--plain-http")
    assert missing.code == 3
    assert missing.err.rstrip().endswith(f"; `modelpack ls {host}` lists its repositories"), missing.err
    # The library says it in its own terms
    with pytest.raises(mp.errors.NotFoundError, match=r"modelpack\.list_versions\("):
        mp.inspect(f"{repo}:2", remote_only=True, options=PLAIN)


def test_tag_with_a_bare_tag_prints_the_reference_it_made(tmp_path: Path) -> None:
    # `tag REF champion` printed "champion -> sha256:...", and `rm champion` then found no "champion:latest"
    ref = "localhost:5000/team/iris:1.0.0"
    assert modelpack("pack", str(_model(tmp_path / "m")), "-t", ref).code == 0
    run = modelpack("tag", ref, "champion", "localhost:5000/other/iris:best")
    assert run.code == 0, run.err
    digest = run.out.split()[-1]
    assert run.out.splitlines() == [f"localhost:5000/team/iris:champion -> {digest}",
                                    f"localhost:5000/other/iris:best -> {digest}"]
    assert modelpack("rm", "localhost:5000/team/iris:champion").code == 0


def test_serving_a_signature_tag_names_the_model_before_any_request() -> None:
    """`crane ls` lists `sha256-<hex>` beside the versions; served, it was resolved to its digest first and
    then refused as "an index of several manifests", naming neither what it is nor the model."""
    hexdigest = "ab" * 32
    run = modelpack("serve", "--plain-http", f"127.0.0.1:9/team/iris:sha256-{hexdigest}")  # nothing listens there
    assert run.code == 2, run.err
    assert run.err.strip() == (f"error: 127.0.0.1:9/team/iris:sha256-{hexdigest} holds the signatures of a model, "
                               f"not a model; name the model itself: 127.0.0.1:9/team/iris@sha256:{hexdigest}")
