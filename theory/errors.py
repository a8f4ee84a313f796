"""The one exception the public boundary raises for bad input."""


class InputError(ValueError):
    """Bad input: the message names the problem in one line, for people and for the CLI."""
