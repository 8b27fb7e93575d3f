"""Signals other apps listen to (the dependency points their way: they import orders)."""

from django.dispatch import Signal

# Sent after the transaction that recorded new fills of an account has committed.
# Arguments: account_id.
fills_committed = Signal()

# Sent inside the transaction that closed an order the exchange does not know (lost), so
# what the receivers write commits or rolls back with it. Arguments: account_id,
# client_order_id, ours (our status before), theirs ("not found"), detected_at.
order_lost = Signal()
