"""Errors a user can act on: the jobs print their message as one line and exit non-zero."""


class InputError(Exception):
    """The input cannot be used as given; the message names the file, column or row."""


class UsageError(Exception):
    """The command line or configuration asks for something segspark refuses to do."""


class QualityError(InputError):
    """Too much of the input was quarantined to publish the run as if all were well."""


class NotPublished(Exception):
    """A complete run that did not become current, or only in part: the message says which part is
    where and the command that finishes it; the cause (`__cause__`) says why."""
