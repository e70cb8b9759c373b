"""The verdict policy (the package docstring states it), decided here and only here: a check
reports one finding of a kind, and the kind alone decides the status.

A check returns a one-line message (PASS) or calls one of `breaks`, `departs`,
`cannot_judge`, `needs`; an exception of the student's code is `RAISES` (see folder.judge).
A checkpoint's check also hands back its scores, on the finding (`score`), whatever its status.
"""
from dataclasses import dataclass

STATUSES = ("pass", "fail", "warn", "skip")

MEETS = "meets the requirement"
BREAKS = "breaks a requirement the statement states"
RAISES = "the student's code raises on the inputs the course's driver gives it"
DEPARTS = "works as submitted, departs from the skeleton, the course's driver or the statement"
CANNOT_JUDGE = "the checker cannot judge"
NEEDS = "depends on a part that is unimplemented or already fails"
STATUS = {MEETS: "pass", BREAKS: "fail", RAISES: "fail", DEPARTS: "warn", CANNOT_JUDGE: "skip", NEEDS: "skip"}


class Finding(Exception):
    """What a check found, of one of the kinds above; its message is the check's line."""

    def __init__(self, kind, message, score=None, where=None):
        super().__init__(message)
        self.kind, self.score, self.where = kind, score, where  # where: the student's file:line it saw raise

    @property
    def status(self):
        return STATUS[self.kind]


def breaks(message, where=None):
    raise Finding(BREAKS, message, where=where)


def departs(message, score=None):
    raise Finding(DEPARTS, message, score)


def cannot_judge(message):
    raise Finding(CANNOT_JUDGE, message)


def needs(message):
    raise Finding(NEEDS, message)


@dataclass
class Result:
    id: str
    question: str
    status: str  # one of STATUSES
    message: str


def totals(results):
    return {status: sum(r.status == status for r in results) for status in STATUSES}
