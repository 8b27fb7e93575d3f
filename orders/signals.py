"""Signals other apps listen to (the dependency points their way: they import orders)."""

from django.dispatch import Signal

# Sent after the transaction that recorded new fills of an account has committed.
# Arguments: account_id.
fills_committed = Signal()
