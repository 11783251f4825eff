import os
from pathlib import Path

import pytest
import torch

from i2i_zoo.weights import read_state_dict, resolve_weights

ENV = "I2I_ZOO_TEST_WEIGHTS"
WHAT = "test network weights"


def _file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def _resolve(path=None, candidates=(), **kwargs) -> Path:
    return resolve_weights(path, option="test_weights", env=ENV, candidates=list(candidates), what=WHAT, **kwargs)


@pytest.fixture(autouse=True)
def no_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def test_explicit_path_then_environment_then_candidates_in_order(tmp_path, monkeypatch):
    option, env_file = _file(tmp_path / "option.pth"), _file(tmp_path / "env.pth")
    first, second = tmp_path / "cache" / "first.pth", _file(tmp_path / "cache" / "second.pth")
    candidates = [first, second]
    monkeypatch.setenv(ENV, str(env_file))
    assert _resolve(option, candidates) == option
    assert _resolve(None, candidates) == env_file
    monkeypatch.delenv(ENV)
    assert _resolve(None, candidates) == second
    _file(first)
    assert _resolve(None, candidates) == first


def test_download_only_when_nothing_is_found(tmp_path):
    cached, fetched = tmp_path / "cache.pth", tmp_path / "fetched.pth"
    calls = []

    def download() -> Path:
        calls.append(1)
        return _file(fetched)

    assert _resolve(None, [cached], download=download) == fetched and calls == [1]
    _file(cached)
    assert _resolve(None, [cached], download=download) == cached and calls == [1]


def test_a_missing_given_file_is_an_error_naming_where_it_came_from(tmp_path, monkeypatch):
    cached = _file(tmp_path / "cache.pth")
    with pytest.raises(FileNotFoundError, match=f"test_weights=.*missing.pth: no such file; expected {WHAT}"):
        _resolve(tmp_path / "missing.pth", [cached])
    monkeypatch.setenv(ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(FileNotFoundError, match=f"{ENV}=.*gone.pth: no such file"):
        _resolve(None, [cached])


def test_nothing_found_names_the_option_the_variable_and_the_files(tmp_path):
    first, second = tmp_path / "hub" / "first.pth", tmp_path / "hub" / "second.pth"

    def offline() -> Path:
        raise OSError("no network")

    with pytest.raises(FileNotFoundError) as error:
        _resolve(None, [first, second], urls={first: "https://example.org/first.pth"}, hint="ask a colleague", download=offline)
    message = str(error.value)
    for part in (WHAT, str(first), "https://example.org/first.pth", str(second), "ask a colleague", ENV, "test_weights", "no network"):
        assert part in message
    assert not first.exists() and not second.exists()


def test_read_state_dict_reads_tensors_and_strips_a_data_parallel_prefix(tmp_path):
    state = {"conv.weight": torch.randn(2, 3), "conv.bias": torch.randn(2)}
    torch.save(state, tmp_path / "plain.pth")
    torch.save({f"module.{key}": value for key, value in state.items()}, tmp_path / "parallel.pth")
    torch.save({"module.conv.weight": state["conv.weight"], "head.weight": state["conv.bias"]}, tmp_path / "mixed.pth")
    for name in ("plain.pth", "parallel.pth"):
        read = read_state_dict(tmp_path / name, WHAT)
        assert read.keys() == state.keys() and all(torch.equal(read[key], state[key]) for key in state)
    assert set(read_state_dict(tmp_path / "mixed.pth", WHAT)) == {"module.conv.weight", "head.weight"}


def test_read_state_dict_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"absent.pth does not exist; expected {WHAT}"):
        read_state_dict(tmp_path / "absent.pth", WHAT)
    (tmp_path / "corrupt.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"corrupt.pth is not a readable PyTorch file \\(expected {WHAT}\\)"):
        read_state_dict(tmp_path / "corrupt.pth", WHAT)
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match=f"list.pth holds a list, not a network's state dict of tensors; expected {WHAT}"):
        read_state_dict(tmp_path / "list.pth", WHAT)
    torch.save({"weight": torch.zeros(1), "step": 3}, tmp_path / "mixed.pth")
    with pytest.raises(ValueError, match="mixed.pth holds a dict, not a network's state dict of tensors; expected"):
        read_state_dict(tmp_path / "mixed.pth", WHAT)
    torch.save({"state_dict": {"G.weight": torch.zeros(1)}, "epoch": 3}, tmp_path / "last.ckpt")
    with pytest.raises(ValueError, match="last.ckpt holds a dict, .*a Lightning checkpoint\\? pass it to i2i-zoo with --ckpt_path"):
        read_state_dict(tmp_path / "last.ckpt", WHAT)


class _Payload:
    """Unpickling it would create a folder: proof that the file ran code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_read_state_dict_refuses_pickled_objects_without_running_them(tmp_path):
    marker = tmp_path / "code_ran"
    torch.save({"weight": _Payload(marker)}, tmp_path / "payload.pth")
    with pytest.raises(ValueError, match="payload.pth is not a readable PyTorch file"):
        read_state_dict(tmp_path / "payload.pth", WHAT)
    assert not marker.exists()
