"""The platform's stack with none of the platform's code, for ``bench/stack_floor.py``.

An order here is one row: the view inserts it and queues a Celery task on commit; the task
claims it with a conditional UPDATE and sends it to the simulator with the real ccxt
client - the order path of DESIGN.md with no authentication, validation, risk gate, audit
event or push. A signal is one row too: the webhook view inserts it and queues a task that
claims it, inserts its order and queues that order's send on commit (DESIGN.md's signal
path: two tasks). What this costs is the floor under the platform's own latency.
"""
