"""Errors pyoci reports to its user.

Every failure a user can cause (bad config, bad argument, wrong container
status) is raised as a :class:`PyociError` whose message is one line that names
the field or argument at fault. The CLI prints that line and exits non-zero; a
traceback is only ever shown with ``--debug``.
"""


class PyociError(Exception):
    """A failure with a one-line, user-facing message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\n", " "))

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(PyociError):
    """config.json is malformed, invalid against the schema, or inconsistent."""


class UsageError(PyociError):
    """A command-line argument is missing or wrong."""


class ContainerNotFound(PyociError):
    """Engines match on the text 'does not exist'."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f'container "{container_id}" does not exist')


class StatusError(PyociError):
    """The container is in the wrong status for the requested operation."""
