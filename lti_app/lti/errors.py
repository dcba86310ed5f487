"""The ways a launch or a tool page can be refused; ``lti_app.errors`` turns them into pages."""

from __future__ import annotations


class LaunchRefused(Exception):
    """The launch could not be verified (forged, tampered, expired, replayed, unregistered)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAnAdmin(Exception):
    """A verified launch by someone who is not an account administrator."""


class LaunchExpired(Exception):
    """A link's launch token is missing, altered or too old."""


class PlatformUnreachable(Exception):
    """The platform's key set could not be fetched, so no launch can be verified for now."""


class AwaitingApproval(Exception):
    """A verified launch from a platform that registered itself and waits for an operator."""


class RegistrationRefused(Exception):
    """A Dynamic Registration that cannot go ahead; the message is a plain sentence for the
    admin in Canvas's frame, the status its HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class NotPermitted(Exception):
    """An admin's action that needs a Canvas SIS permission the launch did not carry; the
    message names the permission, in the admin's words."""

    def __init__(self, action: str, sentence: str) -> None:
        super().__init__(f"{action}: {sentence}")
        self.action, self.sentence = action, sentence
