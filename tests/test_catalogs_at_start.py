"""Installed from its requirements alone, with no `make` to compile the catalogs, the app
compiles them when it starts, so every way of starting it speaks every language."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from lti_app.i18n import CATALOGS, compiled_catalogs

REPO = Path(__file__).resolve().parents[1]


def _catalogs_without_mo(folder: Path) -> Path:
    shutil.copytree(CATALOGS, folder, ignore=shutil.ignore_patterns("*.mo"))
    return folder


def test_missing_and_stale_catalogs_are_compiled_in_place(tmp_path):
    source = _catalogs_without_mo(tmp_path / "translations")
    assert compiled_catalogs(source, tmp_path / "cache") == source
    mo = source / "es" / "LC_MESSAGES" / "messages.mo"
    assert mo.exists() and not (tmp_path / "cache").exists()
    # A catalog edited after it was compiled is compiled again.
    po = mo.with_suffix(".po")
    os.utime(mo, (po.stat().st_mtime - 60,) * 2)
    before = mo.stat().st_mtime
    compiled_catalogs(source, tmp_path / "cache")
    assert mo.stat().st_mtime > before


def test_an_unwritable_catalog_folder_compiles_into_the_cache(tmp_path):
    source = _catalogs_without_mo(tmp_path / "translations")
    # Something the app cannot replace stands where a compiled catalog goes (the test runs as
    # root, whom permissions do not stop).
    (source / "fr" / "LC_MESSAGES" / "messages.mo").mkdir()
    cache = tmp_path / "cache"
    assert compiled_catalogs(source, cache) == cache
    assert {p.parent.parent.name for p in cache.glob("*/LC_MESSAGES/messages.mo")} == {
        "es", "fr", "pt_BR"
    }


def test_the_app_started_from_a_copy_without_compiled_catalogs_speaks_spanish(tmp_path):
    copy = tmp_path / "sis-integration"
    for name in ("lti_app", "config", "templates", "static", "migrations"):
        skip = shutil.ignore_patterns("*.mo", "__pycache__")
        shutil.copytree(REPO / name, copy / name, ignore=skip)
    shutil.copy(REPO / "wsgi.py", copy / "wsgi.py")
    assert not list(copy.glob("lti_app/translations/*/LC_MESSAGES/messages.mo"))
    script = (
        "from wsgi import app\n"
        "page = app.test_client().get('/rostering/?launch_token=old',"
        " headers={'Accept-Language': 'es-MX,es;q=0.9'})\n"
        "print(page.status_code, page.get_data(as_text=True))\n"
    )
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'copy.db'}", "APP_ENV": "testing"}
    result = subprocess.run(  # noqa: S603 (the test's own interpreter and script)
        [sys.executable, "-c", script], cwd=copy, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )
    assert result.stdout.startswith("401")
    assert '<html lang="es">' in result.stdout and "La sesión terminó" in result.stdout
    assert len(list(copy.glob("lti_app/translations/*/LC_MESSAGES/messages.mo"))) == 3
