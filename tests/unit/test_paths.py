"""Repository packages, and data that maps to no repository file: found, and the mapping proposed."""

from __future__ import annotations

from pathlib import Path

import coverage
import coverage.files

from stacktest.coverage import paths as _paths


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_packages_of_installable_projects_are_found(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "",
            "src/shop/__init__.py": "",
            "src/shop/orders/__init__.py": "",  # a sub-package
            "services/billing/setup.py": "",
            "services/billing/billing/__init__.py": "",
            "services/billing/tests/__init__.py": "",  # tests are no package to measure
            "scripts/tool/__init__.py": "",  # no project file beside it
        },
    )
    found = _paths.repository_packages(tmp_path)
    assert found == {
        "billing": (tmp_path / "services/billing/billing").resolve(),
        "shop": (tmp_path / "src/shop").resolve(),
    }
    aliases = _paths.package_aliases(found)
    assert aliases["pkg-shop"] == [str(found["shop"]), "*/shop"]
    mapped = coverage.files.PathAliases(relative=False)
    for entry in aliases.values():
        for pattern in entry[1:]:
            mapped.add(pattern, entry[0])
    installed = "/usr/local/lib/python3.11/site-packages/shop/__init__.py"
    editable = "/pkgs/shop-project/src/shop/__init__.py"
    assert mapped.map(installed) == mapped.map(editable) == str(found["shop"] / "__init__.py")


def measured(tmp_path: Path, lines: dict[str, list[int]]) -> Path:
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage.web"))
    data.add_lines(lines)
    data.write()
    return tmp_path / ".coverage.web"


def test_data_that_maps_to_no_file_is_found_and_a_mapping_proposed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(
        root,
        {
            "services/web/main.py": "import os\n\ndef handler():\n    return os.getpid()\n",
            "services/other/main.py": "x = 1\n",  # the same name, but line 4 is no statement of it
            "services/web/util.py": "A = 1\nB = 2\n",
            "app/ok.py": "ok = 1\n",
        },
    )
    data = measured(
        tmp_path,
        {
            "/srv/app/main.py": [1, 3, 4],
            "/srv/app/util.py": [1, 2],
            "/srv/app/gone.py": [1],
            str(root / "app/ok.py"): [1],  # mapped already
            "/usr/local/lib/python3.11/site-packages/requests/api.py": [1],  # third party
            "/coverage-spy/sitecustomize.py": [1],
        },
    )
    found = _paths.unmapped(data, root, ignore=("/coverage-spy/",))
    assert sorted(found) == ["/srv/app/gone.py", "/srv/app/main.py", "/srv/app/util.py"]
    proposals, orphans = _paths.propose(found, root)
    assert [(p.container, p.host) for p in proposals] == [("/srv/app", "services/web")]
    assert orphans == ["/srv/app/gone.py"]


def test_nothing_unmapped_when_every_file_is_the_repository_s(tmp_path: Path) -> None:
    write(tmp_path, {"app/ok.py": "ok = 1\n"})
    data = measured(tmp_path, {str(tmp_path / "app/ok.py"): [1]})
    assert _paths.unmapped(data, tmp_path) == {}


def test_a_proposal_never_maps_the_container_s_root(tmp_path: Path) -> None:
    """A container path whose every folder is also the repository's (/pkgs/x/core.py = pkgs/x/core.py)
    is mapped from its top folder, not from "/"."""
    write(tmp_path, {"pkgs/x/core.py": "def f():\n    return 1\n"})
    proposals, _ = _paths.propose({"/pkgs/x/core.py": [1, 2]}, tmp_path)
    assert [(p.container, p.host) for p in proposals] == [("/pkgs", "pkgs")]
