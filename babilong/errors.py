"""The one error type the CLI turns into a clean one-line message."""


class BabilongError(Exception):
    """A user-facing problem: the message names what is wrong and what to do."""
