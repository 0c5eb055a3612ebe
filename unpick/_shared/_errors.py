"""Exception types raised by unpick for bad input."""


class UnpickInputError(ValueError):
    """Input that unpick cannot use: the message names the file or argument and the fix."""
