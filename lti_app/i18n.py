"""Every admin's language: the locale Canvas sends in the launch picks a catalog (Spanish,
French, Brazilian Portuguese, or English), by the whole tag first and then by its language
(``es-MX`` → Spanish); the launch keeps it, so every page after the launch speaks it.

Pages without a launch (the OIDC login, an expired link) fall back to the launch the token names,
then to the browser's Accept-Language.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, has_app_context, has_request_context, request
from flask_babel import Babel, force_locale, get_translations, refresh
from markupsafe import Markup

from config.settings import ROOT

DEFAULT = "en"
# The catalogs in lti_app/translations/, by the tag Babel knows them by.
SUPPORTED = ("en", "es", "fr", "pt_BR")
_BY_LANGUAGE = {tag.split("_")[0]: tag for tag in SUPPORTED}

babel = Babel()


def N_(message: str) -> str:
    """Mark a message for the catalogs where it is defined; it is translated where shown."""
    return message


def negotiate(tag: object) -> str:
    """The catalog for a BCP 47 tag as Canvas sends it (``pt-BR``, ``es-MX``, ``en-GB``)."""
    if not isinstance(tag, str) or not tag.strip():
        return DEFAULT
    parts = tag.strip().replace("_", "-").split("-")
    whole = parts[0].lower() + ("_" + parts[1].upper() if len(parts) > 1 else "")
    if whole in SUPPORTED:
        return whole
    return _BY_LANGUAGE.get(parts[0].lower(), DEFAULT)


def html_lang(locale: str) -> str:
    """The catalog's tag as ``<html lang>`` wants it (``pt-BR``)."""
    return locale.replace("_", "-")


def select_locale() -> str:
    """The locale of this request: its launch's (kept in ``g.locale``), else the browser's
    preference."""
    if not has_request_context():
        return DEFAULT
    if request.path.startswith("/api/"):
        return DEFAULT  # the agent API's messages are a contract, in English
    # The launch's locale, read when its token was (lti/tokens.py), or a refusal's.
    locale = g.get("locale")
    if locale:
        return locale
    return request.accept_languages.best_match(
        [html_lang(t) for t in SUPPORTED], default=DEFAULT
    ).replace("-", "_")


CATALOGS = ROOT / "lti_app" / "translations"


def compiled_catalogs(source: Path, cache: Path) -> Path:
    """The folder of compiled catalogs (.mo), compiling any missing or older than its .po.

    `make` compiles them at install; an operator who installs with ``pip install -r
    requirements.txt`` alone, or deploys a checkout, never ran it, so the app does it when it
    starts (never in a request): into the catalogs' own folder when it can write there, else
    into a cache folder it owns. Each file is written whole and then renamed, so workers
    starting together never read half a catalog."""
    for folder in (source, cache):
        try:
            for po in sorted(source.glob("*/LC_MESSAGES/messages.po")):
                mo = folder / po.relative_to(source).with_suffix(".mo")
                if not (mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime):
                    with po.open("rb") as handle:
                        _write_mo(mo, read_po(handle))
        except OSError:
            continue  # read-only: the cache, then
        return folder
    return source  # nothing writable: the catalogs as they are (English at worst)


def _write_mo(path: Path, catalog: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        write_mo(handle, catalog)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with the catalogs beside the package (compiled when they are not)."""
    folder = compiled_catalogs(CATALOGS, Path(app.instance_path) / "translations")
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(folder),
    )
    # Templates call gettext a hundred times a page. Flask-Babel's callables (Jinja's
    # "newstyle" ones) take the template context, and Jinja derives a new context for each
    # such call made inside a block that sets a variable: these plain functions do what they
    # do, with the catalog looked up once a request, for a fifth of the cost.
    app.jinja_env.globals.update(
        html_lang=lambda: html_lang(select_locale()),
        gettext=_template_gettext,
        _=_template_gettext,
        ngettext=_template_ngettext,
    )
    app.before_request(_forget_locale)


def translations() -> Any:
    """This request's catalog, looked up once (outside an app context, Flask-Babel's: none,
    the words as written)."""
    if not has_app_context():
        return get_translations()
    found = g.get("catalog")
    if found is None:
        found = g.catalog = get_translations()
    return found


def gettext(message: str, **variables: Any) -> str:
    """``flask_babel.gettext`` through the request's cached catalog."""
    text = translations().ugettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, /, **variables: Any) -> str:
    """``flask_babel.ngettext`` through the request's cached catalog: ``num`` is ``n`` unless
    given (as the number written the admin's way)."""
    return translations().ungettext(singular, plural, n) % {"num": n, **variables}


# Each catalog's words without placeholders, as template markup: a page says ~80 of them, the
# same on every view, so each is looked up and formatted once a process.
_MARKUP: WeakKeyDictionary[Any, dict[str, Markup]] = WeakKeyDictionary()


def _template_gettext(message: str, /, **variables: Any) -> Markup:
    """``_()`` in a template (every template is HTML, autoescaped): the translation as markup,
    the values of its placeholders escaped, as Jinja's newstyle gettext gives it."""
    catalog = translations()
    if variables:
        # The catalogs' text is the tool's own; the values are escaped by the formatting.
        return Markup(catalog.ugettext(message)) % variables  # noqa: S704
    words = _MARKUP.get(catalog)
    if words is None:
        words = _MARKUP[catalog] = {}
    found = words.get(message)
    if found is None:
        found = words[message] = Markup(catalog.ugettext(message)) % {}  # noqa: S704
    return found


def _template_ngettext(singular: str, plural: str, n: int, /, **variables: Any) -> Markup:
    """``ngettext()`` in a template, ``num`` among its values unless given."""
    variables.setdefault("num", n)
    return Markup(translations().ungettext(singular, plural, n)) % variables  # noqa: S704


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    """Translate in ``locale`` for a while, wherever the code runs (an email written by the
    worker, in the language of the admin who asked for it)."""
    cached = g.pop("catalog", None)
    try:
        with force_locale(locale):
            yield
    finally:
        g.pop("catalog", None)
        if cached is not None:
            g.catalog = cached


def _forget_locale() -> None:
    """Each request chooses its locale afresh: Flask-Babel keeps the choice in the app
    context, which requests share when one is already pushed (a CLI command, a test)."""
    g.pop("locale", None)
    g.pop("catalog", None)
    refresh()
