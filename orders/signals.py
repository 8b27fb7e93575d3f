"""Signals other apps listen to (the dependency points their way: they import orders)."""

from django.dispatch import Signal

# Sent after the transaction that recorded new fills of an account has committed.
# Arguments: account_id.
fills_committed = Signal()

# Sent inside the transaction that closed an order the exchange does not know (lost), so
# what the receivers write commits or rolls back with it. Arguments: account_id,
# client_order_id, ours (our status before), theirs ("not found"), detected_at.
order_lost = Signal()

# Sent after commit when a bracket placed a stop-loss and/or take-profit for what its
# entry filled. Arguments: account_id, symbol, side (of the position protected: "long"
# or "short"), order_id (the entry), reason (what was placed).
protection_placed = Signal()

# Sent after commit when the exchange refused a protective order (rejected it, its send
# failed for good, or it expired without being triggered): the position it was to guard
# is unprotected. Arguments: account_id, symbol, side ("long" or "short"), order_id (the
# refused stop-loss or take-profit), reason.
protection_refused = Signal()
