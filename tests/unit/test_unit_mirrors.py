"""registries.conf parsing and routing (containers-registries.conf(5)): pure, no network."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelpack.errors import UsageError
from modelpack.oci.reference import Reference
from modelpack.store import mirrors, registries_files
from modelpack.store.mirrors import RegistriesConf
from modelpack.store.registries_parse import parse

DIGEST = "sha256:" + "a" * 64


def conf(text: str) -> RegistriesConf:
    return RegistriesConf(tuple(parse(text, "test.conf")), ("test.conf",))


def where(route: mirrors.Route, by_digest: bool) -> list[str]:
    return [str(endpoint.reference.name) for endpoint in route.sources(by_digest)]


def test_location_rewrites_the_prefix_and_mirrors_come_first_in_order() -> None:
    c = conf('''
[[registry]]
prefix = "example.com/foo"
location = "internal.example.net/bar"
[[registry.mirror]]
location = "mirror-0.local/mirror-for-foo"
[[registry.mirror]]
location = "mirror-1.local:5000/mirrors/foo"
insecure = true
''')
    route = c.route(Reference.parse("example.com/foo/image:latest"))
    assert where(route, by_digest=False) == ["mirror-0.local/mirror-for-foo/image",
                                             "mirror-1.local:5000/mirrors/foo/image", "internal.example.net/bar/image"]
    assert [e.mirror for e in route.sources(False)] == [True, True, False]
    assert [e.insecure for e in route.sources(False)] == [False, True, False]
    assert route.origin.reference.tag == "latest"  # the version is kept


def test_a_prefix_matches_up_to_a_port_as_containers_image_matches() -> None:
    # containers/image's refMatchingPrefix lets `example.com` match `example.com:5000` (and skopeo refuses
    # that host when the table is blocked): the port is carried over to every location.
    c = conf('[[registry]]\nlocation = "o.example.com"\n[[registry.mirror]]\nlocation = "m.example.com"\n'
             '[[registry]]\nlocation = "bad.example.com"\nblocked = true\n')
    assert where(c.route(Reference.parse("o.example.com:5000/team/m:1")), False) == \
        ["m.example.com:5000/team/m", "o.example.com:5000/team/m"]
    with pytest.raises(UsageError, match="blocked"):
        c.route(Reference.parse("bad.example.com:8443/m:1"))
    with pytest.raises(UsageError, match="blocked"):
        c.check_host("bad.example.com:8443")
    assert c.entry_for("bad.example.community/m") is None and c.entry_for("o.example.com.evil/m") is None


def test_prefix_defaults_to_location_and_the_longest_prefix_wins() -> None:
    c = conf('''
[[registry]]
location = "reg.example.com"
insecure = true
[[registry]]
prefix = "reg.example.com/team"
location = "reg.example.com/team"
blocked = true
''')
    assert c.route(Reference.parse("reg.example.com/other/m:1")).origin.insecure
    with pytest.raises(UsageError, match=r"reg.example.com/team/m is blocked by test.conf"):
        c.route(Reference.parse("reg.example.com/team/m:1"))
    # A prefix matches whole path components only; a host prefix also matches that host with a port, as
    # containers/image matches (and then `reg.example.com:5000/team` is not under `reg.example.com/team`).
    assert c.entry_for("reg.example.com/teamwork/m").prefix == "reg.example.com"  # type: ignore[union-attr]
    assert c.entry_for("reg.example.com:5000/team/m").prefix == "reg.example.com"  # type: ignore[union-attr]


def test_wildcard_prefix_matches_subdomains_and_wins_over_an_exact_one_as_long() -> None:
    c = conf('''
[[registry]]
prefix = "*.example.com"
[[registry.mirror]]
location = "cache.local/ex"
[[registry]]
prefix = "a.example.com"
location = "a.example.com"
''')
    route = c.route(Reference.parse("b.example.com/team/m:1"))
    assert where(route, False) == ["cache.local/ex/team/m", "b.example.com/team/m"]
    # Equally long prefixes: the first in sorted order wins, as containers/image sorts its tables (and
    # skopeo blocks `a.example.com` for a blocked `*.example.com`); a longer exact one wins.
    assert c.entry_for("a.example.com/team/m").prefix == "*.example.com"  # type: ignore[union-attr]
    assert c.entry_for("ab.example.com/team/m").prefix == "*.example.com"  # type: ignore[union-attr]
    longer = conf('[[registry]]\nprefix = "*.example.com"\nblocked = true\n[[registry]]\nlocation = "ab.example.com"\n')
    assert longer.route(Reference.parse("ab.example.com/team/m:1")).mirrors == ()
    # The same prefix twice in one file: the first table applies (skopeo asks the first one's mirrors).
    twice = conf('[[registry]]\nlocation = "a.example.com"\n[[registry.mirror]]\nlocation = "m1.local"\n'
                 '[[registry]]\nlocation = "a.example.com"\n[[registry.mirror]]\nlocation = "m2.local"\n')
    assert where(twice.route(Reference.parse("a.example.com/m:1")), False) == ["m1.local/m", "a.example.com/m"]
    assert c.entry_for("example.com/team/m") is None
    # The host's port is no part of the domain a wildcard matches (as in containers/image): a blocked
    # wildcard blocks every port. It is carried over to the mirror's location, as containers/image does,
    # which turns a location with a namespace into no reference at all: refused, naming the file.
    with pytest.raises(UsageError, match=re.escape("test.conf: prefix '*.example.com' maps b.example.com:5000/team/m "
                                                   "to 'cache.local/ex:5000/team/m', which is no registry/repository "
                                                   "name")):
        c.route(Reference.parse("b.example.com:5000/team/m:1"))
    ported = conf('[[registry]]\nprefix = "*.example.com"\n[[registry.mirror]]\nlocation = "cache.local"\n')
    assert where(ported.route(Reference.parse("b.example.com:5000/team/m:1")), False) == \
        ["cache.local:5000/team/m", "b.example.com:5000/team/m"]
    blocked = conf('[[registry]]\nprefix = "*.example.com"\nblocked = true\n')
    with pytest.raises(UsageError, match="blocked"):
        blocked.route(Reference.parse("b.example.com:443/team/m:1"))


def test_a_trailing_slash_is_trimmed_so_the_table_still_applies() -> None:
    # containers/image trims it; kept, the prefix matched nothing and `blocked = true` was silently ignored.
    c = conf('[[registry]]\nlocation = "bad.example.com/"\nblocked = true\n'
             '[[registry]]\nprefix = "o.example.com/team/"\nlocation = "o.example.com/team/"\n'
             '[[registry.mirror]]\nlocation = "m.local/cache/"\n')
    with pytest.raises(UsageError, match="blocked"):
        c.route(Reference.parse("bad.example.com/m:1"))
    assert where(c.route(Reference.parse("o.example.com/team/m:1")), False) == \
        ["m.local/cache/m", "o.example.com/team/m"]


def test_pull_from_mirror_selects_mirrors_by_the_kind_of_pull() -> None:
    c = conf('''
[[registry]]
location = "origin.example.com"
[[registry.mirror]]
location = "digests.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.local"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "both.local"
''')
    route = c.route(Reference.parse("origin.example.com/m:1"))
    assert [e.host for e in route.sources(by_digest=False)] == ["tags.local", "both.local", "origin.example.com"]
    assert [e.host for e in route.sources(by_digest=True)] == ["digests.local", "both.local", "origin.example.com"]


def test_mirror_by_digest_only_applies_to_every_mirror_and_conflicts_are_refused() -> None:
    c = conf('[[registry]]\nlocation = "o.example.com"\nmirror-by-digest-only = true\n'
             '[[registry.mirror]]\nlocation = "m.local"\n')
    assert [e.host for e in c.route(Reference.parse("o.example.com/m:1")).sources(False)] == ["o.example.com"]
    with pytest.raises(UsageError, match="mirror-by-digest-only"):
        conf('[[registry]]\nlocation = "o.example.com"\nmirror-by-digest-only = true\n'
             '[[registry.mirror]]\nlocation = "m.local"\npull-from-mirror = "all"\n')
    with pytest.raises(UsageError, match="mirror-by-digest-only"):  # even agreeing, as containers/image
        conf('[[registry]]\nlocation = "o.example.com"\nmirror-by-digest-only = true\n'
             '[[registry.mirror]]\nlocation = "m.local"\npull-from-mirror = "digest-only"\n')


def test_docker_hub_official_images_match_under_library() -> None:
    c = conf('[[registry]]\nprefix = "docker.io/library"\nlocation = "docker.io/library"\n'
             '[[registry.mirror]]\nlocation = "mirror.gcr.io/library"\n')
    route = c.route(Reference.parse("docker.io/alpine:3"))
    assert route.mirrors[0][1].reference.name == "mirror.gcr.io/library/alpine"


def test_version_1_insecure_and_block_lists() -> None:
    c = conf('[registries.search]\nregistries = ["docker.io"]\n[registries.insecure]\nregistries = ["old.local:5000"]\n'
             '[registries.block]\nregistries = ["bad.example.com", "worse.example.com/"]\n')
    assert c.route(Reference.parse("old.local:5000/m:1")).origin.insecure
    with pytest.raises(UsageError, match="blocked"):
        c.route(Reference.parse("bad.example.com/m:1"))
    with pytest.raises(UsageError, match="blocked"):
        c.route(Reference.parse("worse.example.com/m:1"))


def test_short_name_settings_are_ignored() -> None:
    c = conf('unqualified-search-registries = ["docker.io"]\nshort-name-mode = "enforcing"\n'
             '[aliases]\n"alpine" = "docker.io/library/alpine"\n')
    assert c.entries == ()


@pytest.mark.parametrize(("text", "message"), [
    ("[[registry]\nlocation = 1", "is not valid TOML"),
    ('[[registry]]\nlocation = 5', "location must be a string"),
    ('[[registry]]\ninsecure = true', "neither prefix nor location"),
    ('[[registry]]\nlocation = "https://r.example.com"', "must not name a scheme"),
    ('[[registry]]\nlocation = "r.example.com/repo:tag"', "no tag or digest"),
    ('[[registry]]\nlocation = "r.example.com"\ninsecure = "yes"', "insecure must be true or false"),
    ('[[registry]]\nprefix = "*.example.com"\nlocation = "x.example.com"', "wildcard prefix"),
    ('[[registry]]\nprefix = "*.example.com/team"', r"prefix '\*\.example\.com/team' is not host"),
    ('[[registry]]\nlocation = "r.example.com"\n[[registry.mirror]]\ninsecure = true', "has no location"),
    ('[[registry]]\nlocation = "r.example.com"\n[[registry.mirror]]\nlocation = "m.local"\npull-from-mirror = "some"',
     "pull-from-mirror"),
    ('[[registry]]\nlocation = "r.example.com"\n[[registry]]\nlocation = "r.example.com"\nblocked = true',
     "defined more than once with conflicting blocked"),
    ('[[registry]]\nlocation = "R.Example.com/team"\n[[registry]]\nlocation = "r.example.com/team"\nblocked = true',
     "defined more than once with conflicting blocked"),  # one host, whatever its case
    ('[registries.block]\nregistries = ["a.example.com"]\n[[registry]]\nlocation = "r.example.com"', "mixes version"),
    # Nesting deep enough to exhaust the TOML parser's recursion: still one line, not an internal error.
    ("x = " + "[" * 100_000 + "]" * 100_000, "is not valid TOML"),
    ("x = " + "{a=" * 50_000 + "1" + "}" * 50_000, "is not valid TOML"),
])
def test_malformed_files_are_one_line_naming_the_file(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse(text, "/etc/containers/registries.conf")
    assert str(caught.value).count("/etc/containers/registries.conf") >= 1 and "\n" not in str(caught.value)


@pytest.mark.parametrize("location", ["alice:hunter2@m.local", "https://alice:hunter2@m.local/ns",
                                      "alice:hunter2@m.local/ns"])
def test_credentials_in_a_location_are_refused_without_being_echoed(location: str) -> None:
    with pytest.raises(UsageError, match="names a user") as caught:
        parse(f'[[registry]]\nlocation = "r.example.com"\n[[registry.mirror]]\nlocation = "{location}"\n',
              "f.conf")
    assert "hunter2" not in str(caught.value)


def test_a_location_that_leaves_no_repository_is_refused_when_used() -> None:
    c = conf('[[registry]]\nprefix = "a.example.com/x/y"\nlocation = "b.example.com"\n')
    with pytest.raises(UsageError, match="no registry/repository name"):
        c.route(Reference.parse("a.example.com/x/y:1"))
    assert c.route(Reference.parse("a.example.com/x/y/z:1")).origin.reference.name == "b.example.com/z"


def test_a_mirror_gets_no_given_credentials_a_short_connect_timeout_and_no_retries() -> None:
    from modelpack.store.credentials import Credentials
    from modelpack.store.options import ClientOptions

    options = ClientOptions(plain_http=True, credentials=Credentials("user", "secret"))
    mirror = options.for_endpoint(plain_http=True, insecure=False, mirror=True)
    assert mirror.credentials is None and mirror.retries == 0 and mirror.connect_timeout <= 3
    assert options.for_endpoint(plain_http=True, insecure=False, mirror=False) is options
    assert options.for_endpoint(plain_http=True, insecure=False, mirror=True) is mirror  # one pool per kind
    assert mirror.client_for("m.local").auth.credentials("m.local") is None  # the docker config has none
    assert options.client_for("o.local").auth.credentials("o.local") == Credentials("user", "secret")


def test_reads_may_go_through_mirrors_and_writes_never(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelpack.api import remote
    from modelpack.store.mirrored import MirroredRepository
    from modelpack.store.options import ClientOptions
    from modelpack.store.registry import RegistryRepository

    (tmp_path / "r.conf").write_text('[[registry]]\nprefix = "o.example.com/team"\nlocation = "p.example.com/t"\n'
                                     '[[registry.mirror]]\nlocation = "m.local/cache"\n')
    monkeypatch.setenv(registries_files.ENV, str(tmp_path / "r.conf"))
    ref = Reference.parse("o.example.com/team/m:1")
    options = ClientOptions()
    writer = remote(ref, options)
    assert isinstance(writer, RegistryRepository)
    assert (writer.client.host, writer.name) == ("p.example.com", "t/m")  # location applies to writes too
    reader = remote(ref, options, mirrors=True)
    assert isinstance(reader, MirroredRepository) and reader.name == "t/m"
    assert repr(reader) == "MirroredRepository(m.local (mirror) -> p.example.com (origin))"
    assert reader.origin().client.host == "p.example.com"


@pytest.mark.parametrize("name", ["Evil.example.com/team/m", "EVIL.EXAMPLE.COM:5000/team/m", "a.evil.example.com/m",
                                  "x.evil.example.com.evil.example.com/m", "A.Evil.Example.Com/m"])
def test_blocked_cannot_be_escaped_by_case_or_a_doubled_domain(name: str) -> None:
    """containers/image (skopeo 1.9 here) lets both through: `Evil.example.com` is the host DNS finds for
    `evil.example.com`, and `*.evil.example.com` looked for its domain's first occurrence in the name."""
    c = conf('[[registry]]\nlocation = "evil.example.com"\nblocked = true\n'
             '[[registry]]\nprefix = "*.evil.example.com"\nblocked = true\n')
    with pytest.raises(UsageError, match="blocked = true"):
        c.route(Reference.parse(f"{name}:1"))
    with pytest.raises(UsageError, match="blocked = true"):
        c.check_host(name.partition("/")[0])


def test_a_wildcard_matches_the_end_of_the_host_name_only() -> None:
    c = conf('[[registry]]\nprefix = "*.example.com"\n[[registry.mirror]]\nlocation = "cache.local"\n')
    assert c.entry_for("a.example.com.attacker.net/m") is None
    assert c.entry_for("attacker.net/a.example.com/m") is None
    assert c.entry_for("a.example.comx/m") is None
    assert c.entry_for("[::1]:5000/m") is None
    assert where(c.route(Reference.parse("A.Example.com.Example.COM:5000/team/m:1")), False) == \
        ["cache.local:5000/team/m", "A.Example.com.Example.COM:5000/team/m"]
