"""Every admin's language: complete catalogs, the locale chosen from the launch, and pages,
windows, refusals and the expired page in it, with dates and numbers formatted for it."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from lti_app.i18n import negotiate
from lti_app.rostering.models import JobStatus

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = ("es", "fr", "pt_BR")
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def marked_messages() -> set[str | tuple[str, str]]:
    """Every string marked for translation in the code and the templates, as pybabel sees it."""
    method_map = [("lti_app/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, keywords=keywords):
        found.add(message if isinstance(message, str) else tuple(message[:2]))
    return found


@pytest.mark.parametrize("locale", CATALOGS)
def test_every_marked_string_is_translated_in_each_catalog(locale):
    path = ROOT / "lti_app" / "translations" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po)
    assert not catalog.fuzzy
    translated = {}
    for message in catalog:
        if message.id:
            key = message.id if isinstance(message.id, str) else tuple(message.id)
            translated[key] = message
    missing = sorted(map(str, marked_messages() - set(translated)))
    assert missing == [], f"not in the {locale} catalog: {missing}"
    for key, message in translated.items():
        assert not message.fuzzy, key
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(s.strip() for s in strings), f"{locale}: untranslated {key!r}"
        ids = key if isinstance(key, tuple) else (key,)
        wanted = {p for i in ids for p in PLACEHOLDER.findall(i)}
        for s in strings:
            assert set(PLACEHOLDER.findall(s)) <= wanted, f"{locale}: placeholders of {key!r}"


@pytest.mark.parametrize(
    ("tag", "catalog"),
    [("es", "es"), ("es-MX", "es"), ("fr-CA", "fr"), ("pt-BR", "pt_BR"), ("pt", "pt_BR"),
     ("en-GB", "en"), ("de", "en"), ("", "en"), (None, "en"), (["es"], "en")],
)  # fmt: skip
def test_a_locale_falls_back_by_language_then_to_english(tag, catalog):
    assert negotiate(tag) == catalog


def launch_in(launcher, locale: str, deployment: str = "dep-a", **custom: str) -> str:
    return launcher.admin_token(
        deployment,
        **{
            CLAIM + "launch_presentation": {"locale": locale},
            CLAIM + "custom": {
                "canvas_membership_roles": "Account Admin",
                "user_timezone": "America/Mexico_City",
                **custom,
            },
        },
    )


def test_a_spanish_launch_shows_the_tab_in_spanish(launcher, client, make_job):
    job = make_job(status=JobStatus.WARNING, stage="Canvas Import", external_id="sync-es-1")
    token = launch_in(launcher, "es-MX")
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert '<html lang="es">' in page
    for spanish in ("Trabajos de matriculación", "Publicado por", "Hora de actualización",
                    "Importación de listas", "Importación a Canvas", "Advertencia",
                    "Descargar", "Actualizar", "Estado de las sincronizaciones"):  # fmt: skip
        assert spanish in page, spanish
    # A Spanish date: "27 nov 2026, 9:05 CST" style, no English month or am/pm.
    local = job.updated_at.astimezone(ZoneInfo("America/Mexico_City"))
    months = ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"]
    assert f"{local.day} {months[local.month - 1]} {local.year}" in page
    assert not re.search(r"\d(am|pm) ", page)

    details = client.get(f"/rostering/jobs/{job.public_id}/details",
                         query_string={"launch_token": token}).get_data(as_text=True)  # fmt: skip
    assert "Detalles de los cambios" in details and '<html lang="es">' in details
    query = {"launch_token": token}
    json_window = client.get(f"/rostering/jobs/{job.public_id}/json", query_string=query)
    assert "Archivo JSON" in json_window.get_data(as_text=True)
    # The CSV is a data contract: English header, ISO times, whatever the admin's language.
    download = client.get("/rostering/jobs.csv", query_string=query).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(download)))
    assert rows[0][:3] == ["Job ID", "External ID", "Type"] and rows[1][9] == "Warning"


def test_brazilian_portuguese_and_french_pages(launcher, client, make_job):
    make_job()
    pt = client.get("/rostering/", query_string={"launch_token": launch_in(launcher, "pt-BR")})
    assert '<html lang="pt-BR">' in pt.get_data(as_text=True)
    assert "Tarefas de matrícula" in pt.get_data(as_text=True)
    fr = client.get("/rostering/", query_string={"launch_token": launch_in(launcher, "fr")})
    assert "Tâches d'inscription" in fr.get_data(as_text=True).replace("&#39;", "'")


def test_the_refusal_and_the_expired_page_speak_the_launchs_language(launcher, client, app):
    refused = launcher.launch("dep-a", persona="student",
                              **{CLAIM + "launch_presentation": {"locale": "fr"}})  # fmt: skip
    assert refused.status_code == 403
    assert "Réservé aux administrateurs de compte" in refused.get_data(as_text=True)

    token = launch_in(launcher, "es")
    app.config["LAUNCH_TOKEN_TTL"] = -1  # every token is now too old
    expired = client.get("/rostering/", query_string={"launch_token": token})
    assert expired.status_code == 401
    assert "La sesión terminó" in expired.get_data(as_text=True)


def test_the_login_page_follows_the_browsers_language(launcher):
    login = launcher.login("dep-a", top_level=False)
    assert "Opening SIS Integration" in login.response.get_data(as_text=True)
    launcher.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "pt-BR,pt;q=0.9"
    login = launcher.login("dep-a", top_level=False)
    assert "Abrindo o SIS Integration" in login.response.get_data(as_text=True)


def test_the_agent_api_stays_english(api):
    response = api("GET", "/rostering_jobs?limit=0", headers={"Accept-Language": "es"})
    assert response.json["error"] == "Unprocessable Entity"


def test_high_contrast_follows_canvas(launcher, client):
    token = launch_in(launcher, "en", canvas_user_prefers_high_contrast="true")
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert 'class=" high-contrast"' in page
    plain = client.get("/rostering/", query_string={"launch_token": launch_in(launcher, "en")})
    assert "high-contrast" not in plain.get_data(as_text=True)
