"""Tree members compiled to machine code with lleaves (LLVM), once per model, cached.

lleaves compiles a model in LightGBM's text format into one native function per forest.
Each member's text comes from tree_text.member_text.

Compiling a 1,000-tree forest takes seconds to tens of seconds (inlining off: with it,
minutes and gigabytes), so a worker never compiles on its start: the library is built
in a separate, niced process (``python -m housing.deployment.predict.trees``) under a
file lock, so that one process per machine compiles a model and the others wait and
load its result. Libraries are cached under a key of the model text, the lleaves and
LLVM versions and the host CPU, written to a temporary name and renamed, in a directory
only this user can write.

A library is machine code that a worker links and runs, so a worker loads one only
after ``read_verified`` checked it, every time: the cache directory is this user's and
writable by no one else, and so are the directories above it (root's, or sticky like
/tmp); the library and the digest its builder recorded beside it (``trees-<key>.sha256``)
are regular files of this user, opened without following links; the library's bytes
match the digest. LLVM then links those verified bytes, never the file again. A worker
never compiles: a missing or refused library is built by the separate process before
the version serves, and a version whose library still cannot be had serves its Pipeline.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from housing.deployment.predict.tree_text import NativeUnavailable
from housing.io import write_bytes

logger = logging.getLogger(__name__)

COMPILE_OPTIONS = {"finline": False}  # inlining: minutes and GBs to compile, for ~2x
COMPILE_TIMEOUT = 900.0


def _toolchain() -> str:
    """What a compiled library depends on besides the model: versions and the CPU."""
    try:
        from importlib.metadata import version

        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features().flatten()
        return (f"lleaves {version('lleaves')} llvmlite {version('llvmlite')} "
                f"{llvm.get_host_cpu_name()} {features} {COMPILE_OPTIONS}")
    except Exception as err:
        raise NativeUnavailable(f"lleaves is not usable here: {err}") from err


def library_path(cache_dir: Path, text: str) -> Path:
    """Where the library of this model text lives in the cache."""
    key = hashlib.sha256(f"{_toolchain()}\n{text}".encode()).hexdigest()[:32]
    return Path(cache_dir) / f"trees-{key}.o"


def digest_path(library: Path) -> Path:
    """Where the builder records the sha256 of ``library``."""
    return library.with_suffix(".sha256")


def _unsafe(st: os.stat_result, *, own: bool) -> str | None:
    """Why a file or directory with this stat must not be trusted, or None."""
    uid = os.getuid()
    if st.st_uid != uid and (own or st.st_uid != 0):
        return f"owned by uid {st.st_uid}, not {uid}"
    if st.st_mode & 0o022 and not (stat.S_ISDIR(st.st_mode) and not own
                                   and st.st_mode & stat.S_ISVTX):
        return f"writable by {'group' if st.st_mode & 0o020 else 'others'} " \
               f"(mode {stat.S_IMODE(st.st_mode):o})"
    return None


def check_directory(cache_dir: Path) -> None:
    """Refuse a cache directory that someone else could write to: it must be this user's
    and not group- or world-writable, not a link, and each directory above it must be
    this user's or root's and not writable by others unless sticky (like /tmp)."""
    cache_dir = Path(cache_dir).absolute()
    try:
        st = os.lstat(cache_dir)
    except FileNotFoundError:
        raise NativeUnavailable(f"no tree cache at {cache_dir}") from None
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise NativeUnavailable(f"the tree cache {cache_dir} is not a directory (a link?)")
    why = _unsafe(st, own=True)
    if why:
        raise NativeUnavailable(f"the tree cache {cache_dir} is {why}: it must be this "
                                "user's and not writable by others")
    above = Path(os.path.realpath(cache_dir.parent))
    for parent in (above, *above.parents):
        why = _unsafe(os.stat(parent), own=False)
        if why:
            raise NativeUnavailable(f"the tree cache {cache_dir} lies under {parent}, "
                                    f"which is {why}")


def _read_trusted(dir_fd: int, name: str) -> bytes | None:
    """The bytes of ``name`` in the open directory, if it is a regular file of this user
    that no one else can write; None if it does not exist."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as err:  # ELOOP: a symbolic link
        raise NativeUnavailable(f"{name}: cannot be opened safely ({err.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NativeUnavailable(f"{name} is not a regular file")
        why = _unsafe(st, own=True)
        if why:
            raise NativeUnavailable(f"{name} is {why}")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read()
    finally:
        os.close(fd)


def read_verified(cache_dir: Path, text: str) -> bytes | None:
    """The library of ``text`` from the cache, checked (see the module's docstring), or
    None if it is not built yet. A library that fails a check raises NativeUnavailable
    with the reason; the caller serves without it."""
    check_directory(cache_dir)
    library = library_path(cache_dir, text)
    dir_fd = os.open(Path(cache_dir), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        why = _unsafe(os.fstat(dir_fd), own=True)  # the directory opened is the one checked
        if why:
            raise NativeUnavailable(f"the tree cache {cache_dir} is {why}")
        data = _read_trusted(dir_fd, library.name)
        if data is None:
            return None
        recorded = _read_trusted(dir_fd, digest_path(library).name)
    finally:
        os.close(dir_fd)
    if recorded is None:
        raise NativeUnavailable(f"{library.name} has no digest recorded by its builder")
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual.encode(), recorded.strip()):
        raise NativeUnavailable(f"{library.name} does not match the digest its builder "
                                f"recorded ({len(data)} bytes, sha256 {actual[:12]}...)")
    return data


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    check_directory(path)
    return path


def build(text_path: Path, library: Path) -> None:
    """Compile the model text at ``text_path`` into ``library`` and record its digest
    (both written to a temporary name and renamed: the digest first, so that a library
    a reader finds always has its digest)."""
    import lleaves

    tmp = library.with_name(f".{library.name}.{os.getpid()}.compiled.tmp")
    try:
        lleaves.Model(model_file=str(text_path)).compile(cache=str(tmp), **COMPILE_OPTIONS)
        data = tmp.read_bytes()
        write_bytes(hashlib.sha256(data).hexdigest().encode(), digest_path(library),
                    mode=0o600, durable=True)
        write_bytes(data, library, mode=0o600, durable=True)
    finally:
        tmp.unlink(missing_ok=True)


def _usable(cache_dir: Path, text: str) -> bool:
    try:
        return read_verified(cache_dir, text) is not None
    except NativeUnavailable:
        return False  # refused (foreign, truncated, no digest): built again over it


def ensure_library(text: str, cache_dir: Path, timeout: float = COMPILE_TIMEOUT) -> Path:
    """The cached library of ``text``, compiled now in a separate process if it is
    missing or fails its checks.

    One process per machine compiles a given model; others wait on the lock and then
    find the library.
    """
    cache_dir = _private_dir(Path(cache_dir))
    library = library_path(cache_dir, text)
    if _usable(cache_dir, text):
        return library
    with open(cache_dir / f"{library.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _usable(cache_dir, text):
            return library
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            text_path = Path(tmp) / "model.txt"
            text_path.write_text(text)
            result = subprocess.run(
                [sys.executable, "-m", "housing.deployment.predict.trees", str(text_path),
                 str(library)], capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0 or not library.exists():
            raise NativeUnavailable(f"lleaves compile failed ({result.returncode}): "
                                    f"{result.stderr.strip()[-500:]}")
    return library


def _link(data: bytes):
    """An LLVM execution engine holding the object code ``data`` (lleaves' own loading
    path, fed the verified bytes instead of reading a file)."""
    import llvmlite.binding as llvm
    from lleaves.llvm_binding import _get_target_machine, _initialize_llvm

    _initialize_llvm()
    module = llvm.parse_assembly("")
    engine = llvm.create_mcjit_compiler(module, _get_target_machine("large"))
    engine.set_object_cache(getbuffer_func=lambda _module: data)
    engine.finalize_object()
    engine.run_static_constructors()
    return engine


class NativeTrees:
    """A member's raw predictions from its verified lleaves library, one thread."""

    def __init__(self, text: str, library: bytes):
        import lleaves
        from lleaves.lleaves import get_entry_func_type

        with tempfile.NamedTemporaryFile("w", suffix=".txt") as model_file:
            model_file.write(text)
            model_file.flush()
            self.model = lleaves.Model(model_file=model_file.name)
        engine = _link(library)
        address = engine.get_function_address("forest_root")
        if not address:
            raise NativeUnavailable("the library has no forest_root function")
        self.model._execution_engine = engine  # keeps the code alive
        self.model._c_entry_func = get_entry_func_type(True)(address)
        self.model.use_fp64, self.model.is_compiled = True, True
        self.num_tree = self.model.num_trees()
        self.n_features = self.model.num_feature()

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict(np.ascontiguousarray(X, dtype=np.float64), n_jobs=1)


def main(argv: list[str] | None = None) -> int:
    """``python -m housing.deployment.predict.trees MODEL_TEXT LIBRARY``: compile one."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m housing.deployment.predict.trees MODEL_TEXT LIBRARY",
              file=sys.stderr)
        return 2
    os.nice(10)  # below the workers that serve requests meanwhile
    build(Path(args[0]), Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
