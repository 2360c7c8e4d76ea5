"""Every module has a name of its own: no two files of the package share a file name (`__init__.py` and
`__main__.py` aside), so a name found in a traceback, an import or an editor's tab says which module it is; and no
two test files share one, which pytest's default import mode (tests/ has no `__init__.py`) needs."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import actionrec

PACKAGE = Path(actionrec.__file__).parent
TESTS = Path(__file__).parent


def shared_names(root: Path, skip: frozenset[str] = frozenset()) -> dict[str, list[str]]:
    """The file names under `root` that more than one `.py` file has, each with those files' paths."""
    paths = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        if path.name not in skip:
            paths[path.name].append(str(path.relative_to(root)))
    return {name: found for name, found in paths.items() if len(found) > 1}


def test_no_two_modules_of_the_package_share_a_file_name():
    """Each module's file name is the package's only one; the walk sees the subpackages' modules too."""
    assert len(list(PACKAGE.rglob("*.py"))) > 80
    assert shared_names(PACKAGE, frozenset({"__init__.py", "__main__.py"})) == {}


def test_no_two_test_files_share_a_file_name():
    """pytest's default (prepend) import mode imports each test file by its bare name: two alike would collide."""
    assert (TESTS / "io" / "test_video.py").is_file()  # the walk sees the test folders
    assert shared_names(TESTS) == {}


def test_the_check_finds_a_shared_name(tmp_path):
    """Two files of one name in different folders are reported, with both paths; `__init__.py` is skipped."""
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "config.py").write_text("")
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "a" / "own.py").write_text("")
    assert shared_names(tmp_path, frozenset({"__init__.py"})) == {"config.py": ["a/config.py", "b/config.py"]}
