import pytest

pytestmark = pytest.mark.e2e


def test_a_new_user_can_be_read_back(users, customer):
    response = users.get(f"/users/{customer['id']}")
    assert response.status_code == 200
    assert response.json()["email"] == customer["email"]


def test_an_email_is_registered_once(users, customer):
    again = users.post("/users", json={"email": customer["email"].upper(), "name": "Twin"})
    assert again.status_code == 409


def test_an_invalid_payload_is_refused_with_reasons(users):
    response = users.post("/users", json={"email": "not-an-address"})
    assert response.status_code == 400
    assert response.json()["errors"] == ["email: not an e-mail address", "name: required"]


def test_an_unknown_user_is_404(users):
    assert users.get("/users/999999").status_code == 404
