"""The error types the CLI turns into a clean one-line message."""


class BabilongError(Exception):
    """A user-facing problem: the message names what is wrong and what to do."""

    exit_code = 2


class ServerUnavailable(BabilongError):
    """A model server stopped answering mid-run: what was answered is saved, rerun to resume."""

    exit_code = 3
