"""What reaches Ray workers of the driver's environment: the model's provider variables only
(no Ray needed: the runtime_env is computed before connecting)."""

from __future__ import annotations

from runners.ray import model_env_vars, provider_prefixes

ENV = {
    "OPENAI_API_KEY": "sk-1",
    "OPENAI_BASE_URL": "http://gw",
    "ANTHROPIC_API_KEY": "a-1",
    "AWS_SECRET_ACCESS_KEY": "s",
    "HOSTED_VLLM_API_BASE": "http://vllm",
    "GITHUB_TOKEN": "ghp",
    "HOME": "/root",
}


def test_only_the_chosen_providers_variables_are_sent():
    assert model_env_vars(["openai/gpt-4o-mini"], environ=ENV) == {
        "OPENAI_API_KEY": "sk-1",
        "OPENAI_BASE_URL": "http://gw",
    }
    # programmer and critic on different providers: both get theirs, nothing else does
    assert set(model_env_vars(["openai/gpt-4o-mini", "hosted_vllm/qwen"], environ=ENV)) == {
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "HOSTED_VLLM_API_BASE",
    }


def test_key_names_come_from_litellm_even_when_they_do_not_start_with_the_provider():
    assert "AWS_" in provider_prefixes("bedrock/anthropic.claude-v2")
    assert model_env_vars(["bedrock/anthropic.claude-v2"], environ=ENV) == {"AWS_SECRET_ACCESS_KEY": "s"}


def test_in_process_models_need_nothing_and_extra_names_are_sent_when_set():
    assert model_env_vars(["local/smollm2", "scripted/x", ""], environ=ENV) == {}
    assert model_env_vars([], ["GITHUB_TOKEN", "NOT_SET"], environ=ENV) == {"GITHUB_TOKEN": "ghp"}


def test_flags_name_more_variables_or_turn_forwarding_off(monkeypatch, capsys):
    from orps_tui.cli import build_parser
    from orps_tui.commands.ray_options import ray_env

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("MY_PROXY_TOKEN", "tok")
    parse = build_parser().parse_args
    args = parse(
        [
            "bench",
            "--dataset",
            "d",
            "--ray",
            "host:6379",
            "--model",
            "openai/gpt-4o-mini",
            "--ray-env",
            "MY_PROXY_TOKEN",
            "--ray-env",
            "UNSET_VAR",
        ]
    )
    env = ray_env(args, [args.model])
    assert env["OPENAI_API_KEY"] == "sk-test" and env["MY_PROXY_TOKEN"] == "tok" and "UNSET_VAR" not in env
    err = capsys.readouterr().err
    assert "sk-test" not in err and "OPENAI_API_KEY" in err and "UNSET_VAR: not set here" in err
    args = parse(["bench", "--dataset", "d", "--ray", "host:6379", "--model", "openai/gpt-4o-mini", "--no-ray-env"])
    assert ray_env(args, [args.model]) == {}


async def test_model_slots_held_on_a_lost_node_are_freed(monkeypatch):
    """A lost node takes its CPUs along: the retried problem may wait for a CPU that a problem
    waiting for the dead node's model slot holds. The limiter frees slots of dead nodes."""
    import asyncio

    import runners.ray.limiter as rb

    alive = {"head", "second"}
    monkeypatch.setattr(rb, "live_node_ids", lambda: set(alive))
    monkeypatch.setattr(rb.ModelLimiter, "NODE_CHECK_S", 0.0)
    limiter = rb.ModelLimiter(1)
    assert await limiter.acquire("p1#1", "t1", "second") == "t1"
    waiting = asyncio.ensure_future(limiter.acquire("p2#1", "t2", "head"))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # the one slot is held
    alive.discard("second")
    assert await asyncio.wait_for(waiting, 5) == "t2"  # freed within the limiter's 1 s re-check
    assert (await limiter.stats())["holders"] == ["p2#1"]
