"""Reference.parse: the distribution reference grammar, str() round trip and helpers."""

from __future__ import annotations

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from modelpack.advice import cli_message
from modelpack.errors import InvalidReferenceError, UsageError
from modelpack.oci.reference import DOCKER_HUB_API, Reference

SETTINGS = settings(database=None, deadline=None, max_examples=150)
DIGEST = "sha256:" + "0123456789abcdef" * 4
DIGEST2 = "sha256:" + "f" * 64


# --- examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("ubuntu", "", "ubuntu", "latest", None),
        ("library/ubuntu:22.04", "", "library/ubuntu", "22.04", None),
        ("docker.io/library/ubuntu", "docker.io", "library/ubuntu", "latest", None),
        ("localhost/models/iris", "localhost", "models/iris", "latest", None),
        ("localhost:5000/models/iris:v1", "localhost:5000", "models/iris", "v1", None),
        ("ghcr.io/org/model@" + DIGEST, "ghcr.io", "org/model", None, DIGEST),
        ("ghcr.io/org/model:v2@" + DIGEST, "ghcr.io", "org/model", "v2", DIGEST),
        ("[::1]:5000/m:t", "[::1]:5000", "m", "t", None),
        ("Registry.Example.COM/a/b", "Registry.Example.COM", "a/b", "latest", None),
        ("a.b-c/x", "a.b-c", "x", "latest", None),  # '.' makes the first part a host
        ("models/a_b__c-d--e.f9:T_1.-", "", "models/a_b__c-d--e.f9", "T_1.-", None),
        ("team/a_b__c-d--e.f9", "", "team/a_b__c-d--e.f9", "latest", None),
        ("localhost:5000", "", "localhost", "5000", None),  # no slash: the ':' starts a tag
        ("repo:_tag", "", "repo", "_tag", None),
        ("repo:" + "t" * 128, "", "repo", "t" * 128, None),
    ],
)
def test_parse_examples(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_first_component_without_dot_colon_or_localhost_is_part_of_the_repository() -> None:
    ref = Reference.parse("myorg/model:v1")
    assert ref.registry == ""
    assert ref.repository == "myorg/model"
    assert ref.name == "myorg/model"


def test_localhost_only_counts_as_host_when_exact() -> None:
    assert Reference.parse("localhostx/m").registry == ""
    assert Reference.parse("localhost/m").registry == "localhost"


def test_default_tag_is_latest_and_can_be_changed_or_disabled() -> None:
    assert Reference.parse("m").tag == "latest"
    assert Reference.parse("m", default_tag="stable").tag == "stable"
    assert Reference.parse("m", default_tag=None).tag is None
    # A digest alone does not get a default tag.
    assert Reference.parse("m@" + DIGEST).tag is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ubuntu",
        "ubuntu ",
        "Ubuntu",
        "org/Model",
        "localhost:5000/Org/model",
        "a//b",
        "/a",
        "a/",
        "-a",
        "a-",
        "a..b",
        "a._b",
        "a___b",
        "a/.b",
        "repo:",
        "repo:.tag",
        "repo:-tag",
        "repo:ta+g",
        "repo:ta g",
        "repo:" + "t" * 129,
        "repo@",
        "repo@sha256:abc",
        "repo@sha256:" + "A" * 64,
        "repo@md5:" + "a" * 32,
        "repo@" + DIGEST + "@" + DIGEST,
        "repo:tag@sha256:" + "g" * 64,
        "host:port/repo",
        "host:/repo",
        "-host.com/repo",
        "host-.com/repo",
        "ho_st.com/repo",
        "[zz]:5000/repo",
        "a_b.c/repo",  # looks like a host ('.'), but '_' is not allowed in one
        ":tag",
        "@" + DIGEST,
        "a" * 256,
    ],
)
def test_invalid_references_raise_invalid_reference_error(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        Reference.parse(text)


def test_invalid_reference_error_is_a_usage_error_and_value_error() -> None:
    with pytest.raises(UsageError):
        Reference.parse("Bad")
    with pytest.raises(ValueError):
        Reference.parse("Bad")


def test_upper_case_repository_error_gives_a_hint() -> None:
    with pytest.raises(InvalidReferenceError, match="lower case"):
        Reference.parse("localhost:5000/MyModel")


def test_name_of_255_characters_is_accepted_and_256_refused_without_registry() -> None:
    ok = "a" * 255
    assert Reference.parse(ok).repository == ok
    with pytest.raises(InvalidReferenceError, match="255"):
        Reference.parse("a" * 256)


def test_name_longer_than_255_characters_with_registry_is_refused() -> None:
    registry = "r" * 100 + ".io"
    repository = "b" * (255 - len(registry))
    text = f"{registry}/{repository}"
    assert len(text) == 256
    with pytest.raises(InvalidReferenceError):
        Reference.parse(text)


@pytest.mark.parametrize("text", ["repo:v1\n@" + DIGEST, "repo\n:latest", "host.com\n/repo:x"])
def test_embedded_newline_is_refused(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        Reference.parse(text)


@pytest.mark.parametrize("text", ["repo:ä", "repo:v٣", "repo:ｖ1"])
def test_non_ascii_tag_is_refused(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        Reference.parse(text)


# --- helpers --------------------------------------------------------------------------------------------


def test_name_and_str() -> None:
    ref = Reference.parse("localhost:5000/org/m:v1@" + DIGEST)
    assert ref.name == "localhost:5000/org/m"
    assert str(ref) == "localhost:5000/org/m:v1@" + DIGEST
    assert str(Reference.parse("m")) == "m:latest"


def test_version_prefers_digest_then_tag() -> None:
    assert Reference.parse("m:v1@" + DIGEST).version == DIGEST
    assert Reference.parse("m:v1").version == "v1"
    with pytest.raises(InvalidReferenceError):
        _ = Reference.parse("m", default_tag=None).version


def test_with_digest_drops_the_tag() -> None:
    ref = Reference.parse("localhost:5000/m:v1").with_digest(DIGEST2)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == ("localhost:5000", "m", None, DIGEST2)
    assert str(ref) == "localhost:5000/m@" + DIGEST2


def test_with_tag_drops_the_digest() -> None:
    ref = Reference.parse("localhost:5000/m@" + DIGEST).with_tag("v2")
    assert (ref.tag, ref.digest) == ("v2", None)
    assert str(ref) == "localhost:5000/m:v2"


def test_with_helpers_do_not_mutate_the_original() -> None:
    ref = Reference.parse("m:v1")
    ref.with_digest(DIGEST)
    ref.with_tag("v9")
    assert (ref.tag, ref.digest) == ("v1", None)


def test_require_registry() -> None:
    ref = Reference.parse("ghcr.io/o/m:v1")
    assert ref.require_registry() is ref
    with pytest.raises(InvalidReferenceError, match="localhost:5000/o/m"):
        Reference.parse("o/m:v1").require_registry()


def test_api_host_maps_docker_hub_only() -> None:
    assert Reference.parse("docker.io/library/ubuntu").api_host == DOCKER_HUB_API == "registry-1.docker.io"
    assert Reference.parse("ghcr.io/o/m").api_host == "ghcr.io"
    assert Reference.parse("localhost:5000/m").api_host == "localhost:5000"


def test_reference_is_immutable_and_hashable() -> None:
    a = Reference.parse("ghcr.io/o/m:v1")
    b = Reference.parse("ghcr.io/o/m:v1")
    assert a == b
    assert len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.tag = "v2"  # type: ignore[misc]


# --- properties -----------------------------------------------------------------------------------------

_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--", "---"])


@st.composite
def components(draw: st.DrawFn) -> str:
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 3))):
        parts += [draw(_separator), draw(_alnum)]
    return "".join(parts)


_label = st.from_regex(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", fullmatch=True)
_port = st.integers(1, 65535).map(lambda p: f":{p}")


@st.composite
def registries(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["domain", "localhost", "ipv6"]))
    if kind == "localhost":
        host = "localhost"
    elif kind == "ipv6":
        host = "[" + draw(st.sampled_from(["::1", "fe80::1", "2001:db8::42"])) + "]"
    else:
        host = ".".join(draw(st.lists(_label, min_size=2, max_size=4)))
    return host + draw(st.one_of(st.just(""), _port))


tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}", fullmatch=True) | st.from_regex(
    r"[A-Za-z0-9_][A-Za-z0-9_.-]{127}", fullmatch=True
)
digests = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h)


@st.composite
def valid_references(draw: st.DrawFn) -> tuple[str, str, str, str | None, str | None]:
    registry = draw(st.one_of(st.just(""), registries()))
    path = draw(st.lists(components(), min_size=1, max_size=4))
    if not registry:
        # Without a registry the first component must not look like a host.
        assume("." not in path[0] or len(path) == 1)
        assume(path[0] != "localhost" or len(path) == 1)
    repository = "/".join(path)
    assume(len(registry) + len(repository) + (1 if registry else 0) <= 255)
    tag = draw(st.none() | tags)
    digest = draw(st.none() | digests)
    text = (f"{registry}/" if registry else "") + repository
    text += f":{tag}" if tag else ""
    text += f"@{digest}" if digest else ""
    return text, registry, repository, tag, digest


@SETTINGS
@given(valid_references())
@example(("http", "", "http", None, None))  # a local name, not a URL's scheme (found by hypothesis)
@example(("https", "", "https", None, None))
def test_property_valid_references_round_trip(case: tuple[str, str, str, str | None, str | None]) -> None:
    text, registry, repository, tag, digest = case
    ref = Reference.parse(text, default_tag=None)
    assert str(ref) == text
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    # Parsing the printed form again is a fixed point.
    assert Reference.parse(str(ref), default_tag=None) == ref


@SETTINGS
@given(valid_references())
def test_property_default_tag_only_added_when_no_tag_and_no_digest(
    case: tuple[str, str, str, str | None, str | None],
) -> None:
    text, _, _, tag, digest = case
    ref = Reference.parse(text)
    if tag is None and digest is None:
        assert ref.tag == "latest"
        assert str(ref) == text + ":latest"
    else:
        assert str(ref) == text


def _mutations(base: str, repository: str) -> st.SearchStrategy[str]:
    head, _, last = base.rpartition(repository)
    return st.sampled_from(
        [
            # upper case in the repository
            head + repository[:-1] + repository[-1].upper() + last if repository[-1].isalpha() else head + "X" + last,
            # an empty path component
            head + repository + "//x" + last,
            # a component that starts or ends with a separator
            head + repository + "/-x" + last,
            head + repository + "_/x" + last,
            # three underscores or a dot followed by a separator
            head + repository + "___x" + last,
            head + repository + ".-x" + last,
            # surrounding whitespace
            " " + base,
            base + "\t",
        ]
    )


_bad_tag = st.one_of(
    st.from_regex(r"[.\-][A-Za-z0-9_.-]{0,10}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{128,140}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_]{1,5}[!+=,;~^*()\[\]{}<>?'\"|&$#%][A-Za-z0-9_]{0,5}", fullmatch=True),
    st.just(""),
)
_bad_digest = st.one_of(
    st.text(alphabet="0123456789abcdef", min_size=0, max_size=63).map(lambda h: "sha256:" + h),
    st.text(alphabet="0123456789abcdef", min_size=65, max_size=70).map(lambda h: "sha256:" + h),
    st.text(alphabet="0123456789ABCDEF", min_size=64, max_size=64).filter(lambda h: h != h.lower()).map(
        lambda h: "sha256:" + h
    ),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha1:" + h),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)


@st.composite
def invalid_references(draw: st.DrawFn) -> str:
    _text, registry, repository, _tag, _digest = draw(valid_references())
    name = (f"{registry}/" if registry else "") + repository
    how = draw(st.sampled_from(["name", "tag", "digest"]))
    if how == "name":
        return draw(_mutations(name, repository))
    if how == "tag":
        return f"{name}:{draw(_bad_tag)}"
    return f"{name}@{draw(_bad_digest)}"


@SETTINGS
@given(invalid_references())
def test_property_invalid_references_raise_invalid_reference_error(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        Reference.parse(text)


_reference_alphabet = st.sampled_from([*"abcXYZ019.:/@_-[]  \t\n", "sha256:" + "a" * 64, "localhost", "é"])


@SETTINGS
@given(st.one_of(st.text(max_size=80), st.lists(_reference_alphabet, max_size=30).map("".join)))
@example("@")
@example(":")
@example("/")
@example("[")
@example("a@b@c")
def test_property_any_text_either_parses_or_raises_invalid_reference_error(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReferenceError:
        return
    # Whatever parsed must print back to something that parses to the same reference.
    assert Reference.parse(str(ref)) == ref


def test_a_url_scheme_is_refused_with_the_way_to_write_it() -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        Reference.parse("http://localhost:5000/team/iris:1")
    # In Python's terms for a library caller, in the CLI's for the command line.
    assert "without http://" in str(caught.value) and "ClientOptions(plain_http=True)" in str(caught.value)
    assert "--plain-http" in cli_message(caught.value) and "ClientOptions" not in cli_message(caught.value)
    # https:// is what is spoken anyway: no advice to turn TLS off.
    with pytest.raises(InvalidReferenceError) as caught:
        Reference.parse("https://registry.example.com/team/iris:1")
    assert "without https://" in str(caught.value) and "HTTPS is the default" in str(caught.value)
    assert "plain" not in str(caught.value) and "plain" not in cli_message(caught.value)


def test_skopeos_docker_transport_prefix_is_refused_with_the_way_to_write_it() -> None:
    # `skopeo inspect docker://HOST/REPO:TAG` is how a platform engineer writes one; it said
    # "bad registry host 'docker:'", as if the host were wrong.
    for text in ("docker://localhost:5000/team/iris:1.0.0",
                 "DOCKER://registry.example.com/team/iris@sha256:" + "a" * 64):
        with pytest.raises(InvalidReferenceError) as caught:
            Reference.parse(text)
        assert str(caught.value) == (f"invalid reference {text!r}: write it without docker:// "
                                     "(HOST/REPOSITORY:TAG): that is skopeo's transport prefix")


def test_a_digest_written_after_a_colon_is_refused_with_the_reference_to_write() -> None:
    # `REPO:sha256:<hex>`, a digest where a tag goes, said "bad repository name 'team/iris:sha256'".
    digest = "sha256:" + "ab" * 32
    for name in ("localhost:5000/team/iris", "team/iris"):
        with pytest.raises(InvalidReferenceError) as caught:
            Reference.parse(f"{name}:{digest}")
        assert str(caught.value) == (f"invalid reference '{name}:{digest}': a digest follows @, not : "
                                     f"(write {name}@{digest})")
    assert Reference.parse(f"localhost:5000/team/iris:1@{digest}").digest == digest  # tag and digest: as before
    with pytest.raises(InvalidReferenceError, match="bad repository name"):
        Reference.parse("localhost:5000/team/iris:sha256:abc")  # no digest: the old words


def test_a_layout_or_a_folder_where_a_registry_reference_is_needed_is_named_as_such() -> None:
    # `build-image REF -t oci:./car:1`, `build-image ./model -t ...` said "bad registry host 'oci:.'" / "'.'"
    for text, what, step in (("oci:./car:1", "an OCI layout", "`modelpack copy SRC oci:DIR:TAG`"),
                             ("OCI:/abs/layout", "an OCI layout", "`modelpack copy SRC oci:DIR:TAG`"),
                             ("./iris-classifier", "a path", "`modelpack push DIR REF`"),
                             ("/tmp/model", "a path", "`modelpack push DIR REF`"),
                             ("../Model", "a path", "`modelpack push DIR REF`")):
        with pytest.raises(InvalidReferenceError) as caught:
            Reference.parse(text)
        assert f"{what}, where a registry reference (HOST/REPOSITORY:TAG) is needed" in str(caught.value)
        assert step in cli_message(caught.value) and step not in str(caught.value)
    # A registry whose host is called `oci` is still one
    assert Reference.parse("oci:5000/team/iris:1").registry == "oci:5000"


def test_a_reference_without_registry_is_named_as_written() -> None:
    # `ls team/iris` said "team/iris:latest names no registry", `diff HOST/REPO:1.0.0 1.1.0` suggested
    # "localhost:5000/1.1.0"
    for text, said in (("team/iris", "reference team/iris names no registry; write it as e.g. "
                                     "localhost:5000/team/iris"),
                       ("iris:2", "reference iris:2 names no registry"),
                       ("1.1.0", "reference 1.1.0 names no registry nor repository; write it whole, "
                                 "e.g. localhost:5000/team/model:1.1.0"),
                       ("v2.0-rc1", "e.g. localhost:5000/team/model:v2.0-rc1")):
        with pytest.raises(InvalidReferenceError) as caught:
            Reference.parse(text).require_registry()
        assert said in str(caught.value)
        assert ":latest" not in str(caught.value)
