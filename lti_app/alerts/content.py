"""What an alert says. The facts are fixed when the alert is raised (``payload``: the job as
the agent API shows it, the institution, its Canvas, a streak or the guard's reasons), so a
retry says the same thing; the words are written when it is sent, in the recipient's language
(email, Slack, Teams) or as Standard Webhooks JSON."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from typing import Any

from flask import render_template

from ..api.schemas import job_out
from ..canvas.actions import CHOICE_WORDS
from ..formatting import duration, local_time, number, percent, short_day
from ..i18n import N_, gettext, ngettext, speaking
from ..lti.models import Tenant
from ..rostering import messages as job_messages
from ..rostering.models import STATUS_LABELS, RosteringJob
from ..rostering.words import tool_word
from ..timeutil import as_utc
from .models import Event

FIRST_MESSAGES = 5
KINDS_SHOWN = 10
MESSAGES_IN_PAYLOAD = 100
# A message's variable parts (ids, numbers, addresses), folded to count messages by kind.
_VARIABLE = re.compile(r"[\w.@:/+-]*\d[\w.@:/+-]*")

SUBJECTS = {
    Event.FAILED: N_("%(type)s failed"),
    Event.WARNING: N_("%(type)s completed with warnings"),
    Event.HELD: N_("%(type)s is waiting for your approval"),
    Event.ANOMALY: N_("%(type)s deleted more than your change guard allows"),
    Event.RECOVERED: N_("%(type)s completed again"),
    Event.RESTORED: N_("%(type)s was undone"),
    Event.STUCK: N_("%(type)s has made no progress"),
    Event.SETTINGS: N_("Settings changed"),
    Event.BLACKOUT: N_("Sync blackout"),
    Event.TEST: N_("Test alert"),
}


def canvas_url(tenant: Tenant) -> str:
    """The institution's account in Canvas, where SIS Integration is (none when unknown)."""
    if not tenant.canvas_api_base_url:
        return ""
    return f"{tenant.canvas_api_base_url}/accounts/{tenant.canvas_root_account_id or 'self'}"


def kinds(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors and warnings counted by kind (severity, file, the message with its ids folded),
    most frequent first."""
    counted = Counter(
        (m["severity"], m.get("file") or "", _VARIABLE.sub("…", m["message"]).strip())
        for m in messages
    )
    return [
        {"severity": severity, "file": file, "kind": kind, "count": count}
        for (severity, file, kind), count in sorted(
            counted.items(), key=lambda item: (item[0][0] != "error", -item[1], item[0])
        )
    ]


def payload(job: RosteringJob, timezone: str) -> dict[str, Any]:
    """The facts of an alert about ``job``, as JSON-ready data."""
    tenant = job.tenant
    document = job_out(job, full=True)
    document["files"] = [{"name": f["name"]} for f in document["files"] or []]
    document.pop("messages_next", None)
    # Counted from every message (a Canvas import's every row), shown the first hundred.
    messages = job_messages.summaries(job.id)
    document["messages"] = document["messages"][:MESSAGES_IN_PAYLOAD]
    document["messages_total"] = len(messages)
    return {
        "institution": {"name": tenant.display_name, "deployment_id": tenant.deployment_id},
        "job": document,
        "canvas_url": canvas_url(tenant),
        "timezone": timezone,
        "errors": sum(1 for m in messages if m["severity"] == "error"),
        "warnings": sum(1 for m in messages if m["severity"] == "warning"),
        "kinds": kinds(messages)[:KINDS_SHOWN],
        "first_messages": sorted(messages, key=lambda m: m["severity"] != "error")[:FIRST_MESSAGES],
    }


def news_payload(
    tenant: Tenant, timezone: str, event: Event, facts: dict[str, Any]
) -> dict[str, Any]:
    """The facts of an institution's own news: the institution, and the change (what, by
    whom, before and after) or the blackout (which, starting or ended)."""
    key = "blackout" if event is Event.BLACKOUT else "settings"
    return {**test_payload(tenant, timezone), key: facts}


def test_payload(tenant: Tenant, timezone: str) -> dict[str, Any]:
    """The facts of a test alert: the institution, no job."""
    return {
        "institution": {"name": tenant.display_name, "deployment_id": tenant.deployment_id},
        "job": None,
        "canvas_url": canvas_url(tenant),
        "timezone": timezone,
    }


def webhook_json(event: str, facts: dict[str, Any], timestamp: datetime) -> dict[str, Any]:
    """The Standard Webhooks body: ``type``, ``timestamp`` and ``data``."""
    data = {
        key: facts[key]
        for key in (
            "institution", "job", "canvas_url", "streak", "reasons", "planned", "restore", "stuck",
            "settings", "blackout",
        )
        if key in facts
    }
    return {"type": event, "timestamp": timestamp.isoformat(), "data": data}


def _when(value: str | None, zone: str) -> str:
    return local_time(as_utc(datetime.fromisoformat(value)), zone) if value else ""


def summary(event: Event, facts: dict[str, Any]) -> dict[str, Any]:
    """The alert in words, in the current language: what the email, Slack and Teams say."""
    institution = facts["institution"]["name"]
    job = facts.get("job") or {}
    job_type = tool_word(job.get("type") or "Roster Import")
    title = gettext(SUBJECTS[event], type=job_type)
    zone = facts.get("timezone") or "UTC"
    lines: list[str] = []
    if event is Event.TEST:
        lines.append(
            gettext(
                "This is a test alert from SIS Integration for %(institution)s. Alerts about "
                "its rostering syncs will arrive here.",
                institution=institution,
            )
        )
    streak = facts.get("streak")
    if streak and event is Event.FAILED and streak["count"] > 1:
        lines.append(
            ngettext(
                "%(num)s failed sync in a row since %(when)s",
                "%(num)s failed syncs in a row since %(when)s",
                streak["count"],
                when=_when(streak["since"], zone),
            )
        )
    if streak and event is Event.RECOVERED:
        lines.append(
            ngettext(
                "After %(num)s failed sync since %(when)s.",
                "After %(num)s failed syncs since %(when)s.",
                streak["count"],
                when=_when(streak["since"], zone),
            )
        )
    restore = facts.get("restore")
    if restore and event is Event.RESTORED:
        lines.append(_restore_line(restore, job_type))
    stuck = facts.get("stuck")
    if stuck and event is Event.STUCK:
        lines.append(gettext("No progress for %(duration)s.", duration=duration(stuck["minutes"])))
    change = facts.get("settings")
    if change and event is Event.SETTINGS:
        lines.append(_settings_line(change))
    blackout = facts.get("blackout")
    if blackout and event is Event.BLACKOUT:
        reason = blackout.get("reason") or gettext("Blackout")
        if blackout.get("phase") == "ended":
            lines.append(gettext("The %(reason)s blackout has ended: scheduled syncs run again.", reason=reason))  # noqa: E501
        else:
            lines.append(
                gettext(
                    "The %(reason)s blackout starts tomorrow: no scheduled sync from %(start)s to %(end)s.",  # noqa: E501
                    reason=reason,
                    start=short_day(date.fromisoformat(blackout["from"])),
                    end=short_day(date.fromisoformat(blackout["to"])),
                )
            )
    lines += facts.get("reasons") or []
    details: list[tuple[str, str]] = []
    if job:
        details = [
            (gettext("Status"), gettext(STATUS_LABELS[job["status"]])),
            (gettext("Stage"), tool_word(job["stage"]) or "—"),
            (gettext("Time Updated"), _when(job["updated_at"], zone)),
            (gettext("SIS Type"), job["sis_type"]),
            (gettext("Posted By"), tool_word(job["posted_by"])),
        ]
    changes = [
        (kind.replace("_", " ").capitalize(), counts)
        for kind, counts in sorted((job.get("change_counts") or {}).items())
    ]
    return {
        "subject": f"SIS Integration · {institution}: {title}",
        "title": title,
        "institution": institution,
        "lines": lines,
        "details": details,
        "errors": facts.get("errors", 0),
        "warnings": facts.get("warnings", 0),
        "kinds": facts.get("kinds") or [],
        "first_messages": facts.get("first_messages") or [],
        "changes": changes,
        "planned": sorted((facts.get("planned") or {}).items()),
        "canvas_url": facts.get("canvas_url") or "",
        "where": gettext("Admin → %(account)s → SIS Integration", account=institution),
    }


def _restore_line(restore: dict[str, Any], job_type: str) -> str:
    """"Avery Admin undid Roster Import 40003 (only what it deleted): 4,000 enrollments
    brought back"."""
    mode = restore.get("mode") or "everything"
    choice = CHOICE_WORDS.get((mode, bool(restore.get("batch_mode"))))
    counts = restore.get("restored") or {}
    brought = ", ".join(
        f"{number(count)} {kind.replace('_', ' ')}" for kind, count in sorted(counts.items())
    )
    return gettext(
        "%(name)s undid %(type)s %(number)s (%(choice)s): %(what)s",
        name=restore.get("by") or "",
        type=job_type,
        number=restore.get("import_id") or "",
        choice=gettext(choice) if choice else "",
        what=gettext("%(counts)s brought back", counts=brought) if brought
        else gettext("nothing to bring back"),
    )


SETTINGS_WORDS = {
    "guard.off": N_("Change guard turned off by %(name)s"),
    "guard.changed": N_("Change guard loosened by %(name)s: %(before)s → %(after)s"),
    "alerts.recipient_added": N_("Webhook (%(what)s) added by %(name)s"),
    "token.created": N_("SIS agent token “%(what)s” created by %(name)s"),
    "canvas.disconnected": N_("Canvas disconnected by %(name)s"),
    "guard.allowance_set": N_("%(name)s allowed more for a while (%(what)s): up to %(after)s"),
}


def _settings_line(change: dict[str, Any]) -> str:
    """"Change guard turned off by Avery Admin"."""
    name = change.get("by") or ""
    if change.get("acting_as"):
        name = gettext("%(name)s acting as %(other)s", name=name, other=change["acting_as"])
    before, after = change.get("before") or {}, change.get("after") or {}
    key = change.get("change") or ""
    if key == "guard.changed" and not after.get("enabled"):
        key = "guard.off"
    return gettext(
        SETTINGS_WORDS.get(key, N_("Settings changed by %(name)s")),
        name=name,
        what=change.get("subject") or "",
        before=_guard_line(before),
        after=_guard_line(after),
    )


def _guard_line(guard: dict[str, Any]) -> str:
    """A change guard's line: "10% · 1,000"."""
    return f"{percent(guard.get('percent', 0))} · {number(guard.get('count', 0))}"


def email(
    event: Event, facts: dict[str, Any], locale: str, unsubscribe_url: str
) -> tuple[str, str, str]:
    """The email's subject, plain text and HTML, in ``locale``."""
    with speaking(locale):
        words = summary(event, facts)
        text = _plain(words, unsubscribe_url)
        html = render_template("alerts/email.html", words=words, unsubscribe_url=unsubscribe_url)
    return words["subject"], text, html


def _kind_line(kind: dict[str, Any]) -> str:
    """One kind of message counted: "1,234 × enrollments.csv: Course … not found"."""
    where = f"{kind['file']}: " if kind["file"] else ""
    return f"{number(kind['count'])} × {where}{kind['kind']}"


def _plain(words: dict[str, Any], unsubscribe_url: str) -> str:
    out = [words["title"], words["institution"], ""]
    out += words["lines"] + ([""] if words["lines"] else [])
    out += [f"{label}: {value}" for label, value in words["details"]]
    if words["details"]:
        out.append("")
    if words["errors"] or words["warnings"]:
        out.append(
            ngettext(
                "%(num)s error", "%(num)s errors", words["errors"], num=number(words["errors"])
            )
            + ", "
            + ngettext(
                "%(num)s warning",
                "%(num)s warnings",
                words["warnings"],
                num=number(words["warnings"]),
            )
        )
        out += [f"  {_kind_line(k)}" for k in words["kinds"]]
        out.append("")
        out.append(gettext("First messages:"))
        out += [
            f"  {gettext('Error') if m['severity'] == 'error' else gettext('Warning')}"
            + (f" · {m['file']}" if m.get("file") else "")
            + (f" · {gettext('Row')} {m['row']}" if m.get("row") is not None else "")
            + f": {m['message']}"
            for m in words["first_messages"]
        ]
        out.append("")
    if words["changes"]:
        out.append(gettext("Change details (created / updated / deleted):"))
        out += [
            f"  {name}: {c.get('created', 0)} / {c.get('updated', 0)} / {c.get('deleted', 0)}"
            for name, c in words["changes"]
        ]
        out.append("")
    if words["canvas_url"]:
        out.append(gettext("Open it in Canvas: %(url)s", url=words["canvas_url"]))
        out.append(f"({words['where']})")
        out.append("")
    out.append(gettext("Stop these alerts: %(url)s", url=unsubscribe_url))
    return "\n".join(out) + "\n"


def slack(event: Event, facts: dict[str, Any], locale: str) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (notifications) and ``blocks``."""
    with speaking(locale):
        words = summary(event, facts)
    body = "\n".join(words["lines"] + [f"*{label}:* {value}" for label, value in words["details"]])
    if words["errors"] or words["warnings"]:
        body += "\n" + "\n".join(f"• {_kind_line(k)}" for k in words["kinds"])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": words["subject"][:150]}},
    ]
    if body.strip():
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}})
    if words["canvas_url"]:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{words['canvas_url']}|{words['where']}>"}
                ],
            }
        )
    return {"text": words["subject"], "blocks": blocks}


def teams(event: Event, facts: dict[str, Any], locale: str) -> dict[str, Any]:
    """A Microsoft Teams Workflows message carrying an Adaptive Card."""
    with speaking(locale):
        words = summary(event, facts)
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": words["subject"], "weight": "Bolder", "wrap": True},
            *({"type": "TextBlock", "text": line, "wrap": True} for line in words["lines"]),
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": value} for label, value in words["details"]],
            },
            *(
                {
                    "type": "TextBlock",
                    "wrap": True,
                    "text": _kind_line(k),
                }
                for k in words["kinds"]
            ),
        ],
    }
    if words["canvas_url"]:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": words["where"], "url": words["canvas_url"]}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
