"""meta.properties and `kraft format`."""

import pytest

from kraft import meta_properties as mp
from kraft.cli import main


def test_round_trip(tmp_path):
    """What write() puts down, read() gives back."""
    meta = mp.MetaProperties("AAAAAAAAAAAAAAAAAAAAAA", 3, mp.random_uuid())
    mp.write(tmp_path, meta)
    assert mp.read(tmp_path) == meta
    assert not (tmp_path / "meta.properties.tmp").exists()


def test_random_uuid_is_kafkas_format():
    """Cluster ids are 22 characters of URL-safe base64."""
    u = mp.random_uuid()
    assert len(u) == 22 and set(u) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


def test_check_refuses_mismatches(tmp_path):
    """An unformatted directory, another cluster or another node id is refused with advice."""
    with pytest.raises(mp.MetaPropertiesError, match="kraft format"):
        mp.check(tmp_path, mp.read(tmp_path), "c", 1)
    mp.write(tmp_path, mp.MetaProperties("c", 1, "d"))
    with pytest.raises(mp.MetaPropertiesError, match="cluster"):
        mp.check(tmp_path, mp.read(tmp_path), "other", 1)
    with pytest.raises(mp.MetaPropertiesError, match=r"node\.id"):
        mp.check(tmp_path, mp.read(tmp_path), "c", 2)
    mp.check(tmp_path, mp.read(tmp_path), "c", 1)


NODE_1 = ("node.id=1\nprocess.roles=broker,controller\ncontroller.quorum.voters=1@127.0.0.1:1\n"
          "controller.listener.names=CONTROLLER\n"
          "listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:1\n")


def test_format_command(tmp_path, capsys):
    """`kraft format` formats every log dir once, refuses twice, and skips with -g."""
    cfg = tmp_path / "server.properties"
    cfg.write_text(f"{NODE_1}log.dirs={tmp_path}/a,{tmp_path}/b\n")
    abc, xyz = mp.random_uuid(), mp.random_uuid()
    assert main(["format", "--config", str(cfg), "--cluster-id", abc]) == 0
    a, b = mp.read(tmp_path / "a"), mp.read(tmp_path / "b")
    assert a.cluster_id == b.cluster_id == abc and a.node_id == 1
    assert a.directory_id != b.directory_id
    assert main(["format", "--config", str(cfg), "--cluster-id", abc]) == 1
    assert "already formatted" in capsys.readouterr().err
    assert main(["format", "-c", str(cfg), "-t", abc, "-g"]) == 0
    assert main(["format", "-c", str(cfg), "-t", xyz, "-g"]) == 1
