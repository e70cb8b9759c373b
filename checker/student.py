"""The student's code: their modules imported in isolation, and their exceptions told apart from ours
(a "raises" verdict is only for one raised in the student's own files; the checker's own skips its check).
"""
import ast
import contextlib
import importlib
import inspect
import io
import re
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .layout import ROOT, SKIPPED_DIRS, DataChoice

CHECKER_DIR = Path(__file__).resolve().parent
ENTRY_POINT = ROOT / "check_homework.py"

# The module names a student's files take; the checker's own `utils` (and, in a test run,
# this project's models and scripts) hold them too, so they are swapped out while the
# student's are imported.
CLASHING_MODULES = ("utils", "models", "data", "hw2-q2", "hw2-q3")
MAX_MESSAGE = 200
FILE_LINE = re.compile(r"\.py:\d+")


@dataclass(frozen=True)
class Student:
    """One question's imported modules of a folder and the options that its checks read (read-only:
    a check's finding is its return value, never written here)."""

    folder: Path
    device: torch.device
    data: DataChoice = field(default_factory=DataChoice)
    npz: Path = None
    models: object = None
    script: object = None  # hw2-q3.py
    data_module: object = None  # data.py
    q2: object = None  # hw2-q2.py

    def wrote(self, filename):
        return is_student_file(filename, self.folder)


def is_checker_file(path):
    return path == ENTRY_POINT or path.is_relative_to(CHECKER_DIR)


def is_pass_through(frame):
    """A checker frame that only carries out the student's call (the torch-operation recorder), as torch's own do."""
    return frame.f_code.co_name == "__torch_function__" and Path(frame.f_code.co_filename).name == "tracing.py"


def is_student_file(filename, folder):
    path = Path(filename)
    if not path.is_file():  # "<frozen importlib._bootstrap>", "<string>", ...
        return False
    path = path.resolve()
    if is_checker_file(path) or not path.is_relative_to(folder):
        return False
    return not SKIPPED_DIRS & set(path.relative_to(folder).parts)


def student_frame(error, folder):
    """(file.py, line, function) where the student's code raised `error`, or None when the checker raised it.
    The innermost frame that is the student's or the checker's decides: library frames (torch, numpy) in
    between only carry out what one of the two asked for."""
    if isinstance(error, SyntaxError) and error.filename and is_student_file(error.filename, folder):
        return Path(error.filename).resolve().relative_to(folder), error.lineno, ""
    for frame, line in reversed(list(traceback.walk_tb(error.__traceback__))):
        path = Path(frame.f_code.co_filename)
        if is_pass_through(frame):
            continue
        if is_student_file(path, folder):
            return path.resolve().relative_to(folder), line, frame.f_code.co_qualname
        if path.is_file() and is_checker_file(path.resolve()):
            return None
    return None


def definition_line(module, dotted_name, folder):
    """'your Class.method at file.py:line' where the student's module defines `dotted_name`, or None."""
    found = module
    for name in dotted_name.split("."):
        found = getattr(found, name, None)
    try:
        filename, (_, line) = inspect.getsourcefile(found), inspect.getsourcelines(found)
    except (TypeError, OSError):  # not defined, or not in a source file of theirs
        return None
    if not filename or not is_student_file(filename, folder):
        return None
    return f"your {dotted_name} at {Path(filename).resolve().relative_to(folder)}:{line}"


def checker_location(error):
    """'checker/module.py:line' of the innermost checker frame of `error`, or ''."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        path = Path(frame.filename)
        if path.is_file() and is_checker_file(path.resolve()):
            return f"{path.resolve().relative_to(ROOT)}:{frame.lineno}"
    return ""


def error_text(error):
    """What was raised, on one line."""
    if isinstance(error, SyntaxError):
        text = f"SyntaxError: {error.msg}"
    elif isinstance(error, SystemExit):
        text = f"SystemExit: sys.exit({error.code!r}) was called"
    else:
        lines = str(error).strip().splitlines()
        text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 3] + "..."


def describe_error(error, folder):
    """One line: what was raised, and where in the student's files (file:line, in which function)."""
    frame = student_frame(error, folder)
    if frame is None:
        return error_text(error)
    path, line, function = frame
    if function and isinstance(error, NotImplementedError):
        return f"{error_text(error)} (at {path}:{line}: {function} is not implemented)"
    return f"{error_text(error)} (at {path}:{line}{', in ' + function if function else ''})"


@contextlib.contextmanager
def quiet():
    """Swallow what the student's code prints (students print a lot) and its warnings."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def isolated_imports(folder):
    """Import the student's modules from `folder`, never this project's (set aside and put back, and its
    directory off the path, so that a student file missing from the folder is reported missing rather than
    silently replaced by ours); unload them afterwards."""
    saved_modules = {name: sys.modules.pop(name) for name in CLASHING_MODULES if name in sys.modules}
    saved_path = list(sys.path)
    sys.path[:] = [str(folder)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    loaded_before = set(sys.modules)
    try:
        yield
    finally:
        for name in set(sys.modules) - loaded_before:
            filename = getattr(sys.modules[name], "__file__", None)
            if name in CLASHING_MODULES or (filename and is_student_file(filename, folder)):
                del sys.modules[name]
        sys.path[:] = saved_path
        sys.modules.update(saved_modules)


def own_calls(path, name):
    """The calls `name(...)` in the student's file whose arguments are all in the source (no *args, **kwargs)."""
    return [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Call)
            and name in (getattr(node.func, "id", None), getattr(node.func, "attr", None))
            and not any(isinstance(arg, ast.Starred) for arg in node.args)
            and all(k.arg is not None for k in node.keywords)]


def own_call_values(path, callee, parameters, module):
    """{parameter: value} of `parameters` as the student's own calls of `callee` in `path` pass them, where
    the argument is a literal, a constant of `module`, or their argument parser's default (opt.X, args.X)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defaults = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument" and node.args:
            keywords = {k.arg: k.value for k in node.keywords}
            flag = str(getattr(node.args[0], "value", ""))
            dest = getattr(keywords.get("dest"), "value", flag.lstrip("-").replace("-", "_"))
            with contextlib.suppress(ValueError, KeyError):
                defaults[dest] = ast.literal_eval(keywords["default"])

    def value(node):
        with contextlib.suppress(ValueError):
            return ast.literal_eval(node)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.attr in defaults:
            return defaults[node.attr]
        if isinstance(node, ast.Name) and hasattr(module, node.id):
            return getattr(module, node.id)
        raise ValueError(ast.unparse(node))

    found = {}
    for _, arguments in own_bound_calls(path, callee):
        if isinstance(arguments, TypeError):  # a call that raises passes nothing
            continue
        for parameter in parameters:
            with contextlib.suppress(ValueError, KeyError):
                found.setdefault(parameter, value(arguments[parameter]))
    return found


def own_bound_calls(path, callee):
    """(line, {parameter: the argument's source node}, or the TypeError binding raised) of each of the
    student's own calls of `callee` in `path`."""
    signature, calls = inspect.signature(callee), []
    for node in own_calls(path, callee.__name__):
        try:
            calls.append((node.lineno, signature.bind(*node.args, **{k.arg: k.value for k in node.keywords}).arguments))
        except TypeError as error:
            calls.append((node.lineno, error))
    return calls


def functions_alone(path, names):
    """A module of the functions `names` of the student's file and its imports of other packages (torch,
    numpy, ...), or None: for a file that does not import only because another file of theirs does not."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except SyntaxError:
        return None
    kept = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names
            or isinstance(node, (ast.Import, ast.ImportFrom)) and not any(
                (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0] in CLASHING_MODULES
                or (path.parent / f"{alias.name.split('.')[0]}.py").is_file() for alias in node.names)]
    module = types.ModuleType(path.stem)
    module.__file__, module.functions_alone = str(path), True
    try:
        with quiet():
            exec(compile(ast.Module(kept, type_ignores=[]), str(path), "exec"), module.__dict__)
    except (Exception, SystemExit):
        return None
    return module if all(hasattr(module, name) for name in names) else None


def import_student_module(name, folder, failed_files):
    """-> (module, None), or (None, (status, message)). `failed_files` holds the files that already failed
    to import: a module that fails only because it imports one of them is not reported twice."""
    try:
        with quiet():
            return importlib.import_module(name), None
    except (Exception, SystemExit) as error:
        frame = student_frame(error, folder)
        culprit, where = (str(frame[0]), f"{frame[0]}:{frame[1]}") if frame else ("", "")
        if culprit and culprit != f"{name}.py" and culprit in failed_files:
            return None, ("skip", f"imports {culprit}, which does not import")
        missing = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
        if missing and missing.split(".")[0] in CLASHING_MODULES:
            message = f"{name}.py imports {missing}, but there is no {missing}.py beside it"
        elif missing:
            package = missing.split(".")[0]
            message = (f"needs the package '{package}', which is not installed (at {where}): "
                       f"pip install {package}, or remove the import")
        else:
            message = describe_error(error, folder)
        failed_files.add(culprit or f"{name}.py")
        return None, ("fail", f"{name}.py does not import: {message}")
