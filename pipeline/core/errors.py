"""The one exception type users see: a clear message, no traceback, non-zero exit."""


class PipelineError(Exception):
    """Bad input (data or params) or an impossible request; the message says what and where."""
