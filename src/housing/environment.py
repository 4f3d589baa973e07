"""Settings, one way: every typed settings object is pydantic, and every error in one is
described by ``problems`` (the key or variable, the value given unless it is secret, and
what is allowed).

- params.yaml's sections are pydantic models (housing.params);
- what comes from environment variables is an ``EnvSettings``: the service's
  ``HOUSING_*`` settings (deployment.settings), the local team stack's (dev.stack), and
  the variables other tools define that the project reads (``ToolEnvironment``:
  MLflow's, Optuna's, DVC's, the XDG folders). ``from_env()`` reads them fresh each time
  and raises SettingsError naming each bad variable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "float_type": "a number",
    "float_parsing": "a number", "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "a string", "tuple_type": "a list", "dict_type": "a mapping",
    "model_type": "a mapping", "model_attributes_type": "a mapping",
}


class SettingsError(ValueError):
    """Settings broke their schema; ``problems`` holds one readable line per key."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        super().__init__("; ".join(problems))


def _allowed_keys(model: type[BaseModel], loc: tuple) -> str:
    owner: Any = model
    for part in loc[:-1]:
        owner = owner.model_fields[part].annotation
    return ", ".join(sorted(owner.model_fields))


def problems(err: ValidationError, model: type[BaseModel],
             key_of: Callable[[tuple], str], hidden: frozenset[str] = frozenset()
             ) -> list[str]:
    """One line per error of ``err``: ``key_of(loc)``, then what is wrong; a value whose
    top-level field is in ``hidden`` (a secret) is never shown."""
    lines = []
    for error in err.errors():
        loc, kind = tuple(error["loc"]), error["type"]
        message = str(error["msg"]).removeprefix("Value error, ")
        if not loc:  # a check across fields says everything itself
            lines.append(message)
            continue
        key = key_of(loc)
        given = "a value" if str(loc[0]) in hidden else repr(error.get("input"))
        if kind == "missing":
            lines.append(f"{key}: missing key")
        elif kind == "extra_forbidden":
            lines.append(f"{key}: unknown key (given {given}); allowed keys here: "
                         f"{_allowed_keys(model, loc)}")
        elif kind in _TYPE_WORDS:
            lines.append(f"{key}: {given} is not {_TYPE_WORDS[kind]}")
        else:
            lines.append(f"{key}: {given} is not allowed: "
                         f"{message.replace('Input should', 'should')}")
    return lines


class EnvSettings(BaseSettings):
    """Settings read from environment variables: an unset or empty variable takes its
    default, the object is frozen, and ``from_env`` names each bad variable."""

    model_config = SettingsConfigDict(env_ignore_empty=True, frozen=True,
                                      populate_by_name=True, protected_namespaces=())
    SOURCE: ClassVar[str] = "the environment"

    @classmethod
    def variable(cls, loc: tuple) -> str:
        """The environment variable a field is read from."""
        name = str(loc[0])
        field = cls.model_fields.get(name)
        if field is not None and isinstance(field.validation_alias, str):
            return field.validation_alias
        return name if name.isupper() else f"{cls.model_config.get('env_prefix', '')}{name}".upper()

    @classmethod
    def from_env(cls, **values: Any):
        """The environment's settings (``values`` override it); SettingsError naming each
        bad variable, never a secret's value."""
        hidden = frozenset(n for n, f in cls.model_fields.items() if not f.repr)
        try:
            return cls(**values)
        except ValidationError as err:
            raise SettingsError(cls.SOURCE, problems(err, cls, cls.variable, hidden)) from None


class ToolEnvironment(EnvSettings):
    """The variables other tools define that the project reads (each field is read from
    the variable of its name in capitals)."""

    mlflow_tracking_uri: str = ""          # MLflow's store; empty: the embedded SQLite
    mlflow_tracking_token: str | None = Field(None, repr=False)  # a server's bearer token
    optuna_storage: str = ""               # Optuna's storage; empty: the embedded SQLite
    dvc_root: str = ""                     # the workspace DVC runs a stage in
    dvc_exp_name: str = ""                 # the `dvc exp run` this process runs in
    dvc_exp_baseline_rev: str = ""
    xdg_cache_home: str = ""
    xdg_state_home: str = ""
    housing_prediction_log_url: str = ""   # the prediction log's object store (log_store)


def tool_environment() -> ToolEnvironment:
    """The tools' variables as they are now."""
    return ToolEnvironment.from_env()
