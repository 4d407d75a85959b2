"""What the dashboards show: gathered from the other plugins' services (read-only) and shaped into charts
(server-side SVG) and tables. No aiohttp here.

Days are days in the reader's time zone (the account's, else the shop's ``[i18n] time_zone``), the last
``DAYS`` of them including today: orders and payments count them in that zone. Chart titles, legends, day labels and numbers are in the
reader's language: the charts are drawn inside the request (``ecom.i18n``'s current locale).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable

from babel.dates import format_skeleton
from markupsafe import Markup

from ecom.charts import bar_chart, line_chart
from ecom.i18n import N_, _, current, current_locale, current_time_zone, money, ngettext, number

from .circuits import Circuit

if TYPE_CHECKING:
    from ecom.gateway.auth import Identity

DAYS = 30
LOW_STOCK = 5              # a region with this many units available or fewer is low
LIST_SIZE = 10             # low-stock products and stock movements shown
FULFIL_SIZE = 5            # orders with shipments to send shown on the seller dashboard
MAIN_CURRENCY = "USD"      # the revenue chart's currency while there are no sales
# Orders by status per day: four stacks (the chart's legend has room for four), the exact numbers per
# status are in the table under the chart. A partly refunded order still has shipments on their way.
ORDER_GROUPS = ((N_("Awaiting payment"), ("pending_payment",)), (N_("Paid"), ("paid",)),
                (N_("Failed, cancelled or refunded"), ("payment_failed", "expired", "cancelled", "refunded")),
                (N_("Fulfilled to delivered"), ("fulfilled", "partially_shipped", "shipped", "partially_delivered",
                                                "delivered", "partially_refunded")))
PAYMENT_OUTCOMES = (("approved", N_("Approved")), ("declined", N_("Declined")), ("refunded", N_("Refunded")))


def reader_today() -> date:
    """Today in the reader's time zone (the account's, else the shop's [i18n] time_zone)."""
    return datetime.now(current_time_zone()).date()


def last_days(days: int, today: date | None = None) -> list[date]:
    """The last ``days`` days up to ``today`` (the reader's), oldest first."""
    today = today or reader_today()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def day_label(day: date) -> str:
    """A chart's day: 'Nov 3' in English, '3 nov' in Spanish (the locale's own order for month and day)."""
    return format_skeleton("MMMd", day, locale=current_locale())


def count_format(value: float) -> str:
    """Counts on a chart's axis: whole numbers plainly, the axis' in-between steps (0.25 of 1) as decimals."""
    return number(int(value)) if float(value).is_integer() else number(Decimal(f"{value:.2f}").normalize())


@dataclass(frozen=True)
class SalesDay:
    day: date
    revenue: dict[str, int]   # currency -> cents
    units: int


@dataclass(frozen=True)
class SellerDashboard:
    marketplace: bool                    # an admin: every seller's products and sales
    days: int
    sales: list[SalesDay]                # days with sales, newest first
    revenue_total: dict[str, int]        # currency -> cents over the period
    units_total: int
    revenue_chart: Markup
    units_chart: Markup
    product_count: int
    low_stock: list[tuple[Any, list[Any]]]         # (product, its low regions as inventory Stock)
    movements: list[tuple[Any, Any]]                # (inventory Movement, product or None)
    order_counts: dict[str, int]                    # status -> orders with this seller's lines
    to_fulfil: list[Any]                            # the newest orders with shipments to send (a seller's view)
    shipments_to_send: int = 0                      # pending or fulfilled shipments of paid orders


@dataclass(frozen=True)
class AdminDashboard:
    days: int
    roles: dict[str, int]
    order_counts: dict[str, int]
    payment_counts: dict[str, int]
    orders_by_day: list[tuple[date, dict[str, int]]]   # days with orders, newest first
    payments_by_day: list[Any]                          # payments' DaySummary, newest first
    orders_chart: Markup
    payments_chart: Markup


def _revenue_format(currencies: list[str]) -> Callable[[float], str]:
    if len(currencies) == 1:
        return lambda v: money(round(v), currencies[0])
    return lambda v: number(Decimal(round(v)).scaleb(-2), 2)  # several currencies: amounts without a sign


def sales_charts(sales: list[SalesDay], days: int, today: date | None = None) -> tuple[Markup, Markup]:
    """(revenue per day: one line per currency, units per day: bars) over the last ``days`` days."""
    every = last_days(days, today)
    labels = [day_label(d) for d in every]
    by_day = {s.day: s for s in sales}
    currencies = sorted({c for s in sales for c in s.revenue}) or [MAIN_CURRENCY]
    revenue = {_("Revenue ({currency})").format(currency=c): [by_day[d].revenue.get(c, 0) if d in by_day else 0
                                                               for d in every] for c in currencies}
    units = {_("Units sold"): [by_day[d].units if d in by_day else 0 for d in every]}
    return (line_chart(ngettext("Revenue per day, last {n} day", "Revenue per day, last {n} days", days).format(n=days),
                       labels, revenue, value_format=_revenue_format(currencies)),
            bar_chart(ngettext("Units sold per day, last {n} day", "Units sold per day, last {n} days", days).format(
                n=days), labels, units, value_format=count_format))


def orders_chart(by_day: list[tuple[date, dict[str, int]]], days: int, today: date | None = None) -> Markup:
    every = last_days(days, today)
    counts = dict(by_day)
    series = {_(label): [sum(counts.get(d, {}).get(s, 0) for s in statuses) for d in every]
              for label, statuses in ORDER_GROUPS}
    title = ngettext("Orders per day by status, last {n} day", "Orders per day by status, last {n} days", days)
    return bar_chart(title.format(n=days), [day_label(d) for d in every], series, value_format=count_format)


def payments_chart(summary: list[Any], days: int, today: date | None = None) -> Markup:
    every = last_days(days, today)
    by_day = {s.day: s for s in summary}
    series = {_(label): [getattr(by_day[d], name) if d in by_day else 0 for d in every]
              for name, label in PAYMENT_OUTCOMES}
    title = ngettext("Payment outcomes per day, last {n} day", "Payment outcomes per day, last {n} days", days)
    return bar_chart(title.format(n=days), [day_label(d) for d in every], series, value_format=count_format,
                     stacked=False)


def health_summary(snapshot: dict, circuits: list[Circuit] | None = None) -> dict:
    """The core's health snapshot with an overall verdict: broker connected, events flowing (the
    liveness probe went round), every database answering, every worker heard from recently, every
    circuit closed (``circuits``: each plugin database's breaker over all the workers, circuits.py);
    plus the dead letters (events never applied) of every plugin, newest first."""
    databases = snapshot.get("databases", {})
    workers = snapshot.get("workers", [])
    flowing = snapshot.get("events", {}).get("flowing", False)
    circuits = circuits or []
    ok = (snapshot.get("broker", {}).get("connected", False) and flowing and all(d["ok"] for d in databases.values())
          and bool(workers) and all(w["alive"] for w in workers) and all(c.closed for c in circuits))
    dead = {name: db["dead_letters"] for name, db in databases.items() if db.get("dead_letters")}
    newest = sorted(((name, row) for name, d in dead.items() for row in d["newest"]),
                    key=lambda item: item[1]["received_at"], reverse=True)[:5]
    return {**snapshot, "ok": ok, "events_flowing": flowing, "workers_alive": sum(1 for w in workers if w["alive"]),
            "breakers": circuits, "breakers_not_closed": [c for c in circuits if not c.closed],
            "breakers_refused": sum(c.refused for c in circuits),
            "dead_letter_counts": {name: d["count"] for name, d in dead.items()},
            "dead_letters_newest": [dict(row, plugin=name) for name, row in newest]}


class DashboardsService:
    def __init__(self, *, users: Any, products: Any, inventory: Any, orders: Any, payments: Any):
        self.users, self.products, self.inventory = users, products, inventory
        self.orders, self.payments = orders, payments

    async def seller(self, who: "Identity", days: int = DAYS) -> SellerDashboard:
        """A seller's own figures; an admin's are the whole marketplace's."""
        seller_id = None if who.is_admin else who.user_id
        ids = await self.products.seller_product_ids(who)
        rows, low, movements, counts, (to_fulfil, to_send) = await asyncio.gather(
            self.orders.seller_sales(seller_id, days, time_zone=current().time_zone),
            self.inventory.low_stock(ids, LOW_STOCK, LIST_SIZE),
            self.inventory.recent_movements(ids, LIST_SIZE), self.orders.counts_by_status(seller_id),
            self.orders.shipments_to_send(who, FULFIL_SIZE))
        named = await self.products.get_many({*low, *(m.product_id for m in movements)}, include_deleted=True)
        sales = [SalesDay(day, revenue, units) for day, revenue, units in rows]
        totals: dict[str, int] = {}
        for s in sales:
            for currency, cents in s.revenue.items():
                totals[currency] = totals.get(currency, 0) + cents
        revenue_chart, units_chart = sales_charts(sales, days)
        return SellerDashboard(
            marketplace=who.is_admin, days=days, sales=sales[::-1], revenue_total=dict(sorted(totals.items())),
            units_total=sum(s.units for s in sales), revenue_chart=revenue_chart, units_chart=units_chart,
            product_count=len(ids), low_stock=[(named[p], stocks) for p, stocks in low.items() if p in named],
            movements=[(m, named.get(m.product_id)) for m in movements], order_counts=counts, to_fulfil=to_fulfil,
            shipments_to_send=to_send)

    async def admin(self, days: int = DAYS) -> AdminDashboard:
        roles, order_counts, payment_counts, by_day, summary = await asyncio.gather(
            self.users.role_counts(), self.orders.counts_by_status(), self.payments.counts_by_status(),
            self.orders.status_counts_by_day(days, time_zone=current().time_zone),
            self.payments.daily_summary(days, time_zone=current().time_zone))
        return AdminDashboard(days=days, roles=roles, order_counts=order_counts, payment_counts=payment_counts,
                              orders_by_day=by_day[::-1], payments_by_day=summary,
                              orders_chart=orders_chart(by_day, days), payments_chart=payments_chart(summary, days))
