"""What a check says about a folder: PASS, FAIL, WARN or SKIP, with one line of explanation."""
from dataclasses import dataclass

STATUSES = ("pass", "fail", "warn", "skip")


class CheckFailed(Exception):
    """The student's code does something other than the statement or the course's driver expects."""


class CheckWarned(Exception):
    """The student's code works with the course's driver but departs from the skeleton or the statement."""


class CheckSkipped(Exception):
    """The check cannot judge this folder (a file, the data or a prerequisite is missing); says why."""


def fail(message):
    raise CheckFailed(message)


@dataclass
class Result:
    id: str
    question: str
    status: str  # one of STATUSES
    message: str


def totals(results):
    """{status: how many results have it}."""
    return {status: sum(r.status == status for r in results) for status in STATUSES}
