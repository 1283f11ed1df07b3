"""Config loading: defaults, YAML, --set overrides, flags, and errors that name the key and the line."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from kansci.config import (
    Config,
    config_to_dict,
    config_to_yaml,
    default_config,
    line_of,
    load_config,
    reference_yaml,
    resolve_data_path,
)
from kansci.errors import ConfigError


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def errors_of(*args, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    return [str(issue) for issue in info.value.issues]


# --- defaults and round trips -------------------------------------------------------------------------------------

def test_defaults_match_the_documented_contract():
    cfg = default_config()
    assert (cfg.seed, cfg.version, cfg.data.test_frac, cfg.data.normalize) == (0, 1, 0.2, "auto")
    assert cfg.model.width == "auto" and cfg.model.k == 3 and cfg.model.grid_range == (-1.0, 1.0)
    assert cfg.train.grids == [3, 5, 10] and cfg.train.lr is None and cfg.train.patience == 10
    assert cfg.prune.edge_th == 0.03 and cfg.symbolic.custom == [] and cfg.symbolic.snap_tol == 1e-14
    assert cfg.plot.what == ["network", "edges", "loss", "parity", "pareto", "structure"] and cfg.plot.format == ["png"]
    assert cfg.output.dir == "runs" and cfg.output.name is None
    default_config().train.grids.append(20)                          # defaults are not shared between instances
    assert default_config().train.grids == [3, 5, 10]


def test_default_round_trips_through_yaml(tmp_path):
    path = write(tmp_path, config_to_yaml(default_config()))
    loaded = load_config(path)
    assert loaded == default_config()
    assert config_to_dict(loaded) == config_to_dict(default_config())


def test_non_default_config_round_trips_including_tricky_strings(tmp_path):
    cfg = load_config(overrides=[
        "model.width=[2, [5, 2], 1]", "model.grid_range=[-2, 3.5]", "train.lr=1e-3", "seed=7",
        "symbolic.custom=[{name: cube, expr: 'x**3', complexity: 2, domain: [0, 1]}]",
        "data.inputs=[no, 'on', '1e3', '010']", "output.name=2024-01-01", "symbolic.lib=[sin, x]"])
    assert cfg.model.width == [2, (5, 2), 1]
    assert cfg.data.inputs == ["no", "on", "1e3", "010"]               # YAML 1.2: no/on are strings
    text = config_to_yaml(cfg)
    assert yaml.safe_load(text)["data"]["inputs"] == ["no", "on", "1e3", "010"]   # a YAML 1.1 reader agrees
    again = load_config(write(tmp_path, text))
    assert again == cfg and config_to_yaml(again) == text


def test_config_to_dict_has_schema_key_order_and_plain_values():
    d = config_to_dict(load_config(overrides=["model.width=[2, [3, 1], 1]"]))
    assert list(d) == ["seed", "version", "data", "model", "train", "prune", "symbolic", "plot", "output"]
    assert list(d["train"])[:3] == ["optimizer", "steps", "grids"]
    assert d["model"]["width"] == [2, [3, 1], 1] and d["model"]["grid_range"] == [-1.0, 1.0]


def test_reference_yaml_loads_back_to_defaults_and_documents_every_key(tmp_path):
    text = reference_yaml()
    assert load_config(write(tmp_path, text)) == default_config()
    assert yaml.safe_load(text) == config_to_dict(default_config())     # plain PyYAML reads it the same way
    lines = text.splitlines()
    for section, values in config_to_dict(default_config()).items():
        keys = values if isinstance(values, dict) else {section: values}
        for key in keys:
            line = next(ln for ln in lines if ln.strip().startswith(f"{key}:"))
            assert "# " in line and len(line.split("# ", 1)[1]) > 10, line


def test_empty_file_comments_only_and_empty_sections_mean_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == default_config()
    assert load_config(write(tmp_path, "# nothing here\n")) == default_config()
    assert load_config(write(tmp_path, "train:\nmodel:\n  # k: 5\n")) == default_config()


def test_equality_ignores_where_a_config_came_from(tmp_path):
    loaded = load_config(write(tmp_path, "seed: 0\n"))
    assert loaded == default_config() and loaded.source_path == tmp_path / "x.yaml"
    assert default_config().source_path is None


# --- precedence -------------------------------------------------------------------------------------------------

def test_precedence_defaults_file_overrides_flags(tmp_path):
    path = write(tmp_path, """
        seed: 1
        train:
          steps: 10
          lr: 0.5
          grids: [3, 5]
    """)
    cfg = load_config(path, overrides=["train.steps=20", "seed=2", "train={grids: [4]}"],
                      flags={"train.steps": 30, "seed": None, "plot.format": ("svg", "pdf")})
    assert cfg.train.steps == 30                     # flag beats override beats file
    assert cfg.seed == 2                             # None flag = not given
    assert cfg.train.lr == 0.5                       # file value survives a mapping override of its section
    assert cfg.train.grids == [4]                    # lists are replaced, not merged
    assert cfg.plot.format == ["svg", "pdf"]         # tuples from the CLI become lists
    assert cfg.train.patience == 10                  # untouched keys keep the schema default


def test_override_values_are_parsed_as_yaml_scalars_and_flow_lists():
    cfg = load_config(overrides=["train.lr=1e-3", "train.grids=[3, 5,10]", "data.target=NO",
                                 "output.name=null", "prune.enabled=false", "data.split_seed=010"])
    assert cfg.train.lr == pytest.approx(1e-3) and isinstance(cfg.train.lr, float)
    assert cfg.train.grids == [3, 5, 10] and cfg.data.target == "NO"
    assert cfg.output.name is None and cfg.prune.enabled is False and cfg.data.split_seed == 10


def test_file_numbers_follow_yaml_1_2(tmp_path):
    cfg = load_config(write(tmp_path, "train:\n  lr: 1e-3\nprune:\n  edge_th: 3E-2\n  refit_steps: 1_000\n"))
    assert cfg.train.lr == 1e-3 and cfg.prune.edge_th == 0.03 and cfg.prune.refit_steps == 1000


def test_flags_accept_paths_and_relative_data_paths_resolve_by_origin(tmp_path):
    path = write(tmp_path, "data:\n  path: data/a.csv\n", name="configs/x.yaml")
    assert resolve_data_path(load_config(path)) == tmp_path / "configs" / "data" / "a.csv"
    from_flag = load_config(path, flags={"data.path": Path("b.csv")})
    assert from_flag.data.path == "b.csv" and resolve_data_path(from_flag) == Path("b.csv")   # cwd-relative
    from_set = load_config(path, overrides=["data.path=c.csv"])
    assert resolve_data_path(from_set) == Path("c.csv")
    absolute = load_config(path, overrides=[f"data.path={tmp_path / 'd.csv'}"])
    assert resolve_data_path(absolute) == tmp_path / "d.csv"
    assert resolve_data_path(default_config()) is None


# --- validation errors ------------------------------------------------------------------------------------------

def test_unknown_key_did_you_mean_with_relative_file_name(tmp_path, monkeypatch):
    write(tmp_path, "seed: 1\ndata:\n  target: y\nmodel:\n  k: 3\ntrain:\n  setps: 10\n", name="configs/x.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("configs/x.yaml")
    assert info.value.message == "configs/x.yaml:7: train.setps: unknown key (did you mean 'steps'?)"
    assert info.value.hint


def test_unknown_key_suggestions(tmp_path):
    path = write(tmp_path, "k: 3\ntrain:\n  zzz: 1\nmodle:\n  k: 3\n")
    assert errors_of(path) == [
        f"{path}:1: k: unknown key here (did you mean 'model.k'?)",
        f"{path}:3: train.zzz: unknown key (valid keys: optimizer, steps, grids, lr, lamb, lamb_l1, lamb_entropy, "
        "lamb_coef, update_grid, grid_update_every, stop_grid_update_step, batch_size, patience, min_delta, log_every, "
        "checkpoint_every_s, search_restarts, time_limit_s)",
        f"{path}:4: modle: unknown key (did you mean 'model'?)",
    ]


@pytest.mark.parametrize(("body", "line", "expected"), [
    ("train:\n  steps: '10'\n", 2, "train.steps: must be an integer (got '10')"),
    ("train:\n  steps: 10.0\n", 2, "train.steps: must be an integer (got 10.0)"),
    ("train:\n  steps: true\n", 2, "train.steps: must be an integer (got true)"),
    ("train:\n  steps: 0\n", 2, "train.steps: must be >= 1 (got 0)"),
    ("data:\n  test_frac: 1\n", 2, "data.test_frac: must be < 1 (got 1)"),
    ("model:\n  k: 8\n", 2, "model.k: must be <= 7 (got 8)"),
    ("model:\n  grid_eps: .nan\n", 2, "model.grid_eps: must be a finite number (got nan)"),
    ("model:\n  width: []\n", 2, "model.width: needs at least an input and an output layer, e.g. [2, 5, 1] (got [])"),
    ("model:\n  width: [2, 0, 1]\n", 2, "model.width: layer 1 must have at least 1 node (got 0)"),
    ("model:\n  width: [[2, 1], 1]\n", 2,
     "model.width: layer 0 is the input layer and cannot have multiplication nodes (got [2, 1])"),
    ("model:\n  width: wide\n", 2, "model.width: must be 'auto' or a list of layer sizes like [2, 5, 1] (got 'wide')"),
    ("model:\n  grid_range: [1, -1]\n", 2, "model.grid_range: must be [low, high] with low < high (got [1.0, -1.0])"),
    ("model:\n  grid_range: [1, 2, 3]\n", 2,
     "model.grid_range: must be a list of two numbers [low, high] (got [1, 2, 3])"),
    ("train:\n  grids:\n    - 3\n    - -5\n", 4, "train.grids.1: must be >= 1 (got -5)"),
    ("train:\n  grids: [5, 3, 10]\n", 2, "train.grids: must be non-decreasing, e.g. [3, 5, 10] (got [5, 3, 10])"),
    ("train:\n  grids: []\n", 2, "train.grids: must have at least 1 item(s) (got [])"),
    ("train:\n  optimizer: adma\n", 2,
     "train.optimizer: must be one of 'lbfgs', 'adam' (got 'adma'; did you mean 'adam'?)"),
    ("train: 5\n", 1, "train: must be a mapping of keys (got 5)"),
    ("data:\n  target: y\n  inputs: [x, y]\n", 3, "data.inputs: contains the target column 'y'"),
    ("output:\n  name: 12\n", 2, "output.name: must be a string (got 12; put it in quotes)"),
    ("output:\n  name: a/b\n", 2, "output.name: must be a plain folder name without / or \\ (got 'a/b')"),
    ("plot:\n  what: [loss, loss]\n", 2, "plot.what: lists 'loss' twice"),
    ("version: 2\n", 1, "version: unsupported config format version 2; only 1 is accepted"),
    ("symbolic:\n  custom:\n    - name: cube\n", 3, "symbolic.custom.0.expr: required key is missing"),
    ("seed: 1\nseed: 2\n", 2, "seed: duplicate key (first set on line 1)"),
])
def test_each_failure_kind_names_key_and_line(tmp_path, body, line, expected):
    path = write(tmp_path, body)
    assert errors_of(path) == [f"{path}:{line}: {expected}"]


def test_all_errors_are_reported_at_once_in_file_order(tmp_path):
    path = write(tmp_path, """
        train:
          optimizer: sgd
          steps: -1
        model:
          k: 0
        plot:
          dpi: 10
    """)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides=["train.lr=-1"], flags={"seed": -3})
    lines = info.value.message.splitlines()
    assert lines[0] == f"6 errors in {path}"
    assert lines[1:] == [
        f"{path}:2: train.optimizer: must be one of 'lbfgs', 'adam' (got 'sgd')",
        f"{path}:3: train.steps: must be >= 1 (got -1)",
        f"{path}:5: model.k: must be >= 1 (got 0)",
        f"{path}:7: plot.dpi: must be >= 50 (got 10)",
        "--set train.lr=-1: train.lr: must be > 0 (got -1)",
        "command line: seed: must be >= 0 (got -3)",
    ]


def test_override_errors_name_the_override_not_a_line(tmp_path):
    path = write(tmp_path, "train:\n  steps: 5\n  grids: [3, 5]\n")
    assert errors_of(path, overrides=["train.setps=3", "train.grids=[5, 3]", "bad key=1", "train.steps.x=1"]) == [
        "--set train.setps=3: train.setps: unknown key (did you mean 'steps'?)",
        "--set train.grids=[5, 3]: train.grids: must be non-decreasing, e.g. [3, 5, 10] (got [5, 3])",
        "--set bad key=1: expected KEY=VALUE with a dotted key, e.g. train.steps=200",
        "--set train.steps.x=1: train.steps: is 5, not a section with key 'x'",
    ]


def test_override_replacing_a_file_value_takes_the_blame(tmp_path):
    path = write(tmp_path, "model:\n  width: [2, 5, 1]\n")
    assert errors_of(path, overrides=["model.width=[2, -1, 1]"]) == [
        "--set model.width=[2, -1, 1]: model.width: layer 1 must have at least 1 node (got -1)"]


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    path = write(tmp_path, "train:\n  steps: 5\n  grids: [3, 5\nmodel: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message.startswith(f"{path}:4:6: invalid YAML: ")
    with pytest.raises(ConfigError) as info:
        load_config(overrides=["train.grids=[3, 5"])
    assert info.value.message.startswith("--set train.grids=[3, 5: invalid YAML: ")


def test_bad_characters_and_bad_explicit_scalars(tmp_path):
    with pytest.raises(ConfigError, match=r"x\.yaml:3:11: invalid YAML: unacceptable character #x0007"):
        load_config(write(tmp_path, "seed: 1\ntrain:\n  steps: 3\x07\n"))
    with pytest.raises(ConfigError, match=r"x\.yaml:2: train\.steps: cannot read 'abc' as !!int"):
        load_config(write(tmp_path, "train:\n  steps: !!int abc\n"))
    assert load_config(write(tmp_path, "output:\n  name: !!str 12\n")).output.name == "12"


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match=r"x\.yaml:1: top level must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match=r"x\.yaml:2:1: invalid YAML: but found another document"):
        load_config(write(tmp_path, "seed: 1\n---\nseed: 2\n"))


def test_python_tags_are_refused_and_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    calls = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd) or 0)
    path = write(tmp_path, f"seed: 1\ntrain:\n  steps: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message == (f"{path}:3: train.steps: YAML tag '!!python/object/apply:os.system' is not allowed")
    with pytest.raises(ConfigError, match="is not allowed"):
        load_config(overrides=[f"seed=!!python/object/apply:os.system ['touch {marker}']"])
    with pytest.raises(ConfigError, match="!!python/name:os.system"):
        load_config(write(tmp_path, "? !!python/name:os.system\n: 1\n"))
    assert calls == [] and not marker.exists()


def test_other_non_plain_tags_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"x\.yaml:1: output\.name: YAML tag '!!binary' is not allowed"):
        load_config(write(tmp_path, "output: {name: !!binary aGk=}\n"))


def test_alias_bomb_is_refused_quickly(tmp_path):
    body = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]\n"
        for i in range(1, 9))
    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(write(tmp_path, body))


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


def test_single_error_message_is_one_line_and_flag_keys_are_checked():
    assert errors_of(flags={"train.stepz": 3}) == ["command line: train.stepz: unknown key (did you mean 'steps'?)"]
    with pytest.raises(ConfigError) as info:
        load_config(flags={"train.steps": 0})
    assert "\n" not in info.value.message


def test_assignment_is_validated():
    cfg = default_config()
    cfg.model.width = [3, [4, 2], 1]
    assert cfg.model.width == [3, (4, 2), 1]
    with pytest.raises(ValueError):
        cfg.train.steps = 0


# --- hook for validators that live elsewhere (e.g. the primitive library) ---------------------------------------

def test_extra_validators_get_line_numbers_through_line_of(tmp_path):
    path = write(tmp_path, "seed: 1\nsymbolic:\n  lib:\n    - sin\n    - sinn\n")

    def check_lib(cfg: Config) -> None:
        bad = [i for i, name in enumerate(cfg.symbolic.lib or []) if name == "sinn"]
        if bad:
            where = line_of(cfg, f"symbolic.lib.{bad[0]}")
            raise ConfigError(f"{where}: symbolic.lib: unknown primitive 'sinn' (did you mean 'sin'?)", hint="h")

    with pytest.raises(ConfigError) as info:
        load_config(path, extra_validators=[check_lib])
    assert info.value.message == f"{path}:5: symbolic.lib: unknown primitive 'sinn' (did you mean 'sin'?)"
    cfg = load_config(path, overrides=["symbolic.lib=[cos]"], extra_validators=[check_lib])
    assert line_of(cfg, "symbolic.lib") == "--set symbolic.lib=[cos]"
    assert line_of(cfg, "symbolic") == f"{path}:2" and line_of(cfg, "train.steps") == "defaults"
    assert line_of(default_config(), "symbolic.lib") == "defaults"

    def always(cfg: Config) -> None:
        raise ConfigError(f"{line_of(cfg, 'seed')}: seed: unlucky", hint="h")

    with pytest.raises(ConfigError) as info:
        load_config(path, extra_validators=[check_lib, always])
    assert info.value.message.splitlines() == [
        f"2 errors in {path}", f"{path}:5: symbolic.lib: unknown primitive 'sinn' (did you mean 'sin'?)",
        f"{path}:1: seed: unlucky"]


def test_config_and_base_modules_do_not_import_torch():
    """The config layer, the data layer and the atomic writer load without torch (a fresh interpreter checks)."""
    code = ("import sys, kansci.config, kansci.config.load, kansci.config.yaml12, kansci.config.origin, kansci.data, "
            "kansci.atomic, kansci.metrics, kansci.budget; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
