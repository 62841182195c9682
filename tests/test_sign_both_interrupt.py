"""Ctrl-C during `sign --signature-format both`, while the `.sig` write (the second) is on its way: the
bundle written first is undone before the command exits 130, so the registry holds what it held before,
in modelpack's view and in cosign's. A FaultProxy holds the `.sig` PUT unforwarded, so the interrupt
lands while the client waits on it and that write never reaches the registry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from helpers import assert_stopped_by
from registry_process import Registry
from test_copy_signatures import PW, cosign_verifies, remote, sign, tags
from test_sign_both_undo import SIG_WRITE, fallback_listing, model_to_sign, verifies
from test_signing import COSIGN_FLAGS, cosign

pytestmark = pytest.mark.interop


def bundle_verifies(cosign_bin: Path, public: Path, ref: str) -> bool:
    """cosign's view of the bundle format (referrers, or the fallback index)."""
    done = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS, ref)
    return done.returncode == 0


def start_signing(key: Path, ref: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "modelpack", "sign", "--plain-http", "--key", str(key),
                             "--signature-format", "both", ref], env={**os.environ, **PW},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize(("before", "stop"), [("unsigned", signal.SIGINT), ("other-bundle", signal.SIGINT),
                                              ("other-bundle", signal.SIGTERM)])
def test_ctrl_c_during_the_sig_write_undoes_the_bundle(fresh_registry: Callable[..., Registry], cosign_bin: Path,
                                                        tmp_path: Path, before: str, stop: int) -> None:
    with FaultProxy(fresh_registry().host) as proxy:
        repo, digest, key_a, pub_a = model_to_sign(proxy, "ctrlc", tmp_path, before)
        listing_before, tags_before = fallback_listing(repo, digest), tags(repo)
        held = Fault(SIG_WRITE, hold=True)
        proxy.faults.append(held)
        proxy.clear()
        process = start_signing(key_a, repo + ":v1")
        try:
            assert held.arrived.wait(60), "the .sig write never came"
            ours = [line.split("/manifests/")[1] for line in proxy.requests("PUT", "/manifests/sha256:")]
            assert ours  # the bundle is on the registry now: the interrupt must take it away
            process.send_signal(stop)
            _, err = process.communicate(timeout=60)
        finally:
            held.release.set()
            if process.poll() is None:
                process.kill()
        assert_stopped_by(stop, process.returncode, err)  # nothing stays, so nothing else is said
        deleted = proxy.requests("DELETE", "/manifests/sha256:")  # ours, and a fallback index only we wrote
        assert {f"DELETE /v2/t/ctrlc/manifests/{d}" for d in ours} <= set(deleted), deleted
        assert all(remote(repo).find(d) is None for d in ours)
        assert fallback_listing(repo, digest) == listing_before  # the other signer's entry alone, or no tag
        assert tags(repo) == tags_before  # no .sig: the held write never arrived
        assert verifies(pub_a, repo + ":v1") == []
        assert not bundle_verifies(cosign_bin, pub_a, f"{repo}@{digest}")
        assert not cosign_verifies(cosign_bin, pub_a, f"{repo}@{digest}")
        if before == "other-bundle":  # the other signer's bundle is untouched, for cosign too
            assert bundle_verifies(cosign_bin, tmp_path / "b" / "cosign.pub", f"{repo}@{digest}")
        sign(key_a, repo + ":v1")  # signed again, uninterrupted: both formats
        assert verifies(pub_a, repo + ":v1") == ["bundle", "legacy"]


def test_a_second_ctrl_c_during_the_undo_names_what_may_stay(fresh_registry: Callable[..., Registry],
                                                             cosign_bin: Path, tmp_path: Path) -> None:
    with FaultProxy(fresh_registry().host) as proxy:
        repo, digest, key_a, pub_a = model_to_sign(proxy, "twice", tmp_path, "unsigned")
        held_sig = Fault(SIG_WRITE, hold=True)
        held_delete = Fault(r"DELETE .*/manifests/sha256:", hold=True)  # the undo's delete of our bundle
        proxy.faults += [held_sig, held_delete]
        proxy.clear()
        process = start_signing(key_a, repo + ":v1")
        try:
            assert held_sig.arrived.wait(60), "the .sig write never came"
            ours = [line.split("/manifests/")[1] for line in proxy.requests("PUT", "/manifests/sha256:")]
            process.send_signal(signal.SIGINT)
            assert held_delete.arrived.wait(60), "the undo never began"
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:
            held_sig.release.set()
            held_delete.release.set()
            if process.poll() is None:
                process.kill()
        assert process.returncode == 130, err
        lines = err.strip().splitlines()
        assert len(lines) == 2 and lines[1] == "error: interrupted", err
        assert lines[0].startswith("warning: the undo was interrupted: the bundle signature written first may "
                                 "stay"), err
        assert all(d in lines[0] for d in ours) and f"modelpack rm --remote {repo}@DIGEST" in lines[0], err
        # True: the bundle stayed, a bundle-reading verifier finds it, and no .sig was written.
        assert any(remote(repo).find(d) is not None for d in ours)
        assert bundle_verifies(cosign_bin, pub_a, f"{repo}@{digest}")
        assert not cosign_verifies(cosign_bin, pub_a, f"{repo}@{digest}")
        # The first fix the line names works: signing again adds the .sig (and a second bundle).
        sign(key_a, repo + ":v1")
        assert set(verifies(pub_a, repo + ":v1")) == {"bundle", "legacy"}
        assert cosign_verifies(cosign_bin, pub_a, f"{repo}@{digest}")
