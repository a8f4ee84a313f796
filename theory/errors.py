"""The one exception the public boundary raises for bad input."""


class InputError(ValueError):
    """Bad input: the message names the problem in one line, for people and for the CLI."""


def as_flags(message: str, renames: dict[str, str] | None = None) -> str:
    """A library message, whose parameters are written `` `name` ``, with each written as the
    command-line flag that sets it: ``renames[name]`` where a command names it otherwise,
    else ``--name-with-dashes``."""
    import re

    renames = renames or {}

    def flag(m) -> str:
        name = m.group(1)
        return renames.get(name, "--" + name.replace("_", "-"))

    return re.sub(r"`([a-z][a-z0-9_]*)`", flag, str(message))
