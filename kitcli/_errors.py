"""The kit's one exception hierarchy.

Exceptions carry keyword-only data and build their message in the constructor; they never print.
They become exit codes in exactly one place, :func:`kitcli.cli.main`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_CONFLICTS = 3
EXIT_INTERNAL = 4


class KitError(Exception):
    """Base of every error the kit raises on purpose."""

    exit_code: int = EXIT_USAGE


class UserError(KitError):
    """Bad input or usage: the message names the offending value and what to do instead."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidValue(UserError):
    """A value given for a named field failed validation."""

    def __init__(self, *, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}: {value!r} {reason}")


class UncleanAnswer(UserError):
    """An answer holds a control character (or a line break where one line is expected)."""

    def __init__(self, *, question: str, value: str, source: str, character: str) -> None:
        self.question = question
        self.source = source
        shown = value if len(value) <= 60 else value[:57] + "..."
        super().__init__(
            f"{source}: the answer to {question!r} ({shown!r}) contains the control character {character}; "
            "answers are plain text on one line, remove it"
        )


class UnknownMunicipality(UserError):
    """No profile and no registry entry matches what the user gave."""

    def __init__(self, *, query: str, hint: str) -> None:
        self.query = query
        super().__init__(f"unknown municipality {query!r}: {hint}")


class AmbiguousMunicipality(UserError):
    """A name matches several municipalities; the message lists them with their AGS."""

    def __init__(self, *, query: str, candidates: Sequence[tuple[str, str]]) -> None:
        self.query = query
        self.candidates = tuple(candidates)
        listed = ", ".join(f"{name} ({ags})" for ags, name in self.candidates)
        super().__init__(f"municipality name {query!r} is ambiguous: {listed}; pass the AGS instead")


class ConflictsLeft(KitError):
    """An update finished but left conflict markers for a person to resolve."""

    exit_code = EXIT_CONFLICTS

    def __init__(self, *, paths: Iterable[str]) -> None:
        self.paths = tuple(paths)
        super().__init__("update left conflicts in: " + ", ".join(self.paths))


class InternalError(KitError):
    """Something failed that the user did not cause (git crashed, a bug): exit 4, asks for a report."""

    exit_code = EXIT_INTERNAL


class Busy(UserError):
    """Another kit process holds the lock on the same project or destination."""

    def __init__(self, *, path: object, pid: int | None, command: str) -> None:
        self.path = path
        self.pid = pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(
            f"{path} is in use by {holder} ({command}); wait until it ends, or stop it, then run this again"
        )
