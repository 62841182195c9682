"""Errors in the terms of each of modelpack's two audiences, and the next steps they name.

A library caller calls functions and passes parameters (`modelpack.login(...)`, `plain_http=True`); a
command-line user runs commands and passes flags (`modelpack login HOST`, `--plain-http`). An error holds
what failed and, where there is one, the step that fixes it (`advice`), each a `Wording` when it names
a parameter or a command: `str(error)` reads in Python's terms, and the CLI prints `cli_message(error)`,
the same line in its own terms.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    """One text in two terms: `api` for a library caller, `cli` for a command-line user."""

    api: str
    cli: str

    def __str__(self) -> str:
        # A library caller's terms wherever it is shown as text (a log line the CLI's formatter did not reword).
        return self.api


def compose(template: str, *parts: Wording | str) -> Wording:
    """`template` with each `{}` filled by a part in each audience's terms (a str is the same in both)."""
    return Wording(template.format(*(p if isinstance(p, str) else p.api for p in parts)),
                   template.format(*(p if isinstance(p, str) else p.cli for p in parts)))


def setting(parameter: str, flag: str) -> Wording:
    """A setting as each audience gives it: `setting("verify_key=KEY", "--verify-key KEY")`."""
    return Wording(parameter, flag)


def with_advice(failure: str, step: str) -> str:
    """The one line an error reads as: what failed, then the step that fixes it."""
    return f"{failure}; {step}" if failure and step else failure or step


def cli_message(exc: BaseException) -> str:
    """What the CLI says of `exc`: the same line in the CLI's terms (commands, flags)."""
    if not isinstance(getattr(exc, "wording", None), Wording):
        return str(exc)
    advice = getattr(exc, "advice", None)
    return with_advice(exc.wording.cli, advice.cli if isinstance(advice, Wording) else "")  # type: ignore[attr-defined]


def login(host: str, *, again: bool = False) -> Wording:
    """Log in to `host` (`again`: saved credentials were refused)."""
    more = " again" if again else ""
    return Wording(f"call modelpack.login({host!r}, USERNAME, PASSWORD){more}, or pass "
                   "ClientOptions(credentials=Credentials(USERNAME, PASSWORD))",
                   f"run `modelpack login {host}`{more}")


def plain_http(use: bool = True, *, without_tls: bool = False) -> Wording:
    """Talk plain HTTP to the registry (`use`; `without_tls`: say it is for a registry without TLS), or
    stop doing so."""
    if use:
        case = "for a registry without TLS, " if without_tls else ""
        return Wording(f"{case}pass ClientOptions(plain_http=True) (or set MODELPACK_PLAIN_HTTP=1)",
                       f"{case}use --plain-http")
    return Wording("pass ClientOptions(plain_http=False) (and unset MODELPACK_PLAIN_HTTP)", "drop --plain-http")


TRUST = Wording("pass ClientOptions(ca_file=PEM), or insecure=True to skip checks",
                "use --ca-file, or --insecure to skip checks")


def longer_timeout(seconds: float) -> Wording:
    """Wait longer than the `seconds` the timeout is now."""
    return Wording(f"raise ClientOptions(timeout={seconds:g}) to wait longer",
                   f"raise --timeout {seconds:g} to wait longer")


def list_repositories(host: str) -> Wording:
    """See which repositories `host` has."""
    return Wording(f"modelpack.list_repositories({host!r}) lists its repositories",
                   f"`modelpack ls {host}` lists its repositories")


COPY_TO_LAYOUT = Wording("modelpack.copy_model(SRC, 'oci:DIR:TAG') writes a model or image from a registry into a "
                         "layout, and back", "`modelpack copy SRC oci:DIR:TAG` writes a model or image from a "
                         "registry into a layout, and back")
PUSH_FIRST = Wording("modelpack.push(DIR, REF) puts a folder in a registry first",
                     "`modelpack push DIR REF` puts a folder in a registry first")
def list_versions(repository: str) -> Wording:
    """See which versions (tags) `repository` (HOST/NAME) has."""
    return Wording(f"modelpack.list_versions({repository!r}) lists its versions",
                   f"`modelpack ls {repository}` lists its versions")


BASE = Wording("base", "--base")  # the base image of build_image, `build-image`
ANOTHER_BASE = Wording("pass another base=IMAGE", "use another --base")
NO_SERVING_LAYER = Wording("serving_layer=False", "--no-serving-layer")
WHOLE_LAYERS = Wording("whole_layers=True", "--whole-layers")  # k8s --kind kserve: modelcar layers read whole
VERIFY_OR_TRUST = Wording("pass verify_key=KEY to verify it, or trust_unverified_pickle=True to run it anyway",
                          "pass --verify-key KEY to verify it, or --trust-unverified-pickle to run it anyway")


def repair_store(then: str = "") -> Wording:
    """Repair the local store (`then`: what to do after, or why)."""
    more = f" {then}" if then else ""
    return Wording(f"call modelpack.check_store(repair=True){more}", f"run `modelpack store check --repair`{more}")
