"""A typo'd tag (`1.0.O`, `v1.1.0`, `prd`) said only "not found; `modelpack ls REPO` lists its versions":
the line now names the nearest tags the repository has (from one tag list, asked only when the tag the
user named is missing; signature tags never suggested), and names none when nothing is near."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack
from modelpack.store.options import ClientOptions

PLAIN = ClientOptions(plain_http=True)


def _versions(repo: str, tmp_path: Path) -> None:
    for version in ("1.0.0", "1.0.1"):
        folder = tmp_path / version
        folder.mkdir()
        (folder / "weights.bin").write_bytes(version.encode() * 10)
        mp.push(folder, f"{repo}:{version}", options=PLAIN)
    mp.tag_remote(f"{repo}:1.0.1", "prod", options=PLAIN)


@pytest.mark.parametrize(("command", "typed", "said", "after"), [
    (("pull", "-o", "{out}"), "1.0.O", "did you mean 1.0.0 or 1.0.1?", ""),  # a tie names both
    (("inspect", "--remote"), "v1.0.1", "did you mean 1.0.1?", ""),
    (("resolve",), "prd", "did you mean prod?", ""),
    (("diff", "--remote", "{repo}:1.0.0"), "1.0.2", "did you mean 1.0.0 or 1.0.1?", ""),
    (("verify", "--key", "{key}"), "prd", "did you mean prod?", ""),
    (("tag", "--remote"), "prd", "did you mean prod?", "champion"),
    (("copy",), "prd", "did you mean prod?", "{repo}-copy:1"),
    # sign, attest and verify-attestation said only "not found" (newcomer 41):
    (("sign", "--key", "{private}"), "prd", "did you mean prod?", ""),
    (("attest", "--key", "{private}", "--predicate", "{predicate}"), "v1.0.1", "did you mean 1.0.1?", ""),
    (("verify-attestation", "--key", "{key}"), "prd", "did you mean prod?", ""),
])
def test_a_typod_tag_names_the_nearest(proxy: FaultProxy, tmp_path: Path, command: tuple[str, ...], typed: str,
                                       said: str, after: str) -> None:
    repo = f"{proxy.host}/t/near-{tmp_path.name[-12:].lower()}"
    _versions(repo, tmp_path)
    private, key = mp.generate_key_pair(tmp_path / "keys", b"pw")
    predicate = tmp_path / "predicate.json"
    predicate.write_text("{}")
    args = [a.format(out=tmp_path / "out", repo=repo, key=key, private=private, predicate=predicate)
            for a in command]
    run = modelpack(args[0], *args[1:], f"{repo}:{typed}", *([after.format(repo=repo)] if after else []),
                    "--plain-http", env={"COSIGN_PASSWORD": "pw"})
    assert (run.code, run.out) == (3, ""), run.err
    assert run.err.count("\n") == 1
    assert f"; {said} `modelpack ls {repo}` lists its versions\n" in run.err
    assert not (tmp_path / "out").exists()


def test_nothing_near_names_nothing_and_a_probe_lists_no_tags(proxy: FaultProxy, tmp_path: Path) -> None:
    repo = f"{proxy.host}/t/near-none"
    _versions(repo, tmp_path)
    far = modelpack("resolve", f"{repo}:zzz", "--plain-http")
    assert far.code == 3 and "did you mean" not in far.err
    digest = modelpack("resolve", f"{repo}@sha256:{'0' * 64}", "--plain-http")
    assert digest.code == 3 and "did you mean" not in digest.err
    # A pull asks for tags that may be missing (the referrers fallback tag sha256-<hex>: 404 here) as
    # probes, not the user's typo: no tag list for them.
    proxy.clear()
    run = modelpack("pull", f"{repo}:prod", "-o", str(tmp_path / "out"), "--plain-http")
    assert run.code == 0, run.err
    assert [line for line, status in proxy.log if status == 404 and "/manifests/sha256-" in line]  # probed
    assert proxy.requests("GET", "/tags/list") == []


def test_a_typod_repository_is_said_as_the_repository(proxy: FaultProxy, tmp_path: Path) -> None:
    # `team/irs:1.0.0` said "manifest ... not found; `modelpack ls HOST/team/irs` lists its versions", and that
    # command then said the repository is not there: the tag list the suggestion asks for already knows it.
    repo = f"{proxy.host}/t/near-{tmp_path.name[-12:].lower()}"
    _versions(repo, tmp_path)
    typo = repo[:-1]
    for command in (("pull", "-o", str(tmp_path / "out")), ("inspect", "--remote")):
        run = modelpack(*command, f"{typo}:1.0.0", "--plain-http")
        assert (run.code, run.out) == (3, ""), run.err
        assert run.err == (f"error: repository {typo.split('/', 1)[1]} not found on {proxy.host}; "
                           f"`modelpack ls {proxy.host}` lists its repositories\n")
    assert not (tmp_path / "out").exists()
    # A repository that is there still names its nearest tag.
    assert "did you mean 1.0.0 or 1.0.1?" in modelpack("resolve", f"{repo}:1.0.O", "--plain-http").err


def test_a_repository_named_without_a_tag_says_latest_was_assumed(proxy: FaultProxy, tmp_path: Path) -> None:
    # `pull REPO` said "manifest of REPO:latest: not found" as if `latest` had been typed.
    repo = f"{proxy.host}/t/untagged"
    _versions(repo, tmp_path)
    for command in (("pull", "-o", str(tmp_path / "out")), ("inspect", "--remote")):
        run = modelpack(*command, repo, "--plain-http")
        assert (run.code, run.out) == (3, ""), run.err
        assert f"{repo}:latest: not found" in run.err
        assert "; no tag was given, so latest was assumed; " in run.err, run.err
    typed = modelpack("inspect", "--remote", f"{repo}:latest", "--plain-http")
    assert typed.code == 3 and "was assumed" not in typed.err
    missing = modelpack("inspect", "--remote", f"{repo}-gone", "--plain-http")
    assert missing.code == 3 and "was assumed" not in missing.err and "repository" in missing.err
