"""scripts/install.py leaves what briefqa's commands import byte-compiled, so that a one-shot ``briefqa ask``
does not compile its modules again on every start, even where ``PYTHONDONTWRITEBYTECODE`` is set; and the
models answering runs built into the cache, so that the first question does not wait for them."""

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

# A one-shot answer's imports: briefqa's modules on the way and the third-party ones they load.
ASK_IMPORTS = ("briefqa.ui.cli", "briefqa.answering.extractive", "briefqa.relevance.scorer", "briefqa.models.reader",
               "numpy", "faiss", "pydantic", "onnxruntime", "tokenizers")


@pytest.mark.parametrize("name", ASK_IMPORTS)
def test_what_briefqa_ask_imports_is_byte_compiled(name):
    source = importlib.import_module(name).__file__
    assert Path(importlib.util.cache_from_source(source)).is_file(), (
        f"{source} has no byte-compiled cache; scripts/install.py should have written it")


def _install_script():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        return importlib.import_module("install")
    finally:
        sys.path.pop(0)


def test_the_byte_compile_step_writes_a_missing_cache_even_where_python_would_not():
    install = _install_script()
    cache = Path(importlib.util.cache_from_source(importlib.import_module("briefqa.text").__file__))
    cache.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(Path(install.ROOT) / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", install.BYTE_COMPILE], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert cache.is_file()


def test_the_model_building_step_runs():
    # It once asked for the embedder of the runtime "auto", which names a choice, not a model: it failed, built
    # nothing, and the install said only that the step was skipped. Here the models are built already, so the
    # step only checks them.
    install = _install_script()
    env = {**os.environ, "PYTHONPATH": str(Path(install.ROOT) / "src")}
    done = subprocess.run([sys.executable, "-c", install.BUILD_MODELS], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
