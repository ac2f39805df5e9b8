"""`orps review`: the sides of a change, the functions it touches, the verdicts, the ranking,
the reports; the sandboxed end-to-end runs are marked slow."""

from __future__ import annotations

import json

import pytest

from orps_tui.cli import main
from orps_tui.schema import validate
from runners.code.patch import make_patch
from runners.review.compare import ChangeReview, FunctionReview, Review, TestChange, function_verdict, rank, speed
from runners.review.sides import ChangeError, Sides
from runners.review.touched import touched_functions
from tests.review_support import BASE, FEATURE, git, git_state, make_repo


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


# ---------------------------------------------------------------------------- the sides


@pytest.mark.parametrize("spec", ["main..feature", "feature", "feature~0", "main...feature"])
def test_every_way_to_name_the_change_gives_both_sides(repo, spec):
    before = git_state(repo)
    with Sides(repo) as sides:
        change = sides.change(spec)
        assert (change.base.root / "calc.py").read_text() == BASE
        assert (change.changed.root / "calc.py").read_text() == FEATURE
        assert change.files == ["calc.py", "tests/test_triple.py"]
        numstat = git(repo, "diff", "--numstat", "main", "feature").split()
        assert "+    return x * 3" in change.diff and change.size == sum(int(n) for n in numstat[0::3] + numstat[1::3])
        roots = [change.base.root, change.changed.root]
    assert not any(r.exists() for r in roots)  # the temporary sides are removed
    assert git_state(repo) == before


def test_a_diff_file_is_applied_to_a_copy_never_to_the_project(repo, tmp_path):
    diff = tmp_path / "pr.diff"
    diff.write_text(make_patch("calc.py", BASE, FEATURE))
    before = git_state(repo)
    with Sides(repo) as sides:
        change = sides.change(str(diff))
        assert change.base.root == repo.resolve()
        assert (change.changed.root / "calc.py").read_text() == FEATURE
        assert (change.changed.root / "tests" / "test_calc.py").is_file()
    assert git_state(repo) == before


def test_a_subdirectory_project_is_reviewed_as_that_directory(tmp_path):
    outer = tmp_path / "outer"
    make_repo(tmp_path)  # a plain repository, moved under a parent directory below
    (tmp_path / "repo").rename(outer)
    sub = outer / "pkg"
    sub.mkdir()
    (sub / "m.py").write_text("def f():\n    return 1\n")
    git(outer, "add", "-A")
    git(outer, "commit", "-qm", "pkg")
    (sub / "m.py").write_text("def f():\n    return 2\n")
    git(outer, "commit", "-qam", "pkg 2")
    with Sides(sub) as sides:
        change = sides.change("HEAD~1..HEAD")
        assert change.files == ["m.py"] and (change.base.root / "m.py").read_text() == "def f():\n    return 1\n"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nosuch", "'nosuch' is neither a file nor a revision"),
        ("main..nosuch", "'nosuch' is neither a file nor a revision"),
    ],
)
def test_an_unknown_revision_is_refused(repo, spec, message):
    with Sides(repo) as sides, pytest.raises(ChangeError, match=message):
        sides.change(spec)


def test_the_first_commit_has_no_base_and_an_empty_change_is_refused(repo):
    with Sides(repo) as sides, pytest.raises(ChangeError, match="changes nothing"):
        sides.change("main")  # the branch checked out: HEAD...main is empty
    root = git(repo, "rev-list", "--max-parents=0", "HEAD").strip()
    with Sides(repo) as sides, pytest.raises(ChangeError, match="first commit"):
        sides.change(root)


def test_bad_input_exits_2_with_one_line(repo, tmp_path, capsys):
    stale = tmp_path / "stale.diff"
    stale.write_text(make_patch("calc.py", "def other():\n    pass\n", "def other():\n    return 1\n"))
    not_a_diff = tmp_path / "notes.diff"
    not_a_diff.write_text("hello\n")
    for spec, message in (
        (str(stale), "does not apply"),
        (str(not_a_diff), "not a unified diff"),
        ("nosuch", "neither a file nor a revision"),
    ):
        assert main(["review", spec, "--project", str(repo)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert main(["review", "nosuch", "--json", "--project", str(repo)]) == 2
    assert json.loads(capsys.readouterr().out)["exit_code"] == 2


def test_outside_a_repository_a_range_says_to_give_a_diff(tmp_path, capsys):
    (tmp_path / "m.py").write_text("def f():\n    pass\n")
    assert main(["review", "main..feature", "--project", str(tmp_path)]) == 2
    assert "not in a git repository" in capsys.readouterr().err


# ---------------------------------------------------------------------------- touched functions


def test_touched_functions_are_added_changed_and_removed(repo):
    with Sides(repo) as sides:
        change = sides.change("main..feature")
        touched, notes = touched_functions(change.base.root, change.changed.root, change.files)
    assert [(t.qualname, t.kind) for t in touched] == [
        ("double", "changed"),
        ("half", "changed"),
        ("triple", "added"),
        ("old", "removed"),
    ]
    assert notes == []  # test files are not functions under review; nothing outside functions changed


def test_changes_outside_functions_are_noted(tmp_path):
    base, changed = tmp_path / "a", tmp_path / "b"
    for root, text in (
        (base, "LIMIT = 1\n\n\ndef f():\n    return LIMIT\n"),
        (changed, "LIMIT = 2\n\n\ndef f():\n    return LIMIT\n"),
    ):
        root.mkdir()
        (root / "m.py").write_text(text)
    touched, notes = touched_functions(base, changed, ["m.py"])
    assert touched == [] and "outside any function" in notes[0].why


def test_methods_are_touched_by_their_qualified_name(tmp_path):
    base, changed = tmp_path / "a", tmp_path / "b"
    for root, body in ((base, "return 1"), (changed, "return 2")):
        root.mkdir()
        (root / "m.py").write_text(
            f"class C:\n    def m(self):\n        {body}\n\n    def n(self):\n        return 0\n"
        )
    touched, _ = touched_functions(base, changed, ["m.py"])
    assert [t.target for t in touched] == ["m.py::C.m"]


# ---------------------------------------------------------------------------- verdicts and ranking


def _t(status, base_s=None, changed_s=None, flaky=False):
    outcome = {
        "passing": ("passed", "passed"),
        "broken": ("passed", "failed"),
        "fixed": ("failed", "passed"),
        "failing": ("failed", "failed"),
        "new_passing": (None, "passed"),
        "new_failing": (None, "failed"),
        "removed": ("passed", None),
    }[status]
    return TestChange("t.py::x", status, *outcome, base_s=base_s, changed_s=changed_s, flaky=flaky)


@pytest.mark.parametrize(
    "statuses, verdict",
    [
        ([], "untested"),
        (["passing", "broken"], "broken"),
        (["fixed", "passing"], "fixed"),
        (["new_failing"], "broken"),
        (["new_passing"], "passing"),
        (["failing"], "failing"),
        (["removed"], "tests_removed"),
        (["fixed", "broken"], "broken"),
    ],
)
def test_function_verdicts(statuses, verdict):
    assert function_verdict([_t(s) for s in statuses]) == verdict


def test_speed_needs_both_a_ratio_and_a_difference_beyond_noise():
    assert speed([_t("passing", 0.001, 0.010)])[0] == "slower"
    assert speed([_t("passing", 0.010, 0.001)])[0] == "faster"
    assert speed([_t("passing", 0.0001, 0.0004)])[0] == "same"  # 4x, but 0.3 ms: noise
    assert speed([_t("passing", 0.010, 0.012)])[0] == "same"  # 2 ms, but 1.2x
    assert speed([_t("passing", 0.001, 0.010, flaky=True)])[0] == "unknown"
    assert speed([_t("broken", 0.001, None)])[0] == "unknown"


def _review(name, passed, total, runtime_s, size, broken=False):
    f = FunctionReview(
        "m.py", "f", "changed", "broken" if broken else "passing", "same", [_t("broken" if broken else "passing")]
    )
    return ChangeReview(name, "base", name, ["m.py"], [], "", size, [f], [], [], passed, total, runtime_s)


def test_ranking_is_tests_passed_then_runtime_then_size():
    reviews = [
        _review("a.diff", 2, 3, 0.001, 2, broken=True),
        _review("b.diff", 3, 3, 0.0100, 30),
        _review("c.diff", 3, 3, 0.0011, 50),
        _review("d.diff", 3, 3, 0.0010, 40),
    ]
    # c and d tie on runtime (within noise): the smaller change wins; b is clearly slower.
    assert [reviews[i].name for i in rank(reviews)] == ["d.diff", "c.diff", "b.diff", "a.diff"]


# ---------------------------------------------------------------------------- reports


def _sample_review() -> Review:
    broken = TestChange(
        "tests/test_calc.py::test_double",
        "broken",
        "passed",
        "failed",
        changed_message="E       assert 12 == 8\nE        +  where 12 = double(4)",
    )
    slow = TestChange("tests/test_calc.py::test_add", "passing", "passed", "passed", base_s=0.0004, changed_s=0.004)
    functions = [
        FunctionReview("calc.py", "double", "changed", "broken", "unknown", [broken]),
        FunctionReview("calc.py", "add", "changed", "passing", "slower", [slow], 0.0004, 0.004),
    ]
    change = ChangeReview(
        "main..feature",
        "main",
        "feature",
        ["calc.py"],
        [],
        "--- a/calc.py\n+++ b/calc.py\n",
        4,
        functions,
        [],
        [],
        1,
        2,
        0.004,
        "bwrap",
    )
    return Review([change], [0], 3)


def test_markdown_has_the_verdict_table_the_failing_tests_and_the_follow_up():
    from orps_tui.review.report import markdown_report

    follow = {"target": "calc.py::double", "status": "solved", "patch": "--- a/calc.py\n+++ b/calc.py\n@@ x\n"}
    md = markdown_report(_sample_review(), follow)
    assert "| `calc.py::double` | changed | **broken** | 0 | 1 | 0 | 0 |" in md
    assert "| `calc.py::add` | changed | **passing, slower** |" in md and "0.4 ms → 4.0 ms (10.0x slower)" in md
    assert "<code>tests/test_calc.py::test_double</code>: broken" in md and "assert 12 == 8" in md
    assert "```diff\n--- a/calc.py" in md
    assert md.startswith("## orps review: `main..feature`\n\n**1 function breaks tests (double); 1 slower (add)**")


def test_the_json_document_matches_its_schema_and_says_the_exit_code():
    from orps_tui.review.report import json_document

    doc = json_document(_sample_review(), "/p")
    validate("review", doc)
    assert doc["broken"] and doc["exit_code"] == 1 and doc["ranking"] == ["main..feature"]
    assert doc["changes"][0]["functions"][0]["target"] == "calc.py::double"


def test_text_names_the_broken_test_with_its_message():
    from orps_tui.review.report import text_report

    text = text_report(_sample_review())
    assert "BROKEN           calc.py::double (changed): 0 fixed, 1 broken, 0 unchanged" in text
    assert "assert 12 == 8" in text and "verdict: 1 function breaks tests (double); 1 slower (add)" in text


# ---------------------------------------------------------------------------- in the sandbox


@pytest.mark.slow
def test_review_of_a_range_in_the_sandbox(repo, capsys):
    before = git_state(repo)
    code = main(["review", "main..feature", "--json", "--repeat", "1", "--project", str(repo)])
    doc = json.loads(capsys.readouterr().out)
    validate("review", doc)
    assert code == 1 and doc["exit_code"] == 1 and doc["broken"]
    verdicts = {f["qualname"]: (f["kind"], f["verdict"]) for f in doc["changes"][0]["functions"]}
    assert verdicts == {
        "double": ("changed", "broken"),
        "half": ("changed", "fixed"),
        "triple": ("added", "passing"),
        "old": ("removed", "broken"),
    }
    tests = {t["id"]: t["status"] for f in doc["changes"][0]["functions"] for t in f["tests"]}
    assert tests["tests/test_calc.py::test_double"] == "broken"
    assert tests["tests/test_calc.py::test_half"] == "fixed"
    assert tests["tests/test_triple.py::test_triple"] == "new_passing"
    assert tests["tests/test_old.py::test_old"] == "broken"  # the test still imports the removed function
    old = next(f for f in doc["changes"][0]["functions"] if f["qualname"] == "old")
    assert "cannot be imported: ImportError: cannot import name 'old'" in old["tests"][0]["changed_message"]
    double = next(f for f in doc["changes"][0]["functions"] if f["qualname"] == "double")
    assert "assert 12 == 8" in double["tests"][0]["changed_message"]
    assert doc["changes"][0]["tests_changed"] == ["tests/test_triple.py"]
    assert git_state(repo) == before


@pytest.mark.slow
def test_several_diffs_are_ranked_and_the_best_decides_the_exit_code(repo, tmp_path, capsys):
    fix_small = BASE.replace("x / 3", "x / 2")
    fix_large = BASE.replace("    return x / 3\n", "    result = x / 2\n    # halved\n    return result\n")
    breaks = BASE.replace("x * 2", "x * 3")
    names = []
    for name, text in (("breaks.diff", breaks), ("large.diff", fix_large), ("small.diff", fix_small)):
        (tmp_path / name).write_text(make_patch("calc.py", BASE, text))
        names.append(str(tmp_path / name))
    code = main(["review", *names, "--json", "--repeat", "1", "--project", str(repo)])
    doc = json.loads(capsys.readouterr().out)
    validate("review", doc)
    assert code == 0 and doc["best"] != names[0]
    assert doc["ranking"][-1] == names[0]  # the one that breaks a test is last
    passed = {c["name"]: (c["passed"], c["total"]) for c in doc["changes"]}
    assert passed == {names[0]: (0, 2), names[1]: (2, 2), names[2]: (2, 2)}  # test_double and test_half


@pytest.mark.slow
def test_markdown_of_a_commit_in_the_sandbox(repo, capsys):
    git(repo, "checkout", "-q", "feature")
    code = main(["review", "HEAD", "--markdown", "--repeat", "1", "--project", str(repo)])
    md = capsys.readouterr().out
    assert code == 1
    assert "| `calc.py::double` | changed | **broken** | 0 | 1 | 0 | 0 |" in md
    assert "| `calc.py::half` | changed | fixed | 1 | 0 | 0 | 0 |" in md
    assert "assert 12 == 8" in md


DOUBLE_MODEL = '''\
"""Right only when the prompt shows the broken test's message (the review's run prints it)."""

FIX = "It triples.\\n```python\\ndef double(x):\\n    return x * 2\\n```"
GUESS = "```python\\ndef double(x):\\n    return x + x + x\\n```"


def respond(messages, params):
    prompt = "\\n".join(m["content"] for m in messages)
    return FIX if "assert 12 == 8" in prompt else GUESS
'''


@pytest.mark.slow
def test_a_search_from_the_change_proposes_a_follow_up_patch(repo, tmp_path, capsys):
    from runners.code.patch import check_patch

    model = tmp_path / "double_model.py"
    model.write_text(DOUBLE_MODEL)
    out = tmp_path / "follow.diff"
    before = git_state(repo)
    code = main(
        [
            "review",
            "main..feature",
            "--solve",
            "double",
            "--model",
            f"scripted/{model}",
            "--budget-calls",
            "2",
            "--no-cache",
            "--repeat",
            "1",
            "--json",
            "--patch-out",
            str(out),
            "--project",
            str(repo),
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    validate("review", doc)
    follow = doc["follow_up"]
    assert code == 1  # the review's verdict: the change breaks tests
    assert follow["target"] == "calc.py::double" and follow["goal"] == "fix" and follow["status"] == "solved"
    assert "-    return x * 3\n+    return x * 2\n" in follow["patch"] and out.read_text() == follow["patch"]
    assert git_state(repo) == before
    with Sides(repo) as sides:  # the follow-up applies on top of the change
        feature = sides.export("feature", "feature")
        assert "return x * 2" in check_patch(feature.root, follow["patch"])["calc.py"]


@pytest.mark.slow
def test_solve_names_a_touched_function(repo, capsys):
    assert main(["review", "main..feature", "--solve", "nosuch", "--repeat", "1", "--project", str(repo)]) == 2
    assert "not a function the change touches" in capsys.readouterr().err
    assert main(["review", "a.diff", "b.diff", "--solve", "double", "--project", str(repo)]) == 2
    assert "--solve searches from one change" in capsys.readouterr().err


def test_hunks_split_and_join_keep_each_hunk_in_place(tmp_path):
    from runners.code.patch import check_patch
    from runners.review.hunks import join_hunks, split_hunks, whole_files

    base = "".join(f"line {i}\n" for i in range(40))
    changed = base.replace("line 3\n", "line three\n").replace("line 30\n", "line thirty\n")
    (tmp_path / "f.txt").write_text(base)
    diff = make_patch("f.txt", base, changed) + make_patch("new.txt", "", "hello\n", new_file=True)
    hunks = split_hunks(diff)
    assert [(h.path, h.new_file) for h in hunks] == [("f.txt", False), ("f.txt", False), ("new.txt", True)]
    only_second = check_patch(tmp_path, join_hunks([hunks[1]]))
    assert only_second["f.txt"] == base.replace("line 30\n", "line thirty\n")
    assert check_patch(tmp_path, join_hunks(hunks)) == {"f.txt": changed, "new.txt": "hello\n"}
    assert whole_files(hunks, {2}) == {2} and whole_files(hunks, {0}) == {0}


def test_the_follow_up_goal_and_target_come_from_the_review():
    from orps_tui.errors import UserError
    from orps_tui.review.follow_up import find_function, goal_for

    change = _sample_review().changes[0]
    assert find_function(change, "double").target == "calc.py::double"
    assert find_function(change, "calc.py::add").qualname == "add"
    assert goal_for(find_function(change, "double")) == "fix"  # broken: make its tests pass
    assert goal_for(find_function(change, "add")) == "faster"  # passing but slower
    with pytest.raises(UserError, match="not a function the change touches"):
        find_function(change, "nosuch")


TOGETHER_MODEL = '''\
"""Both functions in one answer; right only once the prompt shows the broken test's message."""

FIX = "Double doubles; triple reads better as a sum.\\n```python\\ndef double(x):\\n    return x * 2\\n\\n\\ndef triple(x):\\n    return x + x + x\\n```"
GUESS = "```python\\ndef double(x):\\n    return x + x + x\\n\\n\\ndef triple(x):\\n    return x * 3\\n```"


def respond(messages, params):
    prompt = "\\n".join(m["content"] for m in messages)
    assert "`double`, `triple`" in prompt  # one task, both functions asked for
    return FIX if "assert 12 == 8" in prompt else GUESS
'''


@pytest.mark.slow
def test_several_functions_of_one_file_are_searched_as_one_task(repo, tmp_path, capsys):
    model = tmp_path / "together_model.py"
    model.write_text(TOGETHER_MODEL)
    code = main(
        [
            "review",
            "main..feature",
            "--solve",
            "double,triple",
            "--model",
            f"scripted/{model}",
            "--budget-calls",
            "2",
            "--no-cache",
            "--repeat",
            "1",
            "--json",
            "--project",
            str(repo),
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    validate("review", doc)
    follow = doc["follow_up"]
    assert code == 1 and follow["targets"] == ["calc.py::double", "calc.py::triple"] and follow["status"] == "solved"
    assert "-    return x * 3\n+    return x * 2\n" in follow["patch"]  # double, fixed
    assert "+    return x + x + x\n" in follow["patch"]  # triple, from the same candidate
    assert follow["best"] == {"passed": 2, "total": 2, "runtime_s": follow["best"]["runtime_s"]}


def test_functions_of_several_files_are_not_one_task():
    from orps_tui.errors import UserError
    from orps_tui.review.follow_up import search_from_review

    change = _sample_review().changes[0]
    change.functions.append(FunctionReview("other.py", "g", "changed", "broken", "unknown", []))

    class Args:
        solve = "double,other.py::g"

    with pytest.raises(UserError, match="only when they are in the same file"):
        search_from_review(Args(), None, change, None, "python")


def test_splice_all_puts_each_function_in_its_place():
    from runners.review.together import splice_all, together_patch

    text = "def f():\n    return 1\n\n\ndef keep():\n    return 0\n\n\ndef g():\n    return 2\n"
    code = "def f():\n    return 10\n\n\ndef g():\n    return 20\n"
    assert splice_all(text, ["f", "g"], code) == text.replace("return 1\n", "return 10\n").replace(
        "return 2\n", "return 20\n"
    )
    only_g = splice_all(text, ["f", "g"], "def g():\n    return 20\n")
    assert "return 1\n" in only_g and "return 20\n" in only_g  # f keeps the file's version
    assert together_patch("m.py", text, ["f", "g"], "x = 1\n") == ""  # defines neither: no patch


def test_a_deleted_file_removes_its_functions(repo):
    git(repo, "checkout", "-q", "-b", "drop")
    (repo / "extra.py").write_text("def gone(x):\n    return x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "extra")
    git(repo, "rm", "-q", "extra.py")
    git(repo, "commit", "-qm", "drop extra")
    with Sides(repo) as sides:
        change = sides.change("HEAD~1..HEAD")
        assert change.deleted == ["extra.py"] and not (change.changed.root / "extra.py").exists()
        touched, _ = touched_functions(change.base.root, change.changed.root, change.files)
    assert [(t.target, t.kind) for t in touched] == [("extra.py::gone", "removed")]


@pytest.mark.slow
def test_a_change_of_the_tests_alone_runs_the_tests_it_adds_or_edits(repo, capsys):
    tests = repo / "tests" / "test_calc.py"
    tests.write_text(
        tests.read_text().replace("assert add(2, 3) == 5", "assert add(2, 3) == 6")
        + "\n\ndef test_more():\n    assert double(1) == 2\n"
    )
    git(repo, "commit", "-qam", "tests only")
    code = main(["review", "HEAD~1..HEAD", "--json", "--repeat", "1", "--project", str(repo)])
    doc = json.loads(capsys.readouterr().out)
    validate("review", doc)
    change = doc["changes"][0]
    assert code == 1 and change["functions"] == [] and change["broken"]
    edited = {t["id"]: t["status"] for t in change["edited_tests"]}
    assert edited == {"tests/test_calc.py::test_add": "broken", "tests/test_calc.py::test_more": "new_passing"}
    assert "the change touches no function outside the tests" in change["notes"]


def test_edited_tests_are_the_changed_test_functions_or_the_whole_file_when_shared_code_changed(tmp_path):
    from runners.review.touched import changed_tests

    base, changed = tmp_path / "a", tmp_path / "b"
    body = "CASES = [1, 2]\n\n\ndef test_one():\n    assert 1\n\n\ndef test_two():\n    assert 2\n"
    for root, text in (
        (base, body),
        (changed, body.replace("assert 2", "assert 3") + "\n\ndef test_three():\n    pass\n"),
    ):
        (root / "tests").mkdir(parents=True)
        (root / "tests" / "test_x.py").write_text(text)
    assert changed_tests(base, changed, ["tests/test_x.py"]) == [
        "tests/test_x.py::test_two",
        "tests/test_x.py::test_three",
    ]
    (changed / "tests" / "test_x.py").write_text(body.replace("[1, 2]", "[1, 2, 3]"))
    assert changed_tests(base, changed, ["tests/test_x.py"]) == ["tests/test_x.py"]
