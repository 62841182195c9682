"""`modelpack ui` against a real registry with basic auth: the pages show the versions, metrics, lineage
and signature status the registry holds; what an artifact wrote is escaped; credentials never show."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import AUTH_PASSWORD as PASSWORD
from conftest import AUTH_USER as USER
from fault_proxy import FaultProxy
from helpers import modelpack
from registry_process import Registry
from ui_support import Pages, links, push_version, scan


def _secrets() -> list[str]:
    return [PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(), "Authorization"]


def test_pages_show_versions_metrics_lineage_and_signatures(auth_registry: Registry, ui: Callable[..., str],
                                                            tmp_path: Path) -> None:
    import modelpack as mp
    from modelpack.store.options import ClientOptions

    repo = f"{auth_registry.host}/team/iris"
    digests = []
    for i in range(3):
        parent = {"parent": f"{repo}:v{i - 1}"} if i else {}
        digests.append(push_version(tmp_path / f"v{i}", f"{repo}:v{i}", {
            "version": f"1.{i}", "description": f"iris number {i}", "metrics": {"accuracy": 0.9 + i / 100},
            "hyperparameters": {"max_depth": 3 + i}, "licenses": ["Apache-2.0"], **parent},
            readme=f"# Iris {i}\n\n| split | rows |\n|---|---|\n| test | {30 + i} |\n"))
    mp.tag_remote(f"{repo}:v2", "champion", options=ClientOptions(plain_http=True))
    private, public = mp.generate_key_pair(tmp_path / "keys", b"pw")
    _, other_key = mp.generate_key_pair(tmp_path / "other", b"pw", prefix="other")
    mp.sign(f"{repo}:v2", private, b"pw", options=ClientOptions(plain_http=True))
    mp.attest(f"{repo}:v2", private, b"pw", b'{"evaluation": "holdout", "accuracy": 0.92}',
              options=ClientOptions(plain_http=True))
    pages = Pages(ui([auth_registry.host], [str(public), str(other_key)]))

    home = pages.get("/")
    assert ("/r/" + repo, repo) in links(home, "/r/")
    assert any(row[:3] == [repo, "champion 1.2", "3"] or row[:3] == [repo, "v2 1.2", "3"] for row in scan(home).rows)
    assert "team/iris" not in pages.get("/", q="no-such-model")

    page = pages.get(f"/r/{repo}")
    rows = [row for row in scan(page).rows if row and row[1].startswith("sha256:")]
    # aliases on one digest share a row; newest first
    assert [set(row[0].split()) for row in rows] == [{"v2", "champion"}, {"v1"}, {"v0"}]
    assert [row[2] for row in rows] == ["1.2", "1.1", "1.0"]
    assert [row[5].split()[0] for row in rows] == ["✓", "✗", "✗"]  # signed with one of the two keys
    assert [row[6] for row in rows] == ["0.92", "0.91", "0.9"]  # the accuracy column
    assert page.count("<svg") == 1 and page.count("<circle") == 3  # one chart: accuracy over 3 versions

    filtered = pages.get(f"/r/{repo}", where="metrics.accuracy>=0.91")
    assert len([row for row in scan(filtered).rows if row and row[1].startswith("sha256:")]) == 2
    ascending = pages.get(f"/r/{repo}", sort="metrics.accuracy")
    assert [row[2] for row in scan(ascending).rows if row and row[1].startswith("sha256:")] == ["1.0", "1.1", "1.2"]
    huge = pages.get(f"/r/{repo}", where="a=x" + " " * 3_000 + "x" + " " * 3_000 + "\x01")  # quadratic before
    assert "more than 4096 characters is refused" in huge
    mistake = pages.get(f"/r/{repo}", where="metrcs.accuracy>=0.9")
    assert "did you mean" in mistake and "metrics.accuracy" in mistake
    for refused in (mistake, pages.get(f"/r/{repo}", sort="nosuch")):  # not "0 versions", "No versions."
        assert "Versions not listed" in refused and "No versions" not in refused and "0 versions" not in refused

    newest = pages.get(f"/v/{repo}@{digests[2]}")
    assert "iris number 2" in newest and "max_depth" in newest and "Apache-2.0" in newest
    assert "model.safetensors" in newest and "README.md" in newest
    assert "<table>" in newest.split('class="readme"')[1]  # the README's Markdown table, rendered
    lineage = [href for href, _ in links(newest, "/v/")]
    assert f"/v/{repo}@{digests[1]}" in lineage and f"/v/{repo}@{digests[0]}" in lineage
    middle = pages.get(lineage[lineage.index(f"/v/{repo}@{digests[1]}")])  # following the parent's link
    assert [href for href, _ in links(middle, "/v/")] == [f"/v/{repo}@{digests[0]}"]
    assert "No parent recorded: this is a first ancestor." in pages.get(f"/v/{repo}@{digests[0]}")
    verdicts = {row[0].split()[0]: row[1:3] for row in scan(newest).rows if row and row[0].endswith(")")
                and row[0].split()[0] in ("cosign.pub", "other.pub")}  # "cosign.pub (SHA256:<key hint>)"
    attestation_type = "https://cosign.sigstore.dev/attestation/v1"
    assert verdicts == {"cosign.pub": ["✓ 1 verified", f"✓ 1 × {attestation_type}"],
                        "other.pub": ["✗ none verified", "–"]}
    attached = {row[0]: row for row in scan(newest).rows if row and row[0] in ("signature", "attestation")}
    assert attached["attestation"][2] == attestation_type and attached["attestation"][3].startswith("✓ cosign.pub")
    assert attached["signature"][3].startswith("✓ cosign.pub") and "other.pub" not in attached["signature"][3]
    assert "No signatures or attestations attached." in pages.get(f"/v/{repo}@{digests[1]}")
    assert f"modelpack pull --plain-http {repo}@{digests[2]}" in newest
    assert f"reference: {repo}@{digests[2]}" in newest  # the image volume of the k8s YAML, pinned
    assert links(newest, "/report/") == [(f"/report/{repo}@{digests[2]}", "Technical-documentation report")]
    report = pages.get(f"/report/{repo}@{digests[2]}")  # modelpack report's document, with the UI's keys
    assert "Technical documentation" in report and digests[2] in report and digests[1] in report  # the parent
    assert "verified" in report and "cosign.pub" in report
    markdown = pages.http.get(f"{pages.base}/report/{repo}@{digests[2]}", params={"format": "md"}, timeout=60)
    assert markdown.headers["Content-Type"].startswith("text/markdown") and digests[2] in markdown.text
    pages.seen.append(markdown.text)

    diff = pages.get(f"/v/{repo}@{digests[2]}", against="v0")
    changes = [row for row in scan(diff).rows if row and row[0] in ("changed", "metadata")]
    assert ["metadata", "metrics.accuracy", "0.9", "0.92"] in changes
    assert ["metadata", "version", "1.0", "1.2"] in changes

    missing = pages.get(f"/r/{auth_registry.host}/team/nothing-here", status=404)
    assert "Traceback" not in missing and "not found" in missing.lower()
    assert "not one of the registries" in pages.get("/r/example.com/team/iris", status=404)
    for text in pages.seen:
        for secret in _secrets():
            assert secret not in text


def test_hostile_annotations_are_escaped(auth_registry: Registry, ui: Callable[..., str], tmp_path: Path) -> None:
    repo = f"{auth_registry.host}/evil/model"
    digest = push_version(tmp_path / "m", f"{repo}:1", {
        "version": '"><script>alert(1)</script>', "description": "<script>alert('description')</script>\u202etxt.exe",
        "metrics": {"<img src=x onerror=alert(2)>": 0.5}, "labels": {"<b>k</b>": "<i>v</i>"},
        "datasets": ["<svg onload=alert(3)>"]},
        readme="# Title\n\n<script>alert(4)</script>\n\n<img src=x onerror=alert(5)>\n\n[click](javascript:alert(6))\n")
    pages = Pages(ui([repo]))
    shown = [pages.get("/"), pages.get(f"/r/{repo}"), pages.get(f"/v/{repo}@{digest}")]
    for page in shown:
        lowered = page.lower()
        assert "<script" not in lowered and "<img" not in lowered and "<svg onload" not in lowered
        assert "<b>k</b>" not in page and 'href="javascript:' not in lowered
    assert "&lt;script&gt;alert(&#39;description&#39;)&lt;/script&gt;\\u202etxt.exe" in shown[2]  # shown, as text
    assert "\u202e" not in shown[2]  # a bidi override is shown as an escape, as on a terminal
    assert "&lt;img src=x onerror=alert(2)&gt;" in shown[1]  # the metric's name, a column header
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in shown[2]  # the README's raw HTML, as text
    answer = pages.http.get(pages.base + f"/r/{repo}", timeout=30)
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")  # no script runs at all
    # A page elsewhere whose name rebinds to 127.0.0.1 is refused: only the UI's own names are answered.
    assert pages.http.get(pages.base + "/", headers={"Host": "attacker.example"}, timeout=30).status_code == 400
    assert pages.http.post(pages.base + f"/r/{repo}", timeout=30).status_code == 405  # read-only


def test_a_readme_shows_its_control_and_bidi_characters_as_escapes(auth_registry: Registry, ui: Callable[..., str],
                                                                    tmp_path: Path) -> None:
    # The README is rendered to Markup, which the pages' own escaping of every value leaves alone.
    repo = f"{auth_registry.host}/evil/readme"
    digest = push_version(tmp_path / "m", f"{repo}:1", {"version": "1"},
                          readme="# Safe\x1b]0;pwned\x07\r\n\nsigned by \u202egpj.exe\x1b[2J\r\n\n"
                                 "as an entity: &#x202e;gpj.exe and &#8207;&#x2066;\r\n")
    page = Pages(ui([repo])).get(f"/v/{repo}@{digest}")
    readme = page.split('class="readme"')[1]
    assert "\x1b" not in page and "\x07" not in page and "\u202e" not in page
    assert "Safe\\x1b]0;pwned\\x07" in readme and "signed by \\u202egpj.exe\\x1b[2J" in readme
    # Markdown turns a numeric character reference into the character: it is shown escaped all the same.
    assert "as an entity: \\u202egpj.exe and \\u200f\\u2066" in readme
    assert "\u200f" not in page and "\u2066" not in page
    assert "\\r" not in readme  # a Windows line ending is a line ending, not text


def test_without_credentials_the_page_says_so(fresh_registry: Callable[..., Registry], tmp_path: Path,
                                              ui: Callable[..., str]) -> None:
    from helpers import htpasswd_file

    reg = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", USER, PASSWORD))
    pages = Pages(ui([reg.host, f"{reg.host}/team/named"]))
    home = pages.get("/")
    assert "shows its repository catalog only after a login" in home  # and the named repository is still listed
    assert "team/named" in home and "modelpack login" in home
    page = pages.get(f"/r/{reg.host}/team/named", status=403)
    assert "modelpack login" in page and "Traceback" not in page


def test_a_hundred_versions_load_from_the_cache(auth_registry: Registry, ui: Callable[..., str],
                                                tmp_path: Path) -> None:
    import modelpack as mp
    from modelpack.store.options import ClientOptions

    repo_path = "team/many"
    for i in range(100):
        push_version(tmp_path / f"v{i}", f"{auth_registry.host}/{repo_path}:v{i}",
                     {"version": f"0.{i}", "metrics": {"accuracy": round(0.5 + i / 250, 4), "loss": 1 - i / 200}})
    with FaultProxy(auth_registry.host) as proxy:
        mp.login(proxy.host, USER, PASSWORD, options=ClientOptions(plain_http=True))
        private, public = mp.generate_key_pair(tmp_path / "keys", b"pw")
        mp.sign(f"{proxy.host}/{repo_path}:v99", private, b"pw", options=ClientOptions(plain_http=True))
        pages = Pages(ui([f"{proxy.host}/{repo_path}"], [str(public)]))
        started = time.monotonic()
        first = pages.get(f"/r/{proxy.host}/{repo_path}")
        first_load = time.monotonic() - started
        proxy.clear()
        started = time.monotonic()
        second = pages.get(f"/r/{proxy.host}/{repo_path}")
        second_load = time.monotonic() - started
        requests = [line for line, _ in proxy.log]
    print(f"\n100-version repository page: first load {first_load:.2f} s, second {second_load:.2f} s, "
          f"{len(requests)} registry requests on the second")
    assert first == second
    rows = [row for row in scan(second).rows if row and row[1].startswith("sha256:")]
    assert len(rows) == 100 and rows[0][0] == "v99" and rows[0][5].startswith("✓")
    assert sum(row[5].startswith("✗") for row in rows) == 99
    # The second load asks for the tag list and each tag's digest (HEAD), as `ls` does, plus the signed
    # version's fallback index: no manifest or blob again, and nothing for the unsigned versions' signatures.
    assert {line.split()[0] for line in requests} == {"GET", "HEAD"}  # read-only
    gets = [line for line in requests if line.startswith("GET ")]
    assert not [line for line in gets if "/manifests/sha256:" in line or "/blobs/" in line], gets
    assert len([line for line in requests if line.startswith("HEAD ")]) == 101  # 100 versions, 1 fallback index
    assert len(requests) == 102, requests  # and the tag list


def test_the_command_line(tmp_path: Path) -> None:
    assert modelpack("ui").code == 2
    tagged = modelpack("ui", "--plain-http", "localhost:5000/team/model:1")
    assert tagged.code == 2 and "no tag or digest" in tagged.err and "Traceback" not in tagged.err
    missing_key = modelpack("ui", "localhost:5000", "--key", str(tmp_path / "absent.pub"))
    assert missing_key.code != 0 and len(missing_key.err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, expected", [("a>=1; b=2", ["a>=1", "b=2"]), ("a>=1\nb=2;", ["a>=1", "b=2"]),
                                            ("", [])])
def test_filter_conditions_are_split_as_the_box_takes_them(text: str, expected: list[str]) -> None:
    from modelpack.ui.browse import split_conditions

    assert split_conditions(text) == expected


def test_lineage_is_read_only_from_the_registries_the_ui_shows(auth_registry: Registry, ui: Callable[..., str],
                                                                tmp_path: Path) -> None:
    # A parent annotation is the artifact's claim: it must not make the UI (or its report) contact another
    # host with the credentials kept for it, nor read a local OCI layout (`oci:5000/x` parses as a host).
    from hostile_registry import HostileRegistry

    repo = f"{auth_registry.host}/team/confined"
    pinned = "@sha256:" + "1" * 64
    with HostileRegistry() as other:
        elsewhere = push_version(tmp_path / "a", f"{repo}:1", {"version": "1", "parent": f"{other.host}/x/y:1{pinned}"})
        local = push_version(tmp_path / "b", f"{repo}:2", {"version": "2", "parent": f"oci:5000/x/y:1{pinned}"})
        pages = Pages(ui([auth_registry.host], []))
        page = pages.get(f"/v/{repo}@{elsewhere}")
        assert "a registry not shown here, so not read" in page and other.host in page
        assert "a registry not shown here, so not read" in pages.get(f"/report/{repo}@{elsewhere}")
        assert "names a local path, not a registry" in pages.get(f"/v/{repo}@{local}")
        assert other.requests() == []


def test_a_repository_page_shows_the_metrics_most_versions_record_not_thousands(
        auth_registry: Registry, ui: Callable[..., str], tmp_path: Path) -> None:
    shown = 50  # modelpack.ui.browse.MAX_METRICS
    repo = f"{auth_registry.host}/evil/metrics"
    for v in range(3):  # each version names its own 40 metrics, and all record accuracy
        own = {f"v{v}m{i:02d}": i / 100 for i in range(40)}
        push_version(tmp_path / str(v), f"{repo}:{v}", {"version": str(v), "metrics": {"accuracy": 0.9, **own}})
    pages = Pages(ui([repo]))
    page = pages.get(f"/r/{repo}")
    assert page.count('id="chart-') == shown
    header = next(row for row in scan(page).rows if row and row[0].lower().startswith("tag"))
    assert "accuracy" in " ".join(header)  # recorded by every version: shown first of all
    assert f"the versions record 121 metrics; the {shown} that most of them record are shown" in page
    sorted_by_hidden = scan(pages.get(f"/r/{repo}", sort="-metrics.v2m39")).rows
    assert next(row[0] for row in sorted_by_hidden if row and row[1].startswith("sha256:")) == "2"
