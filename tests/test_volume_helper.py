"""The helper container a volume backup or restore runs in, against a real dockerd: the
capabilities it gets, what its failure says, its timeout, and that it never stays behind."""

from __future__ import annotations

import pytest

from backends.docker.volumes import _RESTORE_CAPS, VOLUME_LABEL, VolumeError, _run_helper
from tests.test_docker_support import BUSYBOX_IMAGE, DockerLab, docker_lab

__all__ = ["docker_lab"]

# CHOWN (bit 0), DAC_OVERRIDE (1) and FOWNER (3), as /proc/self/status prints them
RESTORE_CAP_MASK = "000000000000000b"
STATUS = ('echo "$(grep CapEff /proc/self/status | cut -f2) '
          '$(grep NoNewPrivs /proc/self/status | cut -f2)" >&2; exit 1')


def _helper(lab: DockerLab, script: str, purpose: str = "backup",
            caps: list[str] | None = None, timeout: float = 60) -> str:
    """What a failing helper's run says (the message of its VolumeError)."""
    volume = lab.name("vol")
    with pytest.raises(VolumeError) as failure:
        _run_helper(lab.client, BUSYBOX_IMAGE, ["sh", "-c", script], {}, purpose, volume,
                    timeout, caps=caps)
    left = lab.client.containers.list(all=True, filters={"label": f"{VOLUME_LABEL}={volume}"})
    assert left == []  # removed, whatever happened
    return str(failure.value)


def test_a_restore_helper_gets_only_what_unpacking_needs(docker_lab: DockerLab) -> None:
    assert _helper(docker_lab, STATUS, "restore", caps=_RESTORE_CAPS) == f"{RESTORE_CAP_MASK} 1"
    default_caps, no_new_privileges = _helper(docker_lab, STATUS, "backup").split()
    assert default_caps != RESTORE_CAP_MASK and int(default_caps, 16) & 0xB == 0xB
    assert no_new_privileges == "0"  # a backup helper only reads, as the engine's default


def test_a_failing_helper_says_why(docker_lab: DockerLab) -> None:
    assert _helper(docker_lab, "echo first >&2; echo 'no space left on /backup' >&2; exit 2") \
        == "no space left on /backup"
    assert _helper(docker_lab, "exit 5") == "exit code 5"
    # killed from outside the helper's own shell, by SIGKILL or SIGTERM: exit 137 or 143
    for signal in ("KILL", "TERM"):  # the shell's own "Killed" line silenced: no output
        assert _helper(docker_lab, f"exec 2>/dev/null; sh -c 'kill -{signal} $$'; exit $?") \
            == "the helper was killed"


def test_a_helper_past_its_timeout_is_stopped_and_removed(docker_lab: DockerLab) -> None:
    assert _helper(docker_lab, "sleep 60", timeout=1) == \
        "the backup helper did not finish within 1s"


def test_a_missing_helper_image_is_named_with_the_fix(docker_lab: DockerLab) -> None:
    with pytest.raises(VolumeError) as failure:
        _run_helper(docker_lab.client, "opsconsole-no-such-image:1", ["true"], {}, "backup",
                    docker_lab.name("vol"), 60)
    assert str(failure.value) == (
        "helper image opsconsole-no-such-image:1 is not on this engine: load it (docker pull "
        "opsconsole-no-such-image:1) or set helper_image in [[docker]]")
