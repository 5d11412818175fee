"""The package's PEP 517 build backend, standard library only.

setuptools builds a wheel only with the `wheel` package beside it, which
a venv made from a python.org or pyenv Python lacks (`invalid command
'bdist_wheel'`), and from Python 3.12 a venv has no setuptools either.
A pure-Python package needs none of that: a wheel is a zip file with
three small texts, so `pip install ./clients/python` works in any venv,
offline, with or without --no-build-isolation.  The version is read from
pushstage/__init__.py, its one source.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile
from typing import Dict, List, Optional, Tuple

NAME = "pushstage"
HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = ("Client, consumer and worker for producerd, the pushstage work "
           "dispatcher")
TAG = "py3-none-any"


def version() -> str:
    with open(os.path.join(HERE, NAME, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M)
    if m is None:
        raise RuntimeError("no __version__ in %s/__init__.py" % NAME)
    return m.group(1)


def metadata() -> str:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\n"
            "Name: %s\n"
            "Version: %s\n"
            "Summary: %s\n"
            "License: ISC\n"
            "Requires-Python: >=3.9\n"
            "Classifier: Programming Language :: Python :: 3\n"
            "Classifier: Typing :: Typed\n"
            "Description-Content-Type: text/markdown\n"
            "\n%s" % (NAME, version(), SUMMARY, readme))


def _package_files() -> List[str]:
    """The package's files, relative to HERE: its modules and py.typed."""
    out = []
    for d, dirs, files in os.walk(os.path.join(HERE, NAME)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py") or f == "py.typed":
                out.append(os.path.relpath(os.path.join(d, f), HERE))
    return out


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "%s,sha256=%s,%d" % (name, digest.rstrip(b"=").decode(), len(data))


def _wheel(directory: str, contents: List[Tuple[str, bytes]]) -> str:
    dist_info = "%s-%s.dist-info" % (NAME, version())
    contents = contents + [
        (dist_info + "/METADATA", metadata().encode()),
        (dist_info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: %s\n"
                                "Root-Is-Purelib: true\nTag: %s\n"
                                % (__name__, TAG)).encode()),
        (dist_info + "/top_level.txt", (NAME + "\n").encode()),
    ]
    record = [_record_line(n, d) for n, d in contents]
    record.append(dist_info + "/RECORD,,")
    contents.append((dist_info + "/RECORD",
                     ("\n".join(record) + "\n").encode()))
    wheel = "%s-%s-%s.whl" % (NAME, version(), TAG)
    with zipfile.ZipFile(os.path.join(directory, wheel), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for n, d in contents:
            z.writestr(zipfile.ZipInfo(n, (1980, 1, 1, 0, 0, 0)), d)
    return wheel


def _read(rel: str) -> bytes:
    with open(os.path.join(HERE, rel), "rb") as f:
        return f.read()


# --- the PEP 517 and PEP 660 hooks ---------------------------------------

def get_requires_for_build_wheel(
        config_settings: Optional[Dict[str, str]] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(
        config_settings: Optional[Dict[str, str]] = None) -> List[str]:
    return []


def get_requires_for_build_editable(
        config_settings: Optional[Dict[str, str]] = None) -> List[str]:
    return []


def build_wheel(wheel_directory: str,
                config_settings: Optional[Dict[str, str]] = None,
                metadata_directory: Optional[str] = None) -> str:
    return _wheel(wheel_directory, [(f.replace(os.sep, "/"), _read(f))
                                    for f in _package_files()])


def build_editable(wheel_directory: str,
                   config_settings: Optional[Dict[str, str]] = None,
                   metadata_directory: Optional[str] = None) -> str:
    """A wheel whose .pth puts this source folder on sys.path."""
    return _wheel(wheel_directory, [(NAME + ".pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory: str,
                config_settings: Optional[Dict[str, str]] = None) -> str:
    base = "%s-%s" % (NAME, version())
    files = ["pyproject.toml", "README.md",
             os.path.basename(__file__)] + _package_files()
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz",
                      format=tarfile.PAX_FORMAT) as t:
        for rel in files:
            t.add(os.path.join(HERE, rel), base + "/" + rel.replace(os.sep,
                                                                    "/"))
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = metadata().encode()
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    return name
