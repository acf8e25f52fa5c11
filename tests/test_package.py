"""The package as a library: a curated public API, and nothing changed in the host process by using it."""

import os
import subprocess
import sys

import briefqa
from conftest import SEED

HOST_STATE = """
import os, sys
def umask():
    return next(l.split()[1] for l in open("/proc/self/status") if l.startswith("Umask:"))
os.umask(0o027)
import matplotlib
matplotlib.use("svg")
before = (dict(os.environ), umask(), matplotlib.get_backend())
import briefqa
qa = briefqa.BriefQA.open(sys.argv[1])
qa.ask("When did Israel open its embassy in Baku?")
briefqa.evaluate(sys.argv[2], index=sys.argv[1], out=sys.argv[3], limit=2, progress=False)
after = (dict(os.environ), umask(), matplotlib.get_backend())
changed = {k for k in set(before[0]) | set(after[0]) if before[0].get(k) != after[0].get(k)}
print(sorted(changed), before[1], after[1], before[2], after[2])
print(oct(os.stat(os.path.join(sys.argv[3], "report.json")).st_mode & 0o777))
"""


def test_using_the_library_changes_no_environment_variable_umask_or_matplotlib_backend(seed_index, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "GRADIO_", "TOKENIZERS_"))}
    out = subprocess.run([sys.executable, "-c", HOST_STATE, str(seed_index), str(SEED / "queries-dev.json"),
                          str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    changes, files = out.stdout.strip().splitlines()
    assert changes == "[] 0027 0027 svg svg", changes
    assert files == "0o640"  # what the host's umask makes of a new file: briefqa's writes respect it


def test_the_public_api_is_a_curated_list_and_importing_it_loads_no_model_library():
    assert briefqa.__all__ == sorted(briefqa.__all__) and len(briefqa.__all__) == len(set(briefqa.__all__))
    for name in briefqa.__all__:
        assert getattr(briefqa, name) is not None, name
    heavy = "('torch', 'langchain_core', 'gradio', 'numpy')"
    code = f"import sys, briefqa; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_answering_from_an_onnx_index_imports_neither_torch_transformers_langchain_nor_scipy(seed_index):
    # scipy comes with bm25s: half a second of a one-shot `briefqa ask` that reading the index never needs.
    from briefqa.models.reader import model_path

    model_path()  # built once into the cache, with torch; answering then runs without it
    code = ("import sys, briefqa; qa = briefqa.BriefQA.open(sys.argv[1]); "
            "a = qa.ask('When did Israel open its embassy in Baku?'); "
            "heavy = ('torch', 'transformers', 'sentence_transformers', 'langchain_core', 'bm25s', 'scipy'); "
            "print('1993' in a.text, sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(seed_index)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "True []"
