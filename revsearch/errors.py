"""The one exception family the CLI and the app turn into a readable message instead of a traceback."""


class RevsearchError(Exception):
    """A user-facing error: its message alone must tell the user what went wrong and what to do."""
