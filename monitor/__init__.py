"""monitor: watch news feeds, match watch rules, deliver each story once."""

__version__ = "0.1.0"
