from app import storage


def test_notes_get_increasing_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTES_DATA", str(tmp_path / "notes.json"))
    assert storage.add("a", "", [])["id"] == "1"
    assert storage.add("b", "", ["x", "x"]) == {"id": "2", "title": "b", "body": "", "tags": ["x"]}
