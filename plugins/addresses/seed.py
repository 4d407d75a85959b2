"""`run.py seed`: an address book for the demo customer (users seeds customer@demo.shop), so a newcomer
sees a default Spanish shipping address, a billing address elsewhere, and a US one at checkout."""
from __future__ import annotations

from plugins.users.keys import USERS

from .keys import ADDRESSES

DEMO_CUSTOMER = "customer@demo.shop"
PAGE, MAX_PAGES = 500, 40  # the demo customer is among the first accounts; never scan a huge shop
DEMO_BOOK = (
    ({"name": "Demo Customer", "line1": "Calle de Alcalá 42", "line2": "3º izquierda", "city": "Madrid",
      "postal_code": "28014", "country": "ES", "phone": "+34 911 234 567"}, {"default_shipping": True}),
    ({"name": "Demo Customer", "company": "Demo Studio Lda", "line1": "Rua Augusta 100", "city": "Lisboa",
      "postal_code": "1100-053", "country": "PT", "phone": "213 456 789"}, {"default_billing": True}),
    ({"name": "Demo Customer", "line1": "350 5th Ave", "line2": "Suite 4200", "city": "New York", "region": "NY",
      "postal_code": "10118", "country": "US", "phone": "(212) 736-3100"}, {}),
)


async def demo_customer_id(users) -> int | None:
    for page in range(MAX_PAGES):
        found = await users.list_users(PAGE, page * PAGE)
        match = next((u.id for u in found if u.email == DEMO_CUSTOMER), None)
        if match is not None or len(found) < PAGE:
            return match
    return None


async def seed(seeder) -> None:
    book = seeder.app[ADDRESSES]
    user_id = await demo_customer_id(seeder.app[USERS])
    if user_id is None or await book.list(user_id):  # seeding twice keeps the first book
        return
    with seeder.progress(len(DEMO_BOOK), "addresses") as bar:
        for data, flags in DEMO_BOOK:
            await book.add(user_id, data, **flags)
            bar.update()
