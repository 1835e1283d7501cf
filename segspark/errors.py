"""Errors a user can act on: the jobs print their message as one line and exit non-zero."""


class InputError(Exception):
    """The input cannot be used as given; the message names the file, column or row."""


class UsageError(Exception):
    """The command line or configuration asks for something segspark refuses to do."""
