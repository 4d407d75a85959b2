"""Orders' events become mails: a real checkout (real payments through the broker) writes 'order placed'
and 'paid' to the customer and 'new order to fulfil' to each seller with only their lines; a shipped
shipment writes the carrier and tracking number, a delivered one says so, a refunded one tells the amount;
a sale that takes a product's stock down to the threshold warns its seller, naming the product; each mail
reaches the real SMTP sink once."""
from __future__ import annotations

from ecom.app import POOLS
from ecom.mail import maildir
from ecom.mail.sink import SmtpSink
from tests.conftest import free_port
from tests.helpers import start, wait_until
from tests.plugins.test_orders import EU, PLUGINS, orders_config, product, user, wait_status
from tests.plugins.test_shipments import move, place


async def test_checkout_payment_and_shipping_mails(aiohttp_client, make_config, tmp_path):
    sink = SmtpSink("127.0.0.1", free_port(), tmp_path / "data" / "mail")
    await sink.start()
    try:
        config = orders_config(make_config, shipping={}, mail={"embedded_port": sink.port})
        config = config.replace(plugins={"enabled": (*PLUGINS, "notifications"),
                                         "settings": {**config.plugins.settings,
                                                      "notifications": {"poll_seconds": 0.1}}})
        client = await start(aiohttp_client, config)
        ana_id, ana = await user(client, seller=True)
        bo_id, bo = await user(client, seller=True)
        dee_id, dee = await user(client)
        mug = await product(client, ana, stock={EU: 10}, price_cents=1210, name="Ana mug")
        pen = await product(client, bo, stock={EU: 10}, price_cents=605, name="Bo pen")
        lamp = await product(client, ana, stock={EU: 6}, price_cents=900, name="Ana lamp")  # 6 -> 4: low stock
        order_id = await place(client, dee, [(mug, 1), (pen, 2), (lamp, 2)])
        await wait_status(client, dee, order_id, "paid")
        pool = client.app[POOLS]["notifications"]

        async def kinds():
            return {(r["kind"], r["user_id"], r["status"]) for r in await pool.fetch(
                "SELECT kind, user_id, status FROM messages WHERE kind <> 'email_verification'")}
        want = {("order_placed", dee_id, "sent"), ("order_paid", dee_id, "sent"),
                ("seller_new_order", ana_id, "sent"), ("seller_new_order", bo_id, "sent")}
        await wait_until(kinds, lambda k: want <= k, "placed, paid and the sellers' mails sent")

        mails = [m for m in maildir.received(sink.folder, 1000) if order_id in m.subject]
        assert sorted(m.subject for m in mails) == sorted([
            f"We received your order {order_id}", f"Your order {order_id} is paid",
            f"New order to fulfil: {order_id}", f"New order to fulfil: {order_id}"])
        to_sellers = [m for m in mails if m.subject.startswith("New order")]
        ana_mail = next(m for m in to_sellers if "Ana mug" in m.text)
        assert "Bo pen" not in ana_mail.text and "/seller/orders" in ana_mail.text
        paid = next(m for m in mails if m.subject.endswith("is paid"))
        assert f"/orders/{order_id}" in paid.text and "Ana mug" in paid.html and "Bo pen" in paid.html

        assert (await move(client, ana, order_id, 1, "fulfilled")).status == 200
        assert (await move(client, ana, order_id, 1, "shipped", carrier="DHL", tracking_number="JD0142")).status == 200
        await wait_until(kinds, lambda k: ("shipment_shipped", dee_id, "sent") in k, "the shipped mail sent")
        [shipped] = [m for m in maildir.received(sink.folder, 1000) if m.subject == f"Your order {order_id} is on its way"]
        assert "Carrier: DHL" in shipped.text and "Tracking number: JD0142" in shipped.text

        assert (await move(client, ana, order_id, 1, "delivered")).status == 200
        resp = await client.post(f"/api/v1/orders/{order_id}/shipments/2/refund",
                                 headers={"Authorization": f"Bearer {bo}"})
        assert resp.status == 200, await resp.text()
        await wait_until(kinds, lambda k: {("shipment_delivered", dee_id, "sent"), ("order_refunded", dee_id, "sent"),
                                           ("low_stock", ana_id, "sent")} <= k, "delivered, refunded, low stock sent")
        received = {m.subject: m for m in maildir.received(sink.folder, 1000)}
        assert f"Your order {order_id} was delivered" in received
        refunded = received[f"A refund for your order {order_id}"]
        assert "€" in refunded.text  # the amount, in the order's currency
        low = [m for m in received.values() if m.subject.startswith("Low stock")]
        assert [m.subject for m in low] == ["Low stock: product Ana lamp in eu-west"]
        assert ana_mail.to == low[0].to
    finally:
        await sink.stop()
