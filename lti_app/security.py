"""Response headers for a tool that lives in someone else's iframe."""

from __future__ import annotations

from flask import Flask, Response, current_app, g

from .lti.registry import platform_origins


def _add_headers(response: Response) -> Response:
    # A page may add the one platform that opens it (Dynamic Registration: the Canvas whose
    # configuration URL it was given), named in g.
    ancestors = " ".join(
        dict.fromkeys(
            current_app.config["FRAME_ANCESTORS"]
            + platform_origins()
            + g.get("frame_ancestors", [])
        )
    )
    # No X-Frame-Options: the tool must be framed by Canvas; frame-ancestors says by whom.
    # A page that frames another origin (only the /dev test platform does) names it in g.
    frame_src = " ".join(["'self'", *g.get("frame_sources", [])])
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"frame-src {frame_src}; object-src 'none'; base-uri 'none'; frame-ancestors {ancestors}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Links carry launch tokens; no other site may see them in a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    if response.mimetype == "text/html" or response.mimetype == "text/csv":
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    """Add the framing and hardening headers to every response."""
    app.after_request(_add_headers)
