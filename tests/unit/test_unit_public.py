"""The public names are listed once (modelpack/public.py) and match what modelpack.api defines."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import modelpack
import modelpack.api
from modelpack.public import API_NAMES, OTHER_NAMES


def test_every_listed_name_exists_and_every_exported_name_is_listed() -> None:
    for name in API_NAMES:
        assert hasattr(modelpack.api, name), name
        assert getattr(modelpack, name) is getattr(modelpack.api, name)
    for name in OTHER_NAMES:
        assert getattr(modelpack, name).__name__ == name
    assert set(modelpack.api.__all__) == set(API_NAMES)
    assert set(API_NAMES) <= set(dir(modelpack.api))
    try:
        modelpack.api.no_such_verb  # noqa: B018
    except AttributeError as exc:
        assert "no_such_verb" in str(exc)
    else:
        raise AssertionError("an unknown name was found in modelpack.api")


def test_each_listed_module_defines_its_names() -> None:
    import importlib

    for name, module in API_NAMES.items():
        assert name in vars(importlib.import_module(module)), (name, module)


def test_a_pull_imports_neither_pydantic_nor_the_other_verbs() -> None:
    # Each command imports only what it calls: a fresh interpreter, as the CLI starts.
    code = ("import sys, modelpack.cli.main; from modelpack import api; api.pull; "
            "heavy = [m for m in ('pydantic', 'yaml', 'modelpack.api.signing', 'modelpack.api.bom', "
            "'modelpack.api.deploy', 'modelpack.api.serving') if m in sys.modules]; assert not heavy, heavy")
    run = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_dir_and_completion_show_the_verbs_and_result_types() -> None:
    shown = dir(modelpack)
    for name in ("pull", "push", "Client", "TransferResult", "Inspection", "ClientOptions", "__version__"):
        assert name in shown


def test_importing_modelpack_plants_no_fake_modules() -> None:
    # A stand-in module once made find_spec raise after `import modelpack`: a fresh interpreter checks it.
    code = ("import modelpack, modelpack.api, modelpack.cli.main, importlib.util, sys; "
            "importlib.util.find_spec('jsonschema'); "
            "assert all(getattr(m, '__spec__', None) is not None for n, m in sys.modules.items() "
            "if n.startswith(('modelpack', 'jsonschema')))")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_client_methods_carry_the_verbs_documentation_without_options_and_store() -> None:
    client = modelpack.Client(plain_http=True, store="/nonexistent-store-for-test")
    assert client.options.plain_http
    parameters = inspect.signature(modelpack.Client.pull).parameters
    assert "reference" in parameters and "options" not in parameters and "store" not in parameters
    assert modelpack.Client.pull.__doc__ == modelpack.api.pull.__doc__


def test_the_plain_http_variable_applies_to_the_api(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MODELPACK_PLAIN_HTTP", "true")
    assert modelpack.ClientOptions().plain_http and modelpack.Client().options.plain_http
    monkeypatch.setenv("MODELPACK_PLAIN_HTTP", "maybe")
    try:
        modelpack.ClientOptions()
    except modelpack.ModelpackError as exc:
        assert "MODELPACK_PLAIN_HTTP" in str(exc)
    else:
        raise AssertionError("a bad MODELPACK_PLAIN_HTTP was accepted")


def test_a_type_checker_sees_every_public_name() -> None:
    # `modelpack.X` is found by a module __getattr__ at run time, which a type checker reads as `Any`:
    # each name is also imported (as itself, so mypy --strict counts it re-exported) under TYPE_CHECKING.
    import ast

    def checked_names(module: object) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text())  # type: ignore[attr-defined]
        block = next(node for node in tree.body
                     if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
        return {alias.name for node in block.body if isinstance(node, ast.ImportFrom)
                for alias in node.names if alias.asname == alias.name}

    assert checked_names(modelpack) == set(API_NAMES) | set(OTHER_NAMES)
    assert checked_names(modelpack.api) == set(API_NAMES)


def test_every_public_function_documents_its_arguments_result_and_errors() -> None:
    undocumented = []
    for name in [*API_NAMES, *OTHER_NAMES]:
        func = getattr(modelpack, name)
        if not inspect.isfunction(func):
            continue
        doc, signature = inspect.getdoc(func) or "", inspect.signature(func)
        wanted = ["Raises:"]
        if signature.parameters:
            wanted.append("Args:")
        if signature.return_annotation not in (None, "None"):
            wanted.append("Returns:")
        undocumented += [f"{name}: {section}" for section in wanted if f"\n{section}\n" not in doc]
    assert undocumented == []


# Functions given `options` talk to a registry, so a caller must learn from their documentation that a
# registry's refusal or absence reaches them (sign and verify, and 14 others, did not say so).
REGISTRY_ERRORS = ("AuthenticationError", "TransportError", "RegistryError")
# remote() only opens the repository: its one request probes an `insecure` host (a TransportError).
ASKS_NO_REGISTRY = {"remote": ("TransportError",)}


def test_every_function_that_reaches_a_registry_documents_the_registry_errors() -> None:
    undocumented = []
    for name in API_NAMES:
        func = getattr(modelpack, name)
        if not inspect.isfunction(func) or "options" not in inspect.signature(func).parameters:
            continue
        raises = (inspect.getdoc(func) or "").partition("\nRaises:\n")[2]
        undocumented += [f"{name}: {error}" for error in ASKS_NO_REGISTRY.get(name, REGISTRY_ERRORS)
                         if not re.search(rf"^\s+(\w+, )*{error}\b", raises, re.MULTILINE)]
    assert undocumented == []
