"""HTTP <-> ProductsService: the home page, the catalog and product pages, and the seller's product pages."""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp_jinja2 import get_env, render_template
from aiohttp_session import get_session
from markupsafe import Markup

from ecom.errors import Conflict, DomainError, ValidationFailed
from ecom.gateway import identity, roles_required
from ecom.gateway.flash import flash
from ecom.i18n import N_, _, current_locale
from ecom.inputs import form_data, form_field
from ecom.resilience import retry_read
from ecom.slots import fill_items, render as render_slot

from .caching import PRIVATE, conditional, no_store
from .routes import product_id, products, upload_bytes
from .sellers import seller_names
from .service import SORT_NAMES, Product
from .validation import CURRENCIES, DEFAULT_WEIGHT, TAX_CLASSES, check_fields, format_price, parse_price, parse_weight

try:  # soft dependencies: the pages work without these plugins
    from plugins.inventory.keys import INVENTORY
except ImportError:
    INVENTORY = None
try:
    from plugins.users.keys import USERS
except ImportError:
    USERS = None

log = logging.getLogger("ecom.plugins.products")
routes = web.RouteTableDef()
SELLER_PAGE_SIZE = 50
SORT_LABELS = {"relevance": N_("Best match"), "newest": N_("Newest"), "price_asc": N_("Price: low to high"),
               "price_desc": N_("Price: high to low"), "name": N_("Name")}  # translated where shown
FORM_FIELDS = ("name", "description", "price", "currency", "type", "sku", "weight_grams", "tax_class")
TAX_CLASS_LABELS = {"standard": N_("Standard rate"), "reduced": N_("Reduced rate (food, books...)"),
                    "zero": N_("Zero rate")}
PAGE_FIELDS = {"min_price": "min", "max_price": "max", "price_cents": "price"}  # service name -> form name


async def _seller_names(request: web.Request, seller_ids: set[int]) -> dict[int, str]:
    """Display names, remembered for a minute per process (sellers.py says why that is safe)."""
    return await seller_names(request.app.get(USERS) if USERS is not None else None, seller_ids)


def slot_values(product: Product) -> dict:
    """What the ``product.details`` and ``product.card`` slots get of a product: its public fields."""
    return {"id": product.id, "seller_id": product.seller_id, "name": product.name, "type": product.type,
            "price_cents": product.price_cents, "currency": product.currency, "sku": product.sku,
            "active": product.active, "image_url": product.image_url, "weight_grams": product.weight_grams}


async def _card_slots(request: web.Request, items: list[Product]) -> dict:
    """{product id: Markup} of the ``product.card`` slot: one context call per plugin for the whole grid."""
    return await fill_items(request, "product.card", [slot_values(p) for p in items])


# --- home and catalog ---

FEATURED = 8


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    """Featured products (newest with images first), the categories with counts, a search box."""
    svc = products(request)
    featured = await svc.featured(FEATURED)
    response = render_template("products/home.html", request, {
        "featured": featured, "types": await svc.types(), "cards": await _card_slots(request, featured)})
    return await conditional(request, response, svc.config.catalog_cache_seconds)


def _page_currency(asked: str, display: str, available: list[str]) -> str:
    """The currency the catalog page filters prices in: the one asked for; else the display currency,
    unless the catalog has no product in it (a one-currency shop in another currency uses that one)."""
    if asked:
        return asked.upper()
    return display if display in available or not available else available[0]


def _catalog_filters(request: web.Request, display: str,
                     available: list[str]) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """(the form's raw values, search arguments, errors) from the query string. Prices typed in the form
    are in the page's one currency (``currency``), with that currency's decimal places."""
    raw = {k: request.query.get(k, "").strip() for k in ("q", "type", "min", "max", "sort", "cursor", "currency")}
    currency = _page_currency(raw["currency"], display, available)
    args: dict[str, Any] = {"q": raw["q"] or None, "type": raw["type"] or None, "sort": raw["sort"] or None,
                            "cursor": raw["cursor"] or None}
    errors: dict[str, str] = {}
    if raw["currency"] or raw["min"] or raw["max"] or (raw["sort"] or "").startswith("price_"):
        args["currency"] = currency
    if currency not in CURRENCIES:
        errors["currency"] = _("Choose one of the listed currencies.")
    for field, target in (("min", "min_price"), ("max", "max_price")):
        if raw[field]:
            try:
                args[target] = parse_price(raw[field], currency)
            except ValidationFailed as err:
                errors[field] = err.detail
    return raw | {"currency": currency}, args, errors


@routes.get("/products")
async def catalog(request: web.Request) -> web.Response:
    """The catalog page. Its main column (filters, grid, page links) is the same for everyone asking the same
    query in the same language: a logged-in shopper's page takes it from this worker's page cache
    (pagecache.py) when another shopper's page rendered it less than ``page_cache_seconds`` ago, and only
    the layout around it (name, cart count, CSRF token, flashes) is rendered per request. Guests' pages are
    nginx's to cache; a page with an error in its filters is never kept."""
    svc = products(request)
    currencies = await svc.currencies()
    raw, args, errors = _catalog_filters(request, svc.config.display_currency, currencies)
    if args["sort"] == "relevance" and not args["q"]:
        args["sort"] = None
    shared = identity(request) is not None and not errors
    key = (current_locale(), request.rel_url.raw_query_string)
    main = svc.catalog_pages.get(key) if shared else None
    if main is None:
        items, next_cursor = [], None
        if not errors:
            try:
                items, next_cursor = await svc.search(**args)
            except ValidationFailed as err:
                errors = {PAGE_FIELDS.get(k, k): v for k, v in err.errors.items()} or {"q": err.detail}
        main = Markup(get_env(request.app).get_template("products/catalog_main.html").render({
            "items": items, "cards": await _card_slots(request, items), "values": raw, "errors": errors,
            "types": await svc.types(), "currencies": currencies,
            "currency_asked": request.query.get("currency"), "sorts": [(s, _(SORT_LABELS[s])) for s in SORT_NAMES],
            "next_url": str(request.rel_url.update_query(cursor=next_cursor)) if next_cursor else None,
            "first_url": str(request.rel_url.without_query_params("cursor")) if raw["cursor"] else None}))
        if shared and not errors:
            svc.catalog_pages.put(key, main)
    response = render_template("products/catalog.html", request, {"values": raw, "main": main},
                               status=422 if errors else 200)
    return response if errors else await conditional(request, response, svc.config.catalog_cache_seconds)


async def _availability(request: web.Request, product: Product) -> tuple[list | None, bool]:
    """(stock per region or None, whether that is the inventory's answer: False when it failed)."""
    inventory = request.app.get(INVENTORY) if INVENTORY is not None else None
    if inventory is None:
        return None, True
    try:
        return list(await retry_read(lambda: inventory.availability(product.id))), True  # a read: safe to retry
    except Exception:  # noqa: BLE001 - stock is extra on this page: show the product without it
        log.warning("inventory availability failed for product %s", product.id, exc_info=True)
        return None, False


def _may_edit(who, product: Product) -> bool:
    return bool(who and (who.is_admin or who.user_id == product.seller_id))


async def _product_parts(request: web.Request, product: Product, seller: str | None,
                         availability: list | None) -> tuple[Markup, Markup]:
    """The product page's parts above and below the add-to-cart form (products/product_main.html): the same
    for every shopper in one language. The plugins' ``product.details`` slots are in the part below, so
    they are kept with it and cost nothing on a cache hit (their context must not depend on the shopper)."""
    parts = get_env(request.app).get_template("products/product_main.html").module
    details = await render_slot(request, "product.details", product=slot_values(product))
    return Markup(parts.top(product, seller, availability)), Markup(parts.bottom(product, details))


async def _shared_parts(request: web.Request, who) -> tuple[Product, list | None, Markup, Markup]:
    """(product, stock per region, the parts above and below the form). A logged-in shopper's come from this
    worker's page cache (pagecache.py: at most ``page_cache_seconds`` old, active products only, per
    language); the product's own seller and admins, who may have just changed it, always read live, and
    so do guests (nginx caches theirs)."""
    svc, wanted = products(request), product_id(request)
    key = (current_locale(), wanted)
    kept = svc.product_pages.get(key) if who is not None else None
    if kept is not None and not _may_edit(who, kept[0]):
        return kept
    product = await svc.visible(wanted, who)
    availability, answered = await _availability(request, product)
    seller = (await _seller_names(request, {product.seller_id})).get(product.seller_id)
    parts = (product, availability, *await _product_parts(request, product, seller, availability))
    if who is not None and product.active and answered and not _may_edit(who, product):
        svc.product_pages.put(key, parts)
    return parts


@routes.get(r"/products/{id:[0-9]+}")
async def product_page(request: web.Request) -> web.Response:
    svc, who = products(request), identity(request)
    product, availability, top, bottom = await _shared_parts(request, who)
    response = render_template("products/product.html", request, {
        "product": product, "availability": availability, "top": top, "bottom": bottom,
        "can_edit": _may_edit(who, product)})
    response = await conditional(request, response, svc.config.catalog_cache_seconds)
    if who is None and "csrf_token" in await get_session(request):  # the add-to-cart form holds this guest's token
        response.headers["Cache-Control"] = PRIVATE
    return response


# --- seller pages ---

@routes.get("/seller/products")
@roles_required("seller")
async def seller_products(request: web.Request) -> web.Response:
    raw = request.query.get("before", "")
    before = int(raw) if raw.isascii() and raw.isdecimal() and len(raw) < 19 else None
    items = await products(request).seller_products(identity(request), before, SELLER_PAGE_SIZE + 1)
    names = await _seller_names(request, {p.seller_id for p in items}) if identity(request).is_admin else {}
    return no_store(render_template("products/seller_list.html", request, {
        "items": items[:SELLER_PAGE_SIZE], "seller_names": names, "is_admin": identity(request).is_admin,
        "older": items[SELLER_PAGE_SIZE - 1].id if len(items) > SELLER_PAGE_SIZE else None}))


async def _form_page(request: web.Request, product: Product | None, values: dict, errors: dict | None = None,
                     status: int = 200) -> web.Response:
    return no_store(render_template("products/seller_form.html", request, {
        "product": product, "values": values, "errors": errors or {}, "currencies": sorted(CURRENCIES),
        "tax_classes": [(c, _(TAX_CLASS_LABELS[c])) for c in TAX_CLASSES],
        "types": [name for name, _ in await products(request).types()]}, status=status))


def _values_of(request: web.Request, product: Product | None) -> dict:
    if product is None:
        return {"currency": products(request).config.display_currency, "active": True,
                "weight_grams": str(DEFAULT_WEIGHT), "tax_class": TAX_CLASSES[0]}
    return {"name": product.name, "description": product.description, "currency": product.currency,
            "price": format_price(product.price_cents, product.currency), "type": product.type,
            "sku": product.sku, "active": product.active, "weight_grams": str(product.weight_grams),
            "tax_class": product.tax_class}


async def _read_form(request: web.Request) -> tuple[dict, dict, bytes | None, dict, int]:
    """(form values, checked fields, image bytes or None, errors, status) of a posted product form.

    Every field, the price and the image are checked before anything is written."""
    form = await form_data(request)
    values = {k: form_field(form, k) for k in FORM_FIELDS} | {"active": "active" in form}
    errors: dict[str, str] = {}
    try:
        price_cents = parse_price(values["price"], values["currency"] or "USD")
    except ValidationFailed as err:
        errors["price"], price_cents = err.detail, 0
    try:
        weight = parse_weight(values["weight_grams"] or str(DEFAULT_WEIGHT))
    except ValidationFailed as err:
        errors["weight_grams"], weight = err.detail, DEFAULT_WEIGHT
    fields = {k: values[k] for k in ("name", "description", "currency", "type", "sku", "active")}
    fields["tax_class"] = values["tax_class"] or TAX_CLASSES[0]
    try:
        fields = check_fields(fields | {"price_cents": price_cents, "weight_grams": weight}, partial=False)
    except ValidationFailed as err:
        errors = {PAGE_FIELDS.get(k, k): v for k, v in err.errors.items()} | errors
    status, image = 422, None
    try:
        image = await upload_bytes(form.get("image"), products(request).config.max_image_bytes)
        if image is not None:
            products(request).check_image(image)
    except DomainError as err:  # too large (413) or not an image (422)
        errors.update(err.errors)
        status = err.status if len(errors) == 1 else 422
    return values, fields, image, errors, status


@routes.get("/seller/products/new")
@roles_required("seller")
async def new_form(request: web.Request) -> web.Response:
    return await _form_page(request, None, _values_of(request, None))


@routes.post("/seller/products/new")
@roles_required("seller")
async def create(request: web.Request) -> web.Response:
    return await _save(request, None)


@routes.get(r"/seller/products/{id:[0-9]+}/edit")
@roles_required("seller")
async def edit_form(request: web.Request) -> web.Response:
    product = await products(request).editable(identity(request), product_id(request))
    return await _form_page(request, product, _values_of(request, product))


@routes.post(r"/seller/products/{id:[0-9]+}/edit")
@roles_required("seller")
async def update(request: web.Request) -> web.Response:
    return await _save(request, await products(request).editable(identity(request), product_id(request)))


async def _save(request: web.Request, product) -> web.Response:
    """Create (``product`` None) or update from the posted form; the form again, with errors, if it fails."""
    svc, who = products(request), identity(request)
    values, fields, image, errors, status = await _read_form(request)
    if errors:
        return await _form_page(request, product, values, errors, status)
    try:
        saved = await (svc.create(who, fields) if product is None else svc.update(who, product.id, fields))
    except (ValidationFailed, Conflict) as err:
        return await _form_page(request, product, values, err.errors, err.status)
    if image is not None:
        await svc.set_image(who, saved.id, image)
    message = (_("“{name}” is in the catalog.") if product is None else _("Saved “{name}”.")).format(name=saved.name)
    await flash(request, message, "success")
    raise web.HTTPSeeOther("/seller/products")


@routes.get(r"/seller/products/{id:[0-9]+}/delete")
@roles_required("seller")
async def delete_form(request: web.Request) -> web.Response:
    product = await products(request).editable(identity(request), product_id(request))
    return no_store(render_template("products/seller_delete.html", request, {"product": product}))


@routes.post(r"/seller/products/{id:[0-9]+}/delete")
@roles_required("seller")
async def delete(request: web.Request) -> web.Response:
    svc = products(request)
    product = await svc.editable(identity(request), product_id(request))
    await svc.delete(identity(request), product.id)
    await flash(request, _("Deleted “{name}”.").format(name=product.name), "info")
    raise web.HTTPSeeOther("/seller/products")
