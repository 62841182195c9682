"""Train a small, deterministic scikit-learn iris classifier and lay it out as a ModelPack model directory.

Usage: python examples/sklearn-iris/train.py [OUT_DIR]   (default: model/ next to this script)
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import joblib
import sklearn
import yaml
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
HYPERPARAMETERS: dict[str, int] = {"n_estimators": 100, "max_depth": 4, "random_state": 0}
TEST_SIZE = 0.2

PREDICT_PY = '''\
#!/usr/bin/env python3
"""Predict iris species with the bundled model.

Usage: ./predict.py '[5.1, 3.5, 1.4, 0.2]' '[6.7, 3.0, 5.2, 2.3]'
Each argument is one row of the four features, in centimetres, as a JSON list.
"""

import json
import sys
from pathlib import Path

import joblib

CLASS_NAMES = {class_names}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = [json.loads(arg) for arg in argv]
    # Resolve relative to this file so the script works from any working directory.
    model = joblib.load(Path(__file__).resolve().parent / "model.joblib")
    for row, label in zip(rows, model.predict(rows), strict=True):
        print(json.dumps({{"input": row, "class": int(label), "species": CLASS_NAMES[int(label)]}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def readme(metrics: dict[str, float], feature_names: list[str], class_names: list[str]) -> str:
    features = "\n".join(f"{i}. `{name}`" for i, name in enumerate(feature_names))
    classes = "\n".join(f"- `{i}`: {name}" for i, name in enumerate(class_names))
    return f"""# iris-classifier 1.0.0

A `RandomForestClassifier` (scikit-learn {sklearn.__version__}) that predicts the iris species from four
flower measurements. Trained on the classic iris dataset (`sklearn.datasets.load_iris`, 150 rows) with a
stratified 80/20 train/test split (`random_state=0`). It is a packaging example, not a production model.

## Metrics (held-out test set, {round(150 * TEST_SIZE)} rows)

| metric | value |
|---|---|
| accuracy | {metrics["accuracy"]} |
| f1_macro | {metrics["f1_macro"]} |

## Hyperparameters

{", ".join(f"`{k}={v}`" for k, v in HYPERPARAMETERS.items())}

## Inputs

One row of four floats (centimetres), in this order:

{features}

`data/sample.csv` holds five example rows with this header.

## Outputs

Class index:

{classes}

## Usage

```python
import joblib

model = joblib.load("model.joblib")
print(model.predict([[5.1, 3.5, 1.4, 0.2]]))  # -> [0] (setosa)
```

or `./predict.py '[5.1, 3.5, 1.4, 0.2]'`. Install dependencies with `pip install -r requirements.txt`.

## License

BSD-3-Clause, the license of scikit-learn, which distributes the iris dataset used for training.
"""


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else HERE / "model"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "data").mkdir(exist_ok=True)

    iris = load_iris()
    feature_names: list[str] = list(iris.feature_names)
    class_names: list[str] = [str(name) for name in iris.target_names]
    x_train, x_test, y_train, y_test = train_test_split(
        iris.data, iris.target, test_size=TEST_SIZE, random_state=0, stratify=iris.target
    )
    # n_jobs=1: thread scheduling must not influence the fitted trees (and thus the pickled bytes).
    model = RandomForestClassifier(**HYPERPARAMETERS, n_jobs=1)
    model.fit(x_train, y_train)
    predictions = model.predict(x_test)
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, predictions)), 4),
        "f1_macro": round(float(f1_score(y_test, predictions, average="macro")), 4),
    }

    joblib.dump(model, out_dir / "model.joblib")

    manifest = {
        "name": "iris-classifier",
        "version": "1.0.0",
        "title": "Iris species classifier",
        "description": "A random forest that predicts the iris species from sepal and petal measurements.",
        "authors": ["modelpack examples"],
        "licenses": ["BSD-3-Clause"],
        "framework": "scikit-learn",
        "format": "joblib",
        "architecture": type(model).__name__,
        "metrics": metrics,
        "hyperparameters": dict(HYPERPARAMETERS),
        "datasets": ["sklearn.datasets.load_iris"],
        "labels": {"task": "tabular-classification"},
        "files": {"exclude": ["__pycache__/**"]},
    }
    with open(out_dir / "modelpack.yaml", "w", encoding="utf-8") as f:
        yaml.safe_dump(manifest, f, sort_keys=False)

    (out_dir / "README.md").write_text(readme(metrics, feature_names, class_names), encoding="utf-8")

    predict = out_dir / "predict.py"
    predict.write_text(PREDICT_PY.format(class_names=json.dumps(class_names)), encoding="utf-8")
    predict.chmod(0o755)

    # Pin to the training major.minor: pickles are only guaranteed to load with the same sklearn release line.
    sk_minor = ".".join(sklearn.__version__.split(".")[:2])
    jl_minor = ".".join(joblib.__version__.split(".")[:2])
    requirements = f"scikit-learn=={sk_minor}.*\njoblib>={jl_minor}\n"
    (out_dir / "requirements.txt").write_text(requirements, encoding="utf-8")

    # First test row of each class, then two more, so the sample covers all species.
    picks: list[int] = [int((y_test == c).nonzero()[0][0]) for c in range(len(class_names))]
    picks += [i for i in range(len(y_test)) if i not in picks][:2]
    with open(out_dir / "data" / "sample.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(feature_names)
        writer.writerows([[float(v) for v in x_test[i]] for i in picks])

    print(f"accuracy={metrics['accuracy']} f1_macro={metrics['f1_macro']}")
    print(f"wrote {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
