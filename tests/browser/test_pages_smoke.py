"""Every public page renders in a real browser without console errors or serious accessibility problems."""
import pytest

from tests.browser.conftest import SELLER


@pytest.mark.parametrize("name, path", [("home", "/"), ("catalog", "/products"), ("search", "/products?q=lamp"),
                                        ("login", "/login"), ("register", "/register"), ("404", "/nope")])
async def test_public_pages(tab, name, path):
    response = await tab.goto(path)
    assert response.status == (404 if name == "404" else 200)
    await tab.check(name)


async def test_seller_pages(tab):
    await tab.log_in(*SELLER)
    for name, path in [("seller-products", "/seller/products"), ("seller-new-product", "/seller/products/new"),
                       ("seller-inventory", "/seller/inventory"), ("seller-import", "/seller/inventory/imports/new")]:
        response = await tab.goto(path)
        assert response.status == 200, name
        await tab.check(name)
