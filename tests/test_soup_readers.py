"""``scripts/soup_readers.py``: readers trained with other seeds become one reader file, written whole or not at
all; a file it cannot average is refused in one sentence."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from briefqa.models.readernet import adapter_arrays, with_adapters
from conftest import fine_tuned_reader

SCRIPT = Path(__file__).parent.parent / "scripts" / "soup_readers.py"


def run(*args: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def readers(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("readers")
    for seed in (0, 1):
        np.savez_compressed(folder / f"seed{seed}.npz", **fine_tuned_reader(seed))
    return [folder / "seed0.npz", folder / "seed1.npz"]


def test_two_readers_become_one_file_of_the_same_form_between_them(readers, tmp_path):
    out = tmp_path / "reader.npz"
    done = run(*readers, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "the soup of 2 readers" in done.stderr
    soup, a, b = (np.load(p, allow_pickle=False) for p in (out, *readers))
    assert sorted(soup.files) == sorted(a.files)
    assert soup["encoder.layer.0.intermediate.dense.delta_q"].dtype == np.int8
    name = "encoder.layer.2.output.LayerNorm.weight"  # float16 as written, so the mean is exact to its rounding
    mean = (a[name].astype(np.float32) + b[name].astype(np.float32)) / 2
    assert np.abs(soup[name].astype(np.float32) - mean).max() < 2e-3
    assert np.abs(a[name].astype(np.float32) - b[name].astype(np.float32)).max() > 1e-2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reader.npz"]  # no temporary file left beside it


def test_a_missing_reader_or_an_adapter_file_is_refused_and_the_output_is_untouched(readers, tmp_path):
    out = tmp_path / "reader.npz"
    out.write_bytes(b"the previous reader")
    missing = run(readers[0], tmp_path / "nowhere.npz", "--out", out)
    assert missing.returncode != 0 and "No reader file at" in missing.stderr
    assert "Traceback" not in missing.stderr
    lora = tmp_path / "lora.npz"
    np.savez_compressed(lora, **adapter_arrays(with_adapters(rank=4, alpha=8.0)))
    refused = run(readers[0], lora, "--out", out)
    assert refused.returncode != 0 and "trained in full" in refused.stderr
    assert out.read_bytes() == b"the previous reader"
