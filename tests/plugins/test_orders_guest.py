"""orders/guest.py alone: the signed order link (HMAC of the order id, checked in constant time). The
link through HTTP, the 404 for a wrong key and the adopting account: test_checkout_shipping.py."""
from __future__ import annotations

import pytest

from ecom.errors import NotFound
from plugins.orders.guest import Guests, follow_url, order_key, valid_key

SECRET, OTHER = b"k" * 32, b"o" * 32
ORDER = "ord_" + "a" * 24


def test_the_key_signs_one_order_with_one_secret():
    key = order_key(SECRET, ORDER)
    assert len(key) == 43 and valid_key(SECRET, ORDER, key)
    assert follow_url(SECRET, ORDER) == f"/orders/{ORDER}?key={key}"
    assert not valid_key(SECRET, "ord_" + "b" * 24, key)       # another order
    assert not valid_key(OTHER, ORDER, key)                    # a rotated shop secret voids every link
    for bad in (None, "", key[:-1], key + "A", key.upper(), 42, "é" * 43):
        assert not valid_key(SECRET, ORDER, bad), bad
    with pytest.raises(NotFound):
        Guests(None, SECRET, None).check(ORDER, key[:-1] + ("A" if key[-1] != "A" else "B"))
    Guests(None, SECRET, None).check(ORDER, key)
