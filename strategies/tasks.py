"""Thin Celery tasks of the strategies app (the `strategies` queue)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="strategies.signal_process", ignore_result=True)
def signal_process(signal_id: int) -> None:
    from strategies import services

    services.signal_process(signal_id=signal_id)
