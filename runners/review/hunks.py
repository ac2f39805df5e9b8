"""A unified diff cut into its hunks, and a diff made of some of them (hunk-by-hunk
acceptance). A hunk's header keeps its old-side start line: that is what `runners.code.patch`
places it by (with the offsets of the hunks accepted before it), so leaving a hunk out
never moves the others. A hunk of a file the diff creates or deletes goes with the whole
file: it can be accepted only with the file's other hunks (`runners.code.patch` refuses deletions).
"""

from __future__ import annotations

from dataclasses import dataclass

from runners.code.patch import HUNK


@dataclass
class DiffHunk:
    path: str
    header: str
    """The file's `--- a/...` and `+++ b/...` lines."""
    text: str
    """The `@@ ... @@` line and its body."""
    new_file: bool = False
    deleted: bool = False

    @property
    def added(self) -> int:
        return sum(1 for line in self.text.splitlines()[1:] if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for line in self.text.splitlines()[1:] if line.startswith("-"))


def split_hunks(diff: str) -> list[DiffHunk]:
    """Every hunk of `diff`, in order; git's extra header lines (`diff --git`, `index`) dropped."""
    hunks: list[DiffHunk] = []
    lines = diff.splitlines(keepends=True)
    header, path, new_file, deleted = "", "", False, False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            source = line[4:].split("\t")[0].strip()
            target = lines[i + 1][4:].split("\t")[0].strip()
            new_file, deleted = source == "/dev/null", target == "/dev/null"
            named = source if deleted else target
            path = named[2:] if named.startswith(("a/", "b/")) else named
            header = line + lines[i + 1]
            i += 2
            continue
        match = HUNK.match(line)
        if match and header:
            old_left = int(match.group(2) if match.group(2) is not None else 1)
            new_left = int(match.group(4) if match.group(4) is not None else 1)
            body = [line]
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0 or lines[i].startswith("\\")):
                tag = lines[i][:1]
                if tag in (" ", "\n", ""):
                    old_left, new_left = old_left - 1, new_left - 1
                elif tag == "-":
                    old_left -= 1
                elif tag == "+":
                    new_left -= 1
                body.append(lines[i])
                i += 1
            hunks.append(DiffHunk(path, header, "".join(body), new_file, deleted))
            continue
        i += 1
    return hunks


def join_hunks(hunks: list[DiffHunk]) -> str:
    """A diff of `hunks` (in their order), each file's header once."""
    out, last = [], None
    for h in hunks:
        if h.path != last:
            out.append(h.header)
            last = h.path
        out.append(h.text if h.text.endswith("\n") else h.text + "\n")
    return "".join(out)


def whole_files(hunks: list[DiffHunk], chosen: set[int]) -> set[int]:
    """`chosen` (indices into `hunks`) with every hunk of a created or deleted file added when
    one of that file's hunks is chosen."""
    files = {hunks[i].path for i in chosen if hunks[i].new_file or hunks[i].deleted}
    return chosen | {i for i, h in enumerate(hunks) if h.path in files}
