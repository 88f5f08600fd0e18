"""User-facing errors: each says which file, row or id is wrong and how."""


class MSPANError(Exception):
    """Base class of the errors the command line reports as one readable message."""


class DataError(MSPANError, ValueError):
    """An annotation, feature, vocabulary or GloVe file is malformed or inconsistent."""


class CheckpointError(MSPANError):
    """A checkpoint is corrupted or does not match the run that loads it."""


class ConfigError(MSPANError, ValueError):
    """An unknown task, dataset or option value."""


def error_line(error: BaseException) -> str:
    """The one ``error: ...`` line the command line prints for a user error
    (:class:`MSPANError`) or an environment error (``OSError``: the path and its cause); the
    demo page shows the same line."""
    if isinstance(error, OSError) and not isinstance(error, MSPANError):
        where = f"{error.filename}: " if error.filename else ""
        cause = error.strerror or " ".join(str(error).split())
        return f"error: {where}{cause}"
    return "error: " + " ".join(str(error).split("\n"))
