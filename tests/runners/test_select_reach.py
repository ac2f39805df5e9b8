"""Tests that reach a target without naming it are selected: constructors, operators,
aliases, subclasses, and a helper reached only through the functions that call it.
The fixture is shaped like cachetools (a MutableMapping `Cache` with dunders, subclasses
whose `__getitem__` calls `Cache.__getitem__`, unittest classes holding the class under
test as `Cache = cachetools.LRUCache`) and humanize (`naturaltime` calls `naturaldelta`,
which calls the private `_abs_timedelta`)."""

from __future__ import annotations

import pytest

from runners.code.locate import locate
from runners.testing.testselect import select_tests

FILES = {
    "src/cachetools/__init__.py": """import collections.abc


class Cache(collections.abc.MutableMapping):
    def __init__(self, maxsize):
        self.__data = {}
        self.maxsize = maxsize

    def __getitem__(self, key):
        return self.__data[key]

    def __setitem__(self, key, value):
        self.__data[key] = value

    def __delitem__(self, key):
        del self.__data[key]

    def __len__(self):
        return len(self.__data)

    def __iter__(self):
        return iter(self.__data)

    def __add__(self, other):
        return Cache(self.maxsize + other.maxsize)


class LRUCache(Cache):
    def __getitem__(self, key, cache_getitem=Cache.__getitem__):
        return cache_getitem(self, key)


class FIFOCache(Cache):
    pass


SimpleCache = Cache
""",
    "tests/test_lru.py": """import unittest

import cachetools


class LRUCacheTest(unittest.TestCase):
    Cache = cachetools.LRUCache

    def test_lru(self):
        cache = self.Cache(maxsize=2)
        cache[1] = 1
        self.assertEqual(cache[1], 1)

    def test_nothing_of_the_cache(self):
        self.assertTrue(True)
""",
    "tests/test_fifo.py": """from cachetools import FIFOCache


def test_fifo_size():
    cache = FIFOCache(2)
    assert len(cache) == 0


def test_fifo_sum():
    assert (FIFOCache(1) + FIFOCache(2)).maxsize == 3
""",
    "tests/test_alias.py": """from cachetools import SimpleCache


def test_alias():
    cache = SimpleCache(1)
    cache["a"] = 1
""",
    "src/humanize/__init__.py": "from humanize.time import naturaldelta, naturaltime\n",
    "src/humanize/time.py": """import datetime as dt


def _abs_timedelta(delta):
    if delta.days < 0:
        return -delta
    return delta


def naturaldelta(value):
    delta = _abs_timedelta(value)
    return f"{delta.days} days"


def naturaltime(value):
    return naturaldelta(value) + " ago"


def unrelated():
    return dt.date.today()
""",
    "tests/test_time.py": """import datetime as dt

import humanize


def test_naturaldelta():
    assert humanize.naturaldelta(dt.timedelta(days=-2)) == "2 days"


def test_naturaltime():
    assert humanize.naturaltime(dt.timedelta(days=1)) == "1 days ago"


def test_unrelated():
    assert humanize.time.unrelated()
""",
    "src/semver/__init__.py": "from ._deprecated import bump_major, parse_version_info\nfrom .version import Version\n",
    "src/semver/version.py": """class Version:
    def __init__(self, major):
        self.major = major

    @classmethod
    def parse(cls, text):
        return cls(int(text.split(".")[0]))

    def bump_major(self):
        return Version(self.major + 1)

    def finalize_version(self):
        return self
""",
    "src/semver/_deprecated.py": """from .version import Version


def parse_version_info(text):
    return Version.parse(text)


def bump_major(text):
    return str(Version.parse(text).bump_major().major)


def finalize_version(text):
    return str(Version.parse(text).finalize_version().major)
""",
    "tests/test_bump.py": """from semver import bump_major, parse_version_info


def test_should_bump_major():
    assert bump_major("3.4.5") == "4"


def test_should_versioninfo_bump_major():
    assert parse_version_info("3.4.5").bump_major().major == 4


def test_should_versioninfo_bump_major_twice():
    v = parse_version_info("3.4.5")
    w = v.bump_major()
    assert w.bump_major().major == 5


def test_a_path_of_the_same_method_name(tmp_path):
    tmp_path.bump_major = lambda: None  # a method of the same name on something else
    tmp_path.bump_major()
""",
    "tests/test_finalize.py": """from semver._deprecated import finalize_version


def test_finalize():
    assert finalize_version("3.4.5") == "3"
""",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("reach")
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def selected(project, target):
    selection = select_tests(project, locate(project, target))
    return {node_id.split("::", 1)[1]: why for node_id, why in selection.reasons.items()}


def test_a_constructor_is_selected_by_calls_of_the_class_its_aliases_and_subclasses(project):
    got = selected(project, "src/cachetools/__init__.py::Cache.__init__")
    assert set(got) == {"LRUCacheTest::test_lru", "test_fifo_size", "test_fifo_sum", "test_alias"}
    assert got["test_alias"].startswith("constructs SimpleCache (Cache.__init__)")
    assert got["LRUCacheTest::test_lru"].startswith("constructs self.Cache")


def test_operators_select_their_dunders(project):
    assert set(selected(project, "src/cachetools/__init__.py::Cache.__len__")) == {"test_fifo_size"}
    assert set(selected(project, "src/cachetools/__init__.py::Cache.__add__")) == {"test_fifo_sum"}
    setitem = selected(project, "src/cachetools/__init__.py::Cache.__setitem__")
    assert set(setitem) == {"LRUCacheTest::test_lru", "test_alias"}
    assert setitem["test_alias"].startswith("indexes it (Cache.__setitem__)")


def test_a_method_a_subclass_overrides_but_calls_is_still_reached(project):
    # LRUCache.__getitem__ calls Cache.__getitem__ (as cachetools does).
    got = selected(project, "src/cachetools/__init__.py::Cache.__getitem__")
    assert set(got) == {"LRUCacheTest::test_lru"}


def test_a_helper_gets_the_tests_of_the_functions_that_call_it(project):
    got = selected(project, "src/humanize/time.py::_abs_timedelta")
    assert set(got) == {"test_naturaldelta", "test_naturaltime"}
    assert got["test_naturaldelta"].endswith("; naturaldelta calls _abs_timedelta")
    assert got["test_naturaltime"].endswith("; naturaltime calls naturaldelta; naturaldelta calls _abs_timedelta")


def test_a_function_with_its_own_tests_keeps_just_those(project):
    assert set(selected(project, "src/humanize/time.py::naturaldelta")) == {"test_naturaldelta"}


def test_a_method_is_reached_on_objects_its_package_hands_out(project):
    # semver's tests call `.bump_major()` on what `parse_version_info` returns; the test file
    # imports from the package, never names `Version`.
    got = selected(project, "src/semver/version.py::Version.bump_major")
    assert set(got) == {"test_should_versioninfo_bump_major", "test_should_versioninfo_bump_major_twice"}
    assert got["test_should_versioninfo_bump_major"].startswith("uses .bump_major on an object from semver")


def test_a_method_is_reached_through_a_module_function_that_calls_it(project):
    # No test calls `.finalize_version()`: semver's deprecated module-level function of the
    # same name does, on `Version.parse(text)`.
    got = selected(project, "src/semver/version.py::Version.finalize_version")
    assert set(got) == {"test_finalize"}
    assert got["test_finalize"].endswith("; finalize_version calls Version.finalize_version")
