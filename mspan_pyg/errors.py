"""User-facing errors: each says which file, row or id is wrong and how."""


class MSPANError(Exception):
    """Base class of the errors the command line reports as one readable message."""


class DataError(MSPANError, ValueError):
    """An annotation, feature, vocabulary or GloVe file is malformed or inconsistent."""


class CheckpointError(MSPANError):
    """A checkpoint is corrupted or does not match the run that loads it."""


class ConfigError(MSPANError, ValueError):
    """An unknown task, dataset or option value."""
