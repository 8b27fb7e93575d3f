"""Every write and workflow of the orders app. See each module's docstring."""

from orders.services.amend import order_amend, order_amend_send, order_replace_send
from orders.services.brackets import bracket_protect, oco_settle, order_followups
from orders.services.cancel import (
    order_cancel,
    order_cancel_all,
    order_cancel_send,
    order_next_step_delay,
)
from orders.services.reconcile import (
    DueStep,
    order_reconcile,
    orders_due_steps,
    orders_poll,
    orders_poll_account,
    orders_to_recheck,
)
from orders.services.send import order_send
from orders.services.submit import OrderRequest, order_submit
from orders.services.updates import fills_record, order_apply_update, order_apply_updates

__all__ = [
    "DueStep",
    "OrderRequest",
    "bracket_protect",
    "fills_record",
    "oco_settle",
    "order_amend",
    "order_amend_send",
    "order_apply_update",
    "order_apply_updates",
    "order_cancel",
    "order_cancel_all",
    "order_cancel_send",
    "order_followups",
    "order_next_step_delay",
    "order_reconcile",
    "order_replace_send",
    "order_send",
    "order_submit",
    "orders_due_steps",
    "orders_poll",
    "orders_poll_account",
    "orders_to_recheck",
]
