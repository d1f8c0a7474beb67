def test_health_reports_the_development_settings(api):
    assert api.get("/health/").json() == {"status": "ok", "env": "development"}


def test_an_item_is_created_once(api, sku):
    created = api.post("/items/", json={"sku": sku, "name": "Widget", "quantity": 3})
    assert created.status_code == 201, created.text
    assert created.json() == {"sku": sku, "name": "Widget", "quantity": 3}
    assert api.post("/items/", json={"sku": sku, "name": "Again"}).status_code == 409


def test_moves_change_the_stock_and_flag_reorders(api, sku):
    api.post("/items/", json={"sku": sku, "name": "Bolt", "quantity": 10})
    assert api.post(f"/items/{sku}/moves", json={"delta": -6}).json() == {"sku": sku, "quantity": 4}
    assert api.get(f"/items/{sku}").json()["reorder"] is True


def test_stock_cannot_go_negative(api, sku):
    api.post("/items/", json={"sku": sku, "name": "Nut", "quantity": 1})
    response = api.post(f"/items/{sku}/moves", json={"delta": -2})
    assert response.status_code == 409
    assert response.json()["detail"] == f"{sku}: 1 in stock, 2 requested"


def test_unknown_items_are_404(api):
    assert api.get("/items/NOPE-404").status_code == 404
    assert api.post("/items/NOPE-404/moves", json={"delta": 1}).status_code == 404
