"""One folder's questions run through their checks, in a fixed order, each check one Result.

A check takes the student's modules (and, if it asks, the ids of the checks failed before it, and where
the student's code raised in them) and returns its finding. Another exception raised in the student's
files RAISES (file:line); a later check hitting the same line NEEDS that part; so does Python refusing the
course's arguments for one of their functions. One raised elsewhere is the checker's, and its check cannot
judge: a wrong FAIL costs a student more than a SKIP that says why.
"""
import contextlib
import inspect
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from . import attention, checkpoints, driver, q2_checks, q3_checks
from .layout import choose_data, describe_path, find_layout
from .student import (FILE_LINE, Student, checker_location, definition_line, describe_error, error_text,
                      functions_alone, import_student_module, isolated_imports, quiet, student_frame)
from .tracing import DropoutsOff
from .verdicts import BREAKS, CANNOT_JUDGE, MEETS, NEEDS, RAISES, Finding, Result

PARTS = ("q3", "q2")
SAMPLERS = ("greedy_next_token", "nucleus_sampling")


@dataclass
class Check:
    id: str
    question: str
    needs: str  # the student's module the check calls: "models", "script" (hw2-q3.py), "q2" (hw2-q2.py)
    run: object  # (Student[, failed]) -> one-line message of a pass, or a Finding; raises a Finding otherwise
    judges: tuple = ()  # the student's functions it judges, named in its FAIL ("Encoder.forward", ...)
    real_dropout: bool = False  # whether dropout runs as the student wrote it (else it is off: DropoutsOff)


# (check id, the Student field the module goes to, its file's stem)
IMPORTS = {"q3": [("q3.import.models", "models", "models"), ("q3.import.data", "data_module", "data"),
                  ("q3.import.script", "script", "hw2-q3")],
           "q2": [("q2.import", "q2", "hw2-q2")]}
Q3_CHECKS = [
    Check("q3.reshape_state", "Q3.1a", "models", q3_checks.check_reshape_state, ("reshape_state",)),
    Check("q3.encoder.shapes", "Q3.1a", "models", q3_checks.check_encoder_shapes, ("Encoder.forward",)),
    Check("q3.decoder.shapes", "Q3.1a", "models", q3_checks.check_decoder_shapes, ("Decoder.forward",)),
    Check("q3.attention.shapes", "Q3.1b", "models", attention.check_attention_shapes, ("BahdanauAttention.forward",)),
    Check("q3.encoder.padding", "Q3.1a", "models", q3_checks.check_encoder_padding, ("Encoder.forward",)),
    Check("q3.attention.formula", "Q3.1b", "models", attention.check_attention_formula, ("BahdanauAttention.forward",)),
    Check("q3.attention.padding", "Q3.1b", "models", attention.check_attention_padding, ("BahdanauAttention.forward",)),
    Check("q3.decoder.teacher_forcing", "Q3.1a", "models", q3_checks.check_teacher_forcing, ("Decoder.forward",)),
    Check("q3.model.batch_invariance", "Q3.1b", "models", q3_checks.check_batch_invariance, ("Seq2Seq.forward",)),
    Check("q3.seq2seq.tied", "Q3.1a", "models", q3_checks.check_tied, ("Seq2Seq.__init__",)),
    Check("q3.dropout.placement", "Q3.1a", "models", q3_checks.check_dropout_placement,
          ("Encoder.forward", "Decoder.forward"), real_dropout=True),
    Check("q3.own_training", "Q3.1a", "script", driver.check_own_training, ("train",)),
    Check("q3.greedy_next_token", "Q3.1a", "script", q3_checks.check_greedy_next_token, ("greedy_next_token",)),
    Check("q3.nucleus.support", "Q3.1c", "script", q3_checks.check_nucleus_support, ("nucleus_sampling",)),
    Check("q3.nucleus.frequencies", "Q3.1c", "script", q3_checks.check_nucleus_frequencies, ("nucleus_sampling",)),
]
Q2_CHECKS = [
    Check("q2.signature", "Q2.1", "q2", q2_checks.check_signature, ("CNN.__init__",)),
    Check("q2.params.plain", "Q2.3", "q2", partial(q2_checks.check_params, batch_norm=False), ("CNN.__init__",)),
    Check("q2.params.bn", "Q2.3", "q2", partial(q2_checks.check_params, batch_norm=True), ("CNN.__init__",)),
    Check("q2.count_function", "Q2.3", "q2", q2_checks.check_count_function, ("get_number_trainable_params",)),
    Check("q2.output", "Q2.1", "q2", q2_checks.check_output, ("CNN.forward",)),
    Check("q2.batchnorm_switch", "Q2.2", "q2", q2_checks.check_batchnorm_switch, ("CNN.__init__",)),
    Check("q2.maxpool_switch", "Q2.4", "q2", q2_checks.check_maxpool_switch, ("CNN.__init__",)),
    Check("q2.dropout.placement", "Q2.1", "q2", q2_checks.check_dropout_placement,
          ("ConvBlock.forward", "CNN.forward"), real_dropout=True),
    Check("q2.block.order", "Q2.1", "q2", q2_checks.check_block_order, ("ConvBlock.forward", "CNN.forward"),
          real_dropout=True),
    Check("q2.layout", "Q2.1", "q2", q2_checks.check_layout, ("CNN.forward",)),
]


@dataclass
class FolderReport:
    header: str
    results: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)  # one score dict per scored checkpoint


def part_directory(layout, part):
    return layout.q3_dir if part == "q3" else layout.q2_dir


def imports(layout, part):
    """The part's import checks: data.py only where the student has one (it is optional)."""
    directory = part_directory(layout, part)
    return [i for i in IMPORTS[part] if i[2] != "data" or (directory and (directory / "data.py").is_file())]


def part_checks(layout, part):
    """The part's checks after its imports, in the order they run: a Q3 folder's checkpoints last."""
    if part == "q2":
        return Q2_CHECKS
    return Q3_CHECKS + [Check(f"q3.checkpoint.{path.relative_to(layout.q3_dir).as_posix()}",
                              checkpoints.checkpoint_question(path), "models",
                              partial(checkpoints.check_checkpoint, path), real_dropout=True)
                        for path in layout.checkpoints]


def plan(layout, part):
    """[(check id, question)] of one part, imports first, in the order they run."""
    return ([(i, part.upper()) for i, _, _ in imports(layout, part)]
            + [(c.id, c.question) for c in part_checks(layout, part)])


def header(folder, layout, options):
    q3, q2 = "no Q3 files", "no Q2 files"
    if layout.q3_dir is not None:
        data = choose_data(options.data_dir, folder, layout.q3_dir)
        q3 = (f"Q3 files in {describe_path(layout.q3_dir, folder)} ({len(layout.checkpoints)} checkpoint(s)); "
              + (f"Q3 data: {data.note}" if data.path else "no Q3 data found"))
    if layout.q2_dir is not None:
        q2 = f"Q2 files in {describe_path(layout.q2_dir, folder)}"
    return f"{q3}; {q2}"


def judge(check, st, failed, raised):
    """The check's Finding. `raised` maps the student's file:line that raised in an earlier check to it."""
    dropouts = contextlib.nullcontext() if check.real_dropout or check.needs == "script" else DropoutsOff()
    try:  # no check needs gradients; the student's own training (driver) turns them back on
        with quiet(), torch.no_grad(), dropouts:
            wanted = inspect.signature(check.run).parameters
            found = check.run(st, **{name: value for name, value in (("failed", failed), ("raised", raised))
                                     if name in wanted})
        return found if isinstance(found, Finding) else Finding(MEETS, found)
    except Finding as finding:
        if finding.where and finding.status == "fail":
            raised.setdefault(finding.where, check.id)
        return located(finding, check, st)
    except (Exception, SystemExit) as error:
        frame = student_frame(error, st.folder)
        if frame is None and (callee := mismatched_signature(error, st)):
            if callee in raised:
                return Finding(NEEDS, f"needs {callee}, whose signature the course's call does not fit (see "
                                      f"{raised[callee]})")
            raised[callee] = raised[error_text(error)] = check.id
            return Finding(RAISES, f"calling {callee} as the course's driver does raises {error_text(error)}")
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


def mismatched_signature(error, st):
    """'your Class.__init__ at file:line' when `error` is Python refusing the arguments of a call of one of
    the student's functions (the call is the course's, the signature theirs), else None."""
    refused = re.match(r"([\w.]+)\(\) (?:missing|got|takes)", str(error)) if isinstance(error, TypeError) else None
    modules = (st.models, st.script, st.q2)
    return next((place for module in modules if refused and module
                 and (place := definition_line(module, refused[1], st.folder))), None)


def located(finding, check, st):
    """A FAIL that does not say where names the student's functions the check judges, with their file:line."""
    if finding.kind != BREAKS or FILE_LINE.search(str(finding)):
        return finding
    module = getattr(st, check.needs)
    places = [place for name in check.judges if (place := definition_line(module, name, st.folder))]
    return Finding(BREAKS, f"{finding} [{'; '.join(places)}]", finding.score) if places else finding


def import_modules(layout, part, started, finished):
    """-> ({Student field: module}, {Student field: why the checks that need it skip})."""
    directory, modules, missing, failed_files = part_directory(layout, part), {}, {}, set()
    for check_id, field_name, stem in imports(layout, part):
        started(check_id)
        if not (directory / f"{stem}.py").is_file():
            missing[field_name] = f"no {stem}.py in {directory}"
            finished(Result(check_id, part.upper(), "skip", missing[field_name]))
            continue
        module, problem = import_student_module(stem, directory, failed_files)
        alone = functions_alone(directory / "hw2-q3.py", SAMPLERS) if module is None and stem == "hw2-q3" else None
        if alone:  # only another file of theirs fails: their sampling functions are still judged
            modules[field_name] = alone
            finished(Result(check_id, part.upper(), problem[0], f"{problem[1]}; {' and '.join(SAMPLERS)} are "
                                                                  f"checked alone"))
        elif module is None:
            missing[field_name] = f"{stem}.py does not import (see {check_id})"
            finished(Result(check_id, part.upper(), *problem))
        else:
            modules[field_name] = module
            finished(Result(check_id, part.upper(), "pass", f"{stem}.py imports"))
    return modules, missing


def check_part(folder, part, options, started=lambda check_id: None, finished=lambda result, score=None: None):
    """Run one part's checks ("q3" or "q2"): each check's id goes to `started` before it runs, its Result
    (with a checkpoint's scores) to `finished`. `options` holds data_dir, npz, device."""
    layout = find_layout(folder)
    directory = part_directory(layout, part)
    if directory is None:
        absent = "no hw2-q3.py / models.py found" if part == "q3" else "no hw2-q2.py found"
        for check_id, question in plan(layout, part):
            started(check_id)
            finished(Result(check_id, question, "skip", absent))
        return
    checks, failed, raised = part_checks(layout, part), [], {}

    def record(result, score=None):
        if result.status == "fail":
            failed.append(result.id)
        finished(result, score)

    with isolated_imports(directory):
        modules, missing = import_modules(layout, part, started, record)
        if part == "q3":
            modules["data"] = choose_data(options.data_dir, folder, directory)
        st = Student(directory, options.device, npz=options.npz, **modules)
        for check in checks:
            started(check.id)
            finding = (Finding(NEEDS, missing[check.needs]) if check.needs in missing
                       else judge(check, st, tuple(failed), raised))
            record(Result(check.id, check.question, finding.status, str(finding)), finding.score)


def check_folder(folder, options, parts=PARTS):
    """Every check of `parts` of one folder, in this process."""
    folder = Path(folder).resolve()
    report = FolderReport(header(folder, find_layout(folder), options))

    def finished(result, score=None):
        report.results.append(result)
        if score is not None:
            report.checkpoints.append(score)

    for part in parts:
        check_part(folder, part, options, finished=finished)
    return report
