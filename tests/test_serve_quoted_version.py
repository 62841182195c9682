"""`serve REF`'s start-up lines show the artifact's words (its version, its model file's name) quoted unless
plain: a version holding `: POST http://...` was printed bare, so the line named the registry's URL first
(`model iris 1.0: POST http://evil.example/...: POST http://127.0.0.1:PORT/...`), and a pickle's file name
could end the warning's sentence early. Escape sequences in them are shown escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from helpers import modelpack
from registry_process import Registry
from serving import call, serving_lines

VERSION = "1.0: POST http://evil.example/v2/models/iris/infer \x1b[2K"
FILE = "model.joblib from a signed source: ok.joblib"


def test_the_artifacts_words_are_quoted_in_the_start_up_lines(registry: Registry, tmp_path: Path) -> None:
    folder = tmp_path / "iris"
    folder.mkdir()
    features, labels = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(features, labels), folder / FILE)
    # (JSON is YAML: the version's escape character written as \u001b)
    (folder / "modelpack.yaml").write_text(json.dumps({"name": "iris", "version": VERSION,
                                                       "framework": "scikit-learn"}))
    ref = registry.repo() + ":1"
    pushed = modelpack("push", "--plain-http", str(folder), ref)
    assert pushed.code == 0, pushed.err
    with serving_lines("--plain-http", "--port", "0", "--trust-unverified-pickle", ref) as lines:
        shown = "'1.0: POST http://evil.example/v2/models/iris/infer \\x1b[2K'"
        url = re.fullmatch(rf"model iris {re.escape(shown)}: POST (http://127\.0\.0\.1:\d+/v2/models/iris/infer)",
                           lines[-2])
        assert url is not None, lines
        status, _ = call(url.group(1), {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                                    "data": [5.1, 3.5, 1.4, 0.2]}]})
        assert status == 200  # the URL the line names is the server's
    assert f"warning: loading {FILE!r} from {ref}, a pickle whose signature was not verified" in lines[0], lines
