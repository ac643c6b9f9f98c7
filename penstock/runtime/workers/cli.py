"""``penstock warm``: keep a process with the TensorFlow stack imported, for runs to fork from."""

from __future__ import annotations

import click


@click.command()
@click.option("--idle-timeout", type=click.FloatRange(min=1), default=900.0, show_default=True,
              help="Seconds without a run after which the daemon leaves.")
@click.option("--stop", is_flag=True, help="Stop this environment's daemon.")
@click.option("--status", "show_status", is_flag=True, help="Say whether a daemon runs, and since when.")
def warm(idle_timeout: float, stop: bool, show_status: bool) -> None:
    """Start the warm daemon of this environment, and wait until it has imported the stack.

    `penstock run` then forks each run's worker from it (no TensorFlow, Beam, TFDV, TFT or TFMA
    import on the run's path); every run gets a fresh worker, which ends with the run. Runs
    started with PENSTOCK_WORKER=daemon start it themselves."""
    import time

    from penstock.runtime.workers import daemon

    if stop:
        pid = daemon.stop()
        click.echo(f"stopped the warm daemon (pid {pid})" if pid else "no warm daemon runs for this environment")
        return
    if show_status:
        state = daemon.status()
        if not state:
            click.echo("no warm daemon runs for this environment")
            return
        age = time.time() - float(state.get("started", time.time()))
        click.echo(f"warm daemon pid {state.get('pid')}, up {age:.0f} s, "
                   f"{'ready' if state.get('ready') else 'importing'}, {state.get('runs', 0)} runs served, "
                   f"idle timeout {state.get('idle_timeout')} s")
        return
    started = time.perf_counter()
    state = daemon.start(idle_timeout, wait_ready=True)
    click.echo(f"warm daemon ready (pid {state['pid']}, {time.perf_counter() - started:.1f} s); "
               f"it leaves after {state['idle_timeout']:.0f} s without a run (penstock warm --stop ends it)")
