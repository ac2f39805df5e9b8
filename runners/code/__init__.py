"""Code editing: reading and changing the user's source text, never running it.

- `locate`: finding a function (its node, signature, docstring) with tree-sitter;
- `splice`, `stmtmerge`: putting a candidate in the target's place, every other line
  byte-identical;
- `proposal`: the patch a search proposes for a node (`code_patch`), and whether it changes
  the target's signature;
- `parsed`: one `ast` and one tree-sitter parse per source text per process, shared;
- `patch`: unified diffs: making, checking, applying (with a backup) and reverting;
- `problem`: the problem text a model sees; `markers`: `# orps:` marker comments;
- `watch`: file-change watching for `orps watch`.
"""
