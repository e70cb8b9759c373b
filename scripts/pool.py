"""Runs side by side, for the experiment scripts."""
from concurrent.futures import ThreadPoolExecutor


def side_by_side(tasks, jobs):
    """Call each of `tasks` (functions of no argument), `jobs` at a time -> their results, in order.
    The first error is raised once every task has ended."""
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(task) for task in tasks]
    return [future.result() for future in futures]
