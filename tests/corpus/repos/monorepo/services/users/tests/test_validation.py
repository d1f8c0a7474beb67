from users.validation import problems


def test_a_valid_payload_has_no_problems():
    assert problems({"email": "ada@example.com", "name": "Ada"}) == []


def test_a_missing_name_and_a_bad_email_are_both_reported():
    assert problems({"email": "nope"}) == ["email: not an e-mail address", "name: required"]
