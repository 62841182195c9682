"""modelpack and skopeo (containers/image, the reference implementation of containers-registries.conf(5))
given the same registries.conf, against the same real registries: an origin, a mirror holding the same
model, an empty registry (a mirror that answers 404) and a Distribution pull-through cache of the origin.
Each is reached under a name (`origin.example.com:PORT`, ...) through a forward proxy that records which
host each request was for; both tools must ask the same hosts for the manifest, in the same order, and
agree on whether the pull succeeds.

skopeo 1.9 does not read CONTAINERS_REGISTRIES_CONF (podman and buildah pass it to containers/image
as the main file); it is given the same file with `--registries-conf`, which is that same setting.

Both read the drop-in folders where users keep them (modelpack without the suite's
MODELPACK_REGISTRIES_CONF_D), the user's under a $HOME of the test's own. The machine's
/etc/containers/registries.conf.d, which skopeo cannot be told to skip, is hidden from both behind an
empty folder mounted over it in a mount namespace of their own (`unshare --mount`, as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import _start, missing
from name_proxy import NameProxy
from registry_process import Registry, free_port

R, MI = "[[registry]]\n", "[[registry.mirror]]\n"
REPOS = ("team/m", "mirror/team/m", "library/m")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    hosts: tuple[str, ...]  # the hosts asked, as the letters of World.names, in the order first asked
    error: str = ""
    lines: int = field(default=0, compare=False)  # of stderr


@dataclass
class World:
    names: dict[str, str]  # O origin, M mirror (same content), E empty (404s), C cache of O, D dead (refuses)
    proxy: NameProxy
    digest: str
    skopeo: str
    hide_machine: list[str]  # put before a command: it runs with the machine's drop-ins hidden (or [])

    def fill(self, text: str) -> str:
        return text.format(**self.names, digest=self.digest)

    def letters(self, hosts: list[str]) -> tuple[str, ...]:
        back = {host: letter for letter, host in self.names.items()}
        return tuple(back.get(host, host) for host in hosts)


def _push(model: Path, ref: str, home: Path, conf: Path, drop_ins: Path) -> str:
    # (A module's fixture runs before conftest's, which sets both variables for each test.)
    run = subprocess.run([sys.executable, "-m", "modelpack", "push", "--plain-http", str(model), ref],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "MODELPACK_HOME": str(home), "CONTAINERS_REGISTRIES_CONF": str(conf),
                              "MODELPACK_REGISTRIES_CONF_D": str(drop_ins)})
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().split("@")[1]


SYSTEM_DROP_INS = Path("/etc/containers/registries.conf.d")


def _hiding_the_machines_drop_ins(empty: Path) -> list[str]:
    """A command prefix under which SYSTEM_DROP_INS is the empty folder `empty` ([] if the machine has no
    drop-ins); missing() when it has some and a mount namespace cannot be made here."""
    if not SYSTEM_DROP_INS.is_dir() or not any(SYSTEM_DROP_INS.glob("*.conf")):
        return []
    prefix = ["unshare", "--mount", "--", "sh", "-c", 'mount --bind "$0" "$1" && shift && exec "$@"', str(empty),
              str(SYSTEM_DROP_INS)]
    probe = subprocess.run([*prefix, "ls", "-A", str(SYSTEM_DROP_INS)], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or probe.stdout.strip():
        missing(f"{SYSTEM_DROP_INS} holds drop-ins, which skopeo reads and cannot be told to skip, and `unshare "
                f"--mount` cannot hide them here: {probe.stderr.strip()[-200:]}")
    return prefix


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        missing("skopeo is not installed (`make deps` installs Debian's)")
    root = tmp_path_factory.mktemp("skopeo-world")
    (root / "empty.d").mkdir()
    hide_machine = _hiding_the_machines_drop_ins(root / "empty.d")
    started: list[Registry] = [_start(root / name) for name in ("origin", "mirror", "empty")]
    origin, mirror = started[:2]
    started.append(_start(root / "cache", proxy=origin.url))
    model = root / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(os.urandom(100_000))
    (model / "config.json").write_text('{"layers": 2}\n')
    (root / "empty.conf").write_text("")
    digest = ""
    for reg in (origin, mirror):
        for repo in REPOS:
            digest = _push(model, f"{reg.host}/{repo}:1", root / "home", root / "empty.conf", root / "empty.d")
    port = {name: int(reg.host.rsplit(":", 1)[1]) for name, reg in zip("OMEC", started, strict=True)}
    names = {letter: f"{word}.example.com:{port[letter]}"
             for letter, word in zip("OMEC", ("origin", "mirror", "empty", "cache"), strict=True)}
    names["D"] = f"127.0.0.1:{free_port()}"  # nothing listens: connection refused (loopback: not proxied)
    # Names without a port, for wildcard prefixes: `models.example.com` is the origin, `mirror.example.com` the mirror.
    routes = {"models.example.com": port["O"], "m.example.com": port["O"], "mirror.example.com": port["M"]}
    with NameProxy(routes) as proxy:
        yield World(names, proxy, digest, skopeo, hide_machine)
    for reg in started:
        reg.stop()


def run_both(world: World, tmp_path: Path, conf: str, ref: str, *, tls_flags: bool = True,
             files: dict[str, str] | None = None, pull: bool = False) -> tuple[Outcome, Outcome]:
    """skopeo, then modelpack, on `ref` with `conf` as the main file (None: the user's files, `files`
    under $HOME). `pull`: skopeo copy / modelpack pull, counting blob requests; else the manifest's."""
    home = tmp_path / "home"
    for relative, text in (files or {}).items():
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_text(world.fill(text))
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "MODELPACK_HOME": str(tmp_path / "mp"), "NO_PROXY": "127.0.0.1",
           "no_proxy": "127.0.0.1"}
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[key] = world.proxy.url
    env.pop("XDG_CONFIG_HOME", None)
    env.pop("MODELPACK_REGISTRIES_CONF_D", None)  # the folders skopeo reads: the machine's is hidden instead
    skopeo = [world.skopeo]
    if conf is not None:
        path = tmp_path / "registries.conf"
        path.write_text(world.fill(conf))
        env["CONTAINERS_REGISTRIES_CONF"] = str(path)
        skopeo += ["--registries-conf", str(path)]
    else:
        env.pop("CONTAINERS_REGISTRIES_CONF", None)
    ref = world.fill(ref)
    if pull:
        skopeo += ["copy"] + (["--src-tls-verify=false"] if tls_flags else []) + [f"docker://{ref}",
                                                                                  f"oci:{tmp_path / 'oci'}:m"]
        ours = ["pull", "-o", str(tmp_path / "out")]
    else:
        skopeo += ["inspect", "--raw"] + (["--tls-verify=false"] if tls_flags else []) + [f"docker://{ref}"]
        ours = ["inspect", "--remote"]
    ours = [sys.executable, "-m", "modelpack", *ours, *(["--plain-http"] if tls_flags else []), ref]
    results = []
    for command in (skopeo, ours):
        world.proxy.clear()
        run = subprocess.run([*world.hide_machine, *command], env=env, capture_output=True, text=True, timeout=120)
        hosts = world.letters(world.proxy.hosts("/blobs/" if pull else "/manifests/"))
        lines = run.stderr.strip().splitlines()
        error = lines[-1] if run.returncode and lines else ""
        results.append(Outcome(run.returncode == 0, hosts, error, len(lines)))
    return results[0], results[1]


def ok(*hosts: str) -> Outcome:
    return Outcome(True, hosts)


TAG, DIGEST = "{O}/team/m:1", "{O}/team/m@{digest}"
MIRRORED = R + 'location = "{O}"\n' + MI + 'location = "{M}"\n'
CASES: dict[str, tuple[str, str, Outcome]] = {
    # The longest prefix wins over the location's own table.
    "longest prefix": (R + 'location = "{O}"\n' + MI + 'location = "{E}"\n' + R + 'prefix = "{O}/team"\n'
                       'location = "{O}/team"\n' + MI + 'location = "{M}/team"\n', TAG, ok("M")),
    "wildcard prefix": (R + 'prefix = "*.example.com"\n' + MI + 'location = "{M}"\n', "models.example.com/team/m:1",
                        ok("M")),
    "exact beats wildcard": (R + 'prefix = "*.example.com"\n' + MI + 'location = "{E}"\n' + R +
                             'location = "models.example.com"\n' + MI + 'location = "{M}"\n',
                             "models.example.com/team/m:1", ok("M")),
    # A wildcard keeps the reference's port, and hands it to the mirror: mirror.example.com:PORT-OF-O.
    "wildcard, reference with a port": (R + 'prefix = "*.example.com"\n' + MI + 'location = "mirror.example.com"\n',
                                        TAG, ok("mirror.example.com:{port}")),
    # `origin.example.com` matches `origin.example.com:PORT` (containers/image matches up to a `:`).
    "host prefix, reference with a port": (R + 'location = "origin.example.com"\n' + MI +
                                           'location = "mirror.example.com"\n', TAG, ok("mirror.example.com:{port}")),
    "host prefix blocks every port": (R + 'location = "origin.example.com"\nblocked = true\n', TAG,
                                      Outcome(False, ())),
    "location rewrites a namespace": (R + 'prefix = "a.example.com/team"\nlocation = "{M}/mirror/team"\n',
                                      "a.example.com/team/m:1", ok("M")),
    "mirror rewrites a namespace": (R + 'prefix = "a.example.com/team"\nlocation = "{O}/team"\n' + MI +
                                    'location = "{M}/mirror/team"\n', "a.example.com/team/m:1", ok("M")),
    "mirror-by-digest-only, tag": (R + 'location = "{O}"\nmirror-by-digest-only = true\n' + MI + 'location = "{M}"\n',
                                   TAG, ok("O")),
    "mirror-by-digest-only, digest": (R + 'location = "{O}"\nmirror-by-digest-only = true\n' + MI +
                                      'location = "{M}"\n', DIGEST, ok("M")),
    "blocked": (R + 'location = "{O}"\nblocked = true\n', TAG, Outcome(False, ())),
    "mirror refuses connections": (R + 'location = "{O}"\n' + MI + 'location = "{D}"\n', TAG, ok("O")),
    "mirror answers 404": (R + 'location = "{O}"\n' + MI + 'location = "{E}"\n', TAG, ok("E", "O")),
    "pull-through cache": (R + 'location = "{O}"\n' + MI + 'location = "{C}"\n', TAG, ok("C")),
    "two mirrors, the first empty": (MIRRORED.replace('"{M}"', '"{E}"') + MI + 'location = "{M}"\n', DIGEST,
                                     ok("E", "M")),
    # Equally long prefixes: containers/image keeps its tables sorted and takes the first, so the wildcard.
    "wildcard and exact equally long": (R + 'prefix = "*.example.com"\n' + MI + 'location = "{E}"\n' + R +
                                        'location = "m.example.com"\n' + MI + 'location = "{M}"\n',
                                        "m.example.com/team/m:1", ok("E", "m.example.com")),
    # The same prefix twice in one file: the first table (across files, the later file's).
    "the same prefix twice in a file": (MIRRORED + MIRRORED.replace('"{M}"', '"{E}"'), TAG, ok("M")),
    "the same prefix twice, first empty": (MIRRORED.replace('"{M}"', '"{E}"') + MIRRORED, TAG, ok("E", "O")),
    "docker.io official image": (R + 'prefix = "docker.io/library"\nlocation = "{M}/library"\n', "docker.io/m:1",
                                 ok("M")),
    "version 1 block list": ('[registries.block]\nregistries = ["{O}"]\n', TAG, Outcome(False, ())),
}
for _mode in ("all", "digest-only", "tag-only"):
    for _kind, _ref in (("tag", TAG), ("digest", DIGEST)):
        _uses_mirror = _mode == "all" or _mode.startswith(_kind)
        CASES[f"pull-from-mirror {_mode}, {_kind}"] = (MIRRORED + f'pull-from-mirror = "{_mode}"\n', _ref,
                                                       ok("M" if _uses_mirror else "O"))


@pytest.mark.parametrize("case", CASES)
def test_the_same_hosts_are_asked_as_skopeo_asks(world: World, tmp_path: Path, case: str) -> None:
    conf, ref, expected = CASES[case]
    port = world.names["O"].rsplit(":", 1)[1]
    expected = Outcome(expected.ok, tuple(h.replace("{port}", port) for h in expected.hosts))
    skopeo, ours = run_both(world, tmp_path, conf, ref)
    assert (skopeo.ok, skopeo.hosts) == (expected.ok, expected.hosts), skopeo.error  # the reference, as written
    assert (ours.ok, ours.hosts) == (expected.ok, expected.hosts), ours.error
    if not expected.ok:
        assert skopeo.error and "is blocked" in skopeo.error
        assert ours.error.startswith("error: ") and "is blocked by" in ours.error, ours.error


@pytest.mark.parametrize("conf", [R + 'location = "{O}"\ninsecure = true\n',
                                  '[registries.insecure]\nregistries = ["{O}"]\n', R + 'location = "{O}"\n'],
                         ids=["insecure", "version 1 insecure list", "secure"])
def test_insecure_allows_plain_http_as_in_skopeo(world: World, tmp_path: Path, conf: str) -> None:
    # No --plain-http / --tls-verify=false: HTTPS is tried (a TLS handshake with a plain HTTP registry,
    # which fails), then plain HTTP only where the file says insecure.
    skopeo, ours = run_both(world, tmp_path, conf, TAG, tls_flags=False)
    expected = ok("O") if "insecure" in conf else Outcome(False, ())
    assert (skopeo.ok, skopeo.hosts) == (expected.ok, expected.hosts), skopeo.error
    assert (ours.ok, ours.hosts) == (expected.ok, expected.hosts), ours.error


@pytest.mark.parametrize(("conf", "skopeo_blobs", "our_blobs"), [
    (R + 'location = "{O}"\n' + MI + 'location = "{C}"\n', ("C",), ("C",)),
    # The documented difference: containers/image reads every blob from the endpoint that served the
    # manifest; modelpack asks the mirrors again for each blob (a cache may hold, or fetch, blobs of a tag
    # it could not resolve), then the origin.
    (R + 'location = "{O}"\n' + MI + 'location = "{E}"\n', ("O",), ("E", "O")),
], ids=["cache", "empty mirror"])
def test_a_pull_reads_blobs_where_skopeo_copy_reads_them(world: World, tmp_path: Path, conf: str,
                                                          skopeo_blobs: tuple[str, ...],
                                                          our_blobs: tuple[str, ...]) -> None:
    skopeo, ours = run_both(world, tmp_path, conf, TAG, pull=True)
    assert skopeo == ok(*skopeo_blobs), skopeo
    assert ours == ok(*our_blobs), ours


USER = ".config/containers/registries.conf"
FILES: dict[str, tuple[str | None, dict[str, str], Outcome]] = {
    # A drop-in's table replaces the main file's table of the same prefix, whole.
    "drop-in overrides the user's file": (None, {USER: MIRRORED.replace('"{M}"', '"{E}"'),
                                                 USER + ".d/50-m.conf": MIRRORED}, ok("M")),
    # The user's file, when it exists, is read instead of /etc/containers/registries.conf.
    "user's file": (None, {USER: MIRRORED}, ok("M")),
    # The chosen file replaces the user's file; the user's drop-ins still apply over it.
    "chosen file over the user's": (MIRRORED, {USER: MIRRORED.replace('"{M}"', '"{E}"')}, ok("M")),
    "user's drop-in over the chosen file": (MIRRORED, {USER + ".d/50-e.conf": MIRRORED.replace('"{M}"', '"{E}"')},
                                            ok("E", "O")),
}


@pytest.mark.parametrize("case", FILES)
def test_the_same_files_are_read_as_skopeo_reads(world: World, tmp_path: Path, case: str) -> None:
    conf, files, expected = FILES[case]
    skopeo, ours = run_both(world, tmp_path, conf, TAG, files=files)  # type: ignore[arg-type]
    assert (skopeo.ok, skopeo.hosts) == (expected.ok, expected.hosts), skopeo.error
    assert (ours.ok, ours.hosts) == (expected.ok, expected.hosts), ours.error


def test_short_names_are_refused_where_skopeo_assumes_docker_hub(world: World, tmp_path: Path) -> None:
    """The documented difference: skopeo reads `team/m:1` as docker.io/team/m:1 (unqualified-search-registries
    is podman's, for its short-name resolution); modelpack takes fully qualified references only."""
    conf = 'unqualified-search-registries = ["{O}"]\n' + R + 'prefix = "docker.io/team"\nlocation = "{O}/team"\n'
    skopeo, ours = run_both(world, tmp_path, conf, "team/m:1")
    assert skopeo == ok("O")
    assert not ours.ok and ours.hosts == ()
    assert ours.error == "error: reference team/m:1 names no registry; write it as e.g. localhost:5000/team/m"


def test_a_prefix_naming_a_tag_is_refused_where_skopeo_never_matches_it(world: World, tmp_path: Path) -> None:
    """The documented difference: containers/image accepts the table and, matching repositories on a
    pull, never applies it; modelpack refuses the file rather than let a table seem to work."""
    skopeo, ours = run_both(world, tmp_path, R + 'prefix = "{O}/team/m:1"\nlocation = "{M}/team/m:1"\nblocked = true\n',
                            TAG)
    assert skopeo == ok("O")
    assert not ours.ok and ours.hosts == () and ours.lines == 1
    assert ours.error.endswith(f"prefix '{world.names['O']}/team/m:1' is not host[:port][/namespace] (no tag or "
                               "digest)")


def test_a_missing_chosen_file_is_refused_as_skopeo_refuses_it(world: World, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    missing_file = tmp_path / "nowhere.conf"
    skopeo = subprocess.run([world.skopeo, "--registries-conf", str(missing_file), "inspect", "--raw",
                             "docker://" + world.fill(TAG)], capture_output=True, text=True, timeout=60)
    assert skopeo.returncode != 0 and "no such file or directory" in skopeo.stderr
    ours = subprocess.run([sys.executable, "-m", "modelpack", "inspect", "--remote", "--plain-http",
                           world.fill(TAG).replace("origin.example.com", "127.0.0.1")], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "CONTAINERS_REGISTRIES_CONF": str(missing_file)})
    assert ours.returncode == 2
    assert ours.stderr.strip() == (f"error: CONTAINERS_REGISTRIES_CONF={missing_file} names no file; create it (an "
                                   "empty file configures nothing) or unset the variable")



@pytest.mark.parametrize("make", ["symlink loop", "10,000 mirrors", "version 1 drop-in", "digest-only twice"])
def test_hostile_files_stop_both_and_ours_in_one_line(world: World, tmp_path: Path, make: str) -> None:
    folder = tmp_path / "home" / ".config" / "containers" / "registries.conf.d"
    folder.mkdir(parents=True)
    (folder.parent / "registries.conf").write_text("")
    if make == "symlink loop":
        os.symlink("loop.conf", folder / "loop.conf")
        expected = f"error: cannot read {folder / 'loop.conf'}: Too many levels of symbolic links; fix or remove it"
    elif make == "10,000 mirrors":
        (folder / "many.conf").write_text(world.fill(R + 'location = "{O}"\n') + "".join(
            f'{MI}location = "127.0.0.1:{n}"\n' for n in range(20_000, 30_000)))
        expected = (f"error: {folder / 'many.conf'}: prefix '{world.names['O']}' lists 10000 mirrors; modelpack "
                    "tries at most 16: keep the nearest")
    elif make == "digest-only twice":  # refused even though both say the same
        (folder / "d.conf").write_text(world.fill(R + 'location = "{O}"\nmirror-by-digest-only = true\n' + MI +
                                                  'location = "{M}"\npull-from-mirror = "digest-only"\n'))
        expected = (f"error: {folder / 'd.conf'}: prefix '{world.names['O']}' sets mirror-by-digest-only and its "
                    f"mirror {world.names['M']} sets pull-from-mirror = 'digest-only'; keep one")
    else:
        (folder / "v1.conf").write_text(world.fill('[registries.block]\nregistries = ["{O}"]\n'))
        expected = (f"error: {folder / 'v1.conf'}: a drop-in must be version 2 ([[registry]] tables), not "
                    "[registries.*]; convert it")
    skopeo, ours = run_both(world, tmp_path, None, TAG)  # type: ignore[arg-type]
    if make != "10,000 mirrors":  # skopeo tries all 10,000 (3.7 s here, each refused at once)
        assert not skopeo.ok and "registries configuration" in skopeo.error, skopeo
    assert ours == Outcome(False, (), expected) and ours.lines == 1
