"""One folder's run through every check, in a fixed order, each check one Result.

A check reports its own finding (verdicts.Finding). Any other exception raised in the
student's files is a finding of the kind RAISES, named by file:line and function; a later
check that hits the same line needs that part, and names it. An exception raised anywhere
else is the checker's, and its check cannot judge: a wrong FAIL costs a student more than a
SKIP that says why.
"""
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from . import attention, checkpoints, q2_checks, q3_checks
from .layout import choose_data, describe_path, find_layout
from .student import (Student, checker_location, describe_error, error_text, import_student_module, isolated_imports,
                      quiet, student_frame)
from .verdicts import BREAKS, CANNOT_JUDGE, NEEDS, RAISES, Finding, Result, cannot_judge


@dataclass
class Check:
    id: str
    question: str
    needs: str  # the student's module the check calls: "models", "script" (hw2-q3.py), "data_module", "q2"
    run: object  # Student -> one-line message of a pass; raises a Finding otherwise


def import_check(attribute, module_name):
    """The check that imports the student's `module_name`.py onto `st.<attribute>`."""
    def run(st):
        if not (st.folder / f"{module_name}.py").is_file():
            st.missing[attribute] = f"no {module_name}.py in {st.folder}"
            cannot_judge(st.missing[attribute])
        module, problem = import_student_module(module_name, st.folder, st.failed_imports)
        if module is None:
            status, message = problem
            st.missing[attribute] = f"{module_name}.py does not import (see {IMPORT_IDS[attribute]})"
            raise Finding(BREAKS if status == "fail" else NEEDS, message)
        setattr(st, attribute, module)
        return f"{module_name}.py imports"
    return run


IMPORT_IDS = {"models": "q3.import.models", "data_module": "q3.import.data", "script": "q3.import.script",
              "q2": "q2.import"}
Q3_IMPORTS = [Check("q3.import.models", "Q3", "", import_check("models", "models")),
              Check("q3.import.data", "Q3", "", import_check("data_module", "data")),
              Check("q3.import.script", "Q3", "", import_check("script", "hw2-q3"))]
Q3_CHECKS = [
    Check("q3.reshape_state", "Q3.1a", "models", q3_checks.check_reshape_state),
    Check("q3.encoder.shapes", "Q3.1a", "models", q3_checks.check_encoder_shapes),
    Check("q3.decoder.shapes", "Q3.1a", "models", q3_checks.check_decoder_shapes),
    Check("q3.attention.shapes", "Q3.1b", "models", attention.check_attention_shapes),
    Check("q3.encoder.padding", "Q3.1a", "models", q3_checks.check_encoder_padding),
    Check("q3.attention.padding", "Q3.1b", "models", attention.check_attention_padding),
    Check("q3.attention.formula", "Q3.1b", "models", attention.check_attention_formula),
    Check("q3.decoder.teacher_forcing", "Q3.1a", "models", q3_checks.check_teacher_forcing),
    Check("q3.model.batch_invariance", "Q3.1b", "models", q3_checks.check_batch_invariance),
    Check("q3.seq2seq.tied", "Q3.1a", "models", q3_checks.check_tied),
    Check("q3.dropout.placement", "Q3.1a", "models", q3_checks.check_dropout_placement),
    Check("q3.greedy_next_token", "Q3.1a", "script", q3_checks.check_greedy_next_token),
    Check("q3.nucleus.support", "Q3.1c", "script", q3_checks.check_nucleus_support),
    Check("q3.nucleus.frequencies", "Q3.1c", "script", q3_checks.check_nucleus_frequencies),
]
Q2_IMPORT = Check("q2.import", "Q2", "", import_check("q2", "hw2-q2"))
Q2_CHECKS = [
    Check("q2.signature", "Q2.1", "q2", q2_checks.check_signature),
    Check("q2.params.plain", "Q2.3", "q2", partial(q2_checks.check_params, batch_norm=False)),
    Check("q2.params.bn", "Q2.3", "q2", partial(q2_checks.check_params, batch_norm=True)),
    Check("q2.count_function", "Q2.3", "q2", q2_checks.check_count_function),
    Check("q2.output", "Q2.1", "q2", q2_checks.check_output),
    Check("q2.batchnorm_switch", "Q2.2", "q2", q2_checks.check_batchnorm_switch),
    Check("q2.maxpool_switch", "Q2.4", "q2", q2_checks.check_maxpool_switch),
    Check("q2.dropout.placement", "Q2.1", "q2", q2_checks.check_dropout_placement),
    Check("q2.block.order", "Q2.1", "q2", q2_checks.check_block_order),
    Check("q2.layout", "Q2.1", "q2", q2_checks.check_layout),
]


class Silent:
    """Where a folder's progress goes when nobody watches it (the in-process run)."""

    def plan(self, header, checks):
        pass

    def started(self, check_id):
        pass

    def finished(self, result, scores):
        pass


@dataclass
class FolderReport:
    folder: Path
    header: str
    results: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)  # one score dict per scored checkpoint


def run_check(check, st, events, raised):
    """One check -> Result, recorded on st.verdicts; `raised` maps the student's file:line that
    raised in an earlier check of the folder to that check."""
    events.started(check.id)
    scored_before = len(st.checkpoint_scores)
    if check.needs in st.missing:
        finding = Finding(NEEDS, st.missing[check.needs])
    else:
        finding = judge(check, st, raised)
    result = Result(check.id, check.question, "pass", finding) if isinstance(finding, str) else \
        Result(check.id, check.question, finding.status, str(finding))
    st.verdicts[check.id] = result
    events.finished(result, st.checkpoint_scores[scored_before:])
    return result


def judge(check, st, raised):
    """The check's one-line message of a pass, or its Finding; the student's exceptions become
    findings, never a traceback."""
    try:
        with quiet():
            return check.run(st)
    except Finding as finding:
        return finding
    except (Exception, SystemExit) as error:
        frame = student_frame(error, st.folder)
        if frame is None:
            return Finding(CANNOT_JUDGE, f"not checked: the checker could not handle what your code gave it "
                                         f"({error_text(error)}, in {checker_location(error)}); please report it")
        path, line, function = frame
        where = f"{path}:{line}"
        if where in raised:
            cause = ("is not implemented" if isinstance(error, NotImplementedError)
                     else f"raises {error_text(error)} at {where}")
            return Finding(NEEDS, f"needs {function or where}, which {cause} (see {raised[where]})")
        raised[where] = check.id
        return Finding(RAISES, f"raises {describe_error(error, st.folder)}")


def q3_plan(layout):
    checks = [c for c in Q3_IMPORTS if c.id != "q3.import.data" or (layout.q3_dir / "data.py").is_file()]
    checks += Q3_CHECKS
    for path in layout.checkpoints:
        checks.append(Check(f"q3.checkpoint.{path.relative_to(layout.q3_dir).as_posix()}",
                            checkpoints.checkpoint_question(path), "models",
                            partial(checkpoints.check_checkpoint, path)))
    return checks


PARTS = ("q3", "q2")


@dataclass
class Part:
    """One question's files of a folder and the checks they get."""

    name: str  # one of PARTS
    checks: list
    student: Student = None  # None when the files are missing
    absent: str = ""  # then: why every check skips


def folder_parts(folder, options, layout):
    """[Part] for Q3 and Q2, and the header line that says where their files and data are."""
    if layout.q3_dir is not None:
        st = Student(layout.q3_dir, options.device, choose_data(options.data_dir, folder, layout.q3_dir))
        q3 = Part("q3", q3_plan(layout), st)
        q3_where = (f"Q3 files in {describe_path(layout.q3_dir, folder)} ({len(layout.checkpoints)} checkpoint(s)); "
                    + (f"Q3 data: {st.data.note}" if st.data.path else "no Q3 data found"))
    else:
        q3, q3_where = Part("q3", Q3_CHECKS, absent="no hw2-q3.py / models.py found"), "no Q3 files"
    if layout.q2_dir is not None:
        q2 = Part("q2", [Q2_IMPORT, *Q2_CHECKS], Student(layout.q2_dir, options.device, npz=options.npz))
        q2_where = f"Q2 files in {describe_path(layout.q2_dir, folder)}"
    else:
        q2, q2_where = Part("q2", [Q2_IMPORT, *Q2_CHECKS], absent="no hw2-q2.py found"), "no Q2 files"
    return [q3, q2], f"{q3_where}; {q2_where}"


def check_folder(folder, options, events=None, parts=PARTS):
    """Every check of one folder (of the parts named) -> FolderReport. `options` holds data_dir, npz, device."""
    events = events or Silent()
    folder = Path(folder).resolve()
    layout = find_layout(folder)
    found, header = folder_parts(folder, options, layout)
    chosen = [part for part in found if part.name in parts]
    report = FolderReport(folder, header)
    events.plan(header, [(c.id, c.question) for part in chosen for c in part.checks])
    for part in chosen:
        if part.student is None:
            report.results += [absent(Result(c.id, c.question, "skip", part.absent), events) for c in part.checks]
            continue
        raised = {}
        with isolated_imports(part.student.folder):
            report.results += [run_check(check, part.student, events, raised) for check in part.checks]
        report.checkpoints += part.student.checkpoint_scores
    return report


def absent(result, events):
    events.started(result.id)
    events.finished(result, [])
    return result
