"""Local input, store and configuration mistakes: each refused in one line with its documented exit code,
never packed silently and never an "internal error" (issue 11, item 5 and the probe's local findings)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry


def _model(root: Path, yaml_text: str | None = "name: m\n") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "weights.bin").write_bytes(b"w" * 100)
    if yaml_text is not None:
        (root / "modelpack.yaml").write_text(yaml_text)
    return root


# -- C40: links that leave the model directory are refused (security) -------------------------------
@pytest.mark.parametrize("name", ["out", "sub/out"])
def test_file_link_leaving_the_model_directory_is_refused(tmp_path: Path, name: str) -> None:
    secret = tmp_path / "home" / ".ssh" / "id_rsa"
    secret.parent.mkdir(parents=True)
    secret.write_text("PRIVATE KEY")
    model = _model(tmp_path / "m")
    (model / "sub").mkdir()
    (model / name).symlink_to(secret)
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 2, run.err
    assert name in run.err and str(secret) in run.err and "copy" in run.err
    assert "PRIVATE KEY" not in modelpack("inspect", "localhost:5000/t/m:1").out


def test_folder_link_leaving_the_model_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "etc"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0")
    model = _model(tmp_path / "m")
    (model / "outdir").symlink_to(outside)
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 2, run.err
    assert "outdir" in run.err and str(outside) in run.err


def test_metadata_file_linked_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "passwd.yaml"
    outside.write_text("name: stolen\ndescription: root:x:0:0\n")
    model = _model(tmp_path / "m", yaml_text=None)
    (model / "modelpack.yaml").symlink_to(outside)
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 2, run.err
    assert "modelpack.yaml" in run.err and str(outside) in run.err


def test_links_that_stay_inside_are_followed(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    (model / "real").mkdir()
    (model / "real" / "a.bin").write_bytes(b"a" * 10)
    (model / "alias.bin").symlink_to("real/a.bin")
    (model / "up").mkdir()
    (model / "up" / "back.bin").symlink_to("../weights.bin")
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 0, run.err
    out = tmp_path / "out"
    assert modelpack("unpack", "localhost:5000/t/m:1", "-o", str(out)).code == 0
    assert (out / "alias.bin").read_bytes() == b"a" * 10
    assert (out / "up" / "back.bin").read_bytes() == b"w" * 100


def test_a_folder_and_a_link_to_it_are_both_packed_whichever_sorts_first(tmp_path: Path) -> None:
    # `aaa -> zzz` was walked first and `zzz` then skipped as "seen": the real folder left the model.
    model = _model(tmp_path / "m")
    (model / "zzz").mkdir()
    (model / "zzz" / "in.bin").write_bytes(b"in")
    (model / "aaa").symlink_to("zzz")
    (model / "sub").mkdir()
    (model / "sub" / "to-zzz").symlink_to("../zzz")
    assert modelpack("pack", str(model), "-t", "localhost:5000/t/m:1").code == 0
    out = tmp_path / "out"
    assert modelpack("unpack", "localhost:5000/t/m:1", "-o", str(out)).code == 0
    for rel in ("zzz/in.bin", "aaa/in.bin", "sub/to-zzz/in.bin"):
        assert (out / rel).read_bytes() == b"in", rel
    (model / "zzz" / "up").symlink_to("..")  # a loop through a folder link: refused, not skipped
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:2")
    assert run.code == 2 and "symbolic link loop" in run.err and "/up" in run.err, run.err
    assert run.err.count("\n") == 1


def test_excluded_links_are_not_looked_at_and_the_refusals_name_files_exclude(tmp_path: Path) -> None:
    # A broken link, or one to a scratch disk, that the user leaves out was refused all the same.
    model = _model(tmp_path / "m")
    (model / "latest-run").symlink_to("run-deleted")
    (model / "outputs").symlink_to(tmp_path)
    refused = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert refused.code == 2 and refused.err.count("\n") == 1, refused.err
    assert "latest-run: broken symlink" in refused.err and "files.exclude" in refused.err, refused.err
    (model / "latest-run").unlink()
    outside = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert outside.code == 2 and "outputs is a link" in outside.err and "files.exclude" in outside.err, outside.err
    (model / "latest-run").symlink_to("run-deleted")
    (model / "modelpack.yaml").write_text("name: m\nfiles: {exclude: [latest-run, outputs/]}\n")
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 0, run.err
    shown = modelpack("inspect", "localhost:5000/t/m:1").out
    assert "weights.bin" in shown and "latest-run" not in shown and "outputs" not in shown


def test_hugging_face_cache_snapshot_links_into_its_blobs_are_followed(tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--org--tiny"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc123").write_bytes(b"weights")
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to("../../blobs/abc123")
    run = modelpack("pack", str(snapshot), "-t", "localhost:5000/t/tiny:1")
    assert run.code == 0, run.err
    # ... but not anywhere else in the cache.
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snapshot / "ref").symlink_to("../../refs/main")
    run = modelpack("pack", str(snapshot), "-t", "localhost:5000/t/tiny:2")
    assert run.code == 2 and "ref" in run.err, run.err


# -- C39, C41, C42, C43: odd files are refused or reported by name ------------------------------------
def test_folder_named_like_the_metadata_file_is_refused(tmp_path: Path) -> None:
    model = _model(tmp_path / "m", yaml_text=None)
    (model / "modelpack.yaml").mkdir()
    (model / "modelpack.yaml" / "a.txt").write_text("x")
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 2, run.err
    assert "modelpack.yaml" in run.err and "not a regular file" in run.err


def test_link_loop_is_refused_by_name(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    (model / "a").symlink_to("b")
    (model / "b").symlink_to("a")
    run = modelpack("pack", str(model), "-t", "localhost:5000/t/m:1")
    assert run.code == 2, run.err
    assert "link loop" in run.err and ("a:" in run.err or "b:" in run.err)


def test_read_errors_name_the_file() -> None:
    from modelpack.errors import ModelpackError
    from modelpack.packing.reading import open_source
    from modelpack.packing.select import SourceFile

    # /proc/self/mem opens but every read at offset 0 fails with EIO, whose message names no file.
    with open_source(SourceFile("weights/mem.bin", Path("/proc/self/mem"), 0o644, 10, 0)) as f, \
            pytest.raises(ModelpackError, match=r"cannot read weights/mem\.bin: Input/output error") as err:
        f.read(10)
    assert err.value.exit_code == 1


@pytest.mark.parametrize("archive", [False, True])
def test_file_deleted_while_packing_is_a_change_not_a_crash(tmp_path: Path, archive: bool) -> None:
    from modelpack.errors import IntegrityError
    from modelpack.metadata.load import load_metadata
    from modelpack.packing.build import HashProgress, build

    model = _model(tmp_path / "m", yaml_text="name: m\nfiles: {archives: [data]}\n" if archive else "name: m\n")
    (model / "big.bin").write_bytes(b"b" * 1000)
    (model / "data").mkdir()
    (model / "data" / "small.csv").write_text("x\n")
    victim = model / "data" / "small.csv" if archive else model / "weights.bin"
    # The largest file is hashed first; deleting the other then is a deletion during the pack.
    progress = HashProgress(start=lambda size: victim.unlink(missing_ok=True), advance=lambda n: None)
    with pytest.raises(IntegrityError, match="changed while it was being packed") as err:
        build(model, load_metadata(model, use_git=False), workers=1, hash_progress=progress)
    assert err.value.exit_code == 6


# -- A8, C48, C49: a damaged store is reported in one line and can be repaired ----------------------
@pytest.mark.parametrize("text", ["{", "[1]", '{"manifests":"x"}', '{"manifests":[{"digest":5}]}'])
@pytest.mark.parametrize("command", [("list",), ("inspect", "localhost:5000/t/m:1"), ("rm", "localhost:5000/t/m:1"),
                                     ("tag", "localhost:5000/t/m:1", "localhost:5000/t/m:2")])
def test_corrupt_store_index_is_one_line_naming_store_check(modelpack_home: Path, text: str,
                                                            command: tuple[str, ...]) -> None:
    modelpack_home.mkdir(exist_ok=True)
    (modelpack_home / "index.json").write_text(text)
    run = modelpack(*command)
    assert run.code == 6, run.err
    assert run.err.count("\n") == 1 and "internal error" not in run.err
    assert str(modelpack_home / "index.json") in run.err and "modelpack store check --repair" in run.err


def test_store_check_repair_keeps_the_entries_that_still_read(tmp_path: Path, modelpack_home: Path) -> None:
    assert modelpack("pack", str(_model(tmp_path / "m")), "-t", "localhost:5000/t/m:1").code == 0
    index = modelpack_home / "index.json"
    good = json.loads(index.read_text())
    good["manifests"].append({"digest": 5})
    index.write_text(json.dumps(good))
    checked = modelpack("store", "check")
    assert checked.code == 6 and "corrupt index" in checked.out, checked.out + checked.err
    repaired = modelpack("store", "check", "--repair")
    assert repaired.code == 0, repaired.out + repaired.err
    assert "rebuilt" in repaired.out and (modelpack_home / "index.json.corrupt").exists()
    listed = modelpack("list")
    assert listed.code == 0 and "localhost:5000/t/m:1" in listed.out


def test_store_home_that_is_a_file_names_the_variable(tmp_path: Path) -> None:
    home = tmp_path / "afile"
    home.write_text("x")
    for command in (("list",), ("pack", str(_model(tmp_path / "m")), "-t", "localhost:5000/t/m:1")):
        run = modelpack(*command, env={"MODELPACK_HOME": str(home)})
        assert run.code == 2, run.err
        assert f"MODELPACK_HOME ({home}) is not a directory" in run.err


def test_list_marks_a_model_whose_content_is_missing(tmp_path: Path, modelpack_home: Path) -> None:
    assert modelpack("pack", str(_model(tmp_path / "m")), "-t", "localhost:5000/t/m:1").code == 0
    assert modelpack("pack", str(_model(tmp_path / "n", "name: n\n")), "-t", "localhost:5000/t/n:1").code == 0
    digest = json.loads(modelpack("list", "--json").out)[0]["digest"]
    (modelpack_home / "blobs" / "sha256" / digest.split(":")[1]).unlink()
    listed = modelpack("list")
    assert listed.code == 0
    lines = {line.split()[0]: line for line in listed.out.splitlines()[1:]}
    assert "MISSING CONTENT" in lines["localhost:5000/t/m:1"] and "MISSING" not in lines["localhost:5000/t/n:1"]
    assert "store check" in listed.err
    as_json = {m["reference"]: m["complete"] for m in json.loads(modelpack("list", "--json").out)}
    assert as_json == {"localhost:5000/t/m:1": False, "localhost:5000/t/n:1": True}
    checked = modelpack("store", "check")
    assert checked.code == 6 and "needs a re-pull: localhost:5000/t/m:1" in checked.out


# -- A5, C37, C38: the docker config is read strictly and a credential helper is honoured ------------
@pytest.mark.parametrize(("config", "named"), [('{"auths": "x"}', "'auths' must be an object"),
                                               ("[1]", "JSON object at the top level"),
                                               ('{"credHelpers": []}', "'credHelpers' must be an object"),
                                               ('{"credsStore": 5}', "'credsStore' must be a string"),
                                               ('{"credsStore": "nonexistent-helper"}',
                                                "docker-credential-nonexistent-helper is not on PATH")])
def test_login_refuses_a_docker_config_it_cannot_honour(registry: Registry, config: str, named: str) -> None:
    path = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    path.write_text(config)
    run = modelpack("login", "--plain-http", registry.host, "-u", "u", "--password-stdin", stdin="secret\n")
    assert run.code == 2, run.err
    assert named in run.err and str(path) in run.err and run.err.count("\n") == 1
    assert path.read_text() == config  # neither overwritten nor given the password in plain text


def test_login_stores_through_the_credential_helper(registry: Registry, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kept = tmp_path / "kept.json"
    helper = bin_dir / "docker-credential-fake"
    helper.write_text(f"#!/bin/sh\ncase $1 in\n  store) cat > {kept} ;;\n  get) cat {kept} ;;\n"
                      f"  erase) rm -f {kept} ;;\nesac\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    path = Path(os.environ["DOCKER_CONFIG"]) / "config.json"
    path.write_text('{"credsStore": "fake"}')
    run = modelpack("login", "--plain-http", registry.host, "-u", "alice", "--password-stdin", stdin="s3cret\n")
    assert run.code == 0, run.err
    assert "s3cret" not in path.read_text() and json.loads(path.read_text())["auths"] == {registry.host: {}}
    assert json.loads(kept.read_text()) == {"ServerURL": registry.host, "Username": "alice", "Secret": "s3cret"}
    from modelpack.store import credentials

    found = credentials.lookup(registry.host)
    assert found is not None and (found.username, found.password) == ("alice", "s3cret")
    assert modelpack("logout", registry.host).code == 0
    assert not kept.exists()


# -- C47: malformed settings in the environment are refused, not replaced by a default --------------
@pytest.mark.parametrize("value", ["0", "-3", "abc", "1.5", "100000"])
def test_malformed_concurrency_is_refused(tmp_path: Path, value: str) -> None:
    run = modelpack("pack", str(_model(tmp_path / "m")), "-t", "localhost:5000/t/m:1",
                    env={"MODELPACK_CONCURRENCY": value})
    assert run.code == 2, run.err
    assert f"MODELPACK_CONCURRENCY={value!r}: expected a whole number of at least 1 and at most 64" in run.err


@pytest.mark.parametrize("value", ["0", "abc", "17"])
@pytest.mark.parametrize("command", ["pack", "pull"])
def test_malformed_range_connections_are_refused_at_the_start(registry: Registry, tmp_path: Path, value: str,
                                                             command: str) -> None:
    # The model's files are far below the size fetched in ranges: the variable is checked all the same.
    repo = f"{registry.repo()}:1"
    pushed = modelpack("push", "--plain-http", str(_model(tmp_path / "m")), repo)
    assert pushed.code == 0, pushed.err
    args = ["pack", str(_model(tmp_path / "n")), "-t", "localhost:5000/t/n:1"] if command == "pack" else [
        "pull", "--plain-http", repo]
    run = modelpack(*args, env={"MODELPACK_RANGE_CONNECTIONS": value})
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err.strip() == (f"error: MODELPACK_RANGE_CONNECTIONS={value!r}: expected a whole number of at "
                               "least 1 and at most 16")


@pytest.mark.parametrize("value", ["garbage", "sha256:abc", "sha256:" + "g" * 64])
def test_a_model_digest_in_the_environment_that_is_no_digest_is_refused_by_serve(tmp_path: Path, value: str) -> None:
    # It labels every metric series and the model's metadata: served as given, a typo hid the model's identity.
    run = modelpack("serve", str(_model(tmp_path / "m")), "--port", "0", env={"MODELPACK_MODEL_DIGEST": value},
                    timeout=60)
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err.strip() == f"error: MODELPACK_MODEL_DIGEST={value!r} is not a digest (sha256:<64 hex>)"


def test_concurrency_in_range_is_used(tmp_path: Path) -> None:
    run = modelpack("pack", str(_model(tmp_path / "m")), "-t", "localhost:5000/t/m:1",
                    env={"MODELPACK_CONCURRENCY": " 8 "})
    assert run.code == 0, run.err


# A timeout libcurl cannot count (inf, nan, past a C long of milliseconds) is refused up front: it used to
# kill the transfer engine with a traceback and end as a wrong "cannot connect" (exit 5).
@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "1000001"])
@pytest.mark.parametrize("where", ["option", "env"])
def test_unusable_timeout_is_refused(registry: Registry, value: str, where: str) -> None:
    args = ["--timeout", value] if where == "option" else []
    env = {"MODELPACK_TIMEOUT": value} if where == "env" else {}
    run = modelpack("pull", "--plain-http", *args, f"{registry.repo()}:1", env=env)
    assert (run.code, run.out) == (2, ""), run.err
    assert "is not a number of seconds above 0 and at most 1000000" in run.err
    assert "Traceback" not in run.err and len(run.err.strip().splitlines()) == 1


def test_help_states_the_timeout_bound_and_where_link_copies() -> None:
    shown = " ".join(modelpack("pull", "--help").out.split())
    assert "(default 120, at most 1000000; env MODELPACK_TIMEOUT)" in shown
    assert "(same filesystem; on another one they are copies, with a warning)" in shown


def test_unusable_timeout_is_refused_by_the_api() -> None:
    from modelpack.errors import UsageError
    from modelpack.store.options import ClientOptions

    with pytest.raises(UsageError, match="at most 1000000"):
        ClientOptions(timeout=float("inf"))
    assert ClientOptions(timeout=1_000_000).timeout == 1_000_000


# `report` and `sbom` read the registry unless given --local: a model missing from the store says to leave
# --local out (it said "add --remote", an option neither command has).
@pytest.mark.parametrize("command", ["report", "sbom"])
def test_local_read_of_a_model_not_in_the_store_says_to_leave_out_local(command: str) -> None:
    run = modelpack(command, "--local", "localhost:5000/t/absent:1")
    assert run.code == 3, run.err
    assert run.err.strip() == ("error: localhost:5000/t/absent:1 is not in the local store; "
                               "leave out --local to read it from the registry")


def test_inspect_of_a_model_not_in_the_store_says_to_add_remote() -> None:
    run = modelpack("inspect", "localhost:5000/t/absent:1")
    assert run.code == 3, run.err
    assert "; add --remote to read it from the registry" in run.err


# `oci://HOST/REPO` (KServe's storageUri, which `k8s --kind kserve` prints) read as the layout `//HOST/...`
# ended in "'5000/t/m:1' is not a valid tag"; it now says how to write either place.
@pytest.mark.parametrize("command", [("pull",), ("inspect",), ("copy", "localhost:5000/t/m:1")])
def test_an_oci_url_says_how_to_name_a_registry_or_a_layout(command: tuple[str, ...]) -> None:
    run = modelpack(*command, "oci://localhost:5000/t/m:1")
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err.strip() == ("error: 'oci://localhost:5000/t/m:1': oci:// is KServe's storageUri form; name a "
                               "registry as HOST/REPOSITORY:TAG (no scheme), an OCI layout directory as oci:DIR[:TAG]")


# A registry host pasted with a trailing space reached the wire and was blamed on the registry ("sent a link
# ... to an unusable URL", exit 1); `login`/`logout` now refuse what is not a host before any request.
# (`login`/`logout localhost:5000/team` name a repository's entry, as `podman login`/`logout` take it.)
@pytest.mark.parametrize(("command", "host"), [
    *(("login", host) for host in ("localhost:5000 ", "reg_istry", "")),
    *(("logout", host) for host in ("localhost:5000 ", "reg_istry", ""))])
def test_login_and_logout_refuse_what_is_not_a_registry_host(host: str, command: str) -> None:
    args = ["-u", "alice", "--password-stdin"] if command == "login" else []
    run = modelpack(command, host, *args, stdin="secret\n")
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err.strip() == f"error: {host!r} is not a registry host (e.g. localhost:5000 or ghcr.io)"


# MODELPACK_HOME set to (or under) the model's own folder: the first pack wrote the store there, the second
# packed the store's blobs as model files while writing them ("content of sha256:... is larger than its
# declared size"). Refused up front, naming the fix, and nothing is written into the model's folder.
@pytest.mark.parametrize("command", ["pack", "push", "push-layout"])
def test_a_store_inside_the_model_folder_is_refused(tmp_path: Path, command: str) -> None:
    model = _model(tmp_path / "m")
    env = {"MODELPACK_HOME": str(model / "store")}
    args = {"pack": ["pack", str(model), "-t", "localhost:5000/t/m:1"],
            "push": ["push", str(model), "localhost:5000/t/m:1"],  # refused before any request
            "push-layout": ["push", str(model), f"oci:{tmp_path / 'layout'}:1"]}[command]
    for _ in range(2):
        run = modelpack(*args, env=env)
        assert (run.code, run.out) == (2, ""), run.err
        assert run.err.strip() == (f"error: the local store ({model / 'store'}) is inside {model}: its files would "
                                   "be packed as the model's; point MODELPACK_HOME at a folder outside the model")
    assert sorted(p.name for p in model.iterdir()) == ["modelpack.yaml", "weights.bin"]


# A registry host alone (`pull 127.0.0.1:5000`) was read as repository 127.0.0.1, tag 5000, and the fix
# offered was "write it as e.g. localhost:5000/127.0.0.1".
@pytest.mark.parametrize("host", ["127.0.0.1:5000", "localhost:5000", "registry.example.com:443"])
@pytest.mark.parametrize("command", ["pull", "push"])
def test_a_registry_host_alone_says_to_name_a_repository(host: str, command: str) -> None:
    run = modelpack(command, host)
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err.strip() == (f"error: {host} names no repository: write {host}/REPOSITORY:TAG; "
                               f"`modelpack ls {host}` lists its repositories")


def test_a_local_name_with_a_tag_still_says_to_name_a_registry() -> None:
    run = modelpack("pull", "iris:1")
    assert run.code == 2 and "names no registry; write it as e.g. localhost:5000/iris" in run.err, run.err


# A --set value was read with yaml.safe_load, whose date type crashed on month 13 ("internal error
# (ValueError: month must be in 1..12)"); it is read as modelpack.yaml is, and the field names the problem.
@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30"])
def test_an_impossible_date_in_set_is_a_metadata_error(tmp_path: Path, value: str) -> None:
    run = modelpack("pack", str(_model(tmp_path / "m")), "-t", "localhost:5000/t/m:1", "--set", f"created={value}")
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err.startswith("error: invalid metadata: created: ") and "internal error" not in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_a_date_in_set_stays_text(tmp_path: Path) -> None:
    ref = "localhost:5000/t/m:1"
    run = modelpack("pack", str(_model(tmp_path / "m")), "-t", ref, "--set", "hyperparameters.since=2026-12-05")
    assert run.code == 0, run.err
    shown = json.loads(modelpack("inspect", "--json", ref).out)
    assert shown["metadata"]["hyperparameters"] == {"since": "2026-12-05"}


# -- B2, C20: files named by options are regular files, a CA file holds a certificate -----------------
@pytest.mark.parametrize("command", [("sign", "--key"), ("verify", "--key"), ("pull", "--verify-key")])
def test_a_fifo_as_key_is_refused_without_blocking(tmp_path: Path, command: tuple[str, str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    run = modelpack(*command, str(fifo), "localhost:5000/t/m:1", timeout=60)
    assert run.code == 2, run.err
    assert "is not a regular file" in run.err


@pytest.mark.parametrize("content", ["garbage\n", "", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"])
def test_ca_file_without_a_certificate_is_refused_up_front(registry: Registry, tmp_path: Path, content: str) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(content)
    run = modelpack("ls", "--ca-file", str(ca), registry.repo())
    assert run.code == 2, run.err
    assert "no PEM certificate in" in run.err and str(ca) in run.err


def test_serve_of_a_missing_folder_says_so_before_the_registry_it_lacks(tmp_path: Path) -> None:
    # `serve iris-clasifier` (a typo of the folder): it said only "reference iris-clasifier names no registry"
    run = modelpack("serve", "iris-clasifier", "--port", "0", cwd=tmp_path)
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == ("error: iris-clasifier: no such directory nor model in the local store, and reference "
                       "iris-clasifier names no registry; "
                       "write it as e.g. localhost:5000/iris-clasifier\n")
    host = modelpack("serve", "localhost:5000", "--port", "0", cwd=tmp_path)  # the CLI's words for the next step
    assert host.err.strip().endswith("`modelpack ls localhost:5000` lists its repositories"), host.err
