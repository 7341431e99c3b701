"""
The layout's promises, checked: every C{test-case-name} header names a test
module that exists, only C{chatroom/store/} talks to Redis or knows its
keys, production code imports no test helpers, and README's Layout names
every server module.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "chatroom"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _relative(path):
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", MODULES, ids=_relative)
def test_test_case_name_names_a_test_module(path):
    found = re.search(r"test-case-name:\s*([\w.,\s]+?)\s*-\*-", path.read_text(encoding="utf-8"))
    if found is None:
        return
    for name in found.group(1).split(","):
        module = ROOT.joinpath(*name.strip().split(".")).with_suffix(".py")
        assert module.exists(), "%s names %s, which does not exist" % (_relative(path), name.strip())


@pytest.mark.parametrize("path", [p for p in MODULES if "store" not in p.relative_to(PACKAGE).parts],
                         ids=_relative)
def test_only_the_store_talks_to_redis(path):
    source = path.read_text(encoding="utf-8")
    for forbidden in ("import txredisapi", "from txredisapi", "chatroom.store import keys",
                      "chatroom.store.keys", "chatroom.store.connection"):
        assert forbidden not in source, "%s: %s (Redis belongs in chatroom/store/)" % (_relative(path), forbidden)


@pytest.mark.parametrize("path", MODULES, ids=_relative)
def test_production_code_imports_no_test_helpers(path):
    source = path.read_text(encoding="utf-8")
    assert "twisted.internet.testing" not in source
    assert "twisted.test" not in source
    assert not re.search(r"^\s*(from|import) tests\b", source, re.M)


@pytest.mark.parametrize("path", [p for p in MODULES if p.name != "__init__.py" and "client" not in p.parts],
                         ids=_relative)
def test_readme_layout_names_every_module(path):
    layout = (ROOT / "README.rst").read_text(encoding="utf-8").split("\nLayout\n", 1)[1]
    assert path.name in layout, "README's Layout does not name %s" % (_relative(path),)
