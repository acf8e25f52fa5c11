"""The installed llama.cpp is the portable build of scripts/install.py: it runs on any x86-64-v3 CPU, even on
hosts that advertise AVX-512 or AMX and do not let programs use them."""

import json
import platform
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="the baseline is stated for x86-64")

# Above x86-64-v3: AMX tile instructions, AVX-512 (its zmm and mask registers), and VNNI dot products.
FORBIDDEN = re.compile(r"\b(tileloadd\w*|tilestored|tdpb\w+|tdpfp16ps|ldtilecfg|sttilecfg|tilerelease|tilezero"
                       r"|vpdpbusds?|vpdpwssds?)\b|%zmm\d+|%k[0-7]\b")


def llama_libraries() -> list[Path]:
    dist = metadata.distribution("llama-cpp-python")
    return [Path(dist.locate_file(f)) for f in dist.files if re.search(r"llama_cpp/lib/lib(ggml|llama)[\w-]*\.so$",
                                                                          str(f))]


def test_llama_cpp_python_was_installed_from_the_portable_wheel():
    url = json.loads(metadata.distribution("llama-cpp-python").read_text("direct_url.json") or "{}").get("url", "")
    # scripts/install.py's wheelhouse: wheels/llama-cpp-python-VERSION-BASELINE-KEY/ in briefqa's cache
    assert re.search(r"/wheels/llama-cpp-python-[\d.]+-[\w-]+-[0-9a-f]{16}/llama_cpp_python-[^/]+\.whl$", url), (
        f"llama-cpp-python came from {url or 'an index'}, not scripts/install.py's build")
    build = json.loads((Path(url.removeprefix("file://")).parent / "build.json").read_text())
    assert "-DGGML_NATIVE=OFF" in build["cmake_args"] and "-DGGML_AMX_INT8=OFF" in build["cmake_args"]


@pytest.mark.skipif(shutil.which("objdump") is None, reason="objdump (binutils) is not installed")
def test_no_library_of_it_holds_an_amx_or_avx512_instruction():
    libraries = llama_libraries()
    assert any("ggml-cpu" in p.name for p in libraries), libraries
    for lib in libraries:
        code = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True,
                              check=True).stdout
        found = FORBIDDEN.search(code)
        assert found is None, f"{lib.name}: {found.group(0)}"


@pytest.mark.parametrize("line", ["tileloadd (%rsi,%rdx,1),%tmm0", "tdpbssd %tmm2,%tmm1,%tmm0", "ldtilecfg (%rdi)",
                                  "vfmadd231ps %zmm1,%zmm2,%zmm0", "vmovups (%rax),%zmm3{%k1}",
                                  "kmovw %eax,%k0", "vpdpbusd %ymm1,%ymm2,%ymm0"])
def test_the_check_recognises_amx_and_avx512_code(line):
    assert FORBIDDEN.search(line)


@pytest.mark.parametrize("line", ["vfmadd231ps %ymm1,%ymm2,%ymm0", "vpmaddubsw %ymm1,%ymm2,%ymm0",
                                  "shlx %rax,%rbx,%rcx", "vcvtph2ps %xmm0,%ymm1"])
def test_the_check_lets_avx2_code_through(line):
    assert FORBIDDEN.search(line) is None
