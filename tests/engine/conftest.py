"""Fixtures of the engine tier: the images (built once per session by scripts/engine, cached across
runs) and Compose stacks that are always taken down, even when a test fails."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.compose_stack import ComposeStack, EngineUnavailable, build_images


@pytest.fixture(scope="session")
def engine_images() -> dict[str, str]:
    try:
        return build_images()
    except EngineUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def days_ago(days: int) -> str:
    return (dt.datetime.now().astimezone().date() - dt.timedelta(days=days)).isoformat()


@pytest.fixture
def make_stack(engine_images, tmp_path_factory):
    """make_stack(env, profiles=…, extra_files=…) -> ComposeStack; every stack made is taken down after."""
    stacks: list[ComposeStack] = []

    def make(env=None, **options) -> ComposeStack:
        stack = ComposeStack.create(tmp_path_factory.mktemp("stack"), env, **options)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.down()
