"""Model errors carry PVE's message text and the status a real node would answer with."""


class PVEError(Exception):
    def __init__(self, message, status=500, errors=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors


def param_error(errors):
    return PVEError("Parameter verification failed.", 400, errors)


class TaskError(Exception):
    """Raised inside a task worker: the task ends with `TASK ERROR: <message>`."""
