"""The one exception family a user can cause.

Anything raised as a ``ScsimError`` is the user's input at fault: the CLI prints its
message alone and exits with code 2. Every other exception is a bug in scsim.
"""


class ScsimError(Exception):
    """Bad input: a regime, a population, an option. The message says what, where, and
    what is allowed."""


class RegimeError(ScsimError):
    """A regime file (or an override of one) that cannot be loaded."""


class OptionError(ScsimError):
    """A command-line or API option outside what is allowed."""
