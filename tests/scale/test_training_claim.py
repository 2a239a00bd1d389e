"""A model's training claim in the shared PostgreSQL database (benchmark/driver/claims.py): a live
holder keeps it however long it trains, a holder killed with -9 loses it once its heartbeat has
been silent for the grace period, a model trained where this machine cannot see it is named, not
trained again; and on a file store the claim stays the file lock. Setting a study up is
serialized across machines by a lock in the database, which a killed holder drops at once."""
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import optuna
import pytest
import sqlalchemy

from benchmark.driver.claims import TABLE, ClaimLost, DbClaims, FileClaims, ModelElsewhere, claims_for, serialized
from tests.scale.conftest import REPO, fresh_db

GRACE = 2.0

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import sqlalchemy
    from benchmark.driver.claims import DbClaims
    url, folder, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    with DbClaims(sqlalchemy.create_engine(url), grace={grace}).hold(folder):
        print("held", flush=True)
        time.sleep(seconds)
""").format(grace=GRACE)


def _holder(url, folder, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(folder), str(seconds)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _killed_holder(url, folder):
    """The pid of a holder of the folder's claim, killed with -9: its row stays behind."""
    proc = _holder(url, folder, 600)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def url(servers):
    return fresh_db(servers[0], "claims")


def test_a_live_holder_keeps_its_claim_past_the_grace_period(url, tmp_path):
    folder = tmp_path / "aaaa0001"
    proc = _holder(url, folder, 3 * GRACE)                # beats all along, then lets go
    held_at = time.monotonic()                            # timed from here, not from our own set-up
    claims = DbClaims(sqlalchemy.create_engine(url), grace=GRACE, poll=0.1)
    assert claims.busy(folder)
    with claims.hold(folder):
        pass
    assert proc.wait(timeout=30) == 0
    assert time.monotonic() - held_at > 2.5 * GRACE       # not taken while its heartbeat was fresh
    assert claims.holder_of(folder.name) is None          # released on leaving, not marked done (no done.json)


def test_a_killed_holder_is_taken_over_after_the_grace_period(url, tmp_path, capsys):
    folder = tmp_path / "aaaa0002"
    dead = _killed_holder(url, folder)
    claims = DbClaims(sqlalchemy.create_engine(url), grace=GRACE, poll=0.1)
    assert claims.busy(folder)                            # its row outlives it until the grace period ends
    began = time.monotonic()
    with claims.hold(folder):
        waited = time.monotonic() - began
        row = claims.holder_of(folder.name)
        assert (row["pid"], row["takeovers"]) == (os.getpid(), 1)
    assert GRACE * 0.5 < waited < GRACE + 5
    assert f"took over the claim of {row['host']}:{dead}" in capsys.readouterr().out
    assert not claims.busy(folder)


def test_a_takeover_is_announced_though_the_holder_was_read_just_before_its_grace_ran_out(url, tmp_path, capsys):
    """The row read before the claiming statement may still be inside the grace period when the
    statement finds it stale (CI once read it 0.0x s early): the announcement follows the claim."""
    folder = tmp_path / "aaaa0004"
    dead = _killed_holder(url, folder)
    claims = DbClaims(sqlalchemy.create_engine(url), grace=GRACE, poll=0.1)
    read = claims.holder_of

    def read_early(training_hash):                        # every read half a second younger
        row = read(training_hash)
        return row and {**row, "silent": float(row["silent"]) - 0.5}

    claims.holder_of = read_early
    with claims.hold(folder):
        pass
    assert f"took over the claim of {socket.gethostname()}:{dead}" in capsys.readouterr().out


def test_a_model_trained_into_a_folder_this_machine_cannot_see_is_named(url, tmp_path):
    claims = DbClaims(sqlalchemy.create_engine(url), grace=GRACE)
    there = tmp_path / "machine-a" / "aaaa0003"
    with claims.hold(there):
        there.mkdir(parents=True)
        (there / "done.json").write_text('{"steps": 1}')
    assert claims.holder_of("aaaa0003")["done_dir"] == str(there.resolve())
    with claims.hold(there):                              # the same folder, done: nothing to claim
        pass
    here = tmp_path / "machine-b" / "aaaa0003"
    with pytest.raises(ModelElsewhere, match=r"machine-a/aaaa0003.*one shared --models"):
        with claims.hold(here):
            pass


def test_the_claim_is_in_the_database_only_when_the_storage_is_postgresql(url, tmp_path):
    from optuna.storages.journal import JournalFileBackend

    journal = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "j")))
    assert isinstance(claims_for(journal), FileClaims)
    assert isinstance(claims_for(optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'o.db'}")), FileClaims)
    assert isinstance(claims_for(optuna.storages.RDBStorage(url), 5), DbClaims)
    with pytest.raises(ValueError, match="grace period must be positive"):
        DbClaims(sqlalchemy.create_engine(url), grace=0)


def test_setting_a_study_up_takes_turns_in_the_database(url):
    # The holder keeps the lock until the second caller is at the door, then 0.5 s more: the
    # order alone proves the wait, however slow the machine is to open a storage (CI once took
    # 1.1 s, which made a fixed-sleep version of this test fail).
    entered, trying, order = threading.Event(), threading.Event(), []

    def first():
        with serialized(optuna.storages.RDBStorage(url), "setup smoke"):
            entered.set()
            assert trying.wait(60)
            time.sleep(0.5)
            order.append("first leaves")
    holder = threading.Thread(target=first)
    holder.start()
    assert entered.wait(30)
    storage = optuna.storages.RDBStorage(url)
    with serialized(storage, "setup other"):               # another study does not wait
        order.append("other study")
    began = time.monotonic()
    trying.set()
    with serialized(storage, "setup smoke"):
        order.append("second enters")
        waited = time.monotonic() - began
    holder.join()
    assert order == ["other study", "first leaves", "second enters"] and waited >= 0.45


def test_a_killed_setup_holder_drops_its_lock_at_once(url):
    script = textwrap.dedent("""
        import sys, time
        import optuna
        from benchmark.driver.claims import serialized
        with serialized(optuna.storages.RDBStorage(sys.argv[1]), "setup killed"):
            print("held", flush=True)
            time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, url], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:                          # held: another session cannot take it
        assert conn.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(hashtext('setup killed'))")).scalar() is False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    began = time.monotonic()
    with serialized(optuna.storages.RDBStorage(url), "setup killed"):
        assert time.monotonic() - began < 10                # no heartbeat to wait out


def test_a_holder_whose_claim_was_taken_over_is_told_so(url, tmp_path):
    claims = DbClaims(sqlalchemy.create_engine(url), grace=0.6)
    folder = tmp_path / "aaaa0004"
    with claims.hold(folder) as held:
        held.check()                                      # still ours
        with claims.engine.begin() as conn:              # as if a worker had found its heartbeat stale
            conn.execute(sqlalchemy.text(f"UPDATE {TABLE} SET holder = 'other:1:x', host = 'other', pid = 1 "
                                         "WHERE training_hash = 'aaaa0004'"))
        time.sleep(3 * claims.beat)
        with pytest.raises(ClaimLost, match="taken over by other:1"):
            held.check()
    assert claims.holder_of("aaaa0004")["host"] == "other"   # leaving does not drop the new holder's claim
