"""`inspect` printed a manifest's artifactType, an index entry's platform and type, a layer's path and the
software its labels name whole: a 1 MB artifactType was a 1 MB line. They are cut as its metadata values are
(a path past PATH_MAX, which no file a pull writes reaches), saying how many characters were left out;
`--json` keeps them. `diff`'s paths are cut the same way."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import modelpack
from hostile_registry import OCI_MANIFEST, HostileRegistry, model_content, serve_content
from modelpack.oci import digest as digests

LONG = "L" * 1_000_000
INDEX = "application/vnd.oci.image.index.v1+json"


def test_inspect_cuts_long_types_platforms_and_paths(tmp_path: Path) -> None:
    content = model_content()
    manifest = json.loads(content["1"][1])
    manifest["artifactType"] = "application/vnd.cncf.model.manifest.v1+json" + LONG
    manifest["layers"][0]["annotations"]["org.cncf.model.filepath"] = "d/" + LONG[:10_000]
    data = json.dumps(manifest).encode()
    content["1"] = content[digests.of_bytes(data)] = (OCI_MANIFEST, data)
    entry = {"mediaType": OCI_MANIFEST, "digest": digests.of_bytes(data), "size": len(data),
             "artifactType": "x/" + LONG[:100_000],
             "platform": {"os": "linux" + LONG[:100_000], "architecture": "amd64"}}
    content["idx"] = (INDEX, json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [entry]}).encode())
    env = {"MODELPACK_HOME": str(tmp_path / "home")}
    with HostileRegistry() as registry:
        registry.routes[r"^(GET|HEAD) /v2/a/b/(manifests|blobs)/"] = serve_content(content)
        shown = [modelpack("inspect", "--remote", "--plain-http", f"{registry.host}/a/b:{tag}", env=env, timeout=120)
                 for tag in ("1", "idx")]
        exact = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", f"{registry.host}/a/b:1",
                                     env=env, timeout=120).out)
    for result in shown:
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert max(map(len, lines)) < 4_200, max(map(len, lines))
    assert "characters; --json shows them)" in next(x for x in shown[0].out.splitlines() if x.startswith("Artifact"))
    assert "(5,906 more characters; --json shows them)" in shown[0].out  # the path: 10,002 characters, 4,096 shown
    assert shown[1].out.count("more characters; --json shows them)") == 2  # the entry's platform and type
    assert exact["artifactType"].endswith(LONG)
