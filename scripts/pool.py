"""Runs side by side, for the experiment scripts and the tests.

A run is `python script ...` in a process of its own, forked from a server that imported torch once
(multiprocessing's forkserver): a fresh interpreter spends several seconds of CPU importing torch and
torch._dynamo (the first optimizer imports it) before the run's first step, and a third of a second
importing the backends that save its figures. Where there is no forkserver
(Windows), each run is a fresh interpreter.
"""
import multiprocessing
import os
import runpy
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor

SERVER = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                     else "spawn")
if SERVER.get_start_method() == "forkserver":
    SERVER.set_forkserver_preload(["torch._dynamo", "matplotlib.pyplot", "matplotlib.backends.backend_agg",
                                   "matplotlib.backends.backend_pdf"])

INSTALLED = tuple({os.path.realpath(sysconfig.get_path(name)) for name in ("stdlib", "platstdlib", "purelib", "platlib")})


def side_by_side(tasks, jobs):
    """Call each of `tasks` (functions of no argument), `jobs` at a time -> their results, in order.
    The first error is raised once every task has ended."""
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(task) for task in tasks]
    return [future.result() for future in futures]


def python(args, cwd, output, errors=None, stdin=None, env=None, timeout=None):
    """Run `python *args` (a script or `-m module`, and its arguments) in `cwd` -> its exit status, or None
    when it was still running after `timeout` seconds (it is then killed). Its output is appended to the
    file `output`, its errors to `errors` (else to `output` too); it reads the file `stdin` (else nothing);
    `env` is its environment (else this one's)."""
    process = SERVER.Process(target=as_main, args=([str(arg) for arg in args], str(cwd), str(output),
                                                   str(errors or output), stdin and str(stdin),
                                                   dict(os.environ if env is None else env)))
    process.start()
    process.join(timeout)
    if process.exitcode is None:
        process.kill()
        process.join()
    return process.exitcode


def as_main(args, cwd, output, errors, stdin, env):
    """In the forked process: become `python *args` started in `cwd` with `env`, as a fresh interpreter would."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path, flags in ((0, stdin or os.devnull, os.O_RDONLY), (1, output, os.O_WRONLY | os.O_APPEND | os.O_CREAT),
                            (2, errors, os.O_WRONLY | os.O_APPEND | os.O_CREAT)):
        os.dup2(os.open(path, flags), fd)
    encoding, _, handler = env.get("PYTHONIOENCODING", "").partition(":")
    sys.stdin = open(0, encoding=encoding or None, errors=handler or None, closefd=False)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(encoding=encoding or None, errors=handler or None)
    # What a fresh interpreter has: the standard library and what is installed, not the server's other modules
    # (the project's, which `args` may import from another copy of the project).
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), None)
        if origin and not installed(origin):
            del sys.modules[name]
    run_module = args[0] == "-m"
    target, *rest = args[1:] if run_module else args
    first = os.getcwd() if run_module else os.path.dirname(os.path.abspath(target))
    sys.path = [first, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep)), *filter(installed, sys.path)]
    sys.argv = [target, *rest]
    if run_module:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(target, run_name="__main__")


def installed(path):
    """Whether `path` is in the standard library or the installed packages."""
    return bool(path) and os.path.realpath(path).startswith(INSTALLED)
