"""Synthetic order deliveries: the upstream system the pipeline ingests from.

    orders     deterministic batches (make_orders, write_orders)
    order_ids  what an order id decides
    defects    the dirt a delivery's rows can carry
    csvtext    CSV bytes from Arrow columns
"""

from lab.datagen.orders import (
    CHUNK_ROWS,
    FRAME_MAX_ROWS,
    make_orders,
    write_orders,
)

__all__ = [
    "CHUNK_ROWS",
    "FRAME_MAX_ROWS",
    "make_orders",
    "write_orders",
]
