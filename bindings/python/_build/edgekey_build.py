"""A PEP 517 build backend for the edgekey package, standard library only
(no setuptools, no wheel package: nothing to download).

The wheel holds edgekey/*.py and edgekey/_libpath.py, which names the
libedgekey that `pkg-config --variable=libdir edgekey` finds at build time
(PKG_CONFIG_PATH), if any; at run time $EDGEKEY_LIBRARY, then that path, then
the dynamic loader's libedgekey.so.0 are tried. With a C compiler ($CC or
cc), the running CPython's headers and edgekey.h (pkg-config --cflags
edgekey), it also holds edgekey/_speedups (edgekey/_speedups.c compiled for
that python: a platform wheel); without them, a pure wheel that validates
through cffi alone."""
import base64
import hashlib
import io
import os
import shlex
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

NAME = "edgekey"
VERSION = "0.1.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METADATA = """Metadata-Version: 2.1
Name: edgekey
Version: {v}
Summary: Validate edgekey API keys in-process against edgekeyd's shared table (libedgekey through cffi)
License: Apache-2.0
Requires-Python: >=3.8
Requires-Dist: cffi>=1.12
""".format(v=VERSION)
WHEEL = """Wheel-Version: 1.0
Generator: edgekey_build
Root-Is-Purelib: {purelib}
Tag: {tag}
"""


def _library_path():
    try:
        out = subprocess.run(["pkg-config", "--variable=libdir", "edgekey"], capture_output=True,
                             text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    path = os.path.normpath(os.path.join(out, "libedgekey.so.0"))
    return path if out and os.path.exists(path) else None


def _platform_tag():
    """The wheel tag of the running CPython (cp311-cp311-linux_x86_64), or
    None where the extension is not built (another implementation, a
    free-threaded or debug build)."""
    if sys.implementation.name != "cpython" or sysconfig.get_config_var("Py_GIL_DISABLED") or \
            sysconfig.get_config_var("Py_DEBUG"):
        return None
    py = "cp%d%d" % sys.version_info[:2]
    return "%s-%s-%s" % (py, py, sysconfig.get_platform().replace("-", "_").replace(".", "_"))


def _compile_speedups(work):
    """(wheel path, bytes) of edgekey/_speedups compiled for this python, or
    None when it cannot be (the package then uses cffi alone)."""
    include = sysconfig.get_paths().get("include")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if not _platform_tag() or not include or not suffix or not os.path.exists(os.path.join(include, "Python.h")):
        return None
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", "edgekey"], capture_output=True, text=True,
                                check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    out = os.path.join(work, "_speedups" + suffix)
    cmd = shlex.split(os.environ.get("CC") or "cc") + [
        "-O2", "-shared", "-fPIC", "-I" + include] + cflags + [
        os.path.join(ROOT, NAME, "_speedups.c"), "-o", out]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError:
        return None
    if r.returncode != 0:
        sys.stderr.write("edgekey: building without edgekey._speedups (the cffi path alone): %s\n%s"
                         % (" ".join(cmd), r.stderr[-2000:]))
        return None
    with open(out, "rb") as f:
        return NAME + "/_speedups" + suffix, f.read()


def _files():
    pkg = os.path.join(ROOT, NAME)
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py") and name != "_libpath.py":
            with open(os.path.join(pkg, name), "rb") as f:
                yield NAME + "/" + name, f.read()
    lib = _library_path()
    yield NAME + "/_libpath.py", ("# Written by the build from pkg-config.\nLIBRARY = %r\n" % lib).encode()


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    entries = list(_files())
    with tempfile.TemporaryDirectory() as work:
        ext = _compile_speedups(work)
    tag = _platform_tag() if ext else "py3-none-any"
    if ext:
        entries.append(ext)
    name = "%s-%s-%s.whl" % (NAME, VERSION, tag)
    dist = "%s-%s.dist-info" % (NAME, VERSION)
    wheel = WHEEL.format(purelib="false" if ext else "true", tag=tag)
    entries += [(dist + "/METADATA", METADATA.encode()), (dist + "/WHEEL", wheel.encode()),
                (dist + "/top_level.txt", (NAME + "\n").encode())]
    record = "".join(_record_line(p, d) + "\n" for p, d in entries) + dist + "/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in entries + [(dist + "/RECORD", record.encode())]:
            info = zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if path.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return name


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, VERSION)
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ["pyproject.toml", "_build/edgekey_build.py"] + \
                   [NAME + "/" + n for n in sorted(os.listdir(os.path.join(ROOT, NAME)))
                    if (n.endswith(".py") and n != "_libpath.py") or n == "_speedups.c"]:
            t.add(os.path.join(ROOT, rel), arcname=base + "/" + rel)
        pkg = METADATA.encode()
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(pkg)
        t.addfile(info, io.BytesIO(pkg))
    return name
