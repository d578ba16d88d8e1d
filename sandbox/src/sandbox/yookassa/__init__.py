"""A wire-faithful fake of the YooKassa API v3 calls Praktika's booking service makes.

See :mod:`sandbox.yookassa.app` for the routes and ``sandbox/README.md`` for how to use it.
"""

from sandbox.yookassa.app import (
    DEFAULT_SECRET_KEY,
    DEFAULT_SHOP_ID,
    YooKassaFake,
    create_yookassa_app,
    yookassa_fake,
)
from sandbox.yookassa.fake import RunningYooKassa, build_yookassa_fake, running_yookassa
from sandbox.yookassa.notifier import (
    DeliveryAttempt,
    Notification,
    NotificationPolicy,
    Notifier,
)
from sandbox.yookassa.store import DECLINING_CARDS, SUCCESS_CARD, PaymentStore

__all__ = [
    "DECLINING_CARDS",
    "DEFAULT_SECRET_KEY",
    "DEFAULT_SHOP_ID",
    "SUCCESS_CARD",
    "DeliveryAttempt",
    "Notification",
    "NotificationPolicy",
    "Notifier",
    "PaymentStore",
    "RunningYooKassa",
    "YooKassaFake",
    "build_yookassa_fake",
    "create_yookassa_app",
    "running_yookassa",
    "yookassa_fake",
]
